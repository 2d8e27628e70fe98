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
import re
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

from conftest import ROOT, by_label, collect, make_split, pad_columns
from texts import PAIRS, TEXTS
from tfbert import input_pipeline, encoders, hub_format, packers
from tfbert.errors import TfbertError

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


@pytest.mark.parametrize("vocab", ["tiny", "rich"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_ids_equal_classifier_data_lib(vocab, do_lower_case, request):
    vocab_file = request.getfixturevalue(f"{vocab}_vocab_file")
    tokenizer = packers.load_tokenizer(vocab_file, do_lower_case)
    assert tokenizer.basic_tokenizer.do_lower_case is do_lower_case
    unk_id = tokenizer.vocab["[UNK]"]
    coverage = Coverage()
    n = len(TEXTS)
    text_lengths = [len(tokenizer.tokenize(text)) for text in TEXTS]
    pair_lengths = [len(tokenizer.tokenize(pair)) for pair in PAIRS]
    for max_seq_length in MAX_SEQ_LENGTHS:
        tf_text = packers.make_packer("tf_text", vocab_file, do_lower_case, max_seq_length)
        py_function = packers.make_packer("py_function", vocab_file, do_lower_case, max_seq_length)
        assert isinstance(tf_text, packers.TfTextPacker) and isinstance(py_function, packers.PyFunctionPacker)
        classic = packers.TfTextPacker(vocab_file, do_lower_case, max_seq_length, wordpiece="classic")
        assert type(tf_text.wordpiece).__name__ == "FastWordpieceTokenizer"
        assert type(classic.wordpiece).__name__ == "WordpieceTokenizer"
        for pairs in (None, PAIRS):
            expected = [reference(tokenizer, TEXTS[i], None if pairs is None else pairs[i], max_seq_length)
                        for i in range(n)]
            want = [np.stack([e[k] for e in expected]) for k in range(3)]
            longest = int(want[1].sum(axis=1).max())

            # the Python packing, called directly on str
            got = packers.pack_batch(tokenizer, TEXTS, pairs, max_seq_length)
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
                feats, labels = collect(input_pipeline.make_dataset(make_split(TEXTS, pairs), py_function, batch_size=32,
                                                              padding="max"))
                np.testing.assert_array_equal(labels, np.arange(n))
                assert feats["input_word_ids"].shape == (n, max_seq_length)
                assert_same_ids("make_dataset py_function max", feats, want, pairs)
                feats, labels = collect(input_pipeline.make_dataset(make_split(TEXTS, pairs), tf_text, batch_size=32))
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


def _vocab_file(tmp_path: Path, tokens: list[str]) -> str:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join([*hub_format.SPECIAL_TOKENS, *tokens]) + "\n", encoding="utf-8")
    return str(path)


def _tokens(packer: packers.TfTextPacker, text: str) -> list[str]:
    inverse = {i: t for t, i in packer.vocab.items()}
    return [inverse[i] for i in packer.tokenize(tf.constant([text])).to_list()[0]]


def test_the_documented_residual_difference(tmp_path):
    """Exactly what UNICODE_VERSION_DIFFERENCES means for ids, one character of each kind:
    U+2C2F (Glagolitic, Unicode 14.0): Python lower-cases it to U+2C5F, TensorFlow's ICU
    does not; U+10597 (a Vithkuqi small letter) is cased for Python, so a Σ before it is
    not final; U+11383 (Tulu-Tigalari, Unicode 16.0) is unassigned for Python 3.11, and
    tensorflow_text's NFD decomposes it."""
    vocab_file = _vocab_file(tmp_path, ["\u2c5f", "α", "##σ", "##ς", "##\U00010597", "\U00011383"])
    tokenizer = packers.load_tokenizer(vocab_file, True)
    packer = packers.TfTextPacker(vocab_file, True, 16)
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
        tokenizer = packers.load_tokenizer(vocab_file, do_lower_case)
        packer = packers.TfTextPacker(vocab_file, do_lower_case, 512)
        for text in texts:
            assert _tokens(packer, text) == tokenizer.tokenize(text), (do_lower_case, text)
    tokenizer = packers.load_tokenizer(vocab_file, True)
    assert tokenizer.tokenize("straße ﬁnance") == ["straße", "ﬁ", "##nance"]  # str.lower, not case folding
    assert tokenizer.tokenize("ж" * 150) == ["ж"] + ["##ж"] * 149  # 300 bytes, still a word
    assert tokenizer.tokenize("a" * 401) == ["[UNK]"] and len(tokenizer.tokenize("a" * 400)) == 400
    assert tokenizer.tokenize("ΟΔΟΣ") == ["ο", "##δ", "##ο", "##ς"]  # final sigma


@pytest.mark.parametrize("wordpiece", ["fast", "classic"])
def test_vocabulary_oddities_read_as_full_tokenizer_reads_them(tmp_path, wordpiece):
    """Duplicate and blank lines, "##" alone, tokens with inner spaces or too long to reach."""
    tokens = ["the", "##s", "the", "", "##", "a b", "x" * 401, "##" + "y" * 401, "y", "##y", "[tfbert:5]"]
    vocab_file = _vocab_file(tmp_path, tokens)
    tokenizer = packers.load_tokenizer(vocab_file, True)
    packer = packers.TfTextPacker(vocab_file, True, 32, wordpiece=wordpiece)
    assert type(packer.wordpiece).__name__ == {"fast": "FastWordpieceTokenizer", "classic": "WordpieceTokenizer"}[wordpiece]
    for text in ("the thes a b", "##", "x" * 401, "y" * 402, "y" * 12, "[tfbert:5] [tfbert:7]"):
        want = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))
        assert packer.tokenize(tf.constant([text])).to_list()[0] == want, text
    # a reachable token over FastWordpieceTokenizer's 256 bytes: auto falls back to classic
    vocab_file = _vocab_file(tmp_path, ["z" * 300, "z", "##z"])
    assert type(packers.TfTextPacker(vocab_file, True, 8).wordpiece).__name__ == "WordpieceTokenizer"
    with pytest.raises(TfbertError, match="too long"):
        packers.TfTextPacker(vocab_file, True, 8, wordpiece="fast")
    tokenizer = packers.load_tokenizer(vocab_file, True)
    packer = packers.TfTextPacker(vocab_file, True, 8)
    for text in ("z" * 300, "z" * 301, "z" * 5):
        assert packer.tokenize(tf.constant([text])).to_list()[0] == tokenizer.convert_tokens_to_ids(
            tokenizer.tokenize(text))


