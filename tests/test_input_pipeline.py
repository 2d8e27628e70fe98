"""Datasets: make_dataset's batches, padding modes, Python calls and length order (that padding leaves
evaluation and training losses unchanged: test_input_pipeline_padding.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from conftest import by_label, collect, make_split, pad_columns
from texts import PAIRS, TEXTS, TRICKY
from tfbert import input_pipeline, packers
from tfbert.errors import TfbertError
from tfbert.long_texts import LongTexts


# --------------------------------------------------------------------------- 3. make_dataset


@pytest.fixture(scope="module")
def packer_for(tiny_vocab_file):
    """max_seq_length -> kind -> packer, made on demand."""
    cache: dict = {}

    def get(kind: str, max_seq_length: int) -> packers.Packer:
        if (kind, max_seq_length) not in cache:
            cache[kind, max_seq_length] = packers.make_packer(kind, tiny_vocab_file, True, max_seq_length)
        return cache[kind, max_seq_length]

    return get


@pytest.fixture
def small_groups(monkeypatch):
    """Groups of 2 batches or 32 examples, so that a test's few rows span several."""
    monkeypatch.setattr(input_pipeline, "GROUP_BATCHES", 2)
    monkeypatch.setattr(input_pipeline, "GROUP_EXAMPLES", 32)


def test_bucket_widths():
    assert input_pipeline.bucket_widths(128) == (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128)
    assert input_pipeline.bucket_widths(100) == (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 100)
    assert input_pipeline.bucket_widths(16) == (8, 16)
    assert input_pipeline.bucket_widths(8) == (8,) and input_pipeline.bucket_widths(5) == (5,)
    assert input_pipeline.group_batches(32) == 32 and input_pipeline.group_batches(512) == input_pipeline.GROUP_BATCHES


@pytest.mark.parametrize("kind", packers.TOKENIZERS)
def test_dataset_padded_to_max_shapes_dtypes_batches_and_labels(kind, packer_for, tokenizer):
    texts = TEXTS[:70]
    dataset = input_pipeline.make_dataset(make_split(texts), packer_for(kind, 16), batch_size=16, padding="max")
    spec_features, spec_labels = dataset.element_spec
    assert set(spec_features) == set(packers.FEATURE_NAMES)
    for name in packers.FEATURE_NAMES:
        assert spec_features[name].dtype == tf.int32
        assert spec_features[name].shape.as_list() == [None, 16]
    assert spec_labels.dtype == tf.int32
    assert int(dataset.cardinality()) == math.ceil(70 / 16)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 5
    assert [b[1].shape[0] for b in batches] == [16, 16, 16, 16, 6]
    for feats, labels in batches:
        for name in packers.FEATURE_NAMES:
            assert feats[name].dtype == np.int32 and feats[name].shape == (len(labels), 16)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(70))
    # the mask marks exactly [CLS] + tokens + [SEP]; single texts have type ids 0
    feats, _ = collect(dataset)
    lengths = np.array([min(len(tokenizer.tokenize(t)), 14) + 2 for t in texts])
    np.testing.assert_array_equal(feats["input_mask"].sum(axis=1), lengths)
    assert (feats["input_type_ids"] == 0).all()
    for name, want in zip(packers.FEATURE_NAMES, packers.pack_batch(tokenizer, texts, None, 16)):
        np.testing.assert_array_equal(feats[name], want)


@pytest.mark.parametrize("kind", packers.TOKENIZERS)
def test_dataset_padded_per_batch_keeps_order_and_pads_to_the_longest(kind, packer_for, tokenizer, small_groups):
    texts = TEXTS[len(TRICKY):len(TRICKY) + 150]  # 1 to 250 words
    for pairs in (None, PAIRS[len(TRICKY):len(TRICKY) + 150]):
        dataset = input_pipeline.make_dataset(make_split(texts, pairs), packer_for(kind, 64), batch_size=16, padding="batch")
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
        for name, want in zip(packers.FEATURE_NAMES, packers.pack_batch(tokenizer, texts, pairs, 64)):
            np.testing.assert_array_equal(pad_columns(feats[name], 64), want)


@pytest.mark.parametrize("kind", packers.TOKENIZERS)
def test_dataset_buckets_widths_each_example_once_labels_travel(kind, packer_for, tokenizer, small_groups):
    texts, pairs = TEXTS[len(TRICKY):len(TRICKY) + 150], None
    dataset = input_pipeline.make_dataset(make_split(texts, pairs), packer_for(kind, 100), batch_size=16)  # bucket: default
    assert int(dataset.cardinality()) == 10
    batches = list(dataset.as_numpy_iterator())
    assert sorted(len(b[1]) for b in batches) == [6] + [16] * 9  # full batches but the last
    seen_widths = set()
    for feats, labels in batches:
        width = feats["input_word_ids"].shape[1]
        longest = feats["input_mask"].sum(axis=1).max()
        assert width % 8 == 0 or width == 100  # only the bucket widths
        assert width == min(w for w in input_pipeline.bucket_widths(100) if w >= longest)  # the smallest that fits
        seen_widths.add(width)
    assert len(seen_widths) >= 4 and 100 in seen_widths
    feats, labels = collect(dataset)
    assert labels.tolist() != list(range(150))  # sorted by length within groups
    feats = by_label(feats, labels)  # each example exactly once, with its own features
    for name, want in zip(packers.FEATURE_NAMES, packers.pack_batch(tokenizer, texts, pairs, 100)):
        np.testing.assert_array_equal(pad_columns(feats[name], 100), want)
    # lengths grow within each group of two batches
    lengths = [b[0]["input_mask"].sum(axis=1) for b in batches]
    for first, second in zip(lengths[0::2], lengths[1::2]):
        assert (np.diff(np.concatenate([first, second])) >= 0).all()


