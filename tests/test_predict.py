"""python -m tfbert.predict: a file of texts in, the rows with predictions out."""

from __future__ import annotations

import io
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfbert import training
from tfbert.chunked_output import parts_folder
from tfbert.predict import main as predict_main
from tfbert.config import build_config
from tfbert.errors import run_command

from conftest import ROOT, command_error, reviews, run_python, shared

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("predict")
    reviews(120, seed=0).to_csv(tmp_path / "train.csv", index=False)
    # encoder: tiny, two layers: the one-layer test encoder learns these words too, but not to
    # read one adjective after three fillers ("the film was awful") as the two-layer one does.
    config = build_config({"data_path": str(tmp_path / "train.csv"), "encoder": "tiny", "max_seq_length": 16,
                           "learning_rate": 3e-3, "dropout": 0.1, "epochs": 8, "train_split": 0.75,
                           "output_dir": str(tmp_path / "runs"), "run_name": "run", "wandb_mode": "disabled"})
    return shared(training.train(config).run_dir)


def _run(argv, capsys, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = run_command(predict_main, argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_predicts_a_csv_into_a_parquet_file(run_dir, tmp_path, capsys):
    texts = ["the film was great fun", "the film was awful", "bad worst dull"]
    pd.DataFrame({"id": [1, 2, 3], "review": texts}).to_csv(tmp_path / "in.csv", index=False)
    status, _, err = _run(["--model", str(run_dir), "--input", str(tmp_path / "in.csv"), "--text-column", "review",
                           "--output", str(tmp_path / "out.parquet"), "--batch-size", "2"], capsys)
    assert status == 0, err
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "review", "predicted_label", "probability_0", "probability_1"]
    assert out["id"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(out["probability_0"] + out["probability_1"], 1.0, atol=1e-6)
    assert out["predicted_label"].tolist() == ["1" if p >= 0.5 else "0" for p in out["probability_1"]]
    assert out["predicted_label"].tolist() == ["1", "0", "0"]  # the model learnt the words
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


@pytest.mark.slow
def test_reads_lines_from_stdin_and_writes_csv_to_stdout(run_dir, capsys, monkeypatch):
    status, out, err = _run(["--model", str(run_dir / "export")], capsys, "great best fun\n\nawful worst\n", monkeypatch)
    assert status == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame["text"].tolist() == ["great best fun", "awful worst"]
    assert frame["predicted_label"].tolist() == [1, 0]


@pytest.mark.slow
@pytest.mark.parametrize("make_argv, fragment", [
    (lambda d, t: ["--model", str(d), "--input", str(t / "missing.csv")], "not found"),
    (lambda d, t: ["--model", str(t), "--input", str(t / "x.csv")], "neither a tfbert run directory"),
    (lambda d, t: ["--model", str(d), "--input", str(t / "in.csv"), "--text-column", "body"], "no column 'body'"),
    (lambda d, t: ["--model", str(d), "--input", str(t / "empty.csv")], "empty"),
    (lambda d, t: ["--model", str(d), "--input", str(t / "in.csv"), "--output", str(t / "out.xlsx")], "cannot write"),
])
def test_bad_input_is_one_line_and_exit_2(run_dir, tmp_path, capsys, make_argv, fragment):
    pd.DataFrame({"text": ["good"]}).to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    status, out, err = _run(make_argv(run_dir, tmp_path), capsys)
    assert fragment in command_error(status, err, out)
    assert not (tmp_path / "out.xlsx").exists()


@pytest.mark.slow
def test_a_pair_model_reads_its_second_segment_from_pair_column(pair_export, tmp_path, capsys):
    classifier, packer, _, directory = pair_export
    questions, answers = ["is it good?", "is it long?", "who is in it?"], ["very good", "no", "nobody famous"]
    pd.DataFrame({"q": questions, "a": answers}).to_csv(tmp_path / "pairs.csv", index=False)
    status, _, err = _run(["--model", str(directory), "--input", str(tmp_path / "pairs.csv"), "--text-column", "q",
                           "--pair-column", "a", "--output", str(tmp_path / "out.csv")], capsys)
    assert status == 0, err
    out = pd.read_csv(tmp_path / "out.csv")
    expected = classifier(packer(np.array(questions, dtype=object), np.array(answers, dtype=object)),
                          training=False).numpy()[:, 0]
    np.testing.assert_allclose(out["probability_same"], expected, atol=1e-5)

    status, out, err = _run(["--model", str(directory), "--input", str(tmp_path / "pairs.csv"), "--text-column", "q"],
                            capsys)
    assert "--pair-column" in command_error(status, err, out)


# --------------------------------------------------------------------------- tfbert.Predictor


@pytest.mark.slow
def test_the_predictor_gives_the_commands_numbers(run_dir, tmp_path, capsys, monkeypatch):
    """tfbert.Predictor in Python and python -m tfbert.predict agree on the same texts."""
    import tfbert

    texts = ["the film was great fun", "awful worst", "the the the", "best good great fun bad", "dull"]
    status, out, err = _run(["--model", str(run_dir)], capsys, "\n".join(texts) + "\n", monkeypatch)
    assert status == 0, err
    command = pd.read_csv(io.StringIO(out), dtype={"predicted_label": str})
    predictor = tfbert.Predictor.load(run_dir, batch_size=2)
    assert predictor.labels == ["0", "1"] and predictor.takes_pairs is False
    predicted = predictor.predict(texts)
    assert list(predicted.columns) == ["text", "predicted_label", "probability_0", "probability_1"]
    assert predicted["text"].tolist() == texts
    assert predicted["predicted_label"].tolist() == command["predicted_label"].tolist()
    # Batches of 2 and the command's pad to different lengths, and oneDNN sums a matrix product in an order that
    # depends on its shape on some CPUs (AVX2 without AVX-512): equal to float32's last digits, not bit for bit.
    np.testing.assert_allclose(predicted[["probability_0", "probability_1"]].to_numpy(),
                               command[["probability_0", "probability_1"]].to_numpy(), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(predictor.predict("the film was great fun"), predicted.head(1), rtol=1e-5, atol=1e-6)


def test_the_predictor_on_a_pair_model_needs_the_pairs(pair_export):
    import tfbert

    predictor = tfbert.Predictor.load(pair_export[3])
    assert predictor.takes_pairs and predictor.labels == ["different", "same"]
    predicted = predictor.predict(["a cat", "a dog"], pairs=["a cat", "the sea"])
    assert predicted.columns.tolist() == ["text", "text_pair", "predicted_label", "probability_different",
                                          "probability_same"]
    with pytest.raises(tfbert.TfbertError, match="trained on text pairs"):
        predictor.predict(["a cat"])


# --------------------------------------------------------------------------- W&B model artifacts


class FakeApi:
    """wandb.Api as tfbert uses it: artifact(reference, type).download() -> the folder, or
    `fails` raised (what a bad reference, a missing key or no network raise)."""

    def __init__(self, folder: Path | None, fails: Exception | None = None):
        self.folder, self.fails, self.asked = folder, fails, []

    def __call__(self):
        return self

    def artifact(self, reference, type=None):
        self.asked.append((reference, type))
        if self.fails:
            raise self.fails
        return self

    def download(self):
        return str(self.folder)


@pytest.mark.slow
@pytest.mark.parametrize("reference", ["my-team/tfbert/run-model:best", "tfbert/run-model:v3"])
def test_the_predictor_loads_a_wandb_model_artifact_reference(reference, run_dir, monkeypatch, capsys):
    """An artifact downloads to a run directory holding export/ (tests/test_tracking.py loads a real one)."""
    import tfbert
    import wandb

    api = FakeApi(run_dir)
    monkeypatch.setattr(wandb, "Api", api)
    predictor = tfbert.Predictor.load(reference)
    assert api.asked == [(reference, "model")]
    assert predictor.predict(["great best fun"])["predicted_label"].tolist() == ["1"]
    status, out, err = _run(["--model", reference], capsys, "awful worst\n", monkeypatch)
    assert status == 0 and pd.read_csv(io.StringIO(out))["predicted_label"].tolist() == [0], err


@pytest.mark.slow
def test_a_local_path_that_exists_wins_over_the_artifact_reading(run_dir, tmp_path, monkeypatch):
    import tfbert
    import wandb

    api = FakeApi(None, fails=AssertionError("the local folder must be used"))
    monkeypatch.setattr(wandb, "Api", api)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(run_dir / "export", tmp_path / "tfbert" / "run-model:best")
    assert tfbert.Predictor.load("tfbert/run-model:best").labels == ["0", "1"] and api.asked == []


def test_an_artifact_that_cannot_be_downloaded_is_one_line(monkeypatch, capsys, tmp_path):
    import wandb

    monkeypatch.setattr(wandb, "Api", FakeApi(None, fails=wandb.errors.CommError("Could not resolve host\nretrying")))
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(["--model", "my-team/tfbert/nope:best", "--input", "-"], capsys, "good\n", monkeypatch)
    message = command_error(status, err, out)
    assert message.startswith("my-team/tfbert/nope:best is not a local path, and downloading it as a W&B model "
                              "artifact failed (CommError: Could not resolve host)")
    assert "wandb login" in message


# --------------------------------------------------------------------------- files of any size, resuming

KILL_AT_CHUNK = """
    import os, signal, sys
    from tfbert import chunked_output
    from tfbert.errors import run_command
    from tfbert.predict import main

    write = chunked_output.ChunkedOutput.write

    def write_then_die(self, index, frame):
        if index == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or a preempted machine would
        write(self, index, frame)

    chunked_output.ChunkedOutput.write = write_then_die
    sys.exit(run_command(main, {argv!r}))
"""


def _scored_rows(monkeypatch) -> list[int]:
    """The sizes of the chunks Predictor.annotate scores from now on."""
    from tfbert.predictor import Predictor

    sizes, annotate = [], Predictor.annotate
    monkeypatch.setattr(Predictor, "annotate", lambda self, frame, *a, **k: sizes.append(len(frame)) or annotate(
        self, frame, *a, **k))
    return sizes


@pytest.mark.slow
def test_a_file_is_scored_chunk_by_chunk_in_its_order(run_dir, tmp_path, capsys, monkeypatch):
    texts = [f"{word} film" for word in ("great", "awful", "fun", "dull", "best", "worst", "bad")] * 2
    pd.DataFrame({"id": range(len(texts)), "review": texts}).to_parquet(tmp_path / "in.parquet", row_group_size=4)
    sizes = _scored_rows(monkeypatch)
    status, _, err = _run(["--model", str(run_dir), "--input", str(tmp_path / "in.parquet"), "--text-column", "review",
                           "--output", str(tmp_path / "out.jsonl"), "--chunk-rows", "3"], capsys)
    assert status == 0, err
    assert sizes == [3, 3, 3, 3, 2]
    out = pd.read_json(tmp_path / "out.jsonl", lines=True, dtype={"predicted_label": str})
    assert out["id"].tolist() == list(range(len(texts))) and out["review"].tolist() == texts
    import tfbert

    expected = tfbert.Predictor.load(run_dir).predict(texts)
    assert out["predicted_label"].tolist() == expected["predicted_label"].tolist()
    np.testing.assert_allclose(out[["probability_0", "probability_1"]], expected[["probability_0", "probability_1"]],
                               atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.jsonl"]  # no parts, no staging
    assert "predicting: 14/14 rows (100%)" in err  # one meter for the file, Parquet's row count its total


@pytest.mark.slow
def test_a_killed_run_resumes_after_its_last_finished_chunk_and_a_new_run_starts_over(run_dir, tmp_path, capsys,
                                                                                       monkeypatch):
    texts = [f"{word} film {i}" for i in range(5) for word in ("great", "awful")]
    pd.DataFrame({"review": texts}).to_csv(tmp_path / "in.csv", index=False)
    argv = ["--model", str(run_dir), "--input", str(tmp_path / "in.csv"), "--text-column", "review",
            "--output", str(tmp_path / "out.csv"), "--chunk-rows", "3"]
    for attempt in range(2):
        (tmp_path / "out.csv").unlink(missing_ok=True)  # the first attempt's finished output
        killed = run_python(KILL_AT_CHUNK.format(kill_at=2, argv=argv), cwd=ROOT)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert not (tmp_path / "out.csv").exists()  # nothing that looks finished
        assert sorted(p.name for p in parts_folder(tmp_path / "out.csv").iterdir()) == [
            "manifest.json", "part-000000.csv", "part-000001.csv"]

        sizes = _scored_rows(monkeypatch)
        status, _, err = _run(argv + (["--resume"] if attempt == 0 else []), capsys)
        assert status == 0, err
        assert sizes == ([3, 1] if attempt == 0 else [3, 3, 3, 1])  # resumed at chunk 2; started over
        monkeypatch.undo()
        out = pd.read_csv(tmp_path / "out.csv", dtype={"predicted_label": str})
        assert out["review"].tolist() == texts
        assert out["predicted_label"].tolist() == ["1", "0"] * 5
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]

    (tmp_path / "in.csv").write_text("review\nother\n")  # resuming from another input is refused
    run_python(KILL_AT_CHUNK.format(kill_at=0, argv=argv), cwd=ROOT)
    pd.DataFrame({"review": texts[:4]}).to_csv(tmp_path / "in.csv", index=False)
    status, out, err = _run(argv + ["--resume"], capsys)
    assert "was started from other settings (input_bytes" in command_error(status, err, out)


@pytest.mark.slow
@pytest.mark.parametrize("given", ["other", ".other.incomplete", ".other.incomplete/export"])
def test_predict_refuses_an_unfinished_run(given, run_dir, tmp_path, capsys):
    staging = tmp_path / "runs" / ".other.incomplete"
    shutil.copytree(run_dir, staging)  # everything in place but the final rename: training is still running
    pd.DataFrame({"text": ["good"]}).to_csv(tmp_path / "in.csv", index=False)
    status, out, err = _run(["--model", str(tmp_path / "runs" / given), "--input", str(tmp_path / "in.csv"),
                             "--output", str(tmp_path / "out.csv")], capsys)
    message = command_error(status, err, out)
    assert message.startswith(f"run directory {tmp_path / 'runs' / 'other'} has not finished (training was interrupted")
    assert "python -m tfbert.train" in message and not (tmp_path / "out.csv").exists()
