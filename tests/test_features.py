"""Features: tokenization and packing must match tensorflow/models' classifier_data_lib.

The central test (issue 2, criterion 4; issue 5, criterion 1) feeds a few hundred varied
strings, single and paired, through `pack_batch`, through both packers (py_function's
FullTokenizer and tf_text's in-graph tokenization) and through the tf.data pipeline
`make_dataset` in every padding mode, at several max_seq_length values and both casings,
and demands the same input ids, mask and segment ids as
`classifier_data_lib.convert_single_example` (compared unpadded where widths differ). It
runs on two vocabularies: the tiny encoder's own (words plus single characters) and a
richer one built from the test strings themselves, so that whole words, stems plus
##suffixes and [UNK] all occur. A sweep over every code point of planes 0-3 and 14 pins
the tf_text path's only differences from FullTokenizer to the documented list
(features.UNICODE_VERSION_DIFFERENCES). Issue 5, criterion 2: padding to the batch's
longest, or bucketing, changes neither evaluation nor training losses of a tiny model.

    python tests/test_features.py [VOCAB_FILE]   # tokenization throughput, not a test
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.data import classifier_data_lib
from official.nlp.tools import tokenization

from tfbert import encoders, features, hub_format, model
from tfbert.config import build_config
from tfbert.data import LabelMap, Split
from tfbert.errors import TfbertError

MAX_SEQ_LENGTHS = (5, 8, 16, 128)
EX_INDEX = 10**6  # convert_single_example logs examples with ex_index < 5

# --------------------------------------------------------------------------- strings

_WORDS = """
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
        [_WORDS, _ACCENTED, _CJK, _EMOJI, _SCRIPTS, _PUNCT, _NUMBERS],
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

# --------------------------------------------------------------------------- vocabularies


def _vocab_tokens(tokens: list[str]) -> list[str]:
    """De-duplicated tokens that survive load_vocab's line reading and strip()."""
    kept = []
    for token in dict.fromkeys(tokens):
        if (token and token == token.strip() and token.split() == [token] and "\n" not in token
                and len(token.encode("utf-8")) <= 200):  # as real vocabularies: no 300-byte tokens
            kept.append(token)
    return kept


