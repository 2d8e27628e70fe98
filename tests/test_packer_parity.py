"""Packers: tokenization and packing must match tensorflow/models' classifier_data_lib.

The central test feeds a few hundred varied strings (conftest's TEXTS and PAIRS), single
and paired, through `pack_batch`, through both packers (py_function's FullTokenizer and
tf_text's in-graph tokenization) and through `input_pipeline.make_dataset` in every padding
mode, at several max_seq_length values and both casings, and demands the same input ids,
mask and segment ids as `classifier_data_lib.convert_single_example` (compared unpadded
where widths differ). It runs on two vocabularies: the tiny encoder's own (words plus
single characters) and a richer one built from the test strings themselves, so that whole
words, stems plus ##suffixes and [UNK] all occur. A sweep over every code point of planes
0-3 and 14 pins the tf_text path's only differences from FullTokenizer to
packers.UNICODE_VERSION_DIFFERENCES.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.data import classifier_data_lib
from official.nlp.tools import tokenization

from conftest import by_label, collect, make_split, pad_columns
from texts import PAIRS, TEXTS
from tfbert import input_pipeline, hub_format, packers

MAX_SEQ_LENGTHS = (5, 8, 16, 128)
EX_INDEX = 10**6  # convert_single_example logs examples with ex_index < 5

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


def assert_same_ids(what: str, got: dict[str, np.ndarray], want: list[np.ndarray], pairs) -> None:
    """`got`, padded to any width up to max_seq_length, holds exactly the sequences of `want`."""
    n, max_seq_length = want[0].shape
    width = got["input_word_ids"].shape[1]
    assert width <= max_seq_length, f"{what}: width {width} over max_seq_length {max_seq_length}"
    for name, w in zip(packers.FEATURE_NAMES, want):
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


def both_packers(vocab_file: str, do_lower_case: bool, max_seq_length: int) -> tuple[packers.Packer, ...]:
    """The tf_text packer (fast and classic wordpiece) and the py_function packer."""
    tf_text = packers.make_packer("tf_text", vocab_file, do_lower_case, max_seq_length)
    py_function = packers.make_packer("py_function", vocab_file, do_lower_case, max_seq_length)
    assert isinstance(tf_text, packers.TfTextPacker) and isinstance(py_function, packers.PyFunctionPacker)
    classic = packers.TfTextPacker(vocab_file, do_lower_case, max_seq_length, wordpiece="classic")
    assert type(tf_text.wordpiece).__name__ == "FastWordpieceTokenizer"
    assert type(classic.wordpiece).__name__ == "WordpieceTokenizer"
    return tf_text, classic, py_function


def assert_pack_batch_ids(tokenizer, pairs, max_seq_length: int, want: list[np.ndarray]) -> None:
    """The Python packing, called directly on str."""
    n = len(TEXTS)
    got = packers.pack_batch(tokenizer, TEXTS, pairs, max_seq_length)
    for name, g, w in zip(("input_ids", "input_mask", "segment_ids"), got, want):
        assert g.dtype == np.int32 and g.shape == (n, max_seq_length)
        mismatch = np.flatnonzero((g != w).any(axis=1))
        assert mismatch.size == 0, (
            f"pack_batch {name} differ (max_seq_length={max_seq_length}, pairs={pairs is not None}) "
            f"for {[(TEXTS[i], None if pairs is None else pairs[i]) for i in mismatch[:3]]}"
        )


def assert_pipeline_ids(tf_text, py_function, pairs, want: list[np.ndarray]) -> None:
    """The tf.data pipeline: py_function padded to max (the Python side receives bytes),
    tf_text in its default bucketing (rows reordered, labels travel with them)."""
    feats, labels = collect(input_pipeline.make_dataset(make_split(TEXTS, pairs), py_function, batch_size=32,
                                                  padding="max"))
    np.testing.assert_array_equal(labels, np.arange(len(TEXTS)))
    assert feats["input_word_ids"].shape == (len(TEXTS), py_function.max_seq_length)
    assert_same_ids("make_dataset py_function max", feats, want, pairs)
    feats, labels = collect(input_pipeline.make_dataset(make_split(TEXTS, pairs), tf_text, batch_size=32))
    assert_same_ids("make_dataset tf_text bucket", by_label(feats, labels), want, pairs)


def count_truncation(coverage: Coverage, expected, lengths: tuple[list[int], list[int]], pairs,
                     max_seq_length: int) -> None:
    """What this configuration exercised: truncated or not, in which segment of a pair."""
    for i, (ids, mask, segments) in enumerate(expected):
        len_a = lengths[0][i]
        len_b = lengths[1][i] if pairs is not None else 0
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


def count_pieces(coverage: Coverage, tokenizer) -> None:
    """How the vocabulary split the texts: [UNK], ##continuations, whole words."""
    pieces = [t for text in TEXTS for t in tokenizer.tokenize(text)]
    coverage.unk += sum(t == "[UNK]" for t in pieces)
    coverage.continuation_pieces += sum(t.startswith("##") for t in pieces)
    coverage.whole_word_pieces += sum(len(t) > 1 and not t.startswith("##") and t != "[UNK]"
                                      for t in pieces)


def assert_not_vacuous(coverage: Coverage, vocab: str) -> None:
    n = len(TEXTS)
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


