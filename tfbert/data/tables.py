"""Reading a table: a file path, a named corpus or a DataFrame in, a DataFrame out.

Every format (CSV, TSV, JSON Lines or a JSON array, Parquet; all but Parquet may be
compressed) and encoding trouble ends in one line saying what to do.

>>> from tfbert.data.tables import read_table, require_columns
>>> frame = read_table("toy-sentiment")
>>> len(frame), list(frame.columns)
(600, ['text', 'label'])
>>> require_columns(frame, {"text_column": "txt"}, "toy", "{source}: no column {column!r} (set {key}){hint}")
Traceback (most recent call last):
tfbert.errors.TfbertError: toy: no column 'txt' (set text_column); did you mean 'text'?
"""

from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import lzma
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

from tfbert.config import COMPRESSIONS
from tfbert.data.corpora import CORPORA
from tfbert.errors import TfbertError, first_line, warn

DataSource = Union[str, Path, pd.DataFrame]

DELIMITED = {".csv": {}, ".tsv": {"sep": "\t", "quoting": csv.QUOTE_NONE}}  # TSV: no quotes, as GLUE's


def _read_delimited(path: Path, encoding_errors: str, **options: Any) -> pd.DataFrame:
    return pd.read_csv(path, encoding_errors=encoding_errors, **DELIMITED[file_format(path)], **options)


def decompressed(raw: IO[bytes], suffix: str) -> IO[bytes]:
    """The content of the open binary file `raw`, decompressed by its `suffix` (.zip: its first
    member; .gz, .bz2, .xz; anything else: `raw` itself). Closing it leaves `raw` open."""
    suffix = suffix.lower()
    if suffix == ".zip":
        archive = zipfile.ZipFile(raw)
        return archive.open(archive.namelist()[0])
    if suffix in COMPRESSIONS:
        return {".gz": gzip.GzipFile, ".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}[suffix](fileobj=raw)
    return raw


def _head_bytes(path: Path, size: int = 64) -> bytes:
    """The first `size` bytes of `path`'s content, decompressed."""
    with open(path, "rb") as raw:
        return decompressed(raw, path.suffix).read(size)


def is_json_array(path: Path) -> bool:
    """Whether a JSON file holds an array of records (it starts with '[') rather than JSON Lines."""
    return _head_bytes(path).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _read_json(path: Path, encoding_errors: str) -> pd.DataFrame:
    """JSON Lines, or a JSON array of records (a file that starts with '[')."""
    # dtype=False: the values as the file spells them (pandas would make "1" the number 1)
    return pd.read_json(path, lines=not is_json_array(path), dtype=False, encoding_errors=encoding_errors)


def _read_parquet(path: Path, encoding_errors: str) -> pd.DataFrame:
    return pd.read_parquet(path)  # Parquet stores UTF-8 checked when written


READERS = {".csv": _read_delimited, ".tsv": _read_delimited, ".jsonl": _read_json, ".json": _read_json,
           ".parquet": _read_parquet}
SUPPORTED = (f"{', '.join(READERS)} (all but .parquet may be compressed: {', '.join(COMPRESSIONS)}), "
             f"or a named set: {', '.join(CORPORA)}")


def file_format(path: Path) -> str:
    """The extension naming `path`'s format, looking past a compression suffix: rows.csv.gz -> .csv."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def counted(number: int, noun: str) -> str:
    """`number` and `noun`, plural unless one: '1 row', '3 rows'."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def row_numbers_text(indices: Sequence[int], limit: int = 10) -> str:
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
    warn(f"{path} is not UTF-8: bytes in {counted(len(rows), 'row')} ({row_numbers_text(rows)}) were read as \ufffd; "
         "save the file as UTF-8 to keep those characters")
    return frame


_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def parser_error(path: Path, err: pd.errors.ParserError) -> TfbertError:
    unclosed = _UNCLOSED_QUOTE.search(str(err))
    if unclosed:  # pandas counts the header as row 0
        return TfbertError(f"cannot read {path}: the quote opened on line {int(unclosed.group(1)) + 1} is never "
                           'closed; close it, or write a quote inside a quoted text as ""')
    return TfbertError(f"cannot read {path}: {first_line(err)}; check its quoting and separators")


def require_unique_columns(names: Sequence[Any], source: str) -> None:
    """pandas would rename a repeated column x to x.1; refuse instead, naming it."""
    repeated = [name for name, count in Counter(map(str, names)).items() if count > 1]
    if repeated:
        raise TfbertError(f"{source}: column '{repeated[0]}' appears more than once in the header; "
                          "give every column its own name")


def spelled_header(path: Path, frame: pd.DataFrame) -> list:
    """The column names as the file spells them (pandas renames repeats)."""
    if file_format(path) not in DELIMITED:
        return list(frame.columns)
    header = _read_delimited(path, "replace", header=None, nrows=1).iloc[0]
    return [name for name in header.tolist() if isinstance(name, str)]


def reader_for(path: Path) -> Callable[[Path, str], pd.DataFrame]:
    """The reader of `path`'s format, once `path` is known to be a readable file of one."""
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
    return reader


def read_file(path: Path) -> pd.DataFrame:
    """The rows of a data file, chosen by its extension, with errors that say what to do."""
    reader = reader_for(path)
    try:
        frame = _read_decoded(reader, path)
    except pd.errors.EmptyDataError:
        raise TfbertError(f"data file {path} is empty; it needs a header row and one row per example") from None
    except pd.errors.ParserError as err:
        raise parser_error(path, err) from None
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise TfbertError(f"cannot read {path} as {file_format(path)}: {first_line(err)}; "
                          "is it really that kind of file?") from None
    if frame.empty:
        raise TfbertError(f"data file {path} has no rows; it needs one row per example")
    require_unique_columns(spelled_header(path, frame), str(path))
    return frame


def read_table(path: DataSource) -> pd.DataFrame:
    """The rows of a CSV, TSV, JSON Lines (or JSON array) or Parquet file, chosen by its
    extension (CSV, TSV and JSON may be compressed), or of a named corpus in CORPORA
    (text and label columns), or a copy of a DataFrame given directly."""
    if isinstance(path, pd.DataFrame):
        if path.empty:
            raise TfbertError("the DataFrame given as data has no rows")
        require_unique_columns(list(path.columns), "the DataFrame given as data")
        return path.reset_index(drop=True)
    if str(path) in CORPORA:
        return CORPORA[str(path)]()
    return read_file(Path(path))


def require_columns(frame: pd.DataFrame, columns: Mapping[str, str | None], source: str, message: str) -> None:
    """Refuse `frame` (read from `source`) when it lacks one of `columns` (the setting that
    names it -> the column; None: not asked for). `message` is formatted with `source`, the
    missing `column`, its `key`, the frame's column `names` (comma-separated) and `listed`
    (as a list), and a `hint` naming the closest column ('; did you mean ...?', or nothing)."""
    names = [str(name) for name in frame.columns]
    for key, column in columns.items():
        if column is not None and column not in frame.columns:
            close = difflib.get_close_matches(column, names, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise TfbertError(message.format(source=source, column=column, key=key, names=", ".join(names),
                                             listed=list(frame.columns), hint=hint))
