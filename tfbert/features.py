"""Text to BERT inputs: WordPiece tokenization and packing in a tf.data pipeline.

The tokenizer is the encoder's own (its vocab_file and do_lower_case), and packing
follows BERT's convention exactly as tensorflow/models' classifier_data_lib does it:
[CLS] a [SEP] (b [SEP]), truncating the longer segment first, zero padding.

Two packers, chosen by the config key `tokenizer` (`make_packer`), give the same ids:

* ``py_function``: tensorflow/models' FullTokenizer in Python, one tf.numpy_function
  call per packer call (`pack_batch`; the reference path, and what the report does,
  except that the report calls Python once per example).
* ``tf_text`` (the default): tokenization and packing inside the graph, with
  tensorflow_text's WordPiece tokenizers and TensorFlow string and ragged ops, so no
  Python runs per batch and tf.data can run batches in parallel.

`make_dataset` calls the packer on windows of several batches (its fixed cost shared),
then cuts them into batches padded to max_seq_length, to each batch's longest sequence,
or to one of a few bucket widths after sorting each window by length.

How the tf_text path reproduces FullTokenizer (tensorflow_text's own BertTokenizer and
FastBertTokenizer do not: they case-fold with NFKC_Casefold, so ß becomes ss, ﬁ becomes
fi, full-width letters become ASCII and zero-width characters vanish; they replace control
characters by spaces instead of removing them; their \\s and \\p{...} classes only know
ASCII whitespace and the Unicode version of their own build; and they count a word's
length in bytes, 100 at most, where FullTokenizer counts 400 characters):

1. Control characters (Cc and Cf except tab, newline and carriage return), U+0000 and
   U+FFFD are removed; then tab, newline, carriage return, Zs and whatever else Python's
   str.split treats as whitespace (U+2028, U+2029) become spaces. The character classes
   are built from Python's own unicodedata, the one FullTokenizer consults, not from
   RE2's Unicode tables, so the two agree for every code point.
2. With do_lower_case: tf.strings.lower (ICU's full lower-casing: str.lower's mapping,
   final sigma and U+0130 included; ASCII letters first, so that a Turkish or Azeri
   locale cannot make I a dotless ı), tensorflow_text's NFD normalisation, then removal
   of Mn characters (again Python's list). Without it, the text is left as it is.
3. The text is split at spaces, and each punctuation character (the ASCII symbol ranges
   and every P* category, per Python) and each CJK ideograph (FullTokenizer's ranges)
   becomes a word of its own.
4. A word longer than FullTokenizer's max_input_chars_per_word (400 characters, read
   from tensorflow/models) becomes [UNK]; others go through greedy longest-match-first
   WordPiece (FastWordpieceTokenizer, or WordpieceTokenizer over FullTokenizer's own
   vocab dict when a token is over the 256 bytes FastWordpieceTokenizer holds), which is
   FullTokenizer's algorithm.
5. Truncation uses the closed form of BERT's loop "pop a token from the longer segment,
   from the second on a tie": with a budget m = max_seq_length - 3 and lengths la, lb the
   first segment keeps min(la, max(m - lb, ceil(m / 2))) tokens and the second the rest
   of m. (tensorflow_text's RoundRobinTrimmer gives the same lengths, ties included, for
   every la, lb < 14 and m < 20, but takes one budget for the whole batch.) A second
   segment with no tokens (empty, blank, only control characters) means no pair: the
   first segment may then use max_seq_length - 2 tokens and there is no second [SEP], as
   in classifier_data_lib's `if tokens_b:`; nor is there when truncation empties it (at
   max_seq_length 3 or 4). An empty first segment stays: [CLS] [SEP] b [SEP].

Residual differences (documented here, pinned by tests/test_features.py, which sweeps
every code point of planes 0-3 and 14 through both): step 2's lower-casing and NFD come
from the ICU inside TensorFlow and tensorflow_text, whose Unicode versions differ from
Python's unicodedata (14.0 on Python 3.11): TensorFlow's lower-casing predates 14.0,
tensorflow_text's NFD knows 16.0. With Python 3.11, TensorFlow 2.20 and tensorflow-text
2.20, and do_lower_case, the words differ for exactly these characters, all added (or,
for U+1734, re-categorised) in Unicode 14.0 or later (UNICODE_VERSION_DIFFERENCES):

* "lower", 40 capitals that Python lower-cases and TensorFlow leaves as they are:
  U+2C2F, U+A7C0, U+A7D0, U+A7D6, U+A7D8, U+10570-U+1057A, U+1057C-U+1058A,
  U+1058C-U+10592, U+10594-U+10595;
* "nfd", 20 letters of Unicode 16.0, unassigned for Python (kept whole), decomposed by
  tensorflow_text: U+105C9, U+105E4, U+11383, U+11385, U+1138E, U+11391, U+113C5,
  U+113C7-U+113C8, U+16121-U+16128, U+16D68-U+16D6A;
* "final_sigma", 261 characters that are cased or case-ignorable for Python but not for
  TensorFlow's ICU, so that a capital sigma (U+03A3) next to one of them lower-cases to
  σ on one path and ς on the other: U+0888, U+0898-U+089F, U+08C9-U+08D2, U+0C3C,
  U+1734, U+180F, U+1AC1-U+1ACE, U+1DFA, U+2C5F, U+A7C1, U+A7D1, U+A7D3, U+A7D5, U+A7D7,
  U+A7D9, U+A7F2-U+A7F4, U+FBC2, U+10597-U+105A1, U+105A3-U+105B1, U+105B3-U+105B9,
  U+105BB-U+105BC, U+10780-U+10785, U+10787-U+107B0, U+107B2-U+107BA, U+10F82-U+10F85,
  U+11070, U+11073-U+11074, U+110C2, U+1AFF0-U+1AFF3, U+1AFF5-U+1AFFB, U+1AFFD-U+1AFFE,
  U+1CF00-U+1CF2D, U+1CF30-U+1CF46, U+1DF00-U+1DF09, U+1DF0B-U+1DF1E, U+1E2AE;
* "final_sigma_unicode_15", only where Python's unicodedata is 15 or later (swept with
  Python 3.13's 15.1; 3.12's 15.0 was not), 104 more of the same kind, added in Unicode
  15.0: U+0ECE, U+10EFD-U+10EFF, U+11241, U+11F00-U+11F01, U+11F36-U+11F3A, U+11F40,
  U+11F42, U+13440, U+13447-U+13455, U+1DF25-U+1DF2A, U+1E030-U+1E06D, U+1E08F,
  U+1E4EB-U+1E4EF.

The first two change ids only if the vocabulary holds these characters or their forms
(no published BERT vocabulary does; otherwise the word is [UNK] on both paths); the
third and fourth only for a Σ written next to one of them. Without do_lower_case there is no
difference. Another Python version (another unicodedata) changes these lists.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.tools import tokenization

from tfbert.data import Split
from tfbert.errors import TfbertError

FEATURE_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
TOKENIZERS = ("tf_text", "py_function")
PADDINGS = ("bucket", "batch", "max")

# FullTokenizer's limit on a word's length in characters (400 in tf-models 2.20).
MAX_CHARS_PER_WORD = tokenization.WordpieceTokenizer(vocab={}).max_input_chars_per_word
# make_dataset tokenizes windows of at least this many batches and examples at once.
WINDOW_BATCHES = 8
WINDOW_EXAMPLES = 1024


def _code_points(*ranges: int | tuple[int, int]) -> frozenset[int]:
    return frozenset(c for r in ranges for c in (range(r, r + 1) if isinstance(r, int) else range(r[0], r[1] + 1)))


# Where the tf_text path's words differ from FullTokenizer's (do_lower_case only), with
# Python 3.11 (Unicode 14.0; 3.13 adds final_sigma_unicode_15 below), TensorFlow 2.20 and
# tensorflow-text 2.20; see the docstring.
UNICODE_VERSION_DIFFERENCES = {
    # capitals Python lower-cases and TensorFlow's ICU does not
    "lower": _code_points(0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8, (0x10570, 0x1057A), (0x1057C, 0x1058A),
                          (0x1058C, 0x10592), (0x10594, 0x10595)),
    # unassigned for Python, decomposed by tensorflow_text's NFD
    "nfd": _code_points(0x105C9, 0x105E4, 0x11383, 0x11385, 0x1138E, 0x11391, 0x113C5, (0x113C7, 0x113C8),
                        (0x16121, 0x16128), (0x16D68, 0x16D6A)),
    # cased or case-ignorable for Python, not for TensorFlow's ICU: a capital sigma next to
    # one of them becomes the other of σ and ς
    "final_sigma": _code_points(
        0x0888, (0x0898, 0x089F), (0x08C9, 0x08D2), 0x0C3C, 0x1734, 0x180F, (0x1AC1, 0x1ACE), 0x1DFA, 0x2C5F, 0xA7C1,
        0xA7D1, 0xA7D3, 0xA7D5, 0xA7D7, 0xA7D9, (0xA7F2, 0xA7F4), 0xFBC2, (0x10597, 0x105A1), (0x105A3, 0x105B1),
        (0x105B3, 0x105B9), (0x105BB, 0x105BC), (0x10780, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA),
        (0x10F82, 0x10F85), 0x11070, (0x11073, 0x11074), 0x110C2, (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB),
        (0x1AFFD, 0x1AFFE), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1DF00, 0x1DF09), (0x1DF0B, 0x1DF1E), 0x1E2AE),
}
if int(unicodedata.unidata_version.split(".")[0]) >= 15:
    # Unicode 15.0's characters that are cased or case-ignorable for Python, not for TensorFlow's ICU
    UNICODE_VERSION_DIFFERENCES["final_sigma_unicode_15"] = _code_points(
        0x0ECE, (0x10EFD, 0x10EFF), 0x11241, (0x11F00, 0x11F01), (0x11F36, 0x11F3A), 0x11F40, 0x11F42, 0x13440,
        (0x13447, 0x13455), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D), 0x1E08F, (0x1E4EB, 0x1E4EF))


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
    tokens_a = tokenizer.tokenize(text)
    tokens_b = tokenizer.tokenize(pair) if pair else None
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
    batch = len(texts)
    word_ids = np.zeros((batch, max_seq_length), dtype=np.int32)
    mask = np.zeros((batch, max_seq_length), dtype=np.int32)
    type_ids = np.zeros((batch, max_seq_length), dtype=np.int32)
    for row in range(batch):
        ids, types = pack_example(tokenizer, texts[row], pairs[row] if pairs is not None else None, max_seq_length)
        word_ids[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
        type_ids[row, : len(ids)] = types
    return word_ids, mask, type_ids


# --------------------------------------------------------------------------- packers


class Packer:
    """Texts (and optional second segments) to BERT inputs, usable inside tf.data.map.

    Call with tf.string [batch] tensors; returns FEATURE_NAMES -> int32 [batch, width],
    where width is the longest packed sequence of the batch (at most max_seq_length),
    zero padded.
    """

    kind: str = ""

    def __init__(self, max_seq_length: int):
        if max_seq_length < 3:
            raise TfbertError(f"max_seq_length must be at least 3 ([CLS] a [SEP] b [SEP]), not {max_seq_length}")
        self.max_seq_length = int(max_seq_length)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_seq_length={self.max_seq_length})"


class PyFunctionPacker(Packer):
    """FullTokenizer in Python: one tf.numpy_function call per packer call (`pack_batch`),
    the result cut to the longest sequence it holds."""

    kind = "py_function"

    def __init__(self, tokenizer: tokenization.FullTokenizer, max_seq_length: int):
        super().__init__(max_seq_length)
        self.tokenizer = tokenizer

    def _pack(self, texts: np.ndarray, pairs: np.ndarray | None = None):
        arrays = pack_batch(self.tokenizer, texts, pairs, self.max_seq_length)  # looked up per call
        width = int(arrays[1].sum(axis=1).max(initial=0))
        return tuple(np.ascontiguousarray(array[:, :width]) for array in arrays)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        inputs = [texts] if pairs is None else [texts, pairs]
        outputs = tf.numpy_function(self._pack, inputs, [tf.int32] * 3, stateful=False)
        for tensor in outputs:
            tensor.set_shape([None, None])
        return dict(zip(FEATURE_NAMES, outputs))


def _ranges(code_points: list[int]) -> str:
    """An RE2 character class body for sorted code points: \\x{..}-\\x{..} ranges."""
    parts = []
    start = previous = code_points[0]
    for cp in code_points[1:] + [-1]:
        if cp == previous + 1:
            previous = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == previous else f"\\x{{{start:X}}}-\\x{{{previous:X}}}")
        start = previous = cp
    return "".join(parts)


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


@functools.lru_cache(maxsize=None)
def _character_classes() -> dict[str, str]:
    """RE2 classes for FullTokenizer's character tests, from Python's unicodedata."""
    control, space, punctuation, marks = [], [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates never occur in UTF-8
        char = chr(cp)
        category = unicodedata.category(char)
        if cp == 0 or cp == 0xFFFD or (category in ("Cc", "Cf") and char not in "\t\n\r"):
            control.append(cp)
        elif char in "\t\n\r" or (category == "Zs" or char.isspace()) and char != " ":
            space.append(cp)  # the plain space needs no replacing
        if category.startswith("P") or 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            punctuation.append(cp)
        if category == "Mn":
            marks.append(cp)
    cjk = "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _CJK_RANGES)
    return {
        "control": f"[{_ranges(control)}]+",
        "space": f"[{_ranges(space)}]",
        "marks": f"[{_ranges(marks)}]+",
        "word": f"([{_ranges(punctuation)}{cjk}])",  # characters that are words of their own
    }


def _fast_wordpiece_vocab(vocab: dict[str, int]) -> list[str] | None:
    """FullTokenizer's vocab as the id-ordered token list FastWordpieceTokenizer takes.

    Ids that no word can reach in FullTokenizer (the earlier of duplicate lines, blank
    lines, "##" alone, tokens with whitespace inside, pieces longer than
    MAX_CHARS_PER_WORD characters) hold a placeholder "[tfbert:ID]" that no word reaches
    either: "[" is always a word of its own. None when a reachable token's piece exceeds
    the 256 bytes FastWordpieceTokenizer allows.
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
    """Tokenization and packing in the graph with tensorflow_text: FullTokenizer's ids."""

    kind = "tf_text"

    def __init__(self, vocab_file: str, do_lower_case: bool, max_seq_length: int, *, wordpiece: str = "auto"):
        """wordpiece: "fast" (FastWordpieceTokenizer), "classic" (WordpieceTokenizer over a hash
        table of FullTokenizer's vocab dict) or "auto": fast unless a token FullTokenizer can
        produce is over 256 bytes long, which FastWordpieceTokenizer cannot hold. Both give
        FullTokenizer's ids."""
        import tensorflow_text as tf_text  # a dependency; imported here to keep TF's start light

        super().__init__(max_seq_length)
        self.do_lower_case = bool(do_lower_case)
        self.vocab = tokenization.load_vocab(vocab_file)  # FullTokenizer's own reading of the file
        missing = [token for token in ("[CLS]", "[SEP]", "[UNK]") if token not in self.vocab]
        if missing:
            raise TfbertError(f"vocabulary {vocab_file} lacks {', '.join(missing)}")
        self.cls_id, self.sep_id, self.unk_id = (self.vocab[t] for t in ("[CLS]", "[SEP]", "[UNK]"))
        self._classes = _character_classes()
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

    def words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """FullTokenizer's BasicTokenizer in the graph: tf.string [batch] -> [batch, (words)]."""
        classes = self._classes
        texts = tf.strings.regex_replace(texts, classes["control"], "")
        texts = tf.strings.regex_replace(texts, classes["space"], " ")
        if self.do_lower_case:
            # ASCII first: ICU's lower-casing follows the process locale, and in a Turkish or
            # Azeri one it would make I a dotless ı (str.lower's i); what it does to other
            # letters there, or in a Lithuanian one, only adds accents that step 2 removes
            texts = tf.strings.lower(tf.strings.lower(texts), encoding="utf-8")
            texts = self._normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, classes["marks"], "")
        texts = tf.strings.regex_replace(texts, classes["word"], r" \1 ")
        return tf.strings.split(texts)  # at runs of ASCII whitespace, which only " " still is

    def tokenize(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """WordPiece ids, int32 [batch, (tokens)], as FullTokenizer.tokenize + convert_tokens_to_ids."""
        words = self.words(texts)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
        words = words.with_flat_values(tf.where(too_long, "[UNK]", words.flat_values))  # -> [UNK]'s id
        pieces = self.wordpiece.tokenize(words)  # [batch, (words), (pieces)]
        # merge the word level away (what merge_dims does, without its slower checks)
        splits = tf.gather(pieces.values.row_splits, pieces.row_splits)
        return tf.RaggedTensor.from_row_splits(tf.cast(pieces.values.values, tf.int32), splits, validate=False)

    def __call__(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        texts = tf.convert_to_tensor(texts, tf.string)
        if pairs is None:
            return self.pack(self.tokenize(texts))
        both = self.tokenize(tf.concat([texts, tf.convert_to_tensor(pairs, tf.string)], axis=0))
        rows = tf.shape(texts, out_type=tf.int64)[0]
        return self.pack(both[:rows], both[rows:])

    def pack(self, tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor | None = None) -> dict[str, tf.Tensor]:
        """[CLS] a [SEP] (b [SEP]) from token ids, truncated as BERT does, zero padded to the longest.

        Built densely over [batch, width] positions: each position takes [CLS], a token of
        a, [SEP], a token of b, the last [SEP] or padding, from the kept lengths."""
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
            # at max_seq_length 3 or 4 truncation can empty the second segment: then, as in
            # the reference (`if tokens_b:` after truncating), it has no [SEP] either
            ends_b = tf.cast(keep_b > 0, tf.int64)
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


def _with_zero(values: tf.Tensor) -> tf.Tensor:
    """`values` and a 0, so that index 0 can be gathered even from a batch with no tokens."""
    return tf.concat([values, tf.zeros([1], values.dtype)], axis=0)


def make_packer(kind: str, vocab_file: str, do_lower_case: bool, max_seq_length: int) -> Packer:
    """The packer for the config key `tokenizer`: tf_text (in the graph) or py_function (FullTokenizer)."""
    if kind == "tf_text":
        return TfTextPacker(vocab_file, do_lower_case, max_seq_length)
    if kind == "py_function":
        return PyFunctionPacker(load_tokenizer(vocab_file, do_lower_case), max_seq_length)
    raise TfbertError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, not {kind!r}")


# --------------------------------------------------------------------------- datasets


BUCKET_STEP = 8  # padding="bucket" pads to a multiple of this (vector-friendly widths, little waste)


def bucket_widths(max_seq_length: int) -> tuple[int, ...]:
    """The padded widths of padding="bucket": 8, 16, 24, ... below max_seq_length, and max_seq_length."""
    return (*range(BUCKET_STEP, max_seq_length, BUCKET_STEP), max_seq_length)


def window_batches(batch_size: int) -> int:
    """How many batches make_dataset tokenizes in one packer call (and sorts, for "bucket")."""
    return max(WINDOW_BATCHES, -(-WINDOW_EXAMPLES // batch_size))


def length_order(texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
    """Row indices shortest text first (characters, both segments), stable: batches cut
    in this order carry little padding, and the indices put the results back."""
    lengths = np.array([len(str(t)) for t in texts]) + (np.array([len(str(p)) for p in pairs]) if pairs is not None else 0)
    return np.argsort(lengths, kind="stable")


def as_strings(texts: Sequence[str]) -> np.ndarray:
    """Texts as an object array of str: a fixed-width unicode array would cost
    rows x longest text x 4 bytes and silently drop trailing NUL characters."""
    return np.array([str(text) for text in texts], dtype=object)


def _lengths(feats: dict[str, tf.Tensor]) -> tf.Tensor:
    return tf.reduce_sum(feats["input_mask"], axis=1)


def _pad_to(feats: dict[str, tf.Tensor], width: int) -> dict[str, tf.Tensor]:
    padded = {}
    for name, tensor in feats.items():
        tensor = tf.pad(tensor, [[0, 0], [0, width - tf.shape(tensor)[1]]])
        tensor.set_shape([None, width])
        padded[name] = tensor
    return padded


def make_dataset(split: Split, packer: Packer, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 padding: str = "bucket") -> tf.data.Dataset:
    """Batches of (features dict, labels) for model.fit / evaluate / predict.

    The packer runs on windows of `window_batches(batch_size)` batches at once (one call,
    so its fixed cost is shared), in parallel tf.data maps; the windows are then cut
    into batches. padding: "max" pads every batch to packer.max_seq_length (the
    report's shape); "batch" to the batch's longest sequence; "bucket" sorts each
    window by length before cutting it and pads each batch to the smallest of
    `bucket_widths` that holds it, so that compiled steps are reused. "max" and "batch"
    keep the split's order unless shuffled; "bucket" reorders examples (labels travel
    with their features; shuffled, the batches are shuffled too, within a window's worth).
    Every example appears exactly once per epoch.
    """
    if padding not in PADDINGS:
        raise TfbertError(f"padding must be one of {', '.join(PADDINGS)}, not {padding!r}")
    if batch_size < 1:
        raise TfbertError(f"batch_size must be positive, not {batch_size}")
    columns = (as_strings(split.texts),) if split.pairs is None else (
        as_strings(split.texts), as_strings(split.pairs))
    labels = split.labels.astype(np.float32) if split.labels.ndim == 2 else split.labels
    dataset = tf.data.Dataset.from_tensor_slices((*columns, labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    max_length = packer.max_seq_length
    label_shape = dataset.element_spec[-1].shape  # [] or [num_labels]
    widths = tf.constant(bucket_widths(max_length), tf.int32)
    windows = window_batches(batch_size)

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip autograph's conversion
    def pack_window(*columns):
        """Pack a window and cut it into [batches, batch_size, width], with each batch's row
        count and padded width (its longest, its bucket or max_seq_length)."""
        *texts, labels = columns
        feats = packer(*texts)
        lengths = _lengths(feats)
        if padding == "bucket":
            order = tf.argsort(lengths, stable=True)
            feats = {name: tf.gather(tensor, order) for name, tensor in feats.items()}
            labels, lengths = tf.gather(labels, order), tf.gather(lengths, order)
        rows = tf.shape(labels)[0]
        batches = (rows + batch_size - 1) // batch_size
        extra = batches * batch_size - rows  # the last window's last batch is short: pad it, note its size
        counts = tf.minimum(batch_size, rows - tf.range(batches) * batch_size)
        if padding == "max":
            batch_widths = tf.fill([batches], max_length)
        else:
            batch_widths = tf.reduce_max(tf.reshape(tf.pad(lengths, [[0, extra]]), [batches, batch_size]), axis=1)
            if padding == "bucket":
                batch_widths = tf.gather(widths, tf.searchsorted(widths, batch_widths, side="left"))
        width = tf.reduce_max(batch_widths)  # may be wider than the window's longest (a bucket, max)

        def cut(tensor, pad_width=True):
            pad = [[0, extra]] + [[0, 0]] * (len(tensor.shape) - 1)
            if pad_width:
                pad[1] = [0, width - tf.shape(tensor)[1]]
            tensor = tf.pad(tensor, pad)
            return tf.reshape(tensor, tf.concat([[batches, batch_size], tf.shape(tensor)[1:]], axis=0))

        feats = {name: cut(tensor) for name, tensor in feats.items()}
        return feats, cut(labels, pad_width=False), counts, batch_widths

    @tf.autograph.experimental.do_not_convert
    def trim(feats, labels, count, width):
        """Drop a short batch's padding rows and columns beyond its width."""
        labels = labels[:count]
        labels.set_shape([None, *label_shape])
        feats = {name: tensor[:count, :width] for name, tensor in feats.items()}
        for tensor in feats.values():
            tensor.set_shape([None, max_length if padding == "max" else None])
        return feats, labels

    dataset = dataset.batch(batch_size * windows)
    dataset = dataset.map(pack_window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.unbatch().map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-len(split) // batch_size)))
    if shuffle and padding == "bucket":  # or each window's batches would come shortest first
        dataset = dataset.shuffle(windows, seed=seed, reshuffle_each_iteration=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
