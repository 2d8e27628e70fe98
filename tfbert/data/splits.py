"""Splitting: a labelled table's checked rows, parsed once, cut into train, validation and
test splits of texts and label ids.

`read_labelled` checks the configured columns, the bad rows (see `drop_bad_rows`) and the
label types, and parses the label column once into `LabelledRows`; cutting, sampling, the
label map and each `Split` then take those rows.

>>> from tfbert.data.splits import Columns, DataSpec, load_splits, read_labelled
>>> rows = read_labelled("toy-sentiment", Columns())
>>> len(rows), rows.multilabel, rows.labels[:4]
(600, False, [0, 1, 0, 1])
>>> splits, label_map = load_splits(DataSpec("toy-sentiment", train_split=0.8))
>>> label_map.task, {name: len(split) for name, split in splits.items()}
('binary', {'train': 480, 'valid': 120})
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from tfbert import progress
from tfbert.config import Config, as_recorded
from tfbert.data.labels import (LabelMap, build_label_map, flat_labels, json_label, label_key, label_keys,
                                parse_label_lists, require_known_labels, require_one_label_type)
from tfbert.data.tables import DataSource, counted, read_table, require_columns, row_numbers_text
from tfbert.errors import TfbertError, first_line, warn

BREAK_TAG = r"<br\s*/?>"  # HTML line breaks, as IMDB-style reviews carry them (also used by the serving export)
_BREAK_TAGS = re.compile(BREAK_TAG, flags=re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
SPLIT_WORDS = {"train": "training split", "valid": "validation split"}
MISSING_COLUMN = "{source}: column '{column}' not found (set {key}); columns are: {names}{hint}"


def clean_text(text: str) -> str:
    """`text` with HTML line breaks turned into spaces and whitespace runs collapsed."""
    return _WHITESPACE.sub(" ", _BREAK_TAGS.sub(" ", text)).strip()


@dataclasses.dataclass(frozen=True)
class Split:
    """One split's texts and label ids."""

    name: str
    texts: np.ndarray  # object array of str
    pairs: np.ndarray | None  # second segments, or None for single texts
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def rows(self, indices: np.ndarray) -> "Split":
        """The same split with only these rows, in this order."""
        return Split(self.name, self.texts[indices], None if self.pairs is None else self.pairs[indices],
                     self.labels[indices])


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

    @property
    def texts(self) -> list[str]:
        """The columns holding text: the text and the second segment's."""
        return [self.text] + ([self.pair] if self.pair else [])


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
    on_bad_rows: str = "error"  # rows with a missing or blank text or label: "error" or "drop" (Config checks it)
    max_train_examples: int | None = None  # a stratified, seeded sample of the training split
    max_valid_examples: int | None = None  # and of the validation split

    @classmethod
    def from_config(cls, config: Config) -> "DataSpec":
        return cls(config.data_path, Columns.from_config(config), config.valid_path, config.test_path,
                   config.label_list, config.train_split, config.valid_split, config.seed, config.on_bad_rows,
                   config.max_train_examples, config.max_valid_examples)


def _texts(frame: pd.DataFrame, column: str, clean: bool) -> np.ndarray:
    texts = frame[column].astype(str)
    if clean:
        texts = texts.map(clean_text)
    return texts.to_numpy(dtype=object)


@dataclasses.dataclass(frozen=True)
class LabelledRows:
    """A labelled table's checked rows, parsed once: texts (cleaned when asked), second
    segments, each row's label (a list of labels for multi-label data), and where they came from."""

    source: str  # how messages name the rows: a path, `<DataFrame: N rows>`, "... (validation split)"
    texts: np.ndarray  # object array of str
    pairs: np.ndarray | None
    labels: list
    multilabel: bool  # every label is a list of labels
    frame: pd.DataFrame  # the checked rows as read, texts as strings (evaluation writes them back)

    @classmethod
    def parse(cls, frame: pd.DataFrame, columns: Columns, source: str) -> "LabelledRows":
        """`frame`'s rows, its label column parsed (and checked for one label type) once."""
        values = frame[columns.label].tolist()
        lists = parse_label_lists(values)
        labels = values if lists is None else lists
        require_one_label_type(flat_labels(labels, lists is not None), columns.label, source)
        pairs = _texts(frame, columns.pair, columns.clean_text) if columns.pair else None
        return cls(source, _texts(frame, columns.text, columns.clean_text), pairs, labels, lists is not None, frame)

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: np.ndarray) -> "LabelledRows":
        """The same rows' subset, in the order of `indices`."""
        return dataclasses.replace(self, texts=self.texts[indices],
                                   pairs=None if self.pairs is None else self.pairs[indices],
                                   labels=[self.labels[i] for i in indices],
                                   frame=self.frame.iloc[indices].reset_index(drop=True))

    def stratify_on(self, multilabel: bool) -> np.ndarray | None:
        """Each row's label key to stratify a cut on; None for multi-label data (not stratified)."""
        return None if multilabel else np.array([label_key(label) for label in self.labels], dtype=object)


