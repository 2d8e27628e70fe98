"""Text to BERT inputs: WordPiece tokenization and packing, callable inside tf.data.

The tokenizer is the encoder's own (its vocab_file and do_lower_case), and packing
follows BERT's convention exactly as tensorflow/models' classifier_data_lib does it:
[CLS] a [SEP] (b [SEP]), truncating the longer segment first, zero padding. Two packers,
chosen by the config key `tokenizer` (`make_packer`), give the same ids:

* ``py_function``: tensorflow/models' FullTokenizer in Python, one tf.numpy_function
  call per packer call (`pack_batch`); the reference path.
* ``tf_text`` (the default): tokenization and packing inside the graph with
  tensorflow_text's WordPiece tokenizers and TensorFlow's string and ragged ops, so no
  Python runs per batch and tf.data can pack batches in parallel. docs/design/tokenization.md
  says how it reproduces FullTokenizer, and where it cannot.

Texts longer than max_seq_length follow the config key `long_texts` (tfbert.long_texts):
both packers keep the same tokens, and with windows each row is a window.

>>> import tensorflow as tf
>>> from tfbert import hub_format, packers
>>> import tempfile, pathlib
>>> vocab = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
>>> _ = vocab.write_text("\\n".join(hub_format.tiny_vocabulary()) + "\\n")
>>> packer = packers.make_packer("tf_text", str(vocab), do_lower_case=True, max_seq_length=16)
>>> packer(tf.constant(["A good movie"]))["input_word_ids"].numpy().tolist()
[[2, 43, 333, 372, 3]]
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.tools import tokenization

from tfbert.config import KEYS_BY_NAME, TOKENIZERS  # noqa: F401  (TOKENIZERS: the packers' names, for callers)
from tfbert.errors import TfbertError
from tfbert.characters import UNICODE_VERSION_DIFFERENCES, character_classes  # noqa: F401
from tfbert.long_texts import LongTexts, cut_windows, first_segments, head_and_tail

FEATURE_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
WINDOW_COUNTS = "window_counts"  # long_texts windows: int32 [documents], how many rows each has

# FullTokenizer's limit on a word's length in characters (400 in tf-models 2.20).
MAX_CHARS_PER_WORD = tokenization.WordpieceTokenizer(vocab={}).max_input_chars_per_word


def head_chars(max_tokens: int) -> int:
    """How many characters of a long text the packers tokenize: never fewer than give its
    first `max_tokens` tokens, so a text of millions of characters costs no more than this.
    Why: docs/design/tokenization.md#head-chars
    """
    return (MAX_CHARS_PER_WORD + 2) * (max_tokens + 1)


# FullTokenizer turns these into spaces and splits words at them (it splits at other
# whitespace too; cutting a text only at these keeps every word before the cut whole).
_SEPARATOR = re.compile(r"[ \t\n\r]")
_SEPARATORS = re.compile(r"[ \t\n\r]+")


def tokenize_head(tokenizer: tokenization.FullTokenizer, text: str | bytes, max_tokens: int) -> list[str]:
    """tokenizer.tokenize(text), or for a long text a shorter list that begins with the same
    `max_tokens` tokens: the tokens of a prefix ending at a separator (whole words), tried
    at head_chars(max_tokens) characters, then twice as many, until it gives that many.
    A long text without separators past that point is tokenized whole."""
    text = tokenization.convert_to_unicode(text)
    cap = head_chars(max_tokens)
    if len(text) > cap:
        text = _SEPARATORS.sub(" ", text)  # FullTokenizer splits a run of them as it splits one
    while cap < len(text):
        cut = _SEPARATOR.search(text, cap)
        if cut is None:
            break
        tokens = tokenizer.tokenize(text[: cut.start()])
        if len(tokens) >= max_tokens:
            return tokens
        cap = 2 * cut.start()
    return tokenizer.tokenize(text)


def load_tokenizer(vocab_file: str, do_lower_case: bool) -> tokenization.FullTokenizer:
    """The WordPiece tokenizer that matches an encoder's vocabulary."""
    return tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=do_lower_case)


