"""Scoring on Apache Beam: the model handler over an export, and python -m tfbert.beam_predict's
pipeline on Beam's DirectRunner, with two worker processes over shards of every input format."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apache_beam.io.localfilesystem import LocalFileSystem

from tfbert import beam, beam_predict
from tfbert.data.chunks import TableChunks
from tfbert.errors import TfbertError, run_command
from tfbert.predictor import DEFAULT_BATCH_SIZE, Predictor

from conftest import command_error

WORDS = "good bad film movie story great awful the a was very fun dull , \" café".split()
PROBABILITIES = ["probability_different", "probability_same"]


def corpus(rows: int, seed: int = 0) -> pd.DataFrame:
    """id, text, other (the pair's second segment) and note (mostly missing), texts of 1 to 14 words."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(rows), "text": [" ".join(rng.choice(WORDS, rng.integers(1, 15))) for _ in range(rows)],
                          "other": [" ".join(rng.choice(WORDS, 3)) for _ in range(rows)],
                          "note": [None if i % 5 else f"n{i}" for i in range(rows)]})
    frame.loc[3, "text"] = None  # an empty cell: scored as "", as Predictor scores it
    return frame


def write_shards(frame: pd.DataFrame, folder: Path) -> None:
    """`frame` in four shards: CSV, TSV, JSON Lines and Parquet."""
    folder.mkdir()
    parts = np.array_split(np.arange(len(frame)), 4)
    frame.iloc[parts[0]].to_csv(folder / "part-0.csv", index=False)
    frame.iloc[parts[1]].to_csv(folder / "part-1.tsv", sep="\t", index=False)
    frame.iloc[parts[2]].to_json(folder / "part-2.jsonl", orient="records", lines=True)
    frame.iloc[parts[3]].to_parquet(folder / "part-3.parquet")


def expected(export: Path, frame: pd.DataFrame) -> pd.DataFrame:
    return Predictor.load(export).annotate(frame, "text", "other", quiet=True).set_index("id")


def as_read(folder: Path) -> pd.DataFrame:
    """The shards' rows as python -m tfbert.predict reads them (a TSV keeps its quotes as text)."""
    return pd.concat([frame for path in sorted(folder.iterdir()) for frame in TableChunks(path, 10_000)])


def test_the_handler_adds_the_predictors_predictions_and_leaves_the_other_columns_as_they_came(pair_export):
    handler = beam.ExportModelHandler(str(pair_export[3]), "text", "other", batch_size=3)
    rows = beam.records(corpus(8))
    scored = handler.run_inference(rows, handler.load_model())
    want = expected(pair_export[3], corpus(8))
    assert [{key: row[key] for key in ("id", "text", "other", "note")} for row in scored] == rows
    assert list(scored[0]) == ["id", "text", "other", "note", "predicted_label", *PROBABILITIES]
    assert [row["predicted_label"] for row in scored] == want["predicted_label"].tolist()
    np.testing.assert_allclose([[row[name] for name in PROBABILITIES] for row in scored], want[PROBABILITIES], atol=1e-6)
    assert handler.batch_elements_kwargs() == {"max_batch_size": 3}
    # the command's defaults, spelled out so that --help loads neither TensorFlow nor Beam
    assert (beam_predict.BATCH_SIZE, beam_predict.CHUNK_ROWS) == (DEFAULT_BATCH_SIZE, beam.DEFAULT_CHUNK_ROWS)


def test_a_pair_model_without_the_pair_column_is_refused_when_it_loads(pair_export):
    with pytest.raises(TfbertError, match="trained on text pairs; give the second segment with --pair-column"):
        beam.ExportModelHandler(str(pair_export[3])).load_model()


@pytest.mark.slow
def test_two_worker_processes_score_every_row_of_every_shard_once_as_the_predictor_does(pair_export, tmp_path, capfd):
    frame = corpus(10_000)
    write_shards(frame, tmp_path / "in")
    status = run_command(beam_predict.main, ["--model", str(pair_export[3]), "--input", str(tmp_path / "in" / "part-*"),
                                             "--output", str(tmp_path / "out" / "scored"), "--pair-column", "other",
                                             "--chunk-rows", "1000", "--direct_running_mode=multi_processing",
                                             "--direct_num_workers=2"])
    err = capfd.readouterr().err
    assert status == 0, err[-3000:]
    shards = sorted((tmp_path / "out").iterdir())
    assert len(shards) >= 2 and all(path.name.startswith("scored-") and path.suffix == ".parquet" for path in shards)
    assert f"tfbert: wrote {len(shards)} shards: {tmp_path / 'out' / 'scored'}-*.parquet" in err
    assert "Resource module is not available" not in err  # Beam's warning on every bundle is left out
    got = pd.concat([pd.read_parquet(path) for path in shards])
    assert list(got.columns) == ["id", "text", "other", "note", "predicted_label", *PROBABILITIES]
    assert sorted(got["id"]) == list(range(10_000))  # every row once
    got, want = got.set_index("id").sort_index(), expected(pair_export[3], as_read(tmp_path / "in"))
    assert (got["text"].fillna("") == want["text"].fillna("")).all()
    assert (got["predicted_label"] == want["predicted_label"]).all()
    np.testing.assert_allclose(got[PROBABILITIES].to_numpy(), want[PROBABILITIES].to_numpy(), atol=1e-6, rtol=0)
    assert got.loc[5, "note"] == "n5" and pd.isna(got.loc[6, "note"]) and pd.isna(got.loc[3, "text"])


