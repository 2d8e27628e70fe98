"""Packers: the tf_text path's documented differences, vocabulary oddities, in-graph truncation and
padding, bad arguments, and the encoder's tokenizer (the agreement with classifier_data_lib over
varied strings and every code point: test_packer_parity.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from conftest import ROOT
from tfbert import encoders, hub_format, packers
from tfbert.errors import TfbertError


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


@pytest.mark.slow
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
    """Every `docs/design/tokenization.md#anchor` in the package's code names a section of the note."""
    code = "".join(path.read_text(encoding="utf-8") for path in Path(packers.__file__).parent.rglob("*.py"))
    anchors = set(re.findall(r"docs/design/tokenization\.md#([a-z0-9-]+)", code))
    note = (ROOT / "docs" / "design" / "tokenization.md").read_text(encoding="utf-8")
    sections = {re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")
                for title in re.findall(r"^## (.+)$", note, flags=re.M)}
    assert len(anchors) >= 4 and anchors <= sections, anchors - sections
