"""Text to BERT inputs: WordPiece tokenization and packing in a tf.data pipeline.

The tokenizer is the encoder's own (its vocab_file and do_lower_case), and packing
follows BERT's convention exactly as tensorflow/models' classifier_data_lib does it:
[CLS] a [SEP] (b [SEP]), truncating the longer segment first, zero padding. Unlike the
report, which calls Python once per example, the pipeline calls Python once per batch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
from official.nlp.tools import tokenization

from tfbert.data import Split

FEATURE_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


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


def _tokenize_in_python(tokenizer: tokenization.FullTokenizer, max_seq_length: int, with_pairs: bool):
    """A tf.data map function that tokenizes a whole batch in one tf.numpy_function call."""

    def pack(texts: np.ndarray, pairs: np.ndarray | None = None):
        return pack_batch(tokenizer, texts, pairs, max_seq_length)

    def to_features(*texts: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = tf.numpy_function(pack, list(texts), [tf.int32] * 3, stateful=False)
        for tensor in outputs:
            tensor.set_shape([None, max_seq_length])
        return dict(zip(FEATURE_NAMES, outputs))

    if with_pairs:
        return lambda texts, pairs, labels: (to_features(texts, pairs), labels)
    return lambda texts, labels: (to_features(texts), labels)


def _as_strings(texts: np.ndarray) -> np.ndarray:
    """Texts as an object array of str: a fixed-width unicode array would cost
    rows x longest text x 4 bytes and silently drop trailing NUL characters."""
    return np.array([str(text) for text in texts], dtype=object)


def make_dataset(split: Split, tokenizer: tokenization.FullTokenizer, max_seq_length: int,
                 batch_size: int, shuffle: bool = False, seed: int | None = None) -> tf.data.Dataset:
    """Batches of (features dict, labels) for model.fit / evaluate / predict."""
    columns = (_as_strings(split.texts),) if split.pairs is None else (_as_strings(split.texts), _as_strings(split.pairs))
    labels = split.labels.astype(np.float32) if split.labels.ndim == 2 else split.labels
    dataset = tf.data.Dataset.from_tensor_slices((*columns, labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(_tokenize_in_python(tokenizer, max_seq_length, split.pairs is not None),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