def _truncate_pair(tokens_a: list[str], tokens_b: list[str], max_tokens: int) -> None:
    """Trim the longer segment one token at a time, as BERT's reference code does."""
    while len(tokens_a) + len(tokens_b) > max_tokens:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def pack_example(tokenizer: tokenization.FullTokenizer, text: str | bytes,
                 pair: str | bytes | None, max_seq_length: int) -> tuple[list[int], list[int]]:
    """(word ids, type ids) of one example, unpadded: [CLS] a [SEP] (b [SEP])."""
    return pack_document(tokenizer, text, pair, max_seq_length)[0]


def pack_document(tokenizer: tokenization.FullTokenizer, text: str | bytes, pair: str | bytes | None,
                  max_seq_length: int, long_texts: LongTexts = LongTexts()) -> list[tuple[list[int], list[int]]]:
    """(word ids, type ids) of each window of one document (one unless long_texts is windows)."""
    limit = long_texts.token_limit(max_seq_length)
    tokens_a = tokenize_head(tokenizer, text, limit)[:limit]
    tokens_b = tokenize_head(tokenizer, pair, limit)[:limit] if pair else []
    return [_packed(tokenizer, segment, list(tokens_b), max_seq_length)
            for segment in first_segments(tokens_a, len(tokens_b), max_seq_length, long_texts)]


def _packed(tokenizer: tokenization.FullTokenizer, tokens_a: list[str], tokens_b: list[str],
            max_seq_length: int) -> tuple[list[int], list[int]]:
    if tokens_b:
        _truncate_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[: max_seq_length - 2]
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    type_ids = [0] * len(tokens)
    if tokens_b:
        tokens += [*tokens_b, "[SEP]"]
        type_ids += [1] * (len(tokens_b) + 1)
    return tokenizer.convert_tokens_to_ids(tokens), type_ids


def pack_batch(tokenizer: tokenization.FullTokenizer, texts: Sequence[str | bytes],
               pairs: Sequence[str | bytes] | None, max_seq_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int32 [batch, max_seq_length] word ids, mask and type ids for a batch of texts."""
    return pack_documents(tokenizer, texts, pairs, max_seq_length)[:3]


def pack_documents(tokenizer: tokenization.FullTokenizer, texts: Sequence[str | bytes],
                   pairs: Sequence[str | bytes] | None, max_seq_length: int,
                   long_texts: LongTexts = LongTexts()) -> tuple[np.ndarray, ...]:
    """int32 [windows, max_seq_length] word ids, mask and type ids of a batch of texts' windows
    (`pack_document`), a document's consecutive, and int32 [batch] windows per text."""
    documents = [pack_document(tokenizer, text, pairs[row] if pairs is not None else None, max_seq_length,
                               long_texts) for row, text in enumerate(texts)]
    windows = [window for document in documents for window in document]
    word_ids, mask, type_ids = (np.zeros((len(windows), max_seq_length), dtype=np.int32) for _ in range(3))
    for row, (ids, types) in enumerate(windows):
        word_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
        type_ids[row, : len(ids)] = types
    return word_ids, mask, type_ids, np.array([len(document) for document in documents], dtype=np.int32)


# --------------------------------------------------------------------------- packers


class Packer:
    """Texts (and optional second segments) to BERT inputs, usable inside tf.data.map.

    Call with tf.string [batch] tensors; returns FEATURE_NAMES -> int32 [batch, width],
    where width is the longest packed sequence of the batch (at most max_seq_length),
    zero padded. With long_texts windows the rows are windows, a document's consecutive,
    and "window_counts" (int32 [batch]) says how many each document has.
    """

    def __init__(self, max_seq_length: int, long_texts: LongTexts = LongTexts()):
        if max_seq_length < 3:
            raise TfbertError(f"max_seq_length must be at least 3 ([CLS] a [SEP] b [SEP]), not {max_seq_length}")
        self.max_seq_length = int(max_seq_length)
        self.long_texts = long_texts
        self.token_limit = long_texts.token_limit(self.max_seq_length)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_seq_length={self.max_seq_length})"


