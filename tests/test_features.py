"""Features: tokenization and packing must match tensorflow/models' classifier_data_lib.

The central test (issue 2, criterion 4) feeds a few hundred varied strings, single and
paired, through `pack_batch` and through the tf.data pipeline `make_dataset`, at several
max_seq_length values and both casings, and demands the same input ids, mask and segment
ids as `classifier_data_lib.convert_single_example`. It runs on two vocabularies: the
tiny encoder's own (words plus single characters) and a richer one built from the test
strings themselves, so that whole words, stems plus ##suffixes and [UNK] all occur.
"""

from __future__ import annotations

import math
import random
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

from tfbert import encoders, features, hub_format
from tfbert.data import Split

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
        if token and token == token.strip() and token.split() == [token] and "\n" not in token:
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


def collect(dataset: tf.data.Dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    batches = list(dataset.as_numpy_iterator())
    feats = {name: np.concatenate([b[0][name] for b in batches]) for name in features.FEATURE_NAMES}
    labels = np.concatenate([b[1] for b in batches])
    return feats, labels


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
        for pairs in (None, PAIRS):
            expected = [reference(tokenizer, TEXTS[i], None if pairs is None else pairs[i], max_seq_length)
                        for i in range(n)]
            want = [np.stack([e[k] for e in expected]) for k in range(3)]

            # the Python packing, called directly on str
            got = features.pack_batch(tokenizer, TEXTS, pairs, max_seq_length)
            for name, g, w in zip(("input_ids", "input_mask", "segment_ids"), got, want):
                assert g.dtype == np.int32 and g.shape == (n, max_seq_length)
                mismatch = np.flatnonzero((g != w).any(axis=1))
                assert mismatch.size == 0, (
                    f"pack_batch {name} differ (max_seq_length={max_seq_length}, pairs={pairs is not None}) "
                    f"for {[(TEXTS[i], None if pairs is None else pairs[i]) for i in mismatch[:3]]}"
                )

            # the tf.data pipeline, whose Python side receives bytes
            dataset = features.make_dataset(make_split(TEXTS, pairs), tokenizer, max_seq_length, batch_size=32)
            feats, labels = collect(dataset)
            np.testing.assert_array_equal(labels, np.arange(n))
            for name, w in zip(features.FEATURE_NAMES, want):
                g = feats[name]
                assert g.dtype == np.int32 and g.shape == (n, max_seq_length)
                mismatch = np.flatnonzero((g != w).any(axis=1))
                assert mismatch.size == 0, (
                    f"make_dataset {name} differ (max_seq_length={max_seq_length}, pairs={pairs is not None}) "
                    f"for {[(TEXTS[i], None if pairs is None else pairs[i]) for i in mismatch[:3]]}"
                )

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
    for special in ("\t", "\n", "\x00", "\u200b", "\ufeff"):
        assert special in joined
    assert sum(len(t.split()) >= 90 for t in TEXTS) >= 25  # very long texts
    assert "" in TEXTS and " " in TEXTS


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


# --------------------------------------------------------------------------- 2. make_dataset


@pytest.fixture(scope="module")
def tokenizer(tiny_vocab_file):
    return features.load_tokenizer(tiny_vocab_file, True)


def test_dataset_shapes_dtypes_batches_and_labels(tokenizer):
    texts = TEXTS[:70]
    dataset = features.make_dataset(make_split(texts), tokenizer, max_seq_length=16, batch_size=16)
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


def test_dataset_pairs_path(tokenizer):
    texts = ["the film was good", "a bad movie", "love it"]
    pairs = ["i liked it", "", "yes"]
    dataset = features.make_dataset(make_split(texts, pairs), tokenizer, max_seq_length=12, batch_size=2)
    assert len(dataset.element_spec[0]) == 3
    feats, labels = collect(dataset)
    np.testing.assert_array_equal(labels, [0, 1, 2])
    tokens = [tokenizer.convert_ids_to_tokens([i for i in row if i]) for row in feats["input_word_ids"]]
    assert tokens[0] == ["[CLS]", "the", "film", "was", "good", "[SEP]", "i", "liked", "it", "[SEP]"]
    assert tokens[1] == ["[CLS]", "a", "bad", "movie", "[SEP]"]  # empty second segment: no second [SEP]
    np.testing.assert_array_equal(feats["input_type_ids"][0], [0] * 6 + [1] * 4 + [0] * 2)
    assert (feats["input_type_ids"][1] == 0).all()
    np.testing.assert_array_equal(feats["input_type_ids"][2][:6], [0, 0, 0, 0, 1, 1])


def test_dataset_shuffle_is_seeded_and_keeps_rows_together(tokenizer):
    texts = TEXTS[100:164]
    split = make_split(texts, PAIRS[100:164])

    def orders(seed, epochs=2):
        dataset = features.make_dataset(split, tokenizer, max_seq_length=16, batch_size=10, shuffle=True, seed=seed)
        return [collect(dataset) for _ in range(epochs)]

    first, second = orders(7), orders(7)
    for (feats_a, labels_a), (feats_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(labels_a, labels_b)  # same seed, same order
        for name in features.FEATURE_NAMES:
            np.testing.assert_array_equal(feats_a[name], feats_b[name])
    expected = features.pack_batch(tokenizer, texts, PAIRS[100:164], 16)
    for feats, labels in first:
        assert sorted(labels.tolist()) == list(range(64))  # a permutation, nothing lost or repeated
        assert labels.tolist() != list(range(64))  # and actually shuffled
        for name, want in zip(features.FEATURE_NAMES, expected):
            np.testing.assert_array_equal(feats[name], want[labels])  # features travel with their label
    assert first[0][1].tolist() != first[1][1].tolist()  # reshuffled each epoch
    assert orders(8, epochs=1)[0][1].tolist() != first[0][1].tolist()  # another seed, another order


def test_dataset_multilabel_labels_are_float32_rows(tokenizer):
    labels = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32)
    dataset = features.make_dataset(make_split(TEXTS[20:25], labels=labels), tokenizer, max_seq_length=8, batch_size=2)
    assert dataset.element_spec[1].dtype == tf.float32
    assert dataset.element_spec[1].shape.as_list() == [None, 3]
    batches = list(dataset.as_numpy_iterator())
    assert [b[1].shape for b in batches] == [(2, 3), (2, 3), (1, 3)]
    assert all(b[1].dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels)


def test_dataset_multilabel_int_rows_become_float32(tokenizer):
    labels = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int64)
    dataset = features.make_dataset(make_split(TEXTS[30:33], labels=labels), tokenizer, max_seq_length=8, batch_size=4)
    (_, got), = list(dataset.as_numpy_iterator())
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, labels.astype(np.float32))


# --------------------------------------------------------------------------- 3. encoder's tokenizer


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


# --------------------------------------------------------------------------- 4. one Python call per batch


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


@pytest.mark.parametrize("with_pairs", [False, True])
def test_dataset_tokenizes_once_per_batch(tokenizer, monkeypatch, with_pairs):
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
    texts = [t or "x" for t in TEXTS[:100]]
    pairs = [p.strip("\x00") or "y" for p in PAIRS[:100]] if with_pairs else None
    dataset = features.make_dataset(make_split(texts, pairs), counter, max_seq_length=16, batch_size=16)
    assert python_calls == [] and counter.calls == []  # nothing runs before iteration
    feats, labels = collect(dataset)

    batch_sizes = [16] * 6 + [4]
    assert sorted(python_calls) == sorted(batch_sizes)  # one Python call per batch, holding the batch
    assert sorted(pack_calls) == sorted(batch_sizes)
    assert len(counter.calls) == 100 * (2 if with_pairs else 1)  # every text tokenized once
    expected = original_pack_batch(tokenizer, texts, pairs, 16)
    for name, want in zip(features.FEATURE_NAMES, expected):
        np.testing.assert_array_equal(feats[name], want)
    np.testing.assert_array_equal(labels, np.arange(100))
