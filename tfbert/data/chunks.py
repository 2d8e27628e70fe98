"""Reading a table a chunk of rows at a time, so that memory does not grow with the file:
CSV and TSV with pandas' chunked reader, JSON Lines line by line, Parquet by its record
batches (row groups), standard input by lines. `TableChunks.progress` says how far the
reading has got: rows out of Parquet's row count, or bytes out of the file's size.

>>> import tempfile, pandas as pd
>>> from tfbert.data.chunks import TableChunks
>>> path = f"{tempfile.mkdtemp()}/rows.csv"
>>> pd.DataFrame({"text": [f"text {i}" for i in range(5)]}).to_csv(path, index=False)
>>> chunks = TableChunks(path, rows=2)
>>> [len(frame) for frame in chunks], chunks.progress()
([2, 2, 1], 1.0)
"""

from __future__ import annotations

import codecs
import io
import sys
from pathlib import Path
from typing import IO, Any, Iterator

import pandas as pd

from tfbert.data.tables import (DELIMITED, decompressed, file_format, is_json_array, parser_error, reader_for,
                                 require_unique_columns, spelled_header)
from tfbert.errors import TfbertError, first_line, warn

STDIN = "-"
REPLACED = "tfbert-chunks-replace"  # the codec error handler that counts what it replaces
_replaced = [0]


def _count_and_replace(error: UnicodeDecodeError) -> tuple[str, int]:
    _replaced[0] += 1
    return "\ufffd", error.end


codecs.register_error(REPLACED, _count_and_replace)


class TableChunks:
    """The rows of `source` (a CSV, TSV, JSON Lines or Parquet file, or "-" for standard
    input's non-empty lines as a `stdin_column` column) as DataFrames of at most `rows` rows,
    in file order. Bytes that are not UTF-8 are read as U+FFFD, with one warning at the end."""

    def __init__(self, source: str | Path, rows: int, stdin_column: str = "text"):
        if rows < 1:
            raise TfbertError("the chunk size must be at least 1 row")
        self.source, self.rows, self.stdin_column = str(source), rows, stdin_column
        self.path = None if self.source == STDIN else Path(self.source)
        if self.path is not None:
            reader_for(self.path)  # a missing, unreadable or unknown file fails here, in one line
            if file_format(self.path) == ".json" and is_json_array(self.path):
                raise TfbertError(f"{self.path} is a JSON array, which cannot be read in pieces; "
                                  "write it as JSON Lines (one object a line, .jsonl)")
        self.total_rows = self._parquet_rows()
        self._raw: IO[bytes] | None = None
        self._size = self.path.stat().st_size if self.path is not None else 0
        self.rows_read = 0

    def _parquet_rows(self) -> int | None:
        if self.path is None or file_format(self.path) != ".parquet":
            return None
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path).metadata.num_rows

    def progress(self) -> float | None:
        """The share of the input read so far (0..1): Parquet's rows, a file's bytes; None for stdin."""
        if self.total_rows is not None:
            return self.rows_read / max(self.total_rows, 1)
        if self._raw is None or self._raw.closed:
            return 1.0 if self.rows_read else (None if self.path is None else 0.0)
        return min(self._raw.tell() / max(self._size, 1), 1.0)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        _replaced[0] = 0
        frames = self._stdin() if self.path is None else self._file()
        for frame in frames:
            if frame.empty:
                continue
            self.rows_read += len(frame)
            yield frame.reset_index(drop=True)
        if self.rows_read == 0:
            raise TfbertError("no texts on standard input" if self.path is None
                              else f"data file {self.path} has no rows; it needs one row per example")
        if _replaced[0]:
            warn(f"{self.source} is not UTF-8: {_replaced[0]} byte sequences were read as \ufffd; "
                 "save the file as UTF-8 to keep those characters")

    def _stdin(self) -> Iterator[pd.DataFrame]:
        lines: list[str] = []
        for line in sys.stdin:
            if line.strip():
                lines.append(line.rstrip("\n"))
            if len(lines) == self.rows:
                yield pd.DataFrame({self.stdin_column: lines})
                lines = []
        yield pd.DataFrame({self.stdin_column: lines})

    def _file(self) -> Iterator[pd.DataFrame]:
        assert self.path is not None
        form = file_format(self.path)
        if form == ".parquet":
            yield from self._parquet()
            return
        text = self._text()
        with self._raw, text:  # the raw file too: a compressed stream leaves it open
            try:
                if form in DELIMITED:
                    reader = pd.read_csv(text, chunksize=self.rows, **DELIMITED[form])
                else:
                    reader = pd.read_json(text, lines=True, chunksize=self.rows, dtype=False)
                first = True
                for frame in reader:
                    if first and form in DELIMITED:
                        require_unique_columns(spelled_header(self.path, frame), str(self.path))
                    first = False
                    yield frame
            except pd.errors.EmptyDataError:
                raise TfbertError(f"data file {self.path} is empty; it needs a header row and one row per example") from None
            except pd.errors.ParserError as err:
                raise parser_error(self.path, err) from None
            except ValueError as err:
                raise TfbertError(f"cannot read {self.path} as {form}: {first_line(err)}; "
                                  "is it really that kind of file?") from None

    def _parquet(self) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.rows):
            yield batch.to_pandas()

    def _text(self) -> Any:
        """The file as UTF-8 text (decompressed), keeping the raw file to measure progress by."""
        assert self.path is not None
        self._raw = open(self.path, "rb")
        return io.TextIOWrapper(decompressed(self._raw, self.path.suffix), encoding="utf-8-sig", errors=REPLACED,
                                newline="")  # -sig: a BOM is dropped
