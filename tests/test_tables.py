"""Reading a table: every format, the one-line errors, and the required-column check."""

import pandas as pd
import pytest
from conftest import data_spec, raises_one_line, write_table

from tfbert.data.splits import load_splits
from tfbert.data.tables import file_format, read_table, require_columns

ROWS = pd.DataFrame(
    {
        "text": ['"Great" film, 5/5', 'He said "meh', "it's fine", "Bad, bad, bad."],
        "label": [1, 0, 1, 0],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet", ".CSV"])
def test_readers_read_the_same_rows(tmp_path, suffix):
    path = write_table(ROWS, tmp_path / f"rows{suffix.lower()}")
    frame = read_table(path.rename(tmp_path / f"rows{suffix}"))  # the extension's case does not matter
    assert frame.to_dict("records") == ROWS.to_dict("records")


def test_tsv_keeps_quote_characters(tmp_path):
    # QUOTE_NONE: a leading or unbalanced quote is text, as in GLUE's TSVs.
    path = tmp_path / "q.tsv"
    path.write_text('text\tlabel\n"quoted" start\t1\nunbalanced " quote\t0\n', encoding="utf-8")
    assert read_table(path)["text"].tolist() == ['"quoted" start', 'unbalanced " quote']


@pytest.mark.parametrize("name", ["rows.txt", "rows.xlsx", "rows"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    path.write_text("text,label\na,1\n", encoding="utf-8")
    raises_one_line(read_table, path, match="cannot read .*use one of .csv, .tsv, .jsonl")


def test_missing_file(tmp_path):
    raises_one_line(read_table, tmp_path / "absent.csv", match="data file not found: .*absent.csv")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.csv", "", "is empty"),
        ("empty.tsv", "", "is empty"),
        ("header.csv", "text,label\n", "has no rows"),
        ("empty.jsonl", "", "has no rows"),
        ("broken.parquet", "not parquet at all", "cannot read"),
    ],
)
def test_empty_or_unreadable_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    raises_one_line(read_table, path, match=match)


@pytest.mark.parametrize("name, expected", [("rows.csv.gz", ".csv"), ("a.b.TSV", ".tsv"), ("rows.zip", ""),
                                            ("rows", "")])
def test_file_format_looks_past_the_compression_suffix(tmp_path, name, expected):
    assert file_format(tmp_path / name) == expected


def test_a_dataframe_is_read_as_a_copy_with_a_fresh_index():
    given = ROWS.set_index(pd.Index([7, 3, 9, 1]))
    frame = read_table(given)
    assert frame.index.tolist() == [0, 1, 2, 3] and frame["text"].tolist() == ROWS["text"].tolist()
    assert given.index.tolist() == [7, 3, 9, 1]


def test_missing_column_names_column_and_available(tmp_path):
    path = write_table(ROWS, tmp_path / "rows.csv")
    message = raises_one_line(load_splits, data_spec(path, text_column="review"), match="'review' not found")
    assert "text_column" in message
    assert "columns are: text, label" in message


def test_require_columns_fills_in_each_commands_message():
    template = "{source}: no '{column}' ({key}); {names} / {listed}{hint}"
    message = raises_one_line(require_columns, ROWS, {"a": "text", "b": None, "c": "lable"}, "f.csv", template,
                              match="^f.csv: no 'lable'")
    assert message == "f.csv: no 'lable' (c); text, label / ['text', 'label']; did you mean 'label'?"
    assert require_columns(ROWS, {"a": "text", "b": "label"}, "f.csv", template) is None
    far = raises_one_line(require_columns, ROWS, {"a": "zzz"}, "f.csv", template, match="zzz")
    assert "did you mean" not in far