def build_rich_vocabulary(texts: list[str], seed: int = 5) -> list[str]:
    """WordPiece-ish pieces of `texts` under both casings: most characters (as start and
    ##continuation pieces), many whole words, and stems with ##suffixes; a few characters
    are left out so that some words still become [UNK]."""
    rng = random.Random(seed)
    words: list[str] = []
    for lower in (True, False):
        basic = tokenization.BasicTokenizer(do_lower_case=lower)
        for text in texts:
            words.extend(basic.tokenize(text))
    words = list(dict.fromkeys(words))
    characters = sorted({c for word in words for c in word})
    left_out = set(rng.sample(characters, max(1, len(characters) // 12)))
    pieces = [c for c in characters if c not in left_out]
    pieces += ["##" + c for c in characters if c not in left_out]
    for word in words:
        if len(word) < 2:
            continue
        draw = rng.random()
        if draw < 0.35:
            pieces.append(word)
        elif draw < 0.75:
            cut = rng.randint(1, len(word) - 1)
            pieces += [word[:cut], "##" + word[cut:]]
            if len(word) - cut > 3:
                pieces.append("##" + word[cut:cut + 2])
    pieces += ["##ing", "##ed", "##s", "##ly", "##er", "##ness", "un", "##able", "token", "##ization"]
    rng.shuffle(pieces)
    return list(hub_format.SPECIAL_TOKENS) + _vocab_tokens(pieces)


@pytest.fixture(scope="module")
def tiny_vocab_file(tiny_encoder) -> str:
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(tiny_encoder, trainable=False))
    assert do_lower_case is True
    return vocab_file


@pytest.fixture(scope="module")
def rich_vocab_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    vocab = build_rich_vocabulary(TEXTS + PAIRS)
    path = tmp_path_factory.mktemp("rich-vocab") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    assert len(tokenization.load_vocab(str(path))) == len(vocab)  # nothing merged on reading
    return str(path)


# --------------------------------------------------------------------------- reference


def reference(tokenizer, text: str, pair: str | None, max_seq_length: int) -> tuple[np.ndarray, ...]:
    """(input_ids, input_mask, segment_ids) from tensorflow/models' own conversion."""
    example = classifier_data_lib.InputExample(guid="test-0", text_a=text, text_b=pair, label="0")
    feature = classifier_data_lib.convert_single_example(EX_INDEX, example, ["0", "1"], max_seq_length, tokenizer)
    return tuple(np.asarray(v, dtype=np.int32) for v in (feature.input_ids, feature.input_mask, feature.segment_ids))


def make_split(texts, pairs=None, labels=None, name="test") -> Split:
    texts = np.array(texts, dtype=object)
    pairs = None if pairs is None else np.array(pairs, dtype=object)
    labels = np.arange(len(texts), dtype=np.int32) if labels is None else labels
    return Split(name, pd.DataFrame({"text": texts}), texts, pairs, labels)


def pad_columns(array: np.ndarray, width: int) -> np.ndarray:
    return np.pad(array, [(0, 0), (0, width - array.shape[1])])


def collect(dataset: tf.data.Dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All batches, zero padded to the widest, concatenated in the order they came."""
    batches = list(dataset.as_numpy_iterator())
    width = max(b[0]["input_word_ids"].shape[1] for b in batches)
    feats = {name: np.concatenate([pad_columns(b[0][name], width) for b in batches]) for name in features.FEATURE_NAMES}
    labels = np.concatenate([b[1] for b in batches])
    return feats, labels


def by_label(feats: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """Rows put back in the split's order (labels are the row numbers)."""
    order = np.argsort(labels, kind="stable")
    np.testing.assert_array_equal(labels[order], np.arange(len(labels)))  # each example exactly once
    return {name: value[order] for name, value in feats.items()}


def assert_same_ids(what: str, got: dict[str, np.ndarray], want: list[np.ndarray], pairs) -> None:
    """`got`, padded to any width up to max_seq_length, holds exactly the sequences of `want`."""
    n, max_seq_length = want[0].shape
    width = got["input_word_ids"].shape[1]
    assert width <= max_seq_length, f"{what}: width {width} over max_seq_length {max_seq_length}"
    for name, w in zip(features.FEATURE_NAMES, want):
        g = got[name]
        assert g.dtype == np.int32 and g.shape == (n, width), (what, name, g.dtype, g.shape)
        mismatch = np.flatnonzero((pad_columns(g, max_seq_length) != w).any(axis=1))
        assert mismatch.size == 0, (
            f"{what}: {name} differ (max_seq_length={max_seq_length}, pairs={pairs is not None}) "
            f"for {[(TEXTS[i], None if pairs is None else pairs[i]) for i in mismatch[:3]]}"
        )


@dataclass
class Coverage:
    cases: int = 0
    truncated: int = 0
    untruncated: int = 0
    pair_cases: int = 0
    first_segment_cut: int = 0
    second_segment_cut: int = 0
    unk: int = 0
    continuation_pieces: int = 0
    whole_word_pieces: int = 0
    truncated_at_128: int = 0


# --------------------------------------------------------------------------- 1. id equality


@pytest.mark.parametrize("vocab", ["tiny", "rich"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_ids_equal_classifier_data_lib(vocab, do_lower_case, request):
    vocab_file = request.getfixturevalue(f"{vocab}_vocab_file")
    tokenizer = features.load_tokenizer(vocab_file, do_lower_case)
    assert tokenizer.basic_tokenizer.do_lower_case is do_lower_case
    unk_id = tokenizer.vocab["[UNK]"]
    coverage = Coverage()
    n = len(TEXTS)
    text_lengths = [len(tokenizer.tokenize(text)) for text in TEXTS]
    pair_lengths = [len(tokenizer.tokenize(pair)) for pair in PAIRS]
    for max_seq_length in MAX_SEQ_LENGTHS:
        tf_text = features.make_packer("tf_text", vocab_file, do_lower_case, max_seq_length)
        py_function = features.make_packer("py_function", vocab_file, do_lower_case, max_seq_length)
        assert isinstance(tf_text, features.TfTextPacker) and isinstance(py_function, features.PyFunctionPacker)
        classic = features.TfTextPacker(vocab_file, do_lower_case, max_seq_length, wordpiece="classic")
        assert type(tf_text.wordpiece).__name__ == "FastWordpieceTokenizer"
        assert type(classic.wordpiece).__name__ == "WordpieceTokenizer"
        for pairs in (None, PAIRS):
            expected = [reference(tokenizer, TEXTS[i], None if pairs is None else pairs[i], max_seq_length)
                        for i in range(n)]
            want = [np.stack([e[k] for e in expected]) for k in range(3)]
            longest = int(want[1].sum(axis=1).max())

            # the Python packing, called directly on str
            got = features.pack_batch(tokenizer, TEXTS, pairs, max_seq_length)
            for name, g, w in zip(("input_ids", "input_mask", "segment_ids"), got, want):
                assert g.dtype == np.int32 and g.shape == (n, max_seq_length)
                mismatch = np.flatnonzero((g != w).any(axis=1))
                assert mismatch.size == 0, (
                    f"pack_batch {name} differ (max_seq_length={max_seq_length}, pairs={pairs is not None}) "
                    f"for {[(TEXTS[i], None if pairs is None else pairs[i]) for i in mismatch[:3]]}"
                )

            # both packers on the whole set as one batch: padded to its longest sequence
            text_tensor = tf.constant(TEXTS)
            pair_tensor = None if pairs is None else tf.constant(pairs)
            for packer in (tf_text, classic) + ((py_function,) if max_seq_length == 128 else ()):
                got = {k: v.numpy() for k, v in packer(text_tensor, pair_tensor).items()}
                assert got["input_word_ids"].shape == (n, longest)
                assert_same_ids(repr(packer), got, want, pairs)

            # the tf.data pipeline: py_function padded to max (the Python side receives bytes),
            # tf_text in its default bucketing (rows reordered, labels travel with them)
            if max_seq_length == 128:
                feats, labels = collect(features.make_dataset(make_split(TEXTS, pairs), py_function, batch_size=32,
                                                              padding="max"))
                np.testing.assert_array_equal(labels, np.arange(n))
                assert feats["input_word_ids"].shape == (n, max_seq_length)
                assert_same_ids("make_dataset py_function max", feats, want, pairs)
                feats, labels = collect(features.make_dataset(make_split(TEXTS, pairs), tf_text, batch_size=32))
                assert_same_ids("make_dataset tf_text bucket", by_label(feats, labels), want, pairs)

            # what this configuration exercised
            for i, (ids, mask, segments) in enumerate(expected):
                len_a = text_lengths[i]
                len_b = pair_lengths[i] if pairs is not None else 0
                kept_a = int(((segments == 0) & (mask == 1)).sum()) - 2
                kept_b = max(int((segments == 1).sum()) - 1, 0)
                cut = kept_a < len_a or kept_b < len_b
                coverage.cases += 1
                coverage.truncated += cut
                coverage.untruncated += not cut
                coverage.truncated_at_128 += cut and max_seq_length == 128
                if len_b:
                    coverage.pair_cases += 1
                    coverage.first_segment_cut += kept_a < len_a
                    coverage.second_segment_cut += kept_b < len_b
                    assert kept_a + kept_b + 3 <= max_seq_length
            if max_seq_length == 128 and pairs is None:
                pieces = [t for text in TEXTS for t in tokenizer.tokenize(text)]
                coverage.unk += sum(t == "[UNK]" for t in pieces)
                coverage.continuation_pieces += sum(t.startswith("##") for t in pieces)
                coverage.whole_word_pieces += sum(len(t) > 1 and not t.startswith("##") and t != "[UNK]"
                                                  for t in pieces)
                assert (want[0] == unk_id).any()

    print(f"\n{vocab} vocab, do_lower_case={do_lower_case}: {coverage}")
    assert coverage.cases == n * 2 * len(MAX_SEQ_LENGTHS)
    # not vacuous: truncation and its absence both happen, in each segment of a pair
    assert coverage.truncated >= coverage.cases // 4
    assert coverage.untruncated >= coverage.cases // 4
    assert coverage.truncated_at_128 >= 40  # the very long texts, single and paired
    assert coverage.first_segment_cut >= 50 and coverage.second_segment_cut >= 50
    assert coverage.pair_cases >= 0.8 * n * len(MAX_SEQ_LENGTHS)
    # and the vocabulary splits words for real rather than mapping them all to [UNK]
    assert coverage.continuation_pieces > 500
    assert coverage.unk > 0
    if vocab == "rich":
        assert coverage.whole_word_pieces > 500
        assert coverage.unk < 0.05 * (coverage.continuation_pieces + coverage.whole_word_pieces)


def test_strings_cover_the_required_kinds():
    """The generated strings really hold the kinds of text that criterion 4 names."""
    joined = "".join(TEXTS)
    assert len(TEXTS) >= 300
    assert any(unicodedata.category(c) == "Mn" for c in unicodedata.normalize("NFD", joined))  # accents
    assert any("\u4e00" <= c <= "\u9fff" for c in joined)  # CJK
    assert any(ord(c) >= 0x1F300 for c in joined)  # emoji
    assert any("\u0400" <= c <= "\u04ff" for c in joined) and any("\u0600" <= c <= "\u06ff" for c in joined)
    assert any("\u0370" <= c <= "\u03ff" for c in joined)
    for special in ("\t", "\n", "\x00", "\u200b", "\ufeff", "\u2028", "\ufffd", "ß", "ﬁ", "Ｆ", "İ", "Σ"):
        assert special in joined
    assert sum(len(t.split()) >= 90 for t in TEXTS) >= 25  # very long texts
    assert "" in TEXTS and " " in TEXTS
    # words over tensorflow_text's default 100 bytes, and over FullTokenizer's 400 characters
    words = [word for text in TEXTS for word in text.split()]
    assert any(100 < len(w.encode()) and len(w) <= 400 and len(set(w)) == 1 for w in words)
    assert any(len(w) > 400 for w in words)


def test_pack_example_conventions(rich_vocab_file):
    """[CLS] a [SEP] b [SEP], longer segment trimmed first, zero padding."""
    tokenizer = features.load_tokenizer(rich_vocab_file, True)
    vocab = tokenizer.vocab
    ids, types = features.pack_example(tokenizer, "", None, 8)
    assert ids == [vocab["[CLS]"], vocab["[SEP]"]] and types == [0, 0]
    ids, types = features.pack_example(tokenizer, "the the the the", "a", 6)
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "the", "the", "[SEP]", "a", "[SEP]"]
    assert types == [0, 0, 0, 0, 1, 1]
    word_ids, mask, type_ids = features.pack_batch(tokenizer, ["the", "the the"], ["a", ""], 7)
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(type_ids, [[0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    assert (word_ids[mask == 0] == 0).all()


# --------------------------------------------------------------------------- 2. the tf_text path


SWEEP = [c for c in range(0x40000) if not 0xD800 <= c <= 0xDFFF] + list(range(0xE0000, 0xF0000))


def _sweep_differences(packer: features.TfTextPacker, context: str) -> set[int]:
    """Code points c for which FullTokenizer's BasicTokenizer and the packer split
    context.format(chr(c)) into different words (planes 0-3 and 14: every assigned
    character; 4-13 are unassigned, 15-16 private use)."""
    basic = tokenization.BasicTokenizer(do_lower_case=packer.do_lower_case)
    chunks = [SWEEP[i:i + 2048] for i in range(0, len(SWEEP), 2048)]
    texts = [" ".join(context.format(chr(c)) for c in chunk) for chunk in chunks]
    got = packer.words(tf.constant(texts)).to_list()
    differences = set()
    for chunk, text, words in zip(chunks, texts, got):
        if basic.tokenize(text) != [w.decode("utf-8") for w in words]:  # find which characters
            singles = [context.format(chr(c)) for c in chunk]
            for c, single, words1 in zip(chunk, singles, packer.words(tf.constant(singles)).to_list()):
                if basic.tokenize(single) != [w.decode("utf-8") for w in words1]:
                    differences.add(c)
    return differences


def test_tf_text_normalisation_equals_full_tokenizer_on_every_code_point(tiny_vocab_file):
    """Every character, alone and where only final sigma could tell: the tf_text words
    are FullTokenizer's except for the documented Unicode-version differences."""
    residual = features.UNICODE_VERSION_DIFFERENCES
    cased = features.TfTextPacker(tiny_vocab_file, False, 128)
    assert _sweep_differences(cased, "a{}b") == set()
    uncased = features.TfTextPacker(tiny_vocab_file, True, 128)
    assert _sweep_differences(uncased, "{}") == residual["lower"] | residual["nfd"]
    # a capital sigma is final when a cased letter precedes it (case-ignorable characters
    # skipped) and none follows: these contexts put each character in every such role
    in_context = _sweep_differences(uncased, "ΑΣ{}Α") | _sweep_differences(uncased, "Α{}Σ")
    final_sigma = residual["final_sigma"] | residual.get("final_sigma_unicode_15", set())
    assert in_context - residual["lower"] - residual["nfd"] == final_sigma
    assert [len(residual[k]) for k in ("lower", "nfd", "final_sigma")] == [40, 20, 261]
    assert len(final_sigma) == {"14.0.0": 261, "15.1.0": 365}[unicodedata.unidata_version]  # Python 3.11, 3.13


def test_tf_text_lower_casing_ignores_the_process_locale(tiny_vocab_file):
    """ICU lower-cases by the locale: in Turkish or Azeri, I would become a dotless ı."""
    texts = ["I İ Iİ I\u0307 IΣ ÌÍĨ JÌ", "INDIA Istanbul ΟΔΟΣ", "ﬁ Ｉ"]
    script = (
        "import json; import tfbert; import tensorflow as tf; from tfbert import features\n"
        f"packer = features.TfTextPacker({tiny_vocab_file!r}, True, 16)\n"
        f"print(json.dumps([[w.decode() for w in row] for row in packer.words(tf.constant({texts!r})).to_list()]))\n"
    )
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    want = [basic.tokenize(text) for text in texts]
    assert want[0][0] == "i"
    for locale in ("tr_TR.UTF-8",):
        env = {**os.environ, "LC_ALL": locale, "LANG": locale, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                              cwd=Path(features.__file__).parents[1])
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == want, locale


def test_the_docstring_lists_exactly_the_residual_characters():
    doc = features.__doc__
    for name, code_points in features.UNICODE_VERSION_DIFFERENCES.items():
        section = doc.split(f'* "{name}"')[1].split("\n* ")[0].split("\n\n")[0]
        listed = set()
        for first, last in re.findall(r"U\+([0-9A-F]{4,5})(?:-U\+([0-9A-F]{4,5}))?", section):
            listed |= set(range(int(first, 16), int(last or first, 16) + 1))
        assert listed - {0x03A3} == code_points, name


def _vocab_file(tmp_path: Path, tokens: list[str]) -> str:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join([*hub_format.SPECIAL_TOKENS, *tokens]) + "\n", encoding="utf-8")
    return str(path)


def _tokens(packer: features.TfTextPacker, text: str) -> list[str]:
    inverse = {i: t for t, i in packer.vocab.items()}
    return [inverse[i] for i in packer.tokenize(tf.constant([text])).to_list()[0]]


def test_the_documented_residual_difference(tmp_path):
    """Exactly what UNICODE_VERSION_DIFFERENCES means for ids, one character of each kind:
    U+2C2F (Glagolitic, Unicode 14.0): Python lower-cases it to U+2C5F, TensorFlow's ICU
    does not; U+10597 (a Vithkuqi small letter) is cased for Python, so a Σ before it is
    not final; U+11383 (Tulu-Tigalari, Unicode 16.0) is unassigned for Python 3.11, and
    tensorflow_text's NFD decomposes it."""
    vocab_file = _vocab_file(tmp_path, ["\u2c5f", "α", "##σ", "##ς", "##\U00010597", "\U00011383"])
    tokenizer = features.load_tokenizer(vocab_file, True)
    packer = features.TfTextPacker(vocab_file, True, 16)
    cases = {
        "\u2c2f": (["\u2c5f"], ["[UNK]"]),
        "ΑΣ\U00010597": (["α", "##σ", "##\U00010597"], ["α", "##ς", "##\U00010597"]),
        "\U00011383": (["\U00011383"], ["[UNK]"]),
    }
    for text, (full_tokenizer, tf_text) in cases.items():
        assert tokenizer.tokenize(text) == full_tokenizer
        assert _tokens(packer, text) == tf_text
    # while the characters around them agree
    for text in ("\u2c5f", "ΑΣ", "ΑΣα", "ΑΣ \U00010597"):
        assert _tokens(packer, text) == tokenizer.tokenize(text)


def test_tf_text_handles_what_tensorflow_text_alone_gets_wrong(tmp_path):
    """The normalisation differences the issue names, on a vocabulary that can show them."""
    vocab_file = _vocab_file(tmp_path, [
        "straße", "strasse", "ss", "ß", "fi", "ﬁ", "##nance", "full", "ｆｕｌｌ", "nul", "##inside", "zero", "##width",
        "a", "##a", "ж", "##ж", "σ", "ς", "ο", "##δ", "##ο", "##ς", "##σ", "i", "中", "文", "x", "##y", "[", "]"])
    texts = [
        "straße STRASSE", "ﬁnance", "ｆｕｌｌ full", "nul\x00inside", "zero\u200bwidth", "zero\u200dwidth",
        "zero\ufeffwidth", "nul\ufffdinside", "x\u2028y x\u3000y x\u00a0y x\x0by x\x85y", "ж" * 150,
        "a" * 400, "a" * 401, "ΟΔΟΣ ΟΔΟΣ.", "İ", "中文x", "[UNK] [CLS]", "x\u0301\u0308y", "\u00ad",
    ]
    for do_lower_case in (True, False):
        tokenizer = features.load_tokenizer(vocab_file, do_lower_case)
        packer = features.TfTextPacker(vocab_file, do_lower_case, 512)
        for text in texts:
            assert _tokens(packer, text) == tokenizer.tokenize(text), (do_lower_case, text)
    tokenizer = features.load_tokenizer(vocab_file, True)
    assert tokenizer.tokenize("straße ﬁnance") == ["straße", "ﬁ", "##nance"]  # str.lower, not case folding
    assert tokenizer.tokenize("ж" * 150) == ["ж"] + ["##ж"] * 149  # 300 bytes, still a word
    assert tokenizer.tokenize("a" * 401) == ["[UNK]"] and len(tokenizer.tokenize("a" * 400)) == 400
    assert tokenizer.tokenize("ΟΔΟΣ") == ["ο", "##δ", "##ο", "##ς"]  # final sigma


@pytest.mark.parametrize("wordpiece", ["fast", "classic"])
def test_vocabulary_oddities_read_as_full_tokenizer_reads_them(tmp_path, wordpiece):
    """Duplicate and blank lines, "##" alone, tokens with inner spaces or too long to reach."""
    tokens = ["the", "##s", "the", "", "##", "a b", "x" * 401, "##" + "y" * 401, "y", "##y", "[tfbert:5]"]
    vocab_file = _vocab_file(tmp_path, tokens)
    tokenizer = features.load_tokenizer(vocab_file, True)
    packer = features.TfTextPacker(vocab_file, True, 32, wordpiece=wordpiece)
    assert type(packer.wordpiece).__name__ == {"fast": "FastWordpieceTokenizer", "classic": "WordpieceTokenizer"}[wordpiece]
    for text in ("the thes a b", "##", "x" * 401, "y" * 402, "y" * 12, "[tfbert:5] [tfbert:7]"):
        want = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
        assert packer.tokenize(tf.constant([text])).to_list()[0] == want, text
    # a reachable token over FastWordpieceTokenizer's 256 bytes: auto falls back to classic
    vocab_file = _vocab_file(tmp_path, ["z" * 300, "z", "##z"])
    assert type(features.TfTextPacker(vocab_file, True, 8).wordpiece).__name__ == "WordpieceTokenizer"
    with pytest.raises(TfbertError, match="too long"):
        features.TfTextPacker(vocab_file, True, 8, wordpiece="fast")
    tokenizer = features.load_tokenizer(vocab_file, True)
    packer = features.TfTextPacker(vocab_file, True, 8)
    for text in ("z" * 300, "z" * 301, "z" * 5):
        assert packer.tokenize(tf.constant([text])).to_list()[0] == tokenizer.convert_tokens_to_ids(
            tokenizer.tokenize(text))


def test_in_graph_truncation_is_berts_pop_from_the_longer(tiny_vocab_file):
    """Every pair of segment lengths 0-11 at max_seq_length 3-16, ties included, against
    the reference loop; an empty second segment is no pair, an empty first one is kept."""
    packer = features.TfTextPacker(tiny_vocab_file, True, 3)
    cls, sep = packer.cls_id, packer.sep_id
    cases = [(la, lb) for la in range(12) for lb in range(12)]
    tokens_a = tf.ragged.constant([list(range(100, 100 + la)) for la, _ in cases], dtype=tf.int32)
    tokens_b = tf.ragged.constant([list(range(200, 200 + lb)) for _, lb in cases], dtype=tf.int32)
    for max_seq_length in range(3, 17):
        packer.max_seq_length = max_seq_length
        got = {k: v.numpy() for k, v in packer.pack(tokens_a, tokens_b).items()}
        for row, (la, lb) in enumerate(cases):
            a, b = list(range(100, 100 + la)), list(range(200, 200 + lb))
            if b:
                features._truncate_pair(a, b, max_seq_length - 3)
            else:
                a = a[: max_seq_length - 2]
            ids = [cls, *a, sep] + ([*b, sep] if b else [])
            types = [0] * (len(a) + 2) + [1] * (len(b) + 1 if b else 0)
            width = got["input_word_ids"].shape[1]
            assert got["input_word_ids"][row].tolist() == ids + [0] * (width - len(ids)), (max_seq_length, la, lb)
            assert got["input_type_ids"][row].tolist() == types + [0] * (width - len(ids))
            assert got["input_mask"][row].tolist() == [1] * len(ids) + [0] * (width - len(ids))


def packer_ids(packer: features.Packer) -> tuple[int, int]:
    vocab = packer.vocab if isinstance(packer, features.TfTextPacker) else packer.tokenizer.vocab
    return vocab["[CLS]"], vocab["[SEP]"]


@pytest.mark.parametrize("kind", features.TOKENIZERS)
def test_packers_pad_to_the_batch_longest_in_graph_mode(kind, tiny_vocab_file):
    packer = features.make_packer(kind, tiny_vocab_file, True, 16)
    assert packer.max_seq_length == 16 and packer.kind == kind
    packed = tf.function(packer)(tf.constant(["the film", "a"]), tf.constant(["good", "\u200b"]))
    assert set(packed) == set(features.FEATURE_NAMES)
    np.testing.assert_array_equal(packed["input_mask"], [[1] * 6, [1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(packed["input_type_ids"], [[0, 0, 0, 0, 1, 1], [0] * 6])
    packed = packer(tf.constant(["the " * 40, ""]))
    assert packed["input_word_ids"].shape == (2, 16) and packed["input_word_ids"].dtype == tf.int32
    # a batch without a single token: [CLS] [SEP] each
    for pairs in (None, tf.constant(["", " \x00"])):
        packed = packer(tf.constant(["", "\u200b"]), pairs)
        np.testing.assert_array_equal(packed["input_word_ids"], [[packer_ids(packer)[0], packer_ids(packer)[1]]] * 2)
        np.testing.assert_array_equal(packed["input_mask"], [[1, 1]] * 2)


def test_make_packer_rejects_bad_arguments(tiny_vocab_file, tmp_path):
    with pytest.raises(TfbertError, match="tokenizer must be one of tf_text, py_function"):
        features.make_packer("sentencepiece", tiny_vocab_file, True, 16)
    for kind in features.TOKENIZERS:
        with pytest.raises(TfbertError, match="at least 3"):
            features.make_packer(kind, tiny_vocab_file, True, 2)
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")
    with pytest.raises(TfbertError, match=r"lacks \[UNK\]"):
        features.make_packer("tf_text", str(vocab_file), True, 16)


# --------------------------------------------------------------------------- 3. make_dataset


@pytest.fixture(scope="module")
def tokenizer(tiny_vocab_file):
    return features.load_tokenizer(tiny_vocab_file, True)


@pytest.fixture(scope="module")
def packers(tiny_vocab_file):
    """max_seq_length -> kind -> packer, made on demand."""
    cache: dict = {}

    def get(kind: str, max_seq_length: int) -> features.Packer:
        if (kind, max_seq_length) not in cache:
            cache[kind, max_seq_length] = features.make_packer(kind, tiny_vocab_file, True, max_seq_length)
        return cache[kind, max_seq_length]

    return get


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of 2 batches or 32 examples, so that a test's few rows span several."""
    monkeypatch.setattr(features, "WINDOW_BATCHES", 2)
    monkeypatch.setattr(features, "WINDOW_EXAMPLES", 32)


def test_bucket_widths():
    assert features.bucket_widths(128) == (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128)
    assert features.bucket_widths(100) == (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 100)
    assert features.bucket_widths(16) == (8, 16) and features.bucket_widths(8) == (8,) and features.bucket_widths(5) == (5,)
    assert features.window_batches(32) == 32 and features.window_batches(512) == features.WINDOW_BATCHES


@pytest.mark.parametrize("kind", features.TOKENIZERS)
def test_dataset_padded_to_max_shapes_dtypes_batches_and_labels(kind, packers, tokenizer):
    texts = TEXTS[:70]
    dataset = features.make_dataset(make_split(texts), packers(kind, 16), batch_size=16, padding="max")
    spec_features, spec_labels = dataset.element_spec
    assert set(spec_features) == set(features.FEATURE_NAMES)
    for name in features.FEATURE_NAMES:
        assert spec_features[name].dtype == tf.int32
        assert spec_features[name].shape.as_list() == [None, 16]
    assert spec_labels.dtype == tf.int32
    assert int(dataset.cardinality()) == math.ceil(70 / 16)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 5
    assert [b[1].shape[0] for b in batches] == [16, 16, 16, 16, 6]
    for feats, labels in batches:
        for name in features.FEATURE_NAMES:
            assert feats[name].dtype == np.int32 and feats[name].shape == (len(labels), 16)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(70))
    # the mask marks exactly [CLS] + tokens + [SEP]; single texts have type ids 0
    feats, _ = collect(dataset)
    lengths = np.array([min(len(tokenizer.tokenize(t)), 14) + 2 for t in texts])
    np.testing.assert_array_equal(feats["input_mask"].sum(axis=1), lengths)
    assert (feats["input_type_ids"] == 0).all()
    for name, want in zip(features.FEATURE_NAMES, features.pack_batch(tokenizer, texts, None, 16)):
        np.testing.assert_array_equal(feats[name], want)


@pytest.mark.parametrize("kind", features.TOKENIZERS)
def test_dataset_padded_per_batch_keeps_order_and_pads_to_the_longest(kind, packers, tokenizer, small_windows):
    texts = TEXTS[len(TRICKY):len(TRICKY) + 150]  # 1 to 250 words
    for pairs in (None, PAIRS[len(TRICKY):len(TRICKY) + 150]):
        dataset = features.make_dataset(make_split(texts, pairs), packers(kind, 64), batch_size=16, padding="batch")
        assert dataset.element_spec[0]["input_word_ids"].shape.as_list() == [None, None]
        assert int(dataset.cardinality()) == 10
        batches = list(dataset.as_numpy_iterator())
        assert [len(b[1]) for b in batches] == [16] * 9 + [6]
        widths = []
        for feats, labels in batches:
            width = feats["input_word_ids"].shape[1]
            assert width == feats["input_mask"].sum(axis=1).max()  # the batch's longest, no more
            widths.append(width)
        if pairs is None:
            assert len(set(widths)) >= 3 and max(widths) == 64 and min(widths) < 16
        feats, labels = collect(dataset)
        np.testing.assert_array_equal(labels, np.arange(150))
        for name, want in zip(features.FEATURE_NAMES, features.pack_batch(tokenizer, texts, pairs, 64)):
            np.testing.assert_array_equal(pad_columns(feats[name], 64), want)


@pytest.mark.parametrize("kind", features.TOKENIZERS)
def test_dataset_buckets_widths_each_example_once_labels_travel(kind, packers, tokenizer, small_windows):
    texts, pairs = TEXTS[len(TRICKY):len(TRICKY) + 150], None
    dataset = features.make_dataset(make_split(texts, pairs), packers(kind, 100), batch_size=16)  # bucket: default
    assert int(dataset.cardinality()) == 10
    batches = list(dataset.as_numpy_iterator())
    assert sorted(len(b[1]) for b in batches) == [6] + [16] * 9  # full batches but the last
    seen_widths = set()
    for feats, labels in batches:
        width = feats["input_word_ids"].shape[1]
        longest = feats["input_mask"].sum(axis=1).max()
        assert width % 8 == 0 or width == 100  # only the bucket widths
        assert width == min(w for w in features.bucket_widths(100) if w >= longest)  # the smallest that fits
        seen_widths.add(width)
    assert len(seen_widths) >= 4 and 100 in seen_widths
    feats, labels = collect(dataset)
    assert labels.tolist() != list(range(150))  # sorted by length within windows
    feats = by_label(feats, labels)  # each example exactly once, with its own features
    for name, want in zip(features.FEATURE_NAMES, features.pack_batch(tokenizer, texts, pairs, 100)):
        np.testing.assert_array_equal(pad_columns(feats[name], 100), want)
    # lengths grow within each window of two batches
    lengths = [b[0]["input_mask"].sum(axis=1) for b in batches]
    for first, second in zip(lengths[0::2], lengths[1::2]):
        assert (np.diff(np.concatenate([first, second])) >= 0).all()


def test_dataset_pairs_path(packers, tokenizer):
    texts = ["the film was good", "a bad movie", "love it", ""]
    pairs = ["i liked it", "", "yes", "\u200b the"]
    for kind in features.TOKENIZERS:
        dataset = features.make_dataset(make_split(texts, pairs), packers(kind, 12), batch_size=3, padding="max")
        assert len(dataset.element_spec[0]) == 3
        feats, labels = collect(dataset)
        np.testing.assert_array_equal(labels, [0, 1, 2, 3])
        tokens = [tokenizer.convert_ids_to_tokens([i for i in row if i]) for row in feats["input_word_ids"]]
        assert tokens[0] == ["[CLS]", "the", "film", "was", "good", "[SEP]", "i", "liked", "it", "[SEP]"]
        assert tokens[1] == ["[CLS]", "a", "bad", "movie", "[SEP]"]  # empty second segment: no second [SEP]
        assert tokens[3] == ["[CLS]", "[SEP]", "the", "[SEP]"]  # empty first segment: kept
        np.testing.assert_array_equal(feats["input_type_ids"][0], [0] * 6 + [1] * 4 + [0] * 2)
        assert (feats["input_type_ids"][1] == 0).all()
        np.testing.assert_array_equal(feats["input_type_ids"][2][:6], [0, 0, 0, 0, 1, 1])
        np.testing.assert_array_equal(feats["input_type_ids"][3][:4], [0, 0, 1, 1])


@pytest.mark.parametrize("padding", ["batch", "bucket"])
def test_dataset_shuffle_is_seeded_and_keeps_rows_together(padding, packers, tokenizer, small_windows):
    texts, pairs = TEXTS[100:164], PAIRS[100:164]
    split = make_split(texts, pairs)

    def orders(seed, epochs=2):
        dataset = features.make_dataset(split, packers("tf_text", 16), batch_size=10, shuffle=True, seed=seed,
                                        padding=padding)
        return [collect(dataset) for _ in range(epochs)]

    first, second = orders(7), orders(7)
    for (feats_a, labels_a), (feats_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(labels_a, labels_b)  # same seed, same order
        for name in features.FEATURE_NAMES:
            np.testing.assert_array_equal(feats_a[name], feats_b[name])
    expected = features.pack_batch(tokenizer, texts, pairs, 16)
    for feats, labels in first:
        assert sorted(labels.tolist()) == list(range(64))  # a permutation, nothing lost or repeated
        assert labels.tolist() != list(range(64))  # and actually shuffled
        for name, want in zip(features.FEATURE_NAMES, expected):
            np.testing.assert_array_equal(pad_columns(feats[name], 16), want[labels])  # features travel with labels
    assert first[0][1].tolist() != first[1][1].tolist()  # reshuffled each epoch
    assert orders(8, epochs=1)[0][1].tolist() != first[0][1].tolist()  # another seed, another order


@pytest.mark.parametrize("padding", features.PADDINGS)
def test_dataset_multilabel_labels_are_float32_rows(padding, packers):
    labels = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32)
    texts = ["the film was good", "a", "bad", "the film", "a good movie was"]
    dataset = features.make_dataset(make_split(texts, labels=labels), packers("tf_text", 8), batch_size=2,
                                    padding=padding)
    assert dataset.element_spec[1].dtype == tf.float32
    assert dataset.element_spec[1].shape.as_list() == [None, 3]
    batches = list(dataset.as_numpy_iterator())
    assert sorted(b[1].shape for b in batches) == [(1, 3), (2, 3), (2, 3)]
    assert all(b[1].dtype == np.float32 for b in batches)
    feats, got = collect(dataset)
    if padding != "bucket":
        np.testing.assert_array_equal(got, labels)
    # each label row arrives with its own text's ids, and every row arrives once
    packed = pad_columns(packers("py_function", 8)._pack(np.array(texts, dtype=object))[0], 8)
    rows = [next(i for i in range(5) if (packed[i] == ids).all()) for ids in pad_columns(feats["input_word_ids"], 8)]
    assert sorted(rows) == list(range(5))
    np.testing.assert_array_equal(got, labels[rows])


def test_dataset_multilabel_int_rows_become_float32(packers):
    labels = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int64)
    dataset = features.make_dataset(make_split(TEXTS[30:33], labels=labels), packers("tf_text", 8), batch_size=4)
    (_, got), = list(dataset.as_numpy_iterator())
    assert got.dtype == np.float32
    assert sorted(map(tuple, got)) == sorted(map(tuple, labels.astype(np.float32)))


def test_make_dataset_rejects_unknown_padding(packers):
    with pytest.raises(TfbertError, match="padding must be one of bucket, batch, max"):
        features.make_dataset(make_split(["a"]), packers("tf_text", 8), 4, padding="longest")


# --------------------------------------------------------------------------- 4. encoder's tokenizer


def test_tokenizer_from_encoder_assets_honours_do_lower_case(tiny_encoder, tmp_path):
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(tiny_encoder, trainable=False))
    assert do_lower_case is True
    uncased = features.load_tokenizer(vocab_file, do_lower_case)
    assert uncased.basic_tokenizer.do_lower_case is True
    assert uncased.tokenize("Hello WORLD, Film!") == ["hello", "world", ",", "film", "!"]
    assert uncased.tokenize("Café") == ["c", "##a", "##f", "##e"]  # lower-cased and accent stripped
    # the tiny vocabulary holds no upper-case characters: cased tokenization cannot find them
    cased = features.load_tokenizer(vocab_file, False)
    assert cased.tokenize("Hello world") == ["[UNK]", "world"]
    assert cased.tokenize("café") == ["c", "##a", "##f", "##é"]
    for lower, text in ((True, "Hello WORLD, Film! Café"), (False, "Hello world café")):
        packer = features.make_packer("tf_text", vocab_file, lower, 16)
        assert _tokens(packer, text) == features.load_tokenizer(vocab_file, lower).tokenize(text)

    # an encoder that declares itself cased gives a cased tokenizer
    vocab = Path(vocab_file).read_text(encoding="utf-8").split("\n")[:-1] + ["Hello", "H", "##H"]
    cased_vocab = tmp_path / "vocab.txt"
    cased_vocab.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    network = hub_format.build_bert_network(len(vocab), hidden_size=8, num_layers=1, num_attention_heads=1,
                                          inner_dim=8, max_sequence_length=16)
    export = hub_format.save_hub_encoder(network, cased_vocab, False, tmp_path / "cased")
    vocab_file2, do_lower_case2 = encoders.tokenizer_assets(encoders.load_encoder(str(export), trainable=False))
    assert do_lower_case2 is False
    tokenizer = features.load_tokenizer(vocab_file2, do_lower_case2)
    assert tokenizer.basic_tokenizer.do_lower_case is False
    assert tokenizer.tokenize("Hello hello HELLO") == ["Hello", "hello", "[UNK]"]
    assert features.load_tokenizer(vocab_file2, True).tokenize("Hello hello HELLO") == ["hello"] * 3
    assert _tokens(features.make_packer("tf_text", vocab_file2, do_lower_case2, 8), "Hello hello HELLO") == [
        "Hello", "hello", "[UNK]"]


# --------------------------------------------------------------------------- 5. Python calls


class CountingTokenizer:
    """Delegates to a FullTokenizer and counts tokenize calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[object] = []

    def tokenize(self, text):
        self.calls.append(text)
        return self.inner.tokenize(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("kind", features.TOKENIZERS)
@pytest.mark.parametrize("with_pairs", [False, True])
def test_python_runs_once_per_window_or_never(tokenizer, monkeypatch, small_windows, kind, with_pairs, packers):
    """py_function: one Python call per window of batches, holding the window; tf_text: none."""
    python_calls: list[int] = []
    pack_calls: list[int] = []

    def counting(function_name):
        original = getattr(tf, function_name)

        def wrapper(func, inp, Tout, *args, **kwargs):
            def counted(*values):
                python_calls.append(len(values[0]))
                return func(*values)
            return original(counted, inp, Tout, *args, **kwargs)

        monkeypatch.setattr(tf, function_name, wrapper)

    counting("numpy_function")
    counting("py_function")
    original_pack_batch = features.pack_batch

    def pack_batch(tokenizer, texts, pairs, max_seq_length):
        pack_calls.append(len(texts))
        return original_pack_batch(tokenizer, texts, pairs, max_seq_length)

    monkeypatch.setattr(features, "pack_batch", pack_batch)
    counter = CountingTokenizer(tokenizer)
    packer = features.PyFunctionPacker(counter, 16) if kind == "py_function" else packers("tf_text", 16)
    texts = [t or "x" for t in TEXTS[:100]]
    pairs = [p.strip("\x00") or "y" for p in PAIRS[:100]] if with_pairs else None
    dataset = features.make_dataset(make_split(texts, pairs), packer, batch_size=16, padding="batch")
    assert python_calls == [] and counter.calls == []  # nothing runs before iteration
    feats, labels = collect(dataset)

    if kind == "tf_text":
        assert python_calls == [] and pack_calls == []
    else:
        windows = [32, 32, 32, 4]  # two batches of 16 per window
        assert sorted(python_calls) == sorted(windows)  # one Python call per window, holding the window
        assert sorted(pack_calls) == sorted(windows)
        assert len(counter.calls) == 100 * (2 if with_pairs else 1)  # every text tokenized once
    expected = original_pack_batch(tokenizer, texts, pairs, 16)
    for name, want in zip(features.FEATURE_NAMES, expected):
        np.testing.assert_array_equal(pad_columns(feats[name], 16), want)
    np.testing.assert_array_equal(labels, np.arange(100))


# --------------------------------------------------------------------------- 6. padding leaves results alone


BINARY = LabelMap((0, 1), "binary")


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny encoder's shape without dropout, so that training steps are deterministic."""
    import tf_keras

    folder = tmp_path_factory.mktemp("dropout-free")
    vocab = hub_format.tiny_vocabulary()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tf_keras.utils.set_random_seed(0)
    network = hub_format.build_bert_network(len(vocab), hidden_size=32, num_layers=2, num_attention_heads=2,
                                          inner_dim=64, max_sequence_length=128, dropout_rate=0.0,
                                          attention_dropout_rate=0.0)
    return str(hub_format.save_hub_encoder(network, folder / "vocab.txt", True, folder / "encoder"))


@pytest.fixture(scope="module")
def varied_split() -> Split:
    """72 labelled texts of 3 to 64 tokens, so that batches and buckets have several widths."""
    rng = random.Random(11)
    texts = [" ".join(rng.choice(_WORDS) for _ in range(rng.choice([1, 3, 6, 10, 20, 40, 70])))
             for _ in range(72)]
    labels = np.array([i % 2 for i in range(72)], dtype=np.int32)
    return make_split(texts, labels=labels)


class TinyClassifier:
    """One classifier over the dropout-free encoder, reset to the same weights and a fresh
    optimizer for each run (loading the encoder once)."""

    def __init__(self, encoder_dir: str):
        import tf_keras

        tf_keras.utils.set_random_seed(3)
        encoder = encoders.load_encoder(encoder_dir)
        self.packer = features.make_packer("tf_text", *encoders.tokenizer_assets(encoder), 64)
        self.model = model.build_classifier(encoder, BINARY, dropout=0.0)
        self.initial = self.model.get_weights()

    def reset(self):
        """The initial weights and a fresh optimizer state (compiled once: traced steps are kept)."""
        self.model.set_weights(self.initial)
        if self.model.optimizer is None:
            config = build_config({"learning_rate": 1e-3, "jit_compile": False})
            model.compile_classifier(self.model, BINARY, config, num_train_steps=9)
        for variable in self.model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        return self.model

    def train_one_epoch(self, dataset: tf.data.Dataset) -> tuple[float, list[np.ndarray]]:
        history = self.reset().fit(dataset, epochs=1, verbose=0, shuffle=False)
        return history.history["loss"][0], self.model.get_weights()


@pytest.fixture(scope="module")
def tiny_classifier(dropout_free_encoder) -> TinyClassifier:
    return TinyClassifier(dropout_free_encoder)


def test_padding_mode_leaves_evaluation_unchanged(tiny_classifier, varied_split):
    classifier = tiny_classifier.reset()
    datasets = {padding: features.make_dataset(varied_split, tiny_classifier.packer, 8, padding=padding)
                for padding in features.PADDINGS}
    widths = {padding: {b[0]["input_word_ids"].shape[1] for b in ds.as_numpy_iterator()}
              for padding, ds in datasets.items()}
    assert widths["max"] == {64} and len(widths["batch"]) >= 3
    assert widths["bucket"] <= set(features.bucket_widths(64)) and len(widths["bucket"]) >= 3
    losses = {padding: classifier.evaluate(ds, verbose=0, return_dict=True)["loss"]
              for padding, ds in datasets.items()}
    assert losses["batch"] == pytest.approx(losses["max"], abs=1e-5)
    assert losses["bucket"] == pytest.approx(losses["max"], abs=1e-5)
    predictions = {padding: classifier.predict(datasets[padding], verbose=0) for padding in ("max", "batch")}
    np.testing.assert_allclose(predictions["batch"], predictions["max"], atol=1e-5)


def test_padding_mode_leaves_training_unchanged(tiny_classifier, varied_split):
    """One epoch on the same batches in the same order: padded to max_seq_length, to each
    batch's longest, and bucketed (against the same bucketed batches padded to max)."""
    packer = tiny_classifier.packer
    loss_max, weights_max = tiny_classifier.train_one_epoch(
        features.make_dataset(varied_split, packer, 8, padding="max"))
    loss_batch, weights_batch = tiny_classifier.train_one_epoch(
        features.make_dataset(varied_split, packer, 8, padding="batch"))
    print(f"\nepoch loss: max {loss_max:.7f}, batch {loss_batch:.7f}", end="")
    assert loss_batch == pytest.approx(loss_max, abs=1e-4)
    assert not np.allclose(weights_max[0], tiny_classifier.initial[0])  # it did train
    for a, b in zip(weights_batch, weights_max):
        np.testing.assert_allclose(a, b, atol=1e-4)

    bucketed = features.make_dataset(varied_split, packer, 8, padding="bucket")
    padded = bucketed.map(lambda feats, labels: (features._pad_to(feats, 64), labels))
    loss_bucket, weights_bucket = tiny_classifier.train_one_epoch(bucketed)
    loss_padded, weights_padded = tiny_classifier.train_one_epoch(padded)
    print(f", bucket {loss_bucket:.7f}, the same batches padded to max {loss_padded:.7f}")
    assert loss_bucket == pytest.approx(loss_padded, abs=1e-4)
    for a, b in zip(weights_bucket, weights_padded):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert loss_bucket == pytest.approx(loss_max, abs=0.05)  # other batches, a similar epoch


# --------------------------------------------------------------------------- throughput (not a test)


def _english_sentences(count: int, seed: int = 0) -> list[str]:
    """Short sentences with about SST-2's length distribution (mean ~9.5 words)."""
    rng = random.Random(seed)
    words = _WORDS + "good bad great terrible boring wonderful acting plot funny dull".split()
    sentences = []
    for _ in range(count):
        size = max(1, min(50, int(rng.lognormvariate(2.1, 0.6))))
        sentence = " ".join(rng.choice(words) for _ in range(size)).capitalize()
        sentences.append(sentence + rng.choice([".", "!", "", " ,", "?"]))
    return sentences


def measure_tokenization(vocab_file: str, count: int = 20000, batch_size: int = 32, repeats: int = 3) -> None:
    """Print examples/s of the report's per-example py_function and of both packers."""
    import time

    texts = _english_sentences(count)
    split = make_split(texts, labels=np.zeros(count, dtype=np.int32))
    tokenizer = features.load_tokenizer(vocab_file, True)

    def per_example(text, label):  # the report's shape: Python once per example, padded to 128
        def convert(value):
            example = classifier_data_lib.InputExample("x", value.numpy().decode("utf-8"), None, "0")
            feature = classifier_data_lib.convert_single_example(EX_INDEX, example, ["0", "1"], 128, tokenizer)
            return feature.input_ids, feature.input_mask, feature.segment_ids

        ids, mask, types = tf.py_function(convert, [text], [tf.int32] * 3)
        for tensor in (ids, mask, types):
            tensor.set_shape([128])
        return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}, label

    def report(subset: int) -> tf.data.Dataset:
        data = tf.data.Dataset.from_tensor_slices((texts[:subset], np.zeros(subset, dtype=np.int32)))
        return data.map(per_example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def in_graph(dataset: tf.data.Dataset) -> float:  # consumed inside TF, as Keras' fit does
        start = time.perf_counter()
        total = dataset.reduce(np.int64(0), lambda n, batch: n + tf.cast(tf.shape(batch[1])[0], tf.int64))
        return float(total) / (time.perf_counter() - start)

    def in_python(dataset: tf.data.Dataset) -> float:
        start, total = time.perf_counter(), 0
        for _, labels in dataset:
            total += int(labels.shape[0])
        return total / (time.perf_counter() - start)

    runs = {"report: per-example py_function, padded to 128": lambda: report(min(count, 4000))}
    for kind in ("py_function", "tf_text"):
        packer = features.make_packer(kind, vocab_file, True, 128)
        for padding in (("bucket", "batch", "max") if kind == "tf_text" else ("batch",)):
            runs[f"{kind}, padding={padding}"] = (
                lambda packer=packer, padding=padding: features.make_dataset(split, packer, batch_size, padding=padding))
    print(f"{count} sentences (mean {np.mean([len(t.split()) for t in texts]):.1f} words), batch {batch_size}, "
          f"{len(tf.config.list_physical_devices('CPU'))} CPU device, os.cpu_count()={__import__('os').cpu_count()}")
    results = {}
    for name, make in runs.items():
        make().take(2).reduce(np.int64(0), lambda n, _: n)  # warm up
        results[name] = (max(in_graph(make()) for _ in range(repeats)), max(in_python(make()) for _ in range(repeats)))
    base = results["report: per-example py_function, padded to 128"][0]
    for name, (graph, python) in results.items():
        print(f"{name:50s} {graph:10,.0f} ex/s in graph ({graph / base:5.1f}x)   {python:10,.0f} ex/s iterated in Python")


if __name__ == "__main__":
    import tempfile

    if len(sys.argv) > 1:
        measure_tokenization(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "vocab.txt"
            path.write_text("\n".join(hub_format.tiny_vocabulary()) + "\n", encoding="utf-8")
            measure_tokenization(str(path))


def test_length_order_is_shortest_first_counting_both_segments_and_stable():
    texts = ["ccc", "a", "bb", "a", "dddd"]
    assert features.length_order(texts).tolist() == [1, 3, 2, 0, 4]
    assert features.length_order(["a", "a", "a"], ["xxx", "x", "xx"]).tolist() == [1, 2, 0]