def test_in_graph_truncation_is_berts_pop_from_the_longer(tiny_vocab_file):
    """Every pair of segment lengths 0-11 at max_seq_length 3-16, ties included, against
    the reference loop; an empty second segment is no pair, an empty first one is kept."""
    packer = packers.TfTextPacker(tiny_vocab_file, True, 3)
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
                packers._truncate_pair(a, b, max_seq_length - 3)
            else:
                a = a[: max_seq_length - 2]
            ids = [cls, *a, sep] + ([*b, sep] if b else [])
            types = [0] * (len(a) + 2) + [1] * (len(b) + 1 if b else 0)
            width = got["input_word_ids"].shape[1]
            assert got["input_word_ids"][row].tolist() == ids + [0] * (width - len(ids)), (max_seq_length, la, lb)
            assert got["input_type_ids"][row].tolist() == types + [0] * (width - len(ids))
            assert got["input_mask"][row].tolist() == [1] * len(ids) + [0] * (width - len(ids))


def packer_ids(packer: packers.Packer) -> tuple[int, int]:
    vocab = packer.vocab if isinstance(packer, packers.TfTextPacker) else packer.tokenizer.vocab
    return vocab["[CLS]"], vocab["[SEP]"]


@pytest.mark.parametrize("kind", packers.TOKENIZERS)
def test_packers_pad_to_the_batch_longest_in_graph_mode(kind, tiny_vocab_file):
    packer = packers.make_packer(kind, tiny_vocab_file, True, 16)
    packer_type = {"tf_text": packers.TfTextPacker, "py_function": packers.PyFunctionPacker}[kind]
    assert packer.max_seq_length == 16 and type(packer) is packer_type
    packed = tf.function(packer)(tf.constant(["the film", "a"]), tf.constant(["good", "\u200b"]))
    assert set(packed) == set(packers.FEATURE_NAMES)
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
        packers.make_packer("sentencepiece", tiny_vocab_file, True, 16)
    for kind in packers.TOKENIZERS:
        with pytest.raises(TfbertError, match="at least 3"):
            packers.make_packer(kind, tiny_vocab_file, True, 2)
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("[PAD]\n[CLS]\n[SEP]\nthe\n", encoding="utf-8")
    with pytest.raises(TfbertError, match=r"lacks \[UNK\]"):
        packers.make_packer("tf_text", str(vocab_file), True, 16)


