"""Statistics of the splits: size, label distribution and text lengths, as data_stats.json
keeps them; `text_lengths` is the one place words and characters per text are counted
(the text-length plots and the W&B tables use it too).

>>> from tfbert.data.statistics import text_lengths, text_stats
>>> {unit: lengths.tolist() for unit, lengths in text_lengths(["a fine film", "dull"]).items()}
{'words': [3, 1], 'characters': [11, 4]}
>>> text_stats(["a fine film", "dull"])["words"]
{'mean': 2.0, 'max': 3, 'p95': 2.9}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from tfbert.data.labels import LabelMap

if TYPE_CHECKING:
    from tfbert.data.splits import Split


def text_lengths(texts: Iterable[Any]) -> dict[str, np.ndarray]:
    """Words (whitespace-separated) and characters of each text."""
    texts = [str(text) for text in texts]
    return {"words": np.array([len(text.split()) for text in texts], dtype=np.int64),
            "characters": np.array([len(text) for text in texts], dtype=np.int64)}


def _length_summary(lengths: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(lengths)), 2),
        "max": int(np.max(lengths)),
        "p95": round(float(np.percentile(lengths, 95)), 2),
    }


def text_stats(texts: Iterable[Any]) -> dict[str, dict[str, float]]:
    """Words (whitespace-separated) and characters per text: mean, max, 95th percentile."""
    lengths = text_lengths(texts)
    return {"words": _length_summary(lengths["words"]), "chars": _length_summary(lengths["characters"])}


def label_distribution(split: Split, label_map: LabelMap) -> dict[str, int]:
    """Examples per label name (for multi-label data: examples carrying each label)."""
    if label_map.task == "multilabel":
        counts = split.labels.sum(axis=0)
    else:
        counts = np.bincount(split.labels, minlength=label_map.num_labels)
    return {name: int(count) for name, count in zip(label_map.names, counts)}


def dataset_stats(splits: dict[str, Split], label_map: LabelMap) -> dict[str, Any]:
    """The data exploration, per split: size, label distribution, text lengths."""
    stats: dict[str, Any] = {"task": label_map.task, "labels": list(label_map.labels)}
    for name, split in splits.items():
        entry = {
            "num_examples": len(split),
            "label_distribution": label_distribution(split, label_map),
            "text": text_stats(split.texts),
        }
        if split.pairs is not None:
            entry["text_pair"] = text_stats(split.pairs)
        stats[name] = entry
    return stats
