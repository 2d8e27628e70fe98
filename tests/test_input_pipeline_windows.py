"""Batches of documents under long_texts: windows (issue 24, criteria 2 and 3): make_dataset and
training_batches cut a split of short and long documents into batches of `batch_size` documents,
each with all its windows, which are pack_document's, the same from both packers; window_counts
say which rows are whose; bucketing sorts by window count, then longest window; padding max has
fixed shapes; labels (multi-label too) and class weights go per document; ReplicaShare's shares
and a resumed training sequence hold whole documents. (The window rule itself: test_long_texts.py.)"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from conftest import make_split
from tfbert import hub_format, input_pipeline, packers
from tfbert.input_pipeline import ReplicaShare
from tfbert.long_texts import LongTexts
from tfbert.packers import FEATURE_NAMES, WINDOW_COUNTS

M = 36  # bucket widths 8, 16, 24, 32, 36; a window holds 34 tokens of a text alone
WINDOWS = LongTexts("windows", 20, 4, "even")  # 1 window up to 34 tokens, 2 to 54, 3 to 74, 4 beyond
ENDS = LongTexts("windows", None, 3, "ends")  # the default stride (30), the middle dropped
BATCH = 4
PADDINGS = ("bucket", "batch", "max")
# Whole words of the tiny vocabulary: one token each.
VOCAB_WORDS = [word for word in hub_format.tiny_vocabulary() if word.isalpha() and len(word) > 1]


def long_and_short(n: int, seed: int, with_pairs: bool = False) -> tuple[list[str], list[str] | None]:
    """n texts of 1 to 200 words (one empty), so 1 to max_windows windows; with_pairs: second
    segments of 0 to 8 words."""
    rng = random.Random(seed)
    lengths = [(1, 2, 5, 20, 34, 35, 50, 60, 80, 120, 200)[i % 11] for i in range(n)]
    rng.shuffle(lengths)
    texts = [" ".join(rng.choices(VOCAB_WORDS, k=length)) for length in lengths]
    texts[n // 2] = ""  # no tokens: one window, [CLS] [SEP]
    pairs = [" ".join(rng.choices(VOCAB_WORDS, k=rng.randint(0, 8))) for _ in range(n)] if with_pairs else None
    return texts, pairs


TEXTS, PAIRS = long_and_short(45, seed=7, with_pairs=True)


@pytest.fixture(scope="module")
def packer(tiny_vocab_file):
    """(kind, settings) -> that packer, made once."""
    cache: dict = {}

    def get(kind: str = "tf_text", settings: LongTexts = WINDOWS) -> packers.Packer:
        if (kind, settings) not in cache:
            cache[kind, settings] = packers.make_packer(kind, tiny_vocab_file, True, M, settings)
        return cache[kind, settings]

    return get


SMALL_GROUPS = {"GROUP_BATCHES": 3, "GROUP_EXAMPLES": 12}  # groups of 3 batches of 4: 45 documents span four


@pytest.fixture
def small_groups(monkeypatch):
    for name, value in SMALL_GROUPS.items():
        monkeypatch.setattr(input_pipeline, name, value)


@pytest.fixture(scope="module")
def built(packer):
    """(kind, padding, with_pairs, settings, shuffle) -> (make_dataset of TEXTS (and PAIRS) in
    batches of BATCH documents, in SMALL_GROUPS, its batches as numpy), made once."""
    cache: dict = {}

    def get(kind: str = "tf_text", padding: str = "bucket", with_pairs: bool = False, settings: LongTexts = WINDOWS,
            shuffle: bool = False):
        key = (kind, padding, with_pairs, settings, shuffle)
        if key not in cache:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in SMALL_GROUPS.items():
                    patch.setattr(input_pipeline, name, value)
                dataset = input_pipeline.make_dataset(make_split(TEXTS, PAIRS if with_pairs else None),
                                                      packer(kind, settings), BATCH, shuffle=shuffle, seed=3,
                                                      padding=padding)
                cache[key] = dataset, list(dataset.as_numpy_iterator())
        return cache[key]

    return get


def documents(batch) -> list[tuple[object, dict[str, np.ndarray]]]:
    """A batch's documents: (label, its windows' rows of each feature), in the batch's order."""
    feats, labels = batch[0], batch[1]
    counts = feats[WINDOW_COUNTS]
    assert len(counts) == len(labels)
    ends = np.cumsum(counts)
    return [(labels[i], {name: feats[name][end - count:end] for name in FEATURE_NAMES})
            for i, (count, end) in enumerate(zip(counts, ends))]


