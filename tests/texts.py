"""Varied texts for the packer and input-pipeline tests: words, accents, CJK, emoji, other
scripts, punctuation, numbers, invisible characters, and TRICKY's edge cases.

>>> from texts import PAIRS, TEXTS, TRICKY
>>> len(PAIRS) == len(TEXTS) > len(TRICKY)
True
"""

from __future__ import annotations

import random

WORDS = """
the a and of to in is it that this was for on with as but not be are by at from or have
an they which one you were all we her she there would their will when who him been has more
if no out so said what up its about than into them can only other new some could time these
two may then do first any my now such like our over man me even most made after also did
many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year
off come since against go came right used take three movie film story plot actor brilliant
unbelievable tokenization jacksonville unaffable preprocessing hyperparameter insincere
questions running runner quickly happiness careless wonderful embedding transformers
""".split()
_ACCENTED = [
    "café", "naïve", "résumé", "façade", "Ångström", "niño", "señor", "über", "Müller", "Zürich",
    "São", "Paulo", "crème", "brûlée", "déjà", "vu", "coöperate", "Åsa", "Øresund", "Łódź",
    "Dvořák", "Ελλάδα", "İstanbul", "straße", "ẞ", "ﬁnance", "Ｆｕｌｌｗｉｄｔｈ", "e\u0301t\u00e9",
]
_CJK = ["中文", "日本語", "漢字", "東京タワー", "ひらがな", "カタカナ", "한국어", "中华人民共和国", "𠀋", "好"]
_EMOJI = ["😀", "👍🏽", "🇫🇷", "👨\u200d👩\u200d👧", "🤖", "❤️", "🎉🎉", "🙈🙉🙊", "☃", "✓"]
_SCRIPTS = [
    "Привет", "мир", "Добрый", "день", "ЁЖИК", "Ελληνικά", "αλφα", "ΟΔΟΣ", "λόγος", "مرحبا",
    "العربية", "שלום", "สวัสดี", "नमस्ते", "ქართული", "Հայերեն", "ትግርኛ",
]
_PUNCT = [
    "!", "?", ".", ",", ";", ":", "...", "!!!", "?!?", "--", "—", "–", "'", '"', "“", "”", "«",
    "»", "(", ")", "[", "]", "{", "}", "#", "@", "&", "*", "/", "\\", "|", "~", "^", "`", "$",
    "%", "€", "£", "¿", "¡", "·", "…", "+", "=", "<", ">", "_", "§", "°", "™",
]
_NUMBERS = ["0", "7", "42", "1999", "3.14", "1,000,000", "12:30", "2nd", "A4", "x86_64", "١٢٣"]
_SPACES = [" "] * 12 + ["  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u2028", ""]
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\x00", "\x07", "\x1b", "\u0301", "\ufffd", "\u00ad", "\x7f"]

TRICKY = [
    "", " ", "   ", "\t", "\n", "\r\n", "\t \n \r", "\x00", "\u200b", "\ufeff", "\u200b\u200c\u200d",
    "a", "A", "I", ".", "!!!", "?!?!?!", "...", "------", "(((())))", "\"'\"'", "<br />", "&amp;",
    "Hello, World!", "HELLO world", "hElLo WoRlD", "don't stop", "U.S.A.", "e-mail me@example.com",
    "https://example.com/path?q=1&r=2#frag", "C++ > C#?", "$100.00 (50%) off!!!",
    "café naïve résumé", "CAFÉ NAÏVE RÉSUMÉ", "e\u0301e\u0301e\u0301", "Ångström Øresund",
    "niño señor ñandú", "über Müller Zürich", "straße STRASSE ẞ", "İstanbul ıi", "ﬁ ﬂ ﬀ",
    "ＡＢＣ　ｄｅｆ", "中文", "日本語のテキスト", "我爱北京天安门", "中文English混合mixed", "한국어 텍스트",
    "😀", "😀😀😀", "👍🏽 great", "👨\u200d👩\u200d👧 family", "🇫🇷🇩🇪", "smile😀inside",
    "Привет, мир!", "ΟΔΟΣ οδος", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "tab\tseparated\tvalues", "line\nbreaks\r\nhere", "bell\x07and\x1bescape", "nul\x00inside",
    "zero\u200bwidth\u200djoiner", "soft\u00adhyphen", "bom\ufeffstart", "replacement\ufffdchar",
    "x" * 450,  # longer than WordpieceTokenizer's max_input_chars_per_word: one [UNK]
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " ".join(["word"] * 300),
    "。".join(["中文句子"] * 60),
    "!" * 200,
    "a" + "\u0301" * 20,
    "b" * 401,  # over max_input_chars_per_word (400): one [UNK]
    "ж" * 150,  # 150 characters but 300 bytes: over tensorflow_text's default max_bytes_per_word
    "😀" * 120,
    "ΣΑΣ ΑΣ. ΑΣ'Α ΑΣ中 İI",  # final sigma in its contexts, dotted capital I
]


def _word(rng: random.Random) -> str:
    pool = rng.choices(
        [WORDS, _ACCENTED, _CJK, _EMOJI, _SCRIPTS, _PUNCT, _NUMBERS],
        weights=[50, 10, 6, 4, 8, 12, 5],
    )[0]
    word = rng.choice(pool)
    style = rng.random()
    if style < 0.15:
        word = word.upper()
    elif style < 0.30:
        word = word.capitalize()
    elif style < 0.38:
        word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
    if rng.random() < 0.12:
        word += rng.choice(_PUNCT) * rng.randint(1, 3)
    if rng.random() < 0.05:
        cut = rng.randint(0, len(word))
        word = word[:cut] + rng.choice(_INVISIBLE) + word[cut:]
    return word


def _text(rng: random.Random, num_words: int) -> str:
    parts = []
    for _ in range(num_words):
        parts.append(_word(rng))
        parts.append(rng.choice(_SPACES))
    text = "".join(parts[:-1])
    if rng.random() < 0.1:
        text = rng.choice(_SPACES) + text + rng.choice(_SPACES)
    return text


def make_texts(seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    texts = list(TRICKY)
    texts += [_text(rng, rng.randint(1, 6)) for _ in range(80)]
    texts += [_text(rng, rng.randint(5, 40)) for _ in range(140)]
    texts += [_text(rng, rng.randint(90, 250)) for _ in range(25)]  # beyond 128 tokens
    for text in texts:
        text.encode("utf-8")  # every string must survive the trip through tf.string
    return texts


def make_pairs(texts: list[str], seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    pairs = [texts[i] for i in rng.sample(range(len(texts)), len(texts))]
    for i in range(0, len(pairs), 23):  # some pairs with an empty or blank second segment
        pairs[i] = rng.choice(["", " ", "\u200b", "\x00", "\t\n"])
    for i in range(5, len(pairs), 31):  # and some with a blank first segment only
        pairs[i] = texts[(i * 7) % len(texts)] or "second segment"
    return pairs


TEXTS = make_texts()
PAIRS = make_pairs(TEXTS)
