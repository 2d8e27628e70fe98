"""python -m tfbert.predict: a file of texts in, the rows with predictions out."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfbert import predict, training
from tfbert.predict import main as predict_main
from tfbert.config import build_config
from tfbert.errors import run_command

from conftest import command_error, reviews, shared

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
    np.testing.assert_allclose(predicted[["probability_0", "probability_1"]].to_numpy(),
                               command[["probability_0", "probability_1"]].to_numpy(), rtol=1e-6)
    assert predictor.predict("the film was great fun").equals(predicted.head(1))


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


# --------------------------------------------------------------------------- atomic output, unfinished runs

FRAME = pd.DataFrame({"text": ["a", "b"], "predicted_label": ["0", "1"]})


def _write_half_then_fail(frame, path):
    with open(path, "w") as stream:
        stream.write("text,predicted_label\na,")
    raise OSError("no space left on device")


@pytest.mark.parametrize("earlier", [None, "text,predicted_label\nold,1\n"], ids=["new", "existing"])
def test_a_write_failing_midway_leaves_no_output_and_no_temporary(earlier, tmp_path, monkeypatch):
    output = tmp_path / "out" / "predictions.csv"
    if earlier is not None:
        output.parent.mkdir()
        output.write_text(earlier)
    monkeypatch.setitem(predict.WRITERS, ".csv", _write_half_then_fail)
    with pytest.raises(OSError, match="no space"):
        predict.write_atomically(FRAME, output)
    assert sorted(p.name for p in output.parent.iterdir()) == ([] if earlier is None else ["predictions.csv"])
    if earlier is not None:
        assert output.read_text() == earlier  # untouched


def test_the_writer_sees_a_temporary_name_with_the_real_suffix(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setitem(predict.WRITERS, ".parquet",
                        lambda frame, path: seen.append(path) or frame.to_parquet(path, index=False))
    predict.write_atomically(FRAME, tmp_path / "predictions.parquet")
    assert seen[0].endswith(".parquet") and Path(seen[0]).name.startswith(".predictions.parquet.")
    assert pd.read_parquet(tmp_path / "predictions.parquet").equals(FRAME)
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.parquet"]


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
