"""Batches for model.fit, evaluate and predict: a split's texts through a packer in tf.data.

`make_dataset` packs groups of several batches at once (one packer call, its fixed cost
shared, in parallel maps), then cuts each group into batches padded to max_seq_length,
to each batch's longest sequence, or to a bucket width after sorting the group by length.

>>> import numpy as np
>>> from tfbert import input_pipeline, hub_format, packers
>>> from tfbert.data.splits import Split
>>> import tempfile, pathlib
>>> vocab = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
>>> _ = vocab.write_text("\\n".join(hub_format.tiny_vocabulary()) + "\\n")
>>> packer = packers.make_packer("tf_text", str(vocab), do_lower_case=True, max_seq_length=32)
>>> texts = np.array(["a good movie", "bad", "a good and bad movie"], dtype=object)
>>> split = Split("train", texts, None, np.array([1, 0, 1]))
>>> for feats, labels in input_pipeline.make_dataset(split, packer, batch_size=2, padding="bucket"):
...     print(feats["input_word_ids"].shape, labels.numpy().tolist())
(2, 8) [0, 1]
(1, 8) [1]
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert.config import KEYS_BY_NAME, PADDINGS  # noqa: F401  (PADDINGS: the padding modes, for callers)
from tfbert.data.splits import Split
from tfbert.errors import TfbertError
from tfbert.packers import WINDOW_COUNTS, Packer

BUCKET_STEP = 8  # padding="bucket" pads to a multiple of this (vector-friendly widths, little waste)
# make_dataset packs groups of at least this many batches and examples at once.
GROUP_BATCHES = 8
GROUP_EXAMPLES = 1024
# kept_in_memory caches batches whose packed ids take at most this much (3 int32 arrays of
# max_seq_length a row, or a window): the validation set of most fine-tuning jobs.
IN_MEMORY_BYTES = 256 * 2**20


def bucket_widths(max_seq_length: int) -> tuple[int, ...]:
    """The padded widths of padding="bucket": 8, 16, 24, ... below max_seq_length, and max_seq_length."""
    return (*range(BUCKET_STEP, max_seq_length, BUCKET_STEP), max_seq_length)


def group_batches(batch_size: int) -> int:
    """How many batches make_dataset tokenizes in one packer call (and sorts, for "bucket")."""
    return max(GROUP_BATCHES, -(-GROUP_EXAMPLES // batch_size))


def length_order(texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
    """Row indices shortest text first (characters, both segments), stable: batches cut
    in this order carry little padding, and the indices put the results back."""
    lengths = np.array([len(str(t)) for t in texts]) + (np.array([len(str(p)) for p in pairs]) if pairs is not None else 0)
    return np.argsort(lengths, kind="stable")


def run_in_length_order(run: Callable[[np.ndarray], Sequence[np.ndarray]], texts: Sequence[str],
                        pairs: Sequence[str] | None = None) -> tuple[np.ndarray, ...]:
    """`run(order)` on the rows shortest first (`order`: their indices, from length_order), its
    outputs (arrays with one row per index of `order`) put back in the rows' own order.

    >>> from tfbert.input_pipeline import run_in_length_order
    >>> run_in_length_order(lambda order: (order * 10,), ["ccc", "a", "bb"])
    (array([ 0, 10, 20]),)
    """
    order = length_order(texts, pairs)
    restored = []
    for output in run(order):
        in_place = np.empty_like(output)
        in_place[order] = output
        restored.append(in_place)
    return tuple(restored)


def as_strings(texts: Sequence[str]) -> np.ndarray:
    """Texts as an object array of str: a fixed-width unicode array would cost
    rows x longest text x 4 bytes and silently drop trailing NUL characters."""
    return np.array([str(text) for text in texts], dtype=object)


def _cut_into_batches(tensor: tf.Tensor, batch_size: int, extra_rows: tf.Tensor, width: tf.Tensor | None) -> tf.Tensor:
    """[rows, ...] -> [batches, batch_size, ...]: `extra_rows` zero rows appended (the
    group's last batch may be short) and, when `width` is given, columns padded to it."""
    pad = [[0, extra_rows]] + [[0, 0]] * (len(tensor.shape) - 1)
    if width is not None:
        pad[1] = [0, width - tf.shape(tensor)[1]]
    tensor = tf.pad(tensor, pad)
    return tf.reshape(tensor, tf.concat([[-1, batch_size], tf.shape(tensor)[1:]], axis=0))


def _batch_widths(lengths: tf.Tensor, batches: tf.Tensor, batch_size: int, padding: str,
                  max_seq_length: int, extra_rows: tf.Tensor) -> tf.Tensor:
    """Each batch's padded width: max_seq_length ("max"), its longest sequence ("batch")
    or the smallest bucket width that holds its longest ("bucket")."""
    if padding == "max":
        return tf.fill([batches], max_seq_length)
    longest = tf.reduce_max(tf.reshape(tf.pad(lengths, [[0, extra_rows]]), [batches, batch_size]), axis=1)
    return _padded_widths(longest, padding, max_seq_length)


def _padded_widths(longest: tf.Tensor, padding: str, max_seq_length: int) -> tf.Tensor:
    """The widths that batches whose longest sequences are `longest` are padded to."""
    if padding == "max":
        return tf.fill(tf.shape(longest), max_seq_length)
    if padding == "batch":
        return longest
    widths = tf.constant(bucket_widths(max_seq_length), tf.int32)
    return tf.gather(widths, tf.searchsorted(widths, longest, side="left"))


@tf.autograph.experimental.do_not_convert  # plain graph code: skip autograph's conversion
def pack_group(packer: Packer, batch_size: int, padding: str, *columns: tf.Tensor):
    """Pack a group of texts (and pairs) and cut it into [batches, batch_size, width]
    tensors; returns (features, labels, each batch's row count, each batch's width)."""
    *texts, labels = columns
    feats = packer(*texts)
    lengths = tf.reduce_sum(feats["input_mask"], axis=1)
    if padding == "bucket":
        order = tf.argsort(lengths, stable=True)
        feats = {name: tf.gather(tensor, order) for name, tensor in feats.items()}
        labels, lengths = tf.gather(labels, order), tf.gather(lengths, order)
    rows = tf.shape(labels)[0]
    batches = (rows + batch_size - 1) // batch_size
    extra_rows = batches * batch_size - rows
    counts = tf.minimum(batch_size, rows - tf.range(batches) * batch_size)
    widths = _batch_widths(lengths, batches, batch_size, padding, packer.max_seq_length, extra_rows)
    width = tf.reduce_max(widths)  # may be wider than the group's longest (a bucket, max)
    feats = {name: _cut_into_batches(tensor, batch_size, extra_rows, width) for name, tensor in feats.items()}
    return feats, _cut_into_batches(labels, batch_size, extra_rows, None), counts, widths


@tf.autograph.experimental.do_not_convert
def trim_batch(label_shape: tf.TensorShape, fixed_width: int | None, feats: dict[str, tf.Tensor], labels: tf.Tensor,
               count: tf.Tensor, width: tf.Tensor):
    """Drop a short batch's padding rows and the columns beyond its width."""
    labels = labels[:count]
    labels.set_shape([None, *label_shape])
    feats = {name: tensor[:count, :width] for name, tensor in feats.items()}
    for tensor in feats.values():
        tensor.set_shape([None, fixed_width])
    return feats, labels


@tf.autograph.experimental.do_not_convert
def pack_group_of_documents(packer: Packer, batch_size: int, padding: str, *columns: tf.Tensor):
    """long_texts windows: pack a group of documents into windows and cut it into batches of
    `batch_size` documents with all their windows (no whole window padded); "bucket" sorts
    the documents by window count, then by their longest window. Returns (features
    [batches, (windows), width], window counts and labels [batches, (documents)], widths)."""
    *texts, labels = columns
    feats = packer(*texts)
    counts = feats.pop(WINDOW_COUNTS)
    lengths = tf.reduce_sum(feats["input_mask"], axis=1)
    documents = tf.shape(counts)[0]
    longest = tf.math.unsorted_segment_max(lengths, tf.repeat(tf.range(documents), counts), documents)
    if padding == "bucket":
        order = tf.argsort(counts * (packer.max_seq_length + 1) + longest, stable=True)
        rows = tf.gather(tf.RaggedTensor.from_row_lengths(tf.range(tf.shape(lengths)[0]), counts), order).flat_values
        feats = {name: tf.gather(tensor, rows) for name, tensor in feats.items()}
        counts, longest, labels = (tf.gather(tensor, order) for tensor in (counts, longest, labels))
    batches = (documents + batch_size - 1) // batch_size
    batch_of = tf.range(documents) // batch_size
    widths = _padded_widths(tf.math.unsorted_segment_max(longest, batch_of, batches), padding, packer.max_seq_length)
    width, windows = tf.reduce_max(widths), tf.math.unsorted_segment_sum(counts, batch_of, batches)
    feats = {name: tf.RaggedTensor.from_row_lengths(tf.pad(tensor, [[0, 0], [0, width - tf.shape(tensor)[1]]]), windows)
             for name, tensor in feats.items()}
    per_document = [tf.RaggedTensor.from_value_rowids(tensor, batch_of, nrows=batches) for tensor in (counts, labels)]
    return feats, *per_document, widths


@tf.autograph.experimental.do_not_convert
def trim_documents(label_shape: tf.TensorShape, fixed_width: int | None, fixed_windows: int | None,
                   feats: dict[str, tf.Tensor], counts: tf.Tensor, labels: tf.Tensor, width: tf.Tensor):
    """A batch of documents' windows cut to its width, zero windows added up to `fixed_windows`
    (padding max: fixed shapes), and its window counts among the features."""
    labels.set_shape([None, *label_shape])
    feats = {name: tensor[:, :width] for name, tensor in feats.items()}
    if fixed_windows is not None:
        feats = {name: tf.pad(tensor, [[0, fixed_windows - tf.shape(tensor)[0]], [0, 0]]) for name, tensor in feats.items()}
    for tensor in feats.values():
        tensor.set_shape([fixed_windows, fixed_width])
    counts.set_shape([None])
    return {**feats, WINDOW_COUNTS: counts}, labels


def _check(padding: str, batch_size: int) -> None:
    padding_key = KEYS_BY_NAME["padding"]  # the rule lives once, in config's KEYS; callers may skip Config
    if not padding_key.check(padding):
        raise TfbertError(f"padding must be {padding_key.rule}, not {padding!r}")
    if batch_size < 1:
        raise TfbertError(f"batch_size must be positive, not {batch_size}")


def _example_dataset(split: Split) -> tf.data.Dataset:
    """The split's examples as a tf.data source of (text[, pair], label) rows, in order."""
    columns = (as_strings(split.texts),) if split.pairs is None else (as_strings(split.texts), as_strings(split.pairs))
    labels = split.labels.astype(np.float32) if split.labels.ndim == 2 else split.labels
    return tf.data.Dataset.from_tensor_slices((*columns, labels))


Maps = tuple[Callable, Callable]  # _batched's two maps: pack a group of rows into batches, trim each batch


def _maps(packer: Packer, batch_size: int, padding: str, label_shape: tf.TensorShape) -> Maps:
    """The functions _batched maps over groups of rows and over batches, for labels of `label_shape`."""
    fixed_width = packer.max_seq_length if padding == "max" else None
    if packer.long_texts.windows:  # batches of documents, each with all its windows
        fixed_windows = batch_size * packer.long_texts.max_windows if padding == "max" else None
        return (functools.partial(pack_group_of_documents, packer, batch_size, padding),
                functools.partial(trim_documents, label_shape, fixed_width, fixed_windows))
    return functools.partial(pack_group, packer, batch_size, padding), functools.partial(trim_batch, label_shape, fixed_width)


def _batched(rows: tf.data.Dataset, num_rows: int, packer: Packer, batch_size: int, shuffle: bool, seed: int | None,
             padding: str, maps: Maps | None = None) -> tf.data.Dataset:
    """One pass over `rows` as packed batches (see make_dataset), mapped by `maps` (default: _maps')."""
    if shuffle:  # the same order on every pass: an epoch's order is a function of its seed alone (a resumed
        # epoch must see what an uninterrupted one does, and Keras may start an iterator twice)
        rows = rows.shuffle(num_rows, seed=seed, reshuffle_each_iteration=False)
    pack, trim = maps or _maps(packer, batch_size, padding, rows.element_spec[-1].shape)  # labels: [] or [num_labels]
    group = group_batches(batch_size)
    dataset = rows.batch(batch_size * group).map(pack, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.unbatch().map(trim, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(-(-num_rows // batch_size)))
    if shuffle and padding == "bucket":  # or each group's batches would come shortest first
        dataset = dataset.shuffle(group, seed=seed, reshuffle_each_iteration=False)
    return dataset.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True)
class ReplicaShare:
    """One worker's share of a distributed run's batches.

    Every worker orders the rows alike (the same seed) and cuts them into per-replica
    batches of global batch size / `replicas`; global step k is per-replica batches
    k*replicas .. (k+1)*replicas - 1, the worker `pipeline` of `pipelines` taking its
    local replicas' consecutive run of them. So each example is seen once per epoch,
    across workers, and a step's examples are those of one global batch. An epoch whose
    batches do not fill its last step gets empty batches (no rows: zero loss, no gradient).

    >>> from tfbert.input_pipeline import ReplicaShare
    >>> share = ReplicaShare(replicas=4, pipelines=2, pipeline=1)
    >>> share.batch_size(32), share.local_replicas, [i for i in range(8) if share.takes(i)]
    (8, 2, [2, 3, 6, 7])
    """

    replicas: int
    pipelines: int = 1
    pipeline: int = 0

    @property
    def local_replicas(self) -> int:
        return self.replicas // self.pipelines

    def batch_size(self, global_batch_size: int, name: str = "batch size") -> int:
        """The per-replica batch size; a global batch size (`name`d in the error) that does
        not split evenly over the replicas is refused."""
        if global_batch_size % self.replicas:
            raise TfbertError(f"{name} {global_batch_size} does not split evenly over {self.replicas} replicas: "
                              f"use a multiple of {self.replicas}")
        return global_batch_size // self.replicas

    def takes(self, index: int) -> bool:
        """Whether this worker feeds per-replica batch `index` (an int or an int64 tensor)."""
        return (index % self.replicas) // self.local_replicas == self.pipeline

    def of(self, batches: tf.data.Dataset, num_batches: int) -> tf.data.Dataset:
        """This worker's per-replica batches of one pass of `num_batches` batches."""
        empty = batches.take(1).map(_no_rows).repeat(-num_batches % self.replicas)
        batches = batches.concatenate(empty)
        if self.pipelines == 1:
            return batches
        return batches.enumerate().filter(lambda index, _: self.takes(index)).map(lambda _, batch: batch)


def _no_rows(feats: dict[str, tf.Tensor], labels: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    return {name: tensor[:0] for name, tensor in feats.items()}, labels[:0]


def with_class_weights(batches: tf.data.Dataset, class_weight: dict[int, float] | None) -> tf.data.Dataset:
    """(features, labels) batches with each example's class weight as Keras' sample
    weight (what fit's class_weight does, which distributed input does not take)."""
    if class_weight is None:
        return batches
    weights = tf.constant([class_weight[label] for label in range(len(class_weight))], tf.float32)
    return batches.map(lambda feats, labels: (feats, labels, tf.gather(weights, tf.cast(labels, tf.int32))))


def make_dataset(split: Split, packer: Packer, batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 padding: str = "bucket", share: ReplicaShare | None = None) -> tf.data.Dataset:
    """Batches of (features dict, labels) for model.fit / evaluate / predict.

    padding: "max" pads every batch to packer.max_seq_length (BERT's fixed shape);
    "batch" to the batch's longest sequence; "bucket" sorts each group by length before
    cutting it and pads each batch to the smallest of `bucket_widths` that holds it, so
    that traced steps are reused. "max" and "batch" keep the split's order unless
    shuffled; "bucket" reorders examples (labels travel with their features; shuffled,
    the batches are shuffled too, within a group's worth). Every example appears
    exactly once per epoch. With `share`, batch_size is the global batch and the batches
    are this worker's per-replica share of it (see ReplicaShare).
    """
    _check(padding, batch_size)
    return _one_pass(_example_dataset(split), len(split), packer, batch_size, shuffle, seed, padding, share)


def _one_pass(rows: tf.data.Dataset, num_rows: int, packer: Packer, batch_size: int, shuffle: bool,
              seed: int | None, padding: str, share: ReplicaShare | None, maps: Maps | None = None) -> tf.data.Dataset:
    if share is None:
        return _batched(rows, num_rows, packer, batch_size, shuffle, seed, padding, maps)
    size = share.batch_size(batch_size)
    return share.of(_batched(rows, num_rows, packer, size, shuffle, seed, padding, maps), -(-num_rows // size))


def kept_in_memory(batches: tf.data.Dataset, num_rows: int, packer: Packer) -> tf.data.Dataset:
    """`batches` cached in memory by their first full pass, when their ids fit in IN_MEMORY_BYTES:
    fit's validation, the same batches every epoch, then neither tokenizes them nor builds their
    pipeline again after the first (about 0.1 s an epoch for a small split, more for a large one)."""
    windows = packer.long_texts.max_windows if packer.long_texts.windows else 1
    if num_rows * windows * packer.max_seq_length * 3 * 4 > IN_MEMORY_BYTES:
        return batches
    return batches.cache()


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one training epoch: a function of the run's seed and the epoch alone."""
    return (seed * 1_000_003 + epoch) % 2**31


def training_batches(split: Split, packer: Packer, batch_size: int, seed: int, padding: str, epochs: int,
                     start_epoch: int = 0, start_batch: int = 0, share: ReplicaShare | None = None) -> tf.data.Dataset:
    """Shuffled training batches for epochs start_epoch .. epochs - 1, one after another,
    beginning at batch `start_batch` of the first: for model.fit with steps_per_epoch.

    Each epoch's order depends only on `seed` and the epoch's number (`epoch_seed`), so
    a resumed run sees the batches an uninterrupted run would, from the next one on.
    Keras' fit restarts its input at the beginning when it resumes from a backup; this
    dataset starts where the backup left off instead.

    >>> import numpy as np, tempfile, pathlib
    >>> from tfbert import input_pipeline, hub_format, packers
    >>> from tfbert.data.splits import Split
    >>> vocab = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = vocab.write_text("\\n".join(hub_format.tiny_vocabulary()) + "\\n")
    >>> packer = packers.make_packer("tf_text", str(vocab), do_lower_case=True, max_seq_length=8)
    >>> texts = np.array(["good", "bad", "a movie", "the plot"], dtype=object)
    >>> split = Split("train", texts, None, np.arange(4))
    >>> def labels(dataset):
    ...     return [batch.numpy().tolist() for _, batch in dataset]
    >>> whole = labels(input_pipeline.training_batches(split, packer, 2, seed=1, padding="batch", epochs=2))
    >>> resumed = input_pipeline.training_batches(split, packer, 2, 1, "batch", 2, start_epoch=1, start_batch=1)
    >>> len(whole), labels(resumed) == whole[3:]
    (4, True)
    """
    _check(padding, batch_size)
    if not 0 <= start_epoch < epochs:
        raise TfbertError(f"start_epoch must be in [0, {epochs}), not {start_epoch}")
    rows = _example_dataset(split)
    # Every epoch maps the same two tf.functions, traced once, not once an epoch (tracing the
    # packer took about 0.15 s an epoch, more than a tiny model's steps).
    size = share.batch_size(batch_size) if share else batch_size
    maps = tuple(tf.function(function) for function in _maps(packer, size, padding, rows.element_spec[-1].shape))

    def epoch_batches(epoch: int) -> tf.data.Dataset:
        return _one_pass(rows, len(split), packer, batch_size, True, epoch_seed(seed, epoch), padding, share, maps)

    dataset = epoch_batches(start_epoch).skip(start_batch * (share.local_replicas if share else 1))
    for epoch in range(start_epoch + 1, epochs):
        dataset = dataset.concatenate(epoch_batches(epoch))
    return dataset