def _blank(value: Any, clean: bool) -> bool:
    """A missing value, or a string that is empty or whitespace (after clean_text when `clean`)."""
    if isinstance(value, str):
        return not (clean_text(value) if clean else value.strip())
    return not isinstance(value, (list, tuple, np.ndarray)) and bool(pd.isna(value))


def drop_bad_rows(frame: pd.DataFrame, columns: Columns, on_bad_rows: str, source: str) -> pd.DataFrame:
    """`frame` without its rows whose text, second segment or label is missing or blank;
    on_bad_rows "error" refuses them naming the first, "drop" warns with their count and rows."""
    bad = {column: frame[column].map(lambda value: _blank(value, columns.clean_text and column != columns.label))
           .to_numpy(dtype=bool) for column in columns.by_key().values()}
    rows = np.flatnonzero(np.logical_or.reduce(list(bad.values())))
    if len(rows) == 0:
        return frame
    what = ", ".join(f"{int(mask.sum())} in column '{column}'" for column, mask in bad.items() if mask.any())
    if on_bad_rows == "error":
        raise TfbertError(f"{source}: {counted(len(rows), 'row')} with missing values or blank texts ({what}) "
                          f"at {row_numbers_text(rows, 5)}; fix or remove them, or set on_bad_rows: drop")
    warn(f"{source}: dropped {counted(len(rows), 'row')} with missing values or blank texts ({what}): "
         f"{row_numbers_text(rows)} (on_bad_rows: drop)")
    kept = frame.drop(index=frame.index[rows]).reset_index(drop=True)
    if kept.empty:
        raise TfbertError(f"{source}: no rows are left once its {len(rows)} bad rows are dropped")
    return kept


def _as_text(column: pd.Series, name: str, source: str) -> pd.Series:
    """`column` as strings: numbers (and other values that are not text) become their text, with a warning."""
    other = np.flatnonzero(~column.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool))
    if len(other) == 0:
        return column
    warn(f"{source}: column '{name}' holds {counted(len(other), 'value')} that {'is' if len(other) == 1 else 'are'} "
         f"not text, such as {json_label(column.iloc[other[0]])!r} ({row_numbers_text(other)}); they are used as text")
    return column.map(lambda value: value if isinstance(value, str) else str(json_label(value)))


def read_labelled(path: DataSource, columns: Columns, on_bad_rows: str = "error") -> LabelledRows:
    """A labelled file's rows, checked for the configured columns, bad rows (see
    `drop_bad_rows`) and label types, with every text a string."""
    frame, source = read_table(path), str(as_recorded(path))
    require_columns(frame, columns.by_key(), source, MISSING_COLUMN)
    frame = drop_bad_rows(frame, columns, on_bad_rows, source)
    for column in columns.texts:
        frame[column] = _as_text(frame[column], column, source)
    return LabelledRows.parse(frame.reset_index(drop=True), columns, source)


def make_split(name: str, rows: LabelledRows, label_map: LabelMap) -> Split:
    """Texts and label ids of `rows`, ready for the feature pipeline."""
    return Split(name, rows.texts, rows.pairs, label_map.encode(rows.labels, rows.source))


@dataclasses.dataclass(frozen=True)
class StratifiedCut:
    """One seeded split of rows: `key` (train_split or valid_split) of the rows `where` says."""

    key: str
    fraction: float
    where: str  # "of FILE", "left after train_split 0.8"
    fix: str  # what to do when it leaves one side empty