@pytest.mark.slow
@pytest.mark.parametrize("vocab", ["tiny", "rich"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_ids_equal_classifier_data_lib(vocab, do_lower_case, request):
    vocab_file = request.getfixturevalue(f"{vocab}_vocab_file")
    tokenizer = packers.load_tokenizer(vocab_file, do_lower_case)
    assert tokenizer.basic_tokenizer.do_lower_case is do_lower_case
    unk_id = tokenizer.vocab["[UNK]"]
    coverage = Coverage()
    n = len(TEXTS)
    lengths = ([len(tokenizer.tokenize(text)) for text in TEXTS], [len(tokenizer.tokenize(pair)) for pair in PAIRS])
    for max_seq_length in MAX_SEQ_LENGTHS:
        tf_text, classic, py_function = both_packers(vocab_file, do_lower_case, max_seq_length)
        for pairs in (None, PAIRS):
            expected = [reference(tokenizer, TEXTS[i], None if pairs is None else pairs[i], max_seq_length)
                        for i in range(n)]
            want = [np.stack([e[k] for e in expected]) for k in range(3)]
            longest = int(want[1].sum(axis=1).max())
            assert_pack_batch_ids(tokenizer, pairs, max_seq_length, want)

            # both packers on the whole set as one batch: padded to its longest sequence
            text_tensor = tf.constant(TEXTS)
            pair_tensor = None if pairs is None else tf.constant(pairs)
            for packer in (tf_text, classic) + ((py_function,) if max_seq_length == 128 else ()):
                got = {k: v.numpy() for k, v in packer(text_tensor, pair_tensor).items()}
                assert got["input_word_ids"].shape == (n, longest)
                assert_same_ids(repr(packer), got, want, pairs)

            if max_seq_length == 128:
                assert_pipeline_ids(tf_text, py_function, pairs, want)
            count_truncation(coverage, expected, lengths, pairs, max_seq_length)
            if max_seq_length == 128 and pairs is None:
                count_pieces(coverage, tokenizer)
                assert (want[0] == unk_id).any()

    print(f"\n{vocab} vocab, do_lower_case={do_lower_case}: {coverage}")
    assert_not_vacuous(coverage, vocab)


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
    tokenizer = packers.load_tokenizer(rich_vocab_file, True)
    vocab = tokenizer.vocab
    ids, types = packers.pack_example(tokenizer, "", None, 8)
    assert ids == [vocab["[CLS]"], vocab["[SEP]"]] and types == [0, 0]
    ids, types = packers.pack_example(tokenizer, "the the the the", "a", 6)
    assert tokenizer.convert_ids_to_tokens(ids) == ["[CLS]", "the", "the", "[SEP]", "a", "[SEP]"]
    assert types == [0, 0, 0, 0, 1, 1]
    word_ids, mask, type_ids = packers.pack_batch(tokenizer, ["the", "the the"], ["a", ""], 7)
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0]])
    np.testing.assert_array_equal(type_ids, [[0, 0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    assert (word_ids[mask == 0] == 0).all()


# --------------------------------------------------------------------------- 2. the tf_text path


SWEEP = [c for c in range(0x40000) if not 0xD800 <= c <= 0xDFFF] + list(range(0xE0000, 0xF0000))


def _sweep_differences(packer: packers.TfTextPacker, context: str) -> set[int]:
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


@pytest.mark.slow
def test_tf_text_normalisation_equals_full_tokenizer_on_every_code_point(tiny_vocab_file):
    """Every character, alone and where only final sigma could tell: the tf_text words
    are FullTokenizer's except for the documented Unicode-version differences."""
    residual = packers.UNICODE_VERSION_DIFFERENCES
    cased = packers.TfTextPacker(tiny_vocab_file, False, 128)
    assert _sweep_differences(cased, "a{}b") == set()
    uncased = packers.TfTextPacker(tiny_vocab_file, True, 128)
    assert _sweep_differences(uncased, "{}") == residual["lower"] | residual["nfd"]
    # a capital sigma is final when a cased letter precedes it (case-ignorable characters
    # skipped) and none follows: these contexts put each character in every such role
    in_context = _sweep_differences(uncased, "ΑΣ{}Α") | _sweep_differences(uncased, "Α{}Σ")
    final_sigma = residual["final_sigma"] | residual.get("final_sigma_unicode_15", set())
    assert in_context - residual["lower"] - residual["nfd"] == final_sigma
    assert [len(residual[k]) for k in ("lower", "nfd", "final_sigma")] == [40, 20, 261]
    assert len(final_sigma) == {"14.0.0": 261, "15.1.0": 365}[unicodedata.unidata_version]  # Python 3.11, 3.13


@pytest.mark.slow
def test_tf_text_lower_casing_ignores_the_process_locale(tiny_vocab_file):
    """ICU lower-cases by the locale: in Turkish or Azeri, I would become a dotless ı."""
    texts = ["I İ Iİ I\u0307 IΣ ÌÍĨ JÌ", "INDIA Istanbul ΟΔΟΣ", "ﬁ Ｉ"]
    script = (
        "import json; import tfbert; import tensorflow as tf; from tfbert import packers\n"
        f"packer = packers.TfTextPacker({tiny_vocab_file!r}, True, 16)\n"
        f"print(json.dumps([[w.decode() for w in row] for row in packer.words(tf.constant({texts!r})).to_list()]))\n"
    )
    basic = tokenization.BasicTokenizer(do_lower_case=True)
    want = [basic.tokenize(text) for text in texts]
    assert want[0][0] == "i"
    for locale in ("tr_TR.UTF-8",):
        env = {**os.environ, "LC_ALL": locale, "LANG": locale, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                              cwd=Path(packers.__file__).parents[1])
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == want, locale
