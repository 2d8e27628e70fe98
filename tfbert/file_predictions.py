"""Predictions for a file of any size: read a chunk of rows, score it with a `Predictor`,
write it, go on. Memory holds one chunk (its rows and outputs), the output keeps the
input's rows in order with predicted_label and probability_<label> columns, it appears
under its name only once complete, and a run that was killed resumes after its last
finished chunk with `resume=True`. `Predictor.predict_file` and `python -m tfbert.predict`
run on it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator, Protocol, TextIO

import pandas as pd

from tfbert import progress
from tfbert.chunked_output import ChunkedOutput
from tfbert.data.chunks import STDIN, TableChunks
from tfbert.data.tables import require_columns
from tfbert.errors import TfbertError

DEFAULT_CHUNK_ROWS = 50_000


class Predictor(Protocol):
    """What scoring a file needs of a `tfbert.Predictor` (which imports this module)."""

    takes_pairs: bool
    source: str | None  # the export's folder

    def annotate(self, frame: pd.DataFrame, text_column: str, pair_column: str | None = None,
                 quiet: bool = False) -> pd.DataFrame: ...
MISSING_COLUMN = "{source} has no column '{column}'; its columns are {listed}; use {key}"


PAIRS_NEEDED = "this model was trained on text pairs; give the second segment with --pair-column"


def require_text_columns(frame: pd.DataFrame, source: str, text_column: str, pair_column: str | None) -> None:
    """Refuse `frame` (read from `source`) without its text column, or its pair column when one is named."""
    require_columns(frame, {"--text-column": text_column, "--pair-column": pair_column}, source, MISSING_COLUMN)


def checked_chunk(frame: pd.DataFrame, source: str, text_column: str, pair_column: str | None,
                  predictor: Predictor) -> pd.DataFrame:
    """`frame`, once it has the columns the model needs."""
    require_text_columns(frame, source, text_column, pair_column)
    if predictor.takes_pairs and pair_column is None:
        raise TfbertError(PAIRS_NEEDED)
    return frame


def identity(source: str, predictor: Predictor, text_column: str, pair_column: str | None,
             chunk_rows: int) -> dict[str, Any]:
    """What a resumed run must share with the one it continues: the same input file (path,
    size and modification time), read in the same chunks of the same columns, by the same model."""
    stat = os.stat(source)
    return {"input": str(Path(source).resolve()), "input_bytes": stat.st_size, "input_mtime_ns": stat.st_mtime_ns,
            "chunk_rows": chunk_rows, "text_column": text_column, "pair_column": pair_column,
            "model": predictor.source}


def estimated_rows(chunks: TableChunks) -> int | None:
    """The input's rows: Parquet's count, or those read so far scaled by the share of bytes read."""
    if chunks.total_rows is not None:
        return chunks.total_rows
    share = chunks.progress()
    return None if not share else max(chunks.rows_read, round(chunks.rows_read / share))


def checked_chunks(predictor: Predictor, chunks: TableChunks, text_column: str,
                   pair_column: str | None) -> Iterator[tuple[int, pd.DataFrame]]:
    """(index, rows) of each chunk once it has the columns the model needs, under one progress
    meter for the file that advances as each is done."""
    with progress.meter(chunks.total_rows or 0, "predicting", unit="row") as advance:
        for index, frame in enumerate(chunks):
            yield index, checked_chunk(frame, chunks.source, text_column, pair_column, predictor)
            advance(len(frame), estimated_rows(chunks))


def predict_file(predictor: Predictor, source: str | Path, output: str | Path, text_column: str = "text",
                 pair_column: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS, resume: bool = False) -> Path:
    """Score every row of `source` (CSV, TSV, JSON Lines or Parquet) into `output` (its format
    by extension), `chunk_rows` rows at a time; see the module's docstring. Returns `output`."""
    source = str(source)
    if source == STDIN:
        raise TfbertError("a file output needs an input file (standard input cannot be resumed); "
                          "give --input FILE, or leave out --output to write CSV to standard output")
    chunks = TableChunks(source, chunk_rows)
    out = ChunkedOutput(output, identity(source, predictor, text_column, pair_column, chunk_rows), resume)
    count = 0
    for index, frame in checked_chunks(predictor, chunks, text_column, pair_column):
        if not out.done(index):
            out.write(index, predictor.annotate(frame, text_column, pair_column, quiet=True))
        count = index + 1
    return out.finish(count)


def predict_to_stream(predictor: Predictor, source: str | Path, stream: TextIO | None = None, text_column: str = "text",
                      pair_column: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
    """Score every row of `source` (a file, or "-": standard input's lines) as CSV on `stream`
    (default stdout), chunk by chunk."""
    stream = sys.stdout if stream is None else stream
    chunks = TableChunks(source, chunk_rows, stdin_column=text_column)
    for index, frame in checked_chunks(predictor, chunks, text_column, pair_column):
        predictor.annotate(frame, text_column, pair_column, quiet=True).to_csv(stream, index=False, header=index == 0)