class PyFunctionPacker(Packer):
    """FullTokenizer in Python: one tf.numpy_function call per packer call (`pack_batch`),
    the result cut to the longest sequence it holds."""

    def __init__(self, tokenizer: tokenization.FullTokenizer, max_seq_length: int,
                 long_texts: LongTexts = LongTexts()):
        super().__init__(max_seq_length, long_texts)
        self.tokenizer = tokenizer

    def _pack(self, texts: np.ndarray, pairs: np.ndarray | None = None):
        *arrays, counts = pack_documents(self.tokenizer, texts, pairs, self.max_seq_length,
                                         self.long_texts)  # looked up per call
        width = int(arrays[1].sum(axis=1).max(initial=0))
        arrays = [np.ascontiguousarray(array[:, :width]) for array in arrays]
        return (*arrays, counts) if self.long_texts.windows else tuple(arrays)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        inputs = [texts] if pairs is None else [texts, pairs]
        outputs = tf.numpy_function(self._pack, inputs, [tf.int32] * (4 if self.long_texts.windows else 3),
                                    stateful=False)
        for tensor in outputs[:3]:
            tensor.set_shape([None, None])
        feats = dict(zip(FEATURE_NAMES, outputs))
        if self.long_texts.windows:
            feats[WINDOW_COUNTS] = tf.ensure_shape(outputs[3], [None])
        return feats


def _fast_wordpiece_vocab(vocab: dict[str, int]) -> list[str] | None:
    """FullTokenizer's vocab as the id-ordered token list FastWordpieceTokenizer takes, with a
    placeholder "[tfbert:ID]" at each id no word can reach; None when a reachable token's
    piece exceeds the 256 bytes FastWordpieceTokenizer allows.
    Why: docs/design/tokenization.md#wordpiece-vocabulary
    """
    reachable = {}
    for token, i in vocab.items():
        piece = token[2:] if token.startswith("##") else token
        if not piece or len(piece) > MAX_CHARS_PER_WORD or token.split() != [token]:
            continue
        if len(piece.encode("utf-8")) > 256:
            return None
        reachable[i] = token
    ordered = []
    for i in range(max(vocab.values(), default=-1) + 1):
        placeholder = f"[tfbert:{i}]"
        while placeholder in vocab:
            placeholder += "#"
        ordered.append(reachable.get(i, placeholder))
    return ordered


