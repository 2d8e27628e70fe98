"""tfbert.job: the batches a training run's Job feeds the final evaluation (fit's batches
are tested through training in test_train.py, test_resume.py and test_distribution.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from conftest import make_split
from texts import TEXTS
from tfbert import packers
from tfbert.config import build_config
from tfbert.job import Job


@pytest.mark.parametrize("padding", ["bucket", "batch", "max"])
def test_the_final_evaluation_batches_keep_the_rows_order(tmp_path, padding):
    split = make_split(TEXTS[:40])  # labels are the row numbers
    config = build_config({"padding": padding, "eval_batch_size": 16, "max_seq_length": 16})
    vocab = tmp_path / "vocab.txt"  # a few words; the rest are [UNK], one token a word as well
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a", "film"]) + "\n", encoding="utf-8")
    packer = packers.make_packer("tf_text", str(vocab), True, 16)
    job = Job(**{field.name: None for field in dataclasses.fields(Job)} | {"config": config, "packer": packer})
    batches = list(job.evaluation_batches(split).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([labels for _, labels in batches]), np.arange(40))
    widths = [features["input_mask"].shape[1] for features, _ in batches]
    longest = [int(features["input_mask"].sum(axis=1).max()) for features, _ in batches]
    # max pads every batch to max_seq_length; bucket and batch pad each batch to its longest row
    assert widths == ([16] * len(batches) if padding == "max" else longest)
    assert padding == "max" or min(longest) < 16  # the texts leave room to tell the two apart