def test_dataset_pairs_path(packer_for, tokenizer):
    texts = ["the film was good", "a bad movie", "love it", ""]
    pairs = ["i liked it", "", "yes", "\u200b the"]
    for kind in packers.TOKENIZERS:
        dataset = input_pipeline.make_dataset(make_split(texts, pairs), packer_for(kind, 12), batch_size=3, padding="max")
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


@pytest.mark.slow
@pytest.mark.parametrize("padding", ["batch", "bucket"])
def test_dataset_shuffle_is_seeded_and_keeps_rows_together(padding, packer_for, tokenizer, small_groups):
    texts, pairs = TEXTS[100:164], PAIRS[100:164]
    split = make_split(texts, pairs)

    def orders(seed, epochs=2):
        dataset = input_pipeline.make_dataset(split, packer_for("tf_text", 16), batch_size=10, shuffle=True, seed=seed,
                                        padding=padding)
        return [collect(dataset) for _ in range(epochs)]

    first, second = orders(7), orders(7)
    for (feats_a, labels_a), (feats_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(labels_a, labels_b)  # same seed, same order
        for name in packers.FEATURE_NAMES:
            np.testing.assert_array_equal(feats_a[name], feats_b[name])
    expected = packers.pack_batch(tokenizer, texts, pairs, 16)
    for feats, labels in first:
        assert sorted(labels.tolist()) == list(range(64))  # a permutation, nothing lost or repeated
        assert labels.tolist() != list(range(64))  # and actually shuffled
        for name, want in zip(packers.FEATURE_NAMES, expected):
            np.testing.assert_array_equal(pad_columns(feats[name], 16), want[labels])  # features travel with labels
    # The same order on every pass over one dataset (training_batches gives each epoch its own seed,
    # so a resumed epoch sees what an uninterrupted one does); another seed, another order.
    assert first[0][1].tolist() == first[1][1].tolist()
    assert orders(8, epochs=1)[0][1].tolist() != first[0][1].tolist()
    assert orders(8, epochs=1)[0][1].tolist() != first[0][1].tolist()  # another seed, another order


@pytest.mark.parametrize("padding", input_pipeline.PADDINGS)
def test_dataset_multilabel_labels_are_float32_rows(padding, packer_for):
    labels = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=np.float32)
    texts = ["the film was good", "a", "bad", "the film", "a good movie was"]
    dataset = input_pipeline.make_dataset(make_split(texts, labels=labels), packer_for("tf_text", 8), batch_size=2,
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
    packed = pad_columns(packer_for("py_function", 8)._pack(np.array(texts, dtype=object))[0], 8)
    rows = [next(i for i in range(5) if (packed[i] == ids).all()) for ids in pad_columns(feats["input_word_ids"], 8)]
    assert sorted(rows) == list(range(5))
    np.testing.assert_array_equal(got, labels[rows])


def test_dataset_multilabel_int_rows_become_float32(packer_for):
    labels = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.int64)
    dataset = input_pipeline.make_dataset(make_split(TEXTS[30:33], labels=labels), packer_for("tf_text", 8), batch_size=4)
    (_, got), = list(dataset.as_numpy_iterator())
    assert got.dtype == np.float32
    assert sorted(map(tuple, got)) == sorted(map(tuple, labels.astype(np.float32)))


def test_make_dataset_rejects_unknown_padding(packer_for):
    with pytest.raises(TfbertError, match="padding must be one of bucket, batch, max"):
        input_pipeline.make_dataset(make_split(["a"]), packer_for("tf_text", 8), 4, padding="longest")


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