# --------------------------------------------------------------------------- 4. encoder's tokenizer


def test_tokenizer_from_encoder_assets_honours_do_lower_case(tiny_encoder, tmp_path):
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoders.load_encoder(tiny_encoder, trainable=False))
    assert do_lower_case is True
    uncased = packers.load_tokenizer(vocab_file, do_lower_case)
    assert uncased.basic_tokenizer.do_lower_case is True
    assert uncased.tokenize("Hello WORLD, Film!") == ["hello", "world", ",", "film", "!"]
    assert uncased.tokenize("Café") == ["c", "##a", "##f", "##e"]  # lower-cased and accent stripped
    # the tiny vocabulary holds no upper-case characters: cased tokenization cannot find them
    cased = packers.load_tokenizer(vocab_file, False)
    assert cased.tokenize("Hello world") == ["[UNK]", "world"]
    assert cased.tokenize("café") == ["c", "##a", "##f", "##é"]
    for lower, text in ((True, "Hello WORLD, Film! Café"), (False, "Hello world café")):
        packer = packers.make_packer("tf_text", vocab_file, lower, 16)
        assert _tokens(packer, text) == packers.load_tokenizer(vocab_file, lower).tokenize(text)

    # an encoder that declares itself cased gives a cased tokenizer
    vocab = Path(vocab_file).read_text(encoding="utf-8").split("\n")[:-1] + ["Hello", "H", "##H"]
    cased_vocab = tmp_path / "vocab.txt"
    cased_vocab.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    network = hub_format.build_bert_network(len(vocab), hidden_size=8, num_layers=1, num_attention_heads=1,
                                          inner_dim=8, max_sequence_length=16)
    export = hub_format.save_hub_encoder(network, cased_vocab, False, tmp_path / "cased")
    vocab_file2, do_lower_case2 = encoders.tokenizer_assets(encoders.load_encoder(str(export), trainable=False))
    assert do_lower_case2 is False
    tokenizer = packers.load_tokenizer(vocab_file2, do_lower_case2)
    assert tokenizer.basic_tokenizer.do_lower_case is False
    assert tokenizer.tokenize("Hello hello HELLO") == ["Hello", "hello", "[UNK]"]
    assert packers.load_tokenizer(vocab_file2, True).tokenize("Hello hello HELLO") == ["hello"] * 3
    assert _tokens(packers.make_packer("tf_text", vocab_file2, do_lower_case2, 8), "Hello hello HELLO") == [
        "Hello", "hello", "[UNK]"]


def test_the_design_notes_the_code_points_to_exist():
    """Every `docs/tokenization.md#anchor` in packers.py names a section of the note."""
    anchors = set(re.findall(r"docs/tokenization\.md#([a-z0-9-]+)", Path(packers.__file__).read_text(encoding="utf-8")))
    note = (ROOT / "docs" / "tokenization.md").read_text(encoding="utf-8")
    sections = {re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
                for title in re.findall(r"^## (.+)$", note, flags=re.M)}
    assert len(anchors) >= 4 and anchors <= sections, anchors - sections