class TfTextPacker(Packer):
    """Tokenization and packing in the graph with tensorflow_text: FullTokenizer's ids, through
    FullTokenizer's own steps (words differ only for UNICODE_VERSION_DIFFERENCES' characters).
    Why: docs/design/tokenization.md#fulltokenizer-steps
    """

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int, *, wordpiece: str = "auto",
                 long_texts: LongTexts = LongTexts()):
        """wordpiece: "fast" (FastWordpieceTokenizer), "classic" (WordpieceTokenizer over a hash
        table of FullTokenizer's vocab dict) or "auto": fast unless a token FullTokenizer can
        produce is over 256 bytes long, which FastWordpieceTokenizer cannot hold. Both give
        FullTokenizer's ids."""
        import tensorflow_text as tf_text  # a dependency; imported here to keep TF's start light

        super().__init__(max_seq_length, long_texts)
        self.do_lower_case = bool(do_lower_case)
        self.vocab = tokenization.load_vocab(vocab_file)  # FullTokenizer's own reading of the file
        missing = [token for token in ("[CLS]", "[SEP]", "[UNK]") if token not in self.vocab]
        if missing:
            raise TfbertError(f"vocabulary {vocab_file} lacks {', '.join(missing)}")
        self.cls_id, self.sep_id, self.unk_id = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[UNK]"))
        self._classes = character_classes()
        self._normalize_utf8 = tf_text.normalize_utf8
        ordered = _fast_wordpiece_vocab(self.vocab)
        if wordpiece == "auto":
            wordpiece = "fast" if ordered is not None else "classic"
        if wordpiece == "fast":
            if ordered is None:
                raise TfbertError(f"vocabulary {vocab_file} has a token too long for FastWordpieceTokenizer "
                                  "(over 256 bytes); use wordpiece='classic'")
            self.wordpiece = tf_text.FastWordpieceTokenizer(
                vocab=ordered, suffix_indicator="##", max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
                token_out_type=tf.int32, unknown_token="[UNK]", no_pretokenization=True)
        elif wordpiece == "classic":
            table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(list(self.vocab), tf.constant(list(self.vocab.values()), tf.int64)),
                default_value=-1)
            self.wordpiece = tf_text.WordpieceTokenizer(
                table, suffix_indicator="##", max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
                token_out_type=tf.int64, unknown_token="[UNK]")
        else:
            raise TfbertError(f"wordpiece must be auto, fast or classic, not {wordpiece!r}")

    def words(self, texts: tf.Tensor, head: bool = False) -> tf.RaggedTensor:
        """FullTokenizer's BasicTokenizer in the graph: tf.string [batch] -> [batch, (words)].
        head: only the words of each text's first head_chars(token_limit) characters once
        words over MAX_CHARS_PER_WORD are shortened and whitespace collapsed, so a huge text
        costs little and the tokens the packer keeps stay the same (docs/design/tokenization.md#head-chars)."""
        classes = self._classes
        texts = tf.strings.regex_replace(texts, classes["control"], "")
        texts = tf.strings.regex_replace(texts, classes["space"], " ")
        if self.do_lower_case:  # ASCII first. Why: docs/design/tokenization.md#fulltokenizer-steps
            texts = tf.strings.lower(tf.strings.lower(texts), encoding="utf-8")
            texts = self._normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, classes["marks"], "")
        texts = tf.strings.regex_replace(texts, classes["word"], r" \1 ")
        if head:
            cap = head_chars(self.token_limit)  # bytes >= characters: a batch of shorter texts needs nothing
            texts = tf.cond(tf.reduce_any(tf.strings.length(texts) > cap), lambda: _head(texts, cap), lambda: texts)
        return tf.strings.split(texts)  # at runs of ASCII whitespace, which only " " still is

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """WordPiece ids, int32 [batch, (tokens)], as FullTokenizer.tokenize + convert_tokens_to_ids."""
        words = self.words(texts, head=True)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        words = words.with_flat_values(tf.where(too_long, "[UNK]", words.flat_values))  # -> [UNK]'s id
        pieces = self.wordpiece.tokenize(words)  # [batch, (words), (pieces)]
        # merge the word level away (what merge_dims does, without its slower checks)
        splits = tf.gather(pieces.values.row_splits, pieces.row_splits)
        return tf.RaggedTensor.from_row_splits(tf.cast(pieces.values.values, tf.int32), splits, validate=False)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        texts = tf.convert_to_tensor(texts, tf.string)
        if pairs is None:
            return self.pack_long(self.tokenize(texts))
        both = self.tokenize(tf.concat([texts, tf.convert_to_tensor(pairs, tf.string)], axis=0))
        rows = tf.shape(texts, out_type=tf.int64)[0]
        return self.pack_long(both[:rows], both[rows:])

    def pack_long(self, tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor | None = None) -> dict[str, tf.Tensor]:
        """`pack` after long_texts' choice of tokens: head and tail, or windows (long_texts.py)."""
        mode, limit = self.long_texts.mode, self.token_limit
        if mode == "truncate":
            return self.pack(tokens_a, tokens_b)
        tokens_a, tokens_b = tokens_a[:, :limit], None if tokens_b is None else tokens_b[:, :limit]
        if mode == "head_tail":
            return self.pack(head_and_tail(tokens_a, tokens_b, self.max_seq_length), tokens_b)
        windows, pairs, counts = cut_windows(tokens_a, tokens_b, self.max_seq_length, self.long_texts)
        return {**self.pack(windows, pairs), WINDOW_COUNTS: counts}

    def pack(self, tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor | None = None) -> dict[str, tf.Tensor]:
        """[CLS] a [SEP] (b [SEP]) from token ids, truncated as BERT does, zero padded to the longest.
        Why: docs/design/tokenization.md#truncation"""
        length_a = tokens_a.row_lengths()
        if tokens_b is None:
            keep_a = tf.minimum(length_a, self.max_seq_length - 2)
            keep_b = ends_b = tf.zeros_like(keep_a)
        else:
            length_b = tokens_b.row_lengths()
            has_b = length_b > 0  # classifier_data_lib's `if tokens_b:`
            budget = self.max_seq_length - 3
            pair_a = tf.minimum(length_a, tf.maximum(budget - length_b, (budget + 1) // 2))
            keep_a = tf.where(has_b, pair_a, tf.minimum(length_a, self.max_seq_length - 2))
            keep_b = tf.minimum(length_b, tf.where(has_b, budget - pair_a, 0))
            ends_b = tf.cast(keep_b > 0, tf.int64)  # no [SEP] after an emptied second segment
        total = (keep_a + 2 + keep_b + ends_b)[:, None]
        position = tf.range(tf.reduce_max(total), dtype=tf.int64)[None, :]
        keep_a, keep_b = keep_a[:, None], keep_b[:, None]
        in_a = (position >= 1) & (position <= keep_a)
        source = tf.where(in_a, tokens_a.row_starts()[:, None] + position - 1, 0)
        ids = tf.where(in_a, tf.gather(_with_zero(tokens_a.values), source), 0)
        ids = tf.where(position == 0, self.cls_id, tf.where(position == keep_a + 1, self.sep_id, ids))
        mask = position < total
        if tokens_b is None:
            type_ids = tf.zeros_like(ids)
        else:
            start_b = keep_a + 2
            in_b = (position >= start_b) & (position < start_b + keep_b)
            source = tf.where(in_b, tokens_b.row_starts()[:, None] + position - start_b, 0)
            ids = tf.where(in_b, tf.gather(_with_zero(tokens_b.values), source), ids)
            ids = tf.where((position == start_b + keep_b) & (keep_b > 0), self.sep_id, ids)
            type_ids = tf.cast((position >= start_b) & mask, tf.int32)
        return {"input_word_ids": ids, "input_mask": tf.cast(mask, tf.int32), "input_type_ids": type_ids}

    def __repr__(self) -> str:
        return (f"TfTextPacker(do_lower_case={self.do_lower_case}, max_seq_length={self.max_seq_length}, "
                f"wordpiece={type(self.wordpiece).__name__})")


def _head(texts: tf.Tensor, cap: int) -> tf.Tensor:
    """The first `cap` characters of normalised texts once words over MAX_CHARS_PER_WORD + 1
    characters are shortened to that (still one [UNK]) and runs of spaces collapsed (see head_chars)."""
    texts = tf.strings.regex_replace(texts, f"[^ ]{{{MAX_CHARS_PER_WORD + 2},}}", "x" * (MAX_CHARS_PER_WORD + 1))
    texts = tf.strings.regex_replace(texts, " +", " ")
    return tf.strings.substr(texts, 0, cap, unit="UTF8_CHAR")


def _with_zero(values: tf.Tensor) -> tf.Tensor:
    """`values` and a 0, so that index 0 can be gathered even from a batch with no tokens."""
    return tf.concat([values, tf.zeros([1], values.dtype)], axis=0)


def make_packer(kind: str, vocab_file: str, do_lower_case: bool, max_seq_length: int,
                long_texts: LongTexts = LongTexts()) -> Packer:
    """The packer for the config key `tokenizer`: tf_text (in the graph) or py_function (FullTokenizer)."""
    tokenizer = KEYS_BY_NAME["tokenizer"]  # the rule lives once, in config's KEYS; callers may skip Config
    if not tokenizer.check(kind):
        raise TfbertError(f"tokenizer must be {tokenizer.rule}, not {kind!r}")
    if kind == "py_function":
        return PyFunctionPacker(load_tokenizer(vocab_file, do_lower_case), max_seq_length, long_texts)
    return TfTextPacker(vocab_file, do_lower_case, max_seq_length, long_texts=long_texts)