@pytest.mark.parametrize("kind", packers.TOKENIZERS)
@pytest.mark.parametrize("with_pairs", [False, True])
def test_python_runs_once_per_group_or_never(tokenizer, monkeypatch, small_groups, kind, with_pairs, packer_for):
    """py_function: one Python call per group of batches, holding the group; tf_text: none."""
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
    original_pack_documents = packers.pack_documents

    def pack_documents(tokenizer, texts, *args):
        pack_calls.append(len(texts))
        return original_pack_documents(tokenizer, texts, *args)

    monkeypatch.setattr(packers, "pack_documents", pack_documents)
    counter = CountingTokenizer(tokenizer)
    packer = packers.PyFunctionPacker(counter, 16) if kind == "py_function" else packer_for("tf_text", 16)
    texts = [t or "x" for t in TEXTS[:100]]
    pairs = [p.strip("\x00") or "y" for p in PAIRS[:100]] if with_pairs else None
    dataset = input_pipeline.make_dataset(make_split(texts, pairs), packer, batch_size=16, padding="batch")
    assert python_calls == [] and counter.calls == []  # nothing runs before iteration
    feats, labels = collect(dataset)

    if kind == "tf_text":
        assert python_calls == [] and pack_calls == []
    else:
        groups = [32, 32, 32, 4]  # two batches of 16 per group
        assert sorted(python_calls) == sorted(groups)  # one Python call per group, holding the group
        assert sorted(pack_calls) == sorted(groups)
        assert len(counter.calls) == 100 * (2 if with_pairs else 1)  # every text tokenized once
    expected = packers.pack_batch(tokenizer, texts, pairs, 16)
    for name, want in zip(packers.FEATURE_NAMES, expected):
        np.testing.assert_array_equal(pad_columns(feats[name], 16), want)
    np.testing.assert_array_equal(labels, np.arange(100))


def test_length_order_is_shortest_first_counting_both_segments_and_stable():
    texts = ["ccc", "a", "bb", "a", "dddd"]
    assert input_pipeline.length_order(texts).tolist() == [1, 3, 2, 0, 4]
    assert input_pipeline.length_order(["a", "a", "a"], ["xxx", "x", "xx"]).tolist() == [1, 2, 0]


def test_run_in_length_order_runs_shortest_first_and_puts_every_output_back():
    texts, pairs = ["ccc", "a", "bb", "dddd"], ["", "xxxxx", "", ""]
    seen = []

    def run(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(order.tolist())
        return np.array([texts[i] for i in order], dtype=object), order * 10

    names, tens = input_pipeline.run_in_length_order(run, texts, pairs)
    assert seen == [[2, 0, 3, 1]]  # 2, 3, 4 and 6 characters with the pairs
    assert names.tolist() == texts and names.dtype == object
    assert tens.tolist() == [0, 10, 20, 30]
    (nothing,) = input_pipeline.run_in_length_order(lambda order: (np.zeros((len(order), 2)),), [])
    assert nothing.shape == (0, 2)


@pytest.mark.parametrize("bound, long_texts, packed_per_pass", [
    (100 * 16 * 12, LongTexts(), (100, 0)),  # 100 rows of 3 int32 arrays of 16 ids: within the bound, kept
    (100 * 16 * 12 - 1, LongTexts(), (100, 100)),  # a byte over: packed again every pass
    (100 * 16 * 12, LongTexts("windows", max_windows=2), (100, 100)),  # up to 2 windows a row: twice the bytes
])
def test_batches_kept_in_memory_are_packed_once_when_they_fit(tokenizer, monkeypatch, bound, long_texts, packed_per_pass):
    """fit's validation batches: the same every epoch, so packed on the first pass only, unless too big to keep."""
    monkeypatch.setattr(input_pipeline, "IN_MEMORY_BYTES", bound)
    counter = CountingTokenizer(tokenizer)
    split = make_split([t or "x" for t in TEXTS[:100]])
    packer = packers.PyFunctionPacker(counter, 16, long_texts)
    batches = input_pipeline.kept_in_memory(input_pipeline.make_dataset(split, packer, 16, padding="bucket"), 100, packer)
    passes = []
    for _ in range(2):
        before = len(counter.calls)
        feats, labels = collect(batches)
        passes.append((len(counter.calls) - before, feats, labels))
    assert tuple(count for count, _, _ in passes) == packed_per_pass
    assert sorted(passes[0][2].tolist()) == list(range(100))
    for name in packers.FEATURE_NAMES:  # the second pass gives the first one's batches
        np.testing.assert_array_equal(passes[1][1][name], passes[0][1][name])
    np.testing.assert_array_equal(passes[1][2], passes[0][2])


@pytest.mark.parametrize("kind, padding", [("tf_text", "bucket"), ("tf_text", "max"), ("py_function", "bucket")])
def test_training_batches_trace_the_packer_once_for_every_epoch(packer_for, monkeypatch, kind, padding):
    """Each epoch its own shuffle, one traced packing function for them all (tracing it again each epoch cost
    a tiny run more than its steps); the epochs are still those of make_dataset shuffled by each epoch's seed."""
    traces = []
    original = input_pipeline.pack_group

    def pack_group(*args):
        traces.append(1)  # Python runs only while TensorFlow traces
        return original(*args)

    monkeypatch.setattr(input_pipeline, "pack_group", pack_group)
    split, packer = make_split([f"{i} good movie" for i in range(40)], labels=np.arange(40)), packer_for(kind, 16)
    _, labels = collect(input_pipeline.training_batches(split, packer, 8, seed=3, padding=padding, epochs=3))
    assert len(traces) == 1
    for epoch in range(3):
        alone = input_pipeline.make_dataset(split, packer, 8, shuffle=True, seed=input_pipeline.epoch_seed(3, epoch),
                                            padding=padding)
        np.testing.assert_array_equal(labels[epoch * 40:(epoch + 1) * 40], collect(alone)[1])
    assert len(traces) == 4  # and make_dataset's own