def expected_windows(tokenizer, text: str, pair: str | None, settings: LongTexts, width: int) -> dict[str, np.ndarray]:
    """pack_document's windows of one document, zero padded to `width` columns."""
    windows = packers.pack_document(tokenizer, text, pair, M, settings)
    want = {name: np.zeros((len(windows), width), np.int32) for name in FEATURE_NAMES}
    for row, (ids, types) in enumerate(windows):
        want["input_word_ids"][row, :len(ids)] = ids
        want["input_mask"][row, :len(ids)] = 1
        want["input_type_ids"][row, :len(ids)] = types
    return want


# --------------------------------------------------------------------------- 1. every document once, batches count documents


@pytest.mark.parametrize("padding, shuffle", [("bucket", False), ("batch", False), ("max", False), ("bucket", True),
                                              ("max", True)])
def test_each_document_once_per_epoch_in_batches_of_at_most_batch_size_documents(padding, shuffle, built):
    dataset, batches = built(padding=padding, shuffle=shuffle)
    assert len(batches) == int(dataset.cardinality()) == math.ceil(len(TEXTS) / BATCH) == 12
    assert all(0 < len(labels) <= BATCH and len(feats[WINDOW_COUNTS]) == len(labels) for feats, labels in batches)
    assert sum(feats[WINDOW_COUNTS].sum() for feats, _ in batches) > 2 * len(TEXTS)  # rows are windows, not documents
    seen = np.concatenate([labels for _, labels in batches]).tolist()
    assert sorted(seen) == list(range(len(TEXTS)))
    assert (seen == list(range(len(TEXTS)))) == (padding != "bucket" and not shuffle)  # else reordered


# --------------------------------------------------------------------------- 2. rows: each document's windows, pack_document's


def assert_rows(feats: dict[str, np.ndarray], padding: str) -> None:
    """A batch's rows are its documents' windows (padding max: then zero rows up to its fixed
    shape), as wide as its padding mode says."""
    rows, width = feats["input_word_ids"].shape
    assert all(feats[name].shape == (rows, width) for name in FEATURE_NAMES)
    windows = int(feats[WINDOW_COUNTS].sum())
    if padding == "max":
        assert (rows, width) == (BATCH * WINDOWS.max_windows, M)
        assert all((feats[name][windows:] == 0).all() for name in FEATURE_NAMES)
        return
    assert rows == windows
    longest = feats["input_mask"].sum(axis=1).max()
    assert width == (longest if padding == "batch" else min(w for w in (8, 16, 24, 32, 36) if w >= longest))


@pytest.mark.parametrize("with_pairs", [False, True])
@pytest.mark.parametrize("padding", PADDINGS)
def test_window_counts_sum_to_rows_and_windows_are_pack_documents(padding, with_pairs, built, tokenizer):
    pairs = PAIRS if with_pairs else None
    counts_seen = {}
    for feats, labels in built(padding=padding, with_pairs=with_pairs)[1]:
        assert_rows(feats, padding)
        width = feats["input_word_ids"].shape[1]
        for label, got in documents((feats, labels)):
            want = expected_windows(tokenizer, TEXTS[label], pairs[label] if pairs else None, WINDOWS, width)
            for name in FEATURE_NAMES:
                np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name} of document {label}")
            counts_seen[int(label)] = len(got["input_mask"])
    assert sorted(counts_seen) == list(range(len(TEXTS)))
    assert set(counts_seen.values()) == {1, 2, 3, 4}  # every count up to max_windows occurs


# --------------------------------------------------------------------------- 3. both packers give the same batches


@pytest.mark.parametrize("padding, with_pairs, settings", [
    *((padding, with_pairs, WINDOWS) for padding in PADDINGS for with_pairs in (False, True)),
    ("bucket", True, ENDS)], ids=lambda value: value.selection if isinstance(value, LongTexts) else str(value))
