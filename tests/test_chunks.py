"""Reading a table in chunks (tfbert.data.chunks): the same rows as reading it whole, in
order, for every format; how far the reading has got; and one-line errors."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest

from tfbert.data.chunks import TableChunks
from tfbert.data.tables import read_table
from tfbert.errors import TfbertError

from conftest import raises_one_line, write_table

ROWS = pd.DataFrame({"id": range(25), "text": [f"text number {i}, with \"quotes\"" for i in range(25)],
                     "label": ["a", "b", "c", "d", "e"] * 5})


@pytest.mark.parametrize("name", ["rows.csv", "rows.tsv", "rows.jsonl", "rows.parquet", "rows.csv.gz", "rows.jsonl.gz"])
def test_the_chunks_are_the_whole_tables_rows_in_order(tmp_path, name):
    path = write_table(ROWS, tmp_path / name.removesuffix(".gz"))
    if name.endswith(".gz"):
        path = tmp_path / name
        path.write_bytes(gzip.compress((tmp_path / name.removesuffix(".gz")).read_bytes()))
    chunks = TableChunks(path, rows=7)
    assert chunks.progress() == 0.0
    frames = list(chunks)
    assert [len(frame) for frame in frames] == [7, 7, 7, 4]
    assert all(frame.index.tolist() == list(range(len(frame))) for frame in frames)
    whole = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(whole, read_table(path), check_dtype=False)
    assert chunks.rows_read == 25 and chunks.progress() == 1.0
    assert chunks.total_rows == (25 if name.endswith(".parquet") else None)


def test_progress_follows_the_bytes_read(tmp_path):
    path = tmp_path / "many.csv"
    pd.DataFrame({"text": [f"row {i} " + "word " * 20 for i in range(20_000)]}).to_csv(path, index=False)
    chunks = TableChunks(path, rows=2_000)
    seen = []
    for frame in chunks:
        seen.append((chunks.rows_read, chunks.progress()))
    shares = [share for _, share in seen]
    assert shares == sorted(shares) and shares[-1] == 1.0
    rows, share = seen[2]  # after 6,000 of 20,000 rows of alike length: read ahead a little, not the whole file
    assert 0.25 < share < 0.5 and rows == 6_000


def test_standard_input_lines_in_chunks(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("one\n\ntwo\nthree\n  \nfour\n"))
    chunks = TableChunks("-", rows=3, stdin_column="review")
    frames = list(chunks)
    assert [frame["review"].tolist() for frame in frames] == [["one", "two", "three"], ["four"]]
    assert chunks.progress() is None or chunks.progress() == 1.0


def test_bytes_that_are_not_utf8_are_replaced_with_one_warning(tmp_path, capsys):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text\ncaf\xe9\nna\xefve\nplain\n".encode("latin-1"))
    frames = list(TableChunks(path, rows=2))
    assert pd.concat(frames)["text"].tolist() == ["caf\ufffd", "na\ufffdve", "plain"]
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "is not UTF-8: 2 byte sequences were read as \ufffd" in warning[0]


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\nhello,1\n".encode("utf-8"))
    assert list(next(iter(TableChunks(path, rows=10))).columns) == ["text", "label"]


@pytest.mark.parametrize("content, name, match", [
    (None, "missing.csv", "data file not found"),
    ("", "empty.csv", "is empty"),
    ("text\n", "header-only.csv", "has no rows"),
    ('text,text\n"a",b\n', "twice.csv", "column 'text' appears more than once"),
    ('[{"text": "a"}]', "array.json", "is a JSON array, which cannot be read in pieces"),
    ("x", "rows.xlsx", "cannot read"),
    ('text\n"never closed\n', "quote.csv", "is never closed"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, name, match):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    raises_one_line(lambda: list(TableChunks(path, rows=5)), match=match)


def test_a_compressed_file_reads_by_its_compressed_bytes(tmp_path):
    path = tmp_path / "rows.csv.gz"
    with gzip.open(path, "wt") as handle:
        pd.DataFrame({"text": ["same text"] * 5000}).to_csv(handle, index=False)
    chunks = TableChunks(path, rows=1000)
    assert sum(len(frame) for frame in chunks) == 5000 and chunks.progress() == 1.0


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(TfbertError, match="at least 1 row"):
        TableChunks("-", rows=0)