@pytest.mark.slow
def test_csv_shards_on_the_in_process_runner_and_a_shard_without_the_text_column_is_one_line(pair_export, tmp_path, capsys):
    frame = corpus(40, seed=1)
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / "a.csv", index=False)
    argv = ["--model", str(pair_export[3]), "--input", str(tmp_path / "in" / "*.csv"), "--output", str(tmp_path / "out" / "s"),
            "--pair-column", "other", "--format", "csv"]
    assert run_command(beam_predict.main, argv) == 0
    (shard,) = (tmp_path / "out").iterdir()
    got = pd.read_csv(shard).set_index("id").sort_index()
    assert list(got.columns) == ["text", "other", "note", "predicted_label", *PROBABILITIES]
    want = expected(pair_export[3], frame)
    assert (got["predicted_label"] == want["predicted_label"]).all() and (got["text"].fillna("") == want["text"].fillna("")).all()
    np.testing.assert_allclose(got[PROBABILITIES].to_numpy(), want[PROBABILITIES].to_numpy(), atol=1e-6, rtol=0)

    frame.rename(columns={"text": "body"}).to_csv(tmp_path / "in" / "b.csv", index=False)  # read by a worker, not checked first
    capsys.readouterr()
    status = run_command(beam_predict.main, [*argv[:5], str(tmp_path / "again"), *argv[6:]])
    assert command_error(status, capsys.readouterr().err) == (
        f"{tmp_path / 'in' / 'b.csv'} has no column 'text'; its columns are ['id', 'body', 'other', 'note']; use --text-column")
    assert not (tmp_path / "again").exists()  # nothing that looks finished


@pytest.mark.parametrize("argv, message", [
    (["--input", "{tmp}/none-*.csv"], "--input {tmp}/none-*.csv matches no file"),
    (["--text-column", "body"], "{tmp}/in.csv has no column 'body'; its columns are ['id', 'text', 'other', 'note']; "
                                "use --text-column"),
    (["--output", "{tmp}/old"], "{tmp}/old already has shards ({tmp}/old-00000-of-00001.parquet, ...); "
                                "choose another --output or delete them"),
    (["--batch-size", "0"], "--batch-size and --chunk-rows must be at least 1"),
])
def test_a_mistake_is_one_line_before_beam_starts(pair_export, tmp_path, capsys, argv, message):
    corpus(5).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "old-00000-of-00001.parquet").write_bytes(b"")
    given = {"--model": str(pair_export[3]), "--input": str(tmp_path / "in.csv"), "--output": str(tmp_path / "new"),
             "--pair-column": "other"}
    given.update(dict(zip(argv[::2], [value.format(tmp=tmp_path) for value in argv[1::2]])))
    status = run_command(beam_predict.main, [item for pair in given.items() for item in pair])
    assert command_error(status, capsys.readouterr().err) == message.format(tmp=tmp_path)
    assert not list(tmp_path.glob("new*"))


def test_without_beam_installed_the_error_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    monkeypatch.delitem(sys.modules, "tfbert.beam")
    with pytest.raises(TfbertError) as raised:
        importlib.import_module("tfbert.beam")
    assert str(raised.value) == 'scoring on Apache Beam needs its extra: pip install -e ".[beam]"'


class StagedFileSystem(LocalFileSystem):
    """A stand-in for gs:// or hdfs:// (Beam finds a file system by its scheme): staged://<a local path>."""

    @classmethod
    def scheme(cls):
        return "staged"

    def match(self, patterns, limits=None):
        results = super().match([pattern.removeprefix("staged://") for pattern in patterns], limits)
        for result in results:
            for file in result.metadata_list:
                file.path = "staged://" + file.path
        return results

    def open(self, path, *args, **kwargs):
        return super().open(path.removeprefix("staged://"), *args, **kwargs)


def test_an_export_and_a_shard_on_another_file_system_are_copied_to_the_worker(pair_export, tmp_path):
    assert beam.local_copy(str(tmp_path / "export")) == tmp_path / "export"  # a local path is read where it is
    assert not beam.is_remote("/data/part-0.csv") and beam.is_remote("gs://bucket/part-0.csv")
    corpus(6).to_csv(tmp_path / "part.csv", index=False)
    handler = beam.ExportModelHandler(f"staged://{pair_export[3]}", "text", "other")
    predictor = handler.load_model()
    assert Path(predictor.source).name == "export" and Path(predictor.source) != Path(pair_export[3]).resolve()
    assert sorted(path.relative_to(predictor.source) for path in Path(predictor.source).rglob("*") if path.is_file()) == sorted(
        path.relative_to(pair_export[3]) for path in Path(pair_export[3]).rglob("*") if path.is_file())
    rows = list(beam.shard_rows(f"staged://{tmp_path}/part.csv", "text", "other"))
    assert rows == beam.records(next(iter(TableChunks(tmp_path / "part.csv", 100))))
    scored = handler.run_inference(rows, predictor)
    want = expected(pair_export[3], pd.DataFrame(rows))
    np.testing.assert_allclose([[row[name] for name in PROBABILITIES] for row in scored], want[PROBABILITIES], atol=1e-6)