def _require_stratifiable(labels: np.ndarray, sizes: tuple[int, int], cut: StratifiedCut) -> None:
    """sklearn's conditions for a stratified split, as errors naming the label and the counts."""
    names, counts = np.unique(labels, return_counts=True)
    rarest = int(np.argmin(counts))
    if counts[rarest] < 2:
        raise TfbertError(f"label '{names[rarest]}' has {counted(counts[rarest], 'row')} among the rows {cut.where}; "
                          f"splitting them with {cut.key} {cut.fraction} (stratified on the label) needs at least 2 of "
                          "each label: add rows of it, remove it, or give valid_path")
    if min(sizes) < len(names):
        raise TfbertError(f"{cut.key} {cut.fraction} splits the {sum(sizes)} rows {cut.where} into {sizes[0]} and "
                          f"{sizes[1]}, but a stratified split needs at least one row of each of the {len(names)} "
                          f"labels on both sides; {cut.fix}")


def cut_rows(rows: LabelledRows, labels: np.ndarray | None, cut: StratifiedCut,
             seed: int) -> tuple[LabelledRows, LabelledRows]:
    """(taken, rest) with `cut.fraction` of the rows taken, stratified on `labels` when given."""
    if cut.fraction >= 1.0:
        return rows, rows.take(np.arange(0))
    num_taken = math.floor(cut.fraction * len(rows))  # as train_test_split counts them
    if num_taken == 0:
        raise TfbertError(f"{cut.key} {cut.fraction} of the {len(rows)} rows {cut.where} is no rows; {cut.fix}")
    if labels is not None:
        _require_stratifiable(labels, (num_taken, len(rows) - num_taken), cut)
    from sklearn.model_selection import train_test_split  # here: predict and evaluate never split, so never load it

    try:
        taken, rest = train_test_split(np.arange(len(rows)), train_size=cut.fraction, random_state=seed,
                                       stratify=labels)
    except ValueError as err:
        raise TfbertError(f"cannot split the rows {cut.where} with {cut.key} {cut.fraction}: {first_line(err)}") from None
    return rows.take(taken), rows.take(rest)


def sample_rows(rows: LabelledRows, max_rows: int | None, labels: np.ndarray | None, seed: int) -> LabelledRows:
    """At most `max_rows` of `rows`, drawn with `seed`: stratified on `labels` (the label
    proportions kept) when given and every label has the rows that needs, else a plain
    sample (multi-label data, rare labels). `rows` itself when there are few enough.

    >>> from tfbert.data.splits import Columns, read_labelled, sample_rows
    >>> rows = read_labelled("toy-sentiment", Columns()).take(range(100))
    >>> sample = sample_rows(rows, 10, rows.stratify_on(multilabel=False), seed=0)
    >>> len(sample), sum(sample.labels)
    (10, 5)
    """
    if max_rows is None or len(rows) <= max_rows:
        return rows
    if labels is not None:
        from sklearn.model_selection import train_test_split

        try:
            taken, _ = train_test_split(np.arange(len(rows)), train_size=max_rows, random_state=seed, stratify=labels)
            return rows.take(taken)
        except ValueError:
            pass  # a label with a single row, or more labels than rows on a side: sklearn cannot stratify
    return rows.take(np.random.RandomState(seed).choice(len(rows), size=max_rows, replace=False))  # DataFrame.sample's


def warn_on_unused_rows(num_rows: int, num_train: int, num_valid: int, train_split: float, valid_split: float,
                        source: str) -> None:
    """Warn when train_split and valid_split leave rows of data_path that neither train nor validate."""
    unused = num_rows - num_train - num_valid
    if unused > 0:
        warn(f"{source}: {counted(unused, 'row')} ({unused / num_rows:.1%}) neither train nor validate (train_split "
             f"{train_split}, then valid_split {valid_split} of the rest); set valid_split: 1.0 to validate on them")


def warn_on_sizes(num_train: int, num_valid: int, from_valid_path: bool) -> None:
    """Warn when the validation split is larger than the training split: most rows then only validate."""
    if num_valid <= num_train:
        return
    fix = ("set max_valid_examples to validate on a sample of it" if from_valid_path else
           "raise train_split (0.9 trains on 90% and validates on the rest), or set max_valid_examples")
    warn(f"the validation split ({counted(num_valid, 'row')}) is larger than the training split "
         f"({counted(num_train, 'row')}); {fix}")


def _overlap_keys(split: Split) -> Iterable:
    return split.texts if split.pairs is None else zip(split.texts, split.pairs)


