"""Statistics: text lengths and data_stats.json's per-split summary."""

import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from conftest import data_spec, write_table

from tfbert.data.splits import load_splits
from tfbert.data.statistics import dataset_stats, text_lengths, text_stats

TEXTS = ["one", "two words", "a b c d e f g", "mixed   spacing here ", "x y", "the longest text of them all, by far"]


def summary(lengths):
    return {"mean": np.mean(lengths), "max": np.max(lengths), "p95": np.quantile(lengths, 0.95)}


def test_text_lengths_count_whitespace_separated_words_and_characters():
    lengths = text_lengths(TEXTS)
    assert set(lengths) == {"words", "characters"}
    assert lengths["words"].tolist() == [len(re.findall(r"\S+", t)) for t in TEXTS]
    assert lengths["characters"].tolist() == [sum(1 for _ in t) for t in TEXTS]
    assert text_lengths([12, "a\tb\n c"])["words"].tolist() == [1, 3]  # values that are not text count as their text


def test_text_stats():
    words = [len(re.findall(r"\S+", t)) for t in TEXTS]
    chars = [sum(1 for _ in t) for t in TEXTS]
    stats = text_stats(np.array(TEXTS, dtype=object))
    for name, lengths in (("words", words), ("chars", chars)):
        expected = summary(lengths)
        assert stats[name]["max"] == expected["max"]
        assert stats[name]["mean"] == pytest.approx(expected["mean"], abs=0.005)
        assert stats[name]["p95"] == pytest.approx(expected["p95"], abs=0.005)


def test_dataset_stats(tmp_path):
    labels = ["pos", "neg", "neg", "neutral", "neg", "pos"]
    path = write_table(pd.DataFrame({"text": TEXTS, "label": labels}), tmp_path / "d.csv")
    valid = write_table(pd.DataFrame({"text": ["only one here"], "label": ["pos"]}), tmp_path / "v.csv")
    splits, label_map = load_splits(data_spec(path, valid_path=str(valid)))
    stats = json.loads(json.dumps(dataset_stats(splits, label_map)))  # as written to data_stats.json
    assert stats["task"] == "multiclass"
    assert stats["labels"] == ["neg", "neutral", "pos"]
    assert stats["train"]["num_examples"] == len(TEXTS)
    assert stats["train"]["label_distribution"] == dict(sorted(Counter(labels).items()))
    assert stats["train"]["text"]["words"]["max"] == max(len(t.split()) for t in TEXTS)
    assert stats["valid"] == {
        "num_examples": 1,
        "label_distribution": {"neg": 0, "neutral": 0, "pos": 1},
        "text": {"words": {"mean": 3.0, "max": 3, "p95": 3.0}, "chars": {"mean": 13.0, "max": 13, "p95": 13.0}},
    }
    assert "text_pair" not in stats["train"]
