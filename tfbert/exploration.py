"""Exploring the data before training: the splits a config makes, their statistics, and
the data plots (label distribution, text lengths), as the run directory keeps them.

>>> import tfbert
>>> exploration = tfbert.explore_data({"data_path": "toy-sentiment", "train_split": 0.8})
>>> {name: exploration.stats[name]["num_examples"] for name in exploration.splits}
{'train': 480, 'valid': 120}
>>> figure = exploration.label_distribution()  # a matplotlib Figure
"""

from __future__ import annotations

import dataclasses
from typing import Any

from matplotlib.figure import Figure

from tfbert import plots
from tfbert.config import ConfigSource, load_config
from tfbert.data.labels import LabelMap
from tfbert.data.splits import DataSpec, Split, load_splits
from tfbert.data.statistics import dataset_stats


@dataclasses.dataclass(frozen=True)
class DataExploration:
    """The splits of a config's data, their label map and data_stats.json's statistics."""

    splits: dict[str, Split]
    label_map: LabelMap
    stats: dict[str, Any]

    def label_distribution(self) -> Figure:
        """Examples per label in each split, as a bar chart."""
        return plots.label_distribution(self.stats)

    def text_lengths(self) -> Figure:
        """Histograms of words and characters per text in each split."""
        return plots.text_lengths({name: split.texts for name, split in self.splits.items()})


def explore_data(config: ConfigSource = None, /, **overrides: Any) -> DataExploration:
    """The splits, label map and statistics that training on `config` would use."""
    config = load_config(config, **overrides)
    splits, label_map = load_splits(DataSpec.from_config(config))
    return DataExploration(splits, label_map, dataset_stats(splits, label_map))