def warn_on_overlap(splits: dict[str, Split], sources: dict[str, str]) -> None:
    """Warn when validation or test texts also appear in training: their scores then overstate the model."""
    seen = set(_overlap_keys(splits["train"]))
    for name in ("valid", "test"):
        if name in splits:
            count = sum(key in seen for key in _overlap_keys(splits[name]))
            if count:
                warn(f"{sources[name]}: {count} of its {len(splits[name])} texts also appear in the training data "
                     "(leakage: their scores overstate the model); remove the duplicates")


def _label_map_of(rows: LabelledRows, label_list: Sequence | None) -> LabelMap:
    """The label map of the training rows: `label_list` (which must hold every label) or the labels seen."""
    label_map = build_label_map(rows.labels, label_list, rows.multilabel)
    require_known_labels(rows.labels, map(label_key, label_map.labels), rows.multilabel,
                         f"{rows.source}: labels missing from label_list {list(label_map.labels)}: {{labels}}; "
                         "add them to label_list or remove those rows")
    return label_map


def _train_and_valid(rows: LabelledRows, spec: DataSpec) -> dict[str, LabelledRows]:
    """The training and validation rows: all of `rows` and valid_path's, or the two seeded stratified cuts."""
    if spec.valid_path is not None:
        return {"train": rows, "valid": read_labelled(spec.valid_path, spec.columns, spec.on_bad_rows)}
    if spec.train_split >= 1.0:
        raise TfbertError("train_split is 1.0, which leaves no rows to validate on; lower it or set valid_path")
    train, rest = cut_rows(rows, rows.stratify_on(rows.multilabel),
                           StratifiedCut("train_split", spec.train_split, f"of {rows.source}", "raise train_split"),
                           spec.seed)
    valid, _ = cut_rows(rest, rest.stratify_on(rows.multilabel),
                        StratifiedCut("valid_split", spec.valid_split, f"left after train_split {spec.train_split}",
                                      "raise valid_split or lower train_split"), spec.seed)
    warn_on_unused_rows(len(rows), len(train), len(valid), spec.train_split, spec.valid_split, rows.source)
    return {"train": train, "valid": dataclasses.replace(valid, source=f"{rows.source} (validation split)")}


def _sampled(name: str, rows: LabelledRows, max_rows: int | None, multilabel: bool, seed: int) -> LabelledRows:
    """The training or validation rows, sampled down to max_<name>_examples with a note saying so."""
    if max_rows is not None and len(rows) > max_rows:
        progress.note(f"{SPLIT_WORDS[name]}: a stratified sample of {max_rows:,} of its {len(rows):,} rows "
                      f"(max_{name}_examples)")
    return sample_rows(rows, max_rows, rows.stratify_on(multilabel), seed)


def _require_trained_labels(parts: dict[str, LabelledRows], multilabel: bool) -> None:
    """Refuse validation or test labels the training rows never have."""
    trained_on = {key for label in flat_labels(parts["train"].labels, multilabel) for key in label_keys(label)}
    for name in ("valid", "test"):
        if name in parts:
            require_known_labels(parts[name].labels, trained_on, multilabel,
                                 f"{parts[name].source}: labels the training data never has: {{labels}}; "
                                 "remove those rows or add training examples of them")


def load_splits(spec: DataSpec) -> tuple[dict[str, Split], LabelMap]:
    """Train, validation and (optionally) test splits, and the label map they share.

    Without valid_path, train_split of the rows train, then valid_split of the remaining
    rows validate, both stratified on the label. max_train_examples and max_valid_examples
    then sample the two (see `sample_rows`); the test file is never sampled.
    """
    if spec.data_path is None:
        raise TfbertError("config key 'data_path' is required: the labelled training file")
    rows = read_labelled(spec.data_path, spec.columns, spec.on_bad_rows)
    label_map = _label_map_of(rows, spec.label_list)
    parts = _train_and_valid(rows, spec)
    parts["train"] = _sampled("train", parts["train"], spec.max_train_examples, rows.multilabel, spec.seed)
    parts["valid"] = _sampled("valid", parts["valid"], spec.max_valid_examples, rows.multilabel, spec.seed)
    warn_on_sizes(len(parts["train"]), len(parts["valid"]), spec.valid_path is not None)
    if spec.test_path is not None:
        parts["test"] = read_labelled(spec.test_path, spec.columns, spec.on_bad_rows)
    _require_trained_labels(parts, rows.multilabel)
    splits = {name: make_split(name, part, label_map) for name, part in parts.items()}
    warn_on_overlap(splits, {name: part.source for name, part in parts.items()})
    return splits, label_map