def test_both_packers_give_identical_batches(padding, with_pairs, settings, built):
    tf_text, py_function = (built(kind, padding, with_pairs, settings)[1] for kind in ("tf_text", "py_function"))
    assert len(tf_text) == len(py_function) == 12
    for (feats_a, labels_a), (feats_b, labels_b) in zip(tf_text, py_function):
        np.testing.assert_array_equal(labels_a, labels_b)
        assert set(feats_a) == set(feats_b) == {*FEATURE_NAMES, WINDOW_COUNTS}
        for name in feats_a:
            assert feats_a[name].dtype == feats_b[name].dtype == np.int32
            np.testing.assert_array_equal(feats_a[name], feats_b[name], err_msg=name)
    assert max(feats[WINDOW_COUNTS].max() for feats, _ in tf_text) == settings.max_windows


# --------------------------------------------------------------------------- 4. bucket: by window count, then longest window


def count_and_longest(batch) -> list[tuple[int, int]]:
    return [(len(rows["input_mask"]), int(rows["input_mask"].sum(axis=1).max())) for _, rows in documents(batch)]


def test_bucket_sorts_each_group_by_window_count_then_longest_window(built):
    batches = built(padding="bucket")[1]
    group = SMALL_GROUPS["GROUP_BATCHES"]
    assert BATCH * group == SMALL_GROUPS["GROUP_EXAMPLES"]  # so group_batches(BATCH) == group
    for start in range(0, len(batches), group):
        keys = [key for batch in batches[start:start + group] for key in count_and_longest(batch)]
        assert keys == sorted(keys), f"group at batch {start}: {keys}"
    everything = [key for batch in batches for key in count_and_longest(batch)]
    assert everything != sorted(everything)  # four groups, each sorted on its own
    widths = {feats["input_word_ids"].shape[1] for feats, _ in batches}
    assert all(width % 8 == 0 or width == M for width in widths) and len(widths) >= 3


def test_bucket_sorts_a_pass_of_one_group_and_moves_whole_documents(packer, tokenizer):
    dataset = input_pipeline.make_dataset(make_split(TEXTS), packer(), BATCH, padding="bucket")
    batches = list(dataset.as_numpy_iterator())
    keys = [key for batch in batches for key in count_and_longest(batch)]
    assert keys == sorted(keys) and keys[0] == (1, 2) and keys[-1][0] == WINDOWS.max_windows  # the empty text first
    labels = np.concatenate([labels for _, labels in batches])
    assert labels.tolist() != list(range(len(TEXTS))) and sorted(labels) == list(range(len(TEXTS)))
    for batch in batches:  # reordered documents keep their own windows, in order
        width = batch[0]["input_word_ids"].shape[1]
        for label, got in documents(batch):
            np.testing.assert_array_equal(got["input_word_ids"],
                                          expected_windows(tokenizer, TEXTS[label], None, WINDOWS, width)["input_word_ids"])


# --------------------------------------------------------------------------- 5. padding max: fixed shapes


def test_padding_max_has_a_fixed_element_spec_of_batch_size_times_max_windows(built):
    feats, labels = built(padding="max")[0].element_spec
    for name in FEATURE_NAMES:
        assert feats[name].shape.as_list() == [BATCH * WINDOWS.max_windows, M] and feats[name].dtype == tf.int32
    assert feats[WINDOW_COUNTS].shape.as_list() == [None] and feats[WINDOW_COUNTS].dtype == tf.int32
    assert labels.shape.as_list() == [None]
    for padding in ("batch", "bucket"):
        feats, _ = built(padding=padding)[0].element_spec
        assert all(feats[name].shape.as_list() == [None, None] for name in FEATURE_NAMES)


# --------------------------------------------------------------------------- 6. multi-label rows travel with their documents


