"""An output written chunk by chunk (tfbert.chunked_output): joined in order in every
format, nothing under the output's name until it is complete, and resuming."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tfbert import chunked_output
from tfbert.chunked_output import ChunkedOutput, parts_folder
from tfbert.errors import TfbertError

from tfbert.data.tables import read_table

CHUNKS = [pd.DataFrame({"id": [3 * i, 3 * i + 1, 3 * i + 2], "text": ["a,b", 'say "hi"', "é ü"],
                        "score": [0.5, 1.0, 0.25]}) for i in range(4)]
IDENTITY = {"input": "rows.csv", "chunk_rows": 3}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_the_parts_join_into_the_whole_table_in_order(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    output = ChunkedOutput(path, IDENTITY)
    for index in (0, 2, 1, 3):  # written in any order, joined in index order
        output.write(index, CHUNKS[index])
        assert not path.exists()
    assert output.finish(4) == path
    # (TSV as pandas writes and reads it, quoted where a text holds a quote; tfbert's reader takes GLUE's unquoted TSV)
    joined = pd.read_csv(path, sep="\t") if suffix == ".tsv" else read_table(path)
    pd.testing.assert_frame_equal(joined, pd.concat(CHUNKS, ignore_index=True), check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the parts folder is gone


def test_parquet_parts_whose_column_types_differ_are_unified(tmp_path):
    path = tmp_path / "out.parquet"
    output = ChunkedOutput(path, IDENTITY)
    output.write(0, pd.DataFrame({"n": [1, 2], "note": [None, None]}))
    output.write(1, pd.DataFrame({"n": [0.5, None], "note": ["x", None]}))
    joined = pd.read_parquet(output.finish(2))
    assert joined["n"].tolist()[:3] == [1.0, 2.0, 0.5] and pd.isna(joined["n"][3])
    assert joined["note"].tolist()[2] == "x"


def test_a_part_failing_midway_leaves_no_part_and_the_output_untouched(tmp_path, monkeypatch):
    def half_then_fail(frame, path, first):
        Path(path).write_text("id,text\n1,")
        raise OSError("no space left on device")

    path = tmp_path / "out.csv"
    path.write_text("id\n1\n")  # an earlier output stays as it was until the new one is complete
    output = ChunkedOutput(path, IDENTITY)
    output.write(0, CHUNKS[0])
    monkeypatch.setattr(output, "writer", half_then_fail)
    with pytest.raises(OSError, match="no space"):
        output.write(1, CHUNKS[1])
    assert not output.done(1) and output.done(0)
    assert sorted(p.name for p in parts_folder(path).iterdir()) == ["manifest.json", "part-000000.csv"]
    assert path.read_text() == "id\n1\n"


def test_the_writer_sees_a_temporary_name_with_the_real_suffix(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setitem(chunked_output.WRITERS, ".parquet",
                        lambda frame, path, first: seen.append(path) or frame.to_parquet(path, index=False))
    output = ChunkedOutput(tmp_path / "predictions.parquet", IDENTITY)
    output.write(0, CHUNKS[0])
    assert seen[0].suffix == ".parquet" and seen[0].name.startswith(".part-000000.parquet.")


def test_resume_keeps_the_finished_parts_and_a_new_run_starts_over(tmp_path):
    path = tmp_path / "out.csv"
    first = ChunkedOutput(path, IDENTITY)
    first.write(0, CHUNKS[0])
    first.write(1, CHUNKS[1])
    resumed = ChunkedOutput(path, IDENTITY, resume=True)
    assert [resumed.done(index) for index in range(3)] == [True, True, False]
    again = ChunkedOutput(path, IDENTITY)
    assert [again.done(index) for index in range(3)] == [False, False, False]
    with pytest.raises(TfbertError, match="lacks part 0"):
        again.finish(1)


def test_resume_refuses_parts_written_from_other_settings(tmp_path):
    path = tmp_path / "out.csv"
    ChunkedOutput(path, IDENTITY).write(0, CHUNKS[0])
    with pytest.raises(TfbertError, match=r"^the unfinished .*out.csv was started from other settings \(chunk_rows "
                                          r"changed\); run again without --resume to start over$"):
        ChunkedOutput(path, {**IDENTITY, "chunk_rows": 4}, resume=True)


def test_an_unknown_output_format_is_refused(tmp_path):
    with pytest.raises(TfbertError, match=r"cannot write .*out.xlsx: use one of \.csv"):
        ChunkedOutput(tmp_path / "out.xlsx", IDENTITY)
    assert list(tmp_path.iterdir()) == []
