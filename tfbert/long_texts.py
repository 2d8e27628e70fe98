"""Texts longer than max_seq_length: which of their tokens the packers keep (config key `long_texts`).

truncate   the first max_seq_length - 2 tokens (BERT's convention; the default)
head_tail  the first quarter and the last three quarters of a window's worth of tokens
           (HEAD_FRACTION; Sun et al. 2019 kept 128 + 382 of 510 on IMDb)
windows    the whole text as windows of max_seq_length tokens, each with its own [CLS] and
           [SEP], starting `window_stride` tokens apart; at most `max_windows` a document,
           the rest dropped from the middle (`ends`) or evenly (`even`). The model pools
           the windows of a document into one vector (model.DocumentPooling).

One rule, `window_plan`, decides a document's windows from its token counts alone; the
py_function packer applies it in Python (`first_segments`) and the tf_text packer in the
graph (`cut_windows`, `head_and_tail`), so both give the same windows. With a second
segment (text_pair_column) only the first is cut: the pair is kept whole in every window,
truncated as BERT truncates a pair when it does not fit.

>>> from tfbert.long_texts import LongTexts, window_plan
>>> window_plan(300, 0, max_seq_length=128, settings=LongTexts("windows"))
(126, [0, 111, 174])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

HEAD_FRACTION = (1, 4)  # head_tail keeps content * 1 // 4 tokens from the head, the rest from the tail


@dataclasses.dataclass(frozen=True)
class LongTexts:
    """The config keys long_texts, window_stride (None: the window's content less an eighth),
    max_windows and window_selection, as the packers take them."""

    mode: str = "truncate"
    window_stride: int | None = None
    max_windows: int = 4
    selection: str = "ends"

    @classmethod
    def from_config(cls, config: Any) -> "LongTexts":
        return cls(config.long_texts, config.window_stride, config.max_windows, config.window_selection)

    @property
    def windows(self) -> bool:
        return self.mode == "windows"

    def token_limit(self, max_seq_length: int) -> int:
        """How many of a text's first tokens the packers look at: max_seq_length for truncate;
        for head_tail and windows 4 x max(max_windows, 8) windows' worth (4,032 at 128),
        so a huge text is cut before tokenization (packers.head_chars) as under truncate."""
        if self.mode == "truncate":
            return max_seq_length
        return 4 * max(self.max_windows, 8) * (max_seq_length - 2)


def _content(length_a: int, length_b: int, max_seq_length: int) -> int:
    """Tokens of the first segment a window holds: max_seq_length less [CLS] and [SEP], less the
    pair and its [SEP] as BERT's pair truncation keeps them (a pair that fits half is kept whole)."""
    if not length_b:
        return max_seq_length - 2
    budget = max_seq_length - 3
    return budget - min(length_b, max(budget - length_a, budget // 2))


def _stride(content: int, window_stride: int | None) -> int:
    return max(1, min(window_stride or content - content // 8, content))


def window_plan(length_a: int, length_b: int, max_seq_length: int, settings: LongTexts) -> tuple[int, list[int]]:
    """(tokens of the first segment per window, where each kept window starts) for a document
    whose segments have these token counts. The last window ends at the text's end."""
    content = _content(length_a, length_b, max_seq_length)
    stride = _stride(content, settings.window_stride)
    over = max(length_a - content, 0)
    count = 1 + -(-over // stride)
    kept = settings.max_windows
    if count <= kept:
        chosen = list(range(count))
    elif settings.selection == "even":
        chosen = [0] if kept == 1 else [i * (count - 1) // (kept - 1) for i in range(kept)]
    else:  # ends: the first half (rounded up) and the last half
        head = -(-kept // 2)
        chosen = [*range(head), *range(count - (kept - head), count)]
    return content, [min(j * stride, over) for j in chosen]


def head_tail(tokens: Sequence, content: int) -> list:
    """The first content // 4 and the last content - content // 4 tokens of a longer text."""
    if len(tokens) <= content:
        return list(tokens)
    head = content * HEAD_FRACTION[0] // HEAD_FRACTION[1]
    return [*tokens[:head], *tokens[len(tokens) - (content - head):]]


def first_segments(tokens_a: Sequence, length_b: int, max_seq_length: int, settings: LongTexts) -> list[list]:
    """The first segment of each window of a document, in Python (the packers' reference):
    one for truncate (cut later, as BERT cuts) and head_tail, one per kept window for windows."""
    if settings.mode == "truncate":
        return [list(tokens_a)]
    if settings.mode == "head_tail":
        return [head_tail(tokens_a, _content(len(tokens_a), length_b, max_seq_length))]
    content, starts = window_plan(len(tokens_a), length_b, max_seq_length, settings)
    return [list(tokens_a[start:start + content]) for start in starts]


# --------------------------------------------------------------------------- in the graph


def _contents(length_a: tf.Tensor, length_b: tf.Tensor, max_seq_length: int) -> tf.Tensor:
    """_content for int64 [docs] token counts."""
    budget = tf.where(length_b > 0, tf.constant(max_seq_length - 3, tf.int64), max_seq_length - 2)
    keep_b = tf.where(length_b > 0, tf.minimum(length_b, tf.maximum(budget - length_a, budget // 2)), 0)
    return budget - keep_b


def _gather_spans(tokens: tf.RaggedTensor, document: tf.Tensor, starts: tf.Tensor,
                  lengths: tf.Tensor) -> tf.RaggedTensor:
    """[spans, (lengths)]: tokens[document][start:start + length] for each span."""
    offsets = tf.gather(tokens.row_starts(), document) + starts
    positions = tf.ragged.range(offsets, offsets + lengths)
    return tf.RaggedTensor.from_row_lengths(tf.gather(tokens.flat_values, positions.flat_values), lengths,
                                            validate=False)


def head_and_tail(tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor | None,
                  max_seq_length: int) -> tf.RaggedTensor:
    """`head_tail` for a batch: int [docs, (tokens)] -> the kept tokens of each first segment."""
    length_a = tokens_a.row_lengths()
    length_b = tf.zeros_like(length_a) if tokens_b is None else tokens_b.row_lengths()
    content = _contents(length_a, length_b, max_seq_length)
    keep = tf.minimum(length_a, content)
    head = tf.where(length_a > content, content * HEAD_FRACTION[0] // HEAD_FRACTION[1], keep)
    positions = tf.ragged.range(keep)
    document = positions.value_rowids()
    index = positions.flat_values
    source = tf.where(index < tf.gather(head, document), index,
                      index + tf.gather(length_a - keep, document))  # the tail: la - (content - head) on
    flat = tf.gather(tokens_a.flat_values, tf.gather(tokens_a.row_starts(), document) + source)
    return tf.RaggedTensor.from_row_lengths(flat, keep, validate=False)


def cut_windows(tokens_a: tf.RaggedTensor, tokens_b: tf.RaggedTensor | None, max_seq_length: int,
                settings: LongTexts) -> tuple[tf.RaggedTensor, tf.RaggedTensor | None, tf.Tensor]:
    """`window_plan` for a batch: int [docs, (tokens)] first (and second) segments ->
    (each window's first segment [windows, (tokens)], its document's second segment
    [windows, (tokens)] or None, int32 [docs] windows per document). A document's windows
    are consecutive rows, in order."""
    length_a = tokens_a.row_lengths()
    length_b = tf.zeros_like(length_a) if tokens_b is None else tokens_b.row_lengths()
    content = _contents(length_a, length_b, max_seq_length)
    if settings.window_stride:
        stride = tf.maximum(tf.minimum(tf.constant(settings.window_stride, tf.int64), content), 1)
    else:
        stride = tf.maximum(content - content // 8, 1)
    over = tf.maximum(length_a - content, 0)
    count = 1 + (over + stride - 1) // stride
    kept = tf.minimum(count, settings.max_windows)
    index = tf.ragged.range(kept)
    document = index.value_rowids()
    i, n = index.flat_values, tf.gather(count, document)
    if settings.selection == "even":
        chosen = i * (n - 1) // max(settings.max_windows - 1, 1) if settings.max_windows > 1 else i
    else:
        head = (settings.max_windows + 1) // 2
        chosen = tf.where(i >= head, n - (settings.max_windows - i), i)
    chosen = tf.where(n > settings.max_windows, chosen, i)
    starts = tf.minimum(chosen * tf.gather(stride, document), tf.gather(over, document))
    lengths = tf.minimum(tf.gather(content, document), tf.gather(length_a, document) - starts)
    windows = _gather_spans(tokens_a, document, starts, lengths)
    pairs = None if tokens_b is None else tf.gather(tokens_b, document)
    return windows, pairs, tf.cast(kept, tf.int32)