@pytest.mark.parametrize("padding", ["bucket", "max"])
def test_multilabel_rows_travel_with_their_documents(padding, packer, tokenizer, small_groups):
    bits = 6  # label row of document i: i in binary, so each row names its document
    rows = ((np.arange(len(TEXTS))[:, None] >> np.arange(bits)) & 1).astype(np.int64)
    dataset = input_pipeline.make_dataset(make_split(TEXTS, labels=rows), packer(), BATCH, padding=padding)
    assert dataset.element_spec[1].shape.as_list() == [None, bits] and dataset.element_spec[1].dtype == tf.float32
    seen = []
    for feats, labels in dataset.as_numpy_iterator():
        assert labels.dtype == np.float32 and labels.shape == (len(feats[WINDOW_COUNTS]), bits)
        width = feats["input_word_ids"].shape[1]
        for label, got in documents((feats, labels)):
            document = int(label @ (1 << np.arange(bits)))
            want = expected_windows(tokenizer, TEXTS[document], None, WINDOWS, width)
            np.testing.assert_array_equal(got["input_word_ids"], want["input_word_ids"])
            seen.append(document)
    assert sorted(seen) == list(range(len(TEXTS)))


# --------------------------------------------------------------------------- 7. replicas: per-replica batches of documents


@pytest.mark.parametrize("padding", ["bucket", "max"])
def test_replica_share_halves_batches_by_documents_and_pads_with_an_empty_batch(padding, packer):
    dataset = input_pipeline.make_dataset(make_split(TEXTS), packer(), BATCH, padding=padding, share=ReplicaShare(2))
    batches = list(dataset.as_numpy_iterator())
    full = math.ceil(len(TEXTS) / (BATCH // 2))
    assert full == 23 and len(batches) == 24  # an odd number of batches: one empty to fill the last step
    for feats, labels in batches[:full]:
        assert 0 < len(labels) <= BATCH // 2 and len(feats[WINDOW_COUNTS]) == len(labels)
        rows = feats["input_word_ids"].shape[0]
        assert rows == (BATCH // 2 * WINDOWS.max_windows if padding == "max" else feats[WINDOW_COUNTS].sum())
    empty_feats, empty_labels = batches[-1]
    assert len(empty_labels) == 0 and len(empty_feats[WINDOW_COUNTS]) == 0
    assert all(empty_feats[name].shape[0] == 0 for name in FEATURE_NAMES)  # 0 windows
    seen = np.concatenate([labels for _, labels in batches])
    assert sorted(seen.tolist()) == list(range(len(TEXTS)))


# --------------------------------------------------------------------------- 8. resuming training batches


def test_training_batches_resume_exactly_where_the_full_sequence_is(packer, small_groups):
    split = make_split(TEXTS)
    epochs, per_epoch = 2, math.ceil(len(TEXTS) / BATCH)

    def run(start_epoch: int = 0, start_batch: int = 0) -> list:
        dataset = input_pipeline.training_batches(split, packer(), BATCH, 5, "bucket", epochs, start_epoch, start_batch)
        return [(labels.tolist(), feats[WINDOW_COUNTS].tolist()) for feats, labels in dataset.as_numpy_iterator()]

    whole = run()
    assert len(whole) == epochs * per_epoch
    first, second = ([label for labels, _ in whole[e * per_epoch:(e + 1) * per_epoch] for label in labels]
                     for e in range(epochs))
    assert sorted(first) == sorted(second) == list(range(len(TEXTS))) and first != second  # reshuffled per epoch
    assert run(1, 2) == whole[per_epoch + 2:]  # the second epoch's third batch on


# --------------------------------------------------------------------------- 9. class weights per document


def test_class_weights_give_one_weight_per_document(packer):
    classes = np.arange(len(TEXTS)) % 3
    weight_of = {0: 0.5, 1: 2.0, 2: 1.25}
    dataset = input_pipeline.make_dataset(make_split(TEXTS, labels=classes.astype(np.int32)), packer(), BATCH)
    weighted = list(input_pipeline.with_class_weights(dataset, weight_of).as_numpy_iterator())
    assert len(weighted) == 12
    for feats, labels, weights in weighted:
        assert weights.shape == labels.shape == feats[WINDOW_COUNTS].shape  # documents, not windows
        np.testing.assert_array_equal(weights, np.array([weight_of[int(label)] for label in labels], np.float32))
    assert sum(feats["input_word_ids"].shape[0] for feats, _, _ in weighted) > len(TEXTS)
