"""The evaluate command and tfbert.evaluate: reports on new data, bad input, staging (the scoring: test_scoring.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import scoring, training
from tfbert.evaluate import main as evaluate_main
from tfbert.config import build_config
from tfbert.errors import run_command

from conftest import command_error, own_copy, reviews, shared


# --------------------------------------------------------------------------- python -m tfbert.evaluate

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_encoder):
    """A binary run validated on an explicit file, so the command can re-evaluate that same file.
    It learns the words (at learning_rate 1e-3 it stayed at chance, and the F1 threshold fell
    between probabilities a few 1e-7 apart, where the export's and fit's float32 sums differ)."""
    root = tmp_path_factory.mktemp("evaluate_cli")
    reviews(120, seed=0, labels=("neg", "pos")).to_csv(root / "train.csv", index=False)
    valid = reviews(40, seed=1, labels=("neg", "pos"))
    valid.loc[::7, "label"] = valid.loc[::7, "label"].map({"pos": "neg", "neg": "pos"})  # some errors to find
    valid.to_csv(root / "valid.csv", index=False)
    config = build_config({"data_path": str(root / "train.csv"), "valid_path": str(root / "valid.csv"),
                           "encoder": tiny_encoder, "max_seq_length": 16, "learning_rate": 3e-3, "dropout": 0.1,
                           "epochs": 4, "decision_threshold": "f1", "output_dir": str(root / "runs"),
                           "run_name": "run", "wandb_mode": "disabled"})
    result = training.train(config)
    return shared(root), result


def _evaluate(argv, capsys):
    status = run_command(evaluate_main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_reproduces_the_runs_validation_report(finished_run, tmp_path, capsys):
    root, result = finished_run
    run_dir = own_copy(result.run_dir, tmp_path)  # the report goes into the run's evaluations/
    status, out, err = _evaluate(["--model", run_dir, "--data", root / "valid.csv"], capsys)
    assert status == 0, err
    folder = run_dir / "evaluations" / "valid"
    assert f"report: {folder}" in out.splitlines()
    assert {p.name for p in folder.iterdir()} == {"metrics.json", "classification_report.txt", "confusion_matrix.json",
                                                  "data_stats.json", "predictions.csv", "plots"}
    assert {p.name for p in (folder / "plots").iterdir()} == {
        "evaluation_confusion_matrix.png", "evaluation_precision_recall.png", "label_distribution.png",
        "text_lengths.png"}
    metrics = json.loads((folder / "metrics.json").read_text())["evaluation"]
    trained = result.metrics["validation"]
    assert metrics["decision_threshold"] == pytest.approx(trained["decision_threshold"])  # the export's, not 0.5
    for name in ("accuracy", "precision", "recall", "f1", "num_examples"):
        assert metrics[name] == pytest.approx(trained[name]), name
    assert metrics["at_0.5"] == pytest.approx(trained["at_0.5"])
    assert metrics["loss"] == pytest.approx(trained["loss"], abs=1e-4)
    assert metrics["precision_at_recall_0.5"] == pytest.approx(trained["precision_at_recall_0.5"], abs=1e-6)
    confusion = json.loads((folder / "confusion_matrix.json").read_text())
    assert confusion["evaluation"] == json.loads((run_dir / "confusion_matrix.json").read_text())["validation"]
    assert "== evaluation ==" in (folder / "classification_report.txt").read_text()
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions.columns) == ["text", "label", "predicted_label", "probability_neg", "probability_pos"]
    assert (predictions["predicted_label"] == predictions["label"]).mean() == pytest.approx(trained["accuracy"])
    assert f"accuracy={metrics['accuracy']:.4f}" in out


def test_other_column_names_are_given_as_overrides(finished_run, tmp_path, capsys):
    root, result = finished_run
    frame = pd.read_csv(root / "valid.csv").rename(columns={"text": "review", "label": "y"})
    frame.to_json(tmp_path / "renamed.jsonl", orient="records", lines=True)
    status, _, err = _evaluate(["--model", result.run_dir, "--data", tmp_path / "renamed.jsonl",
                                "--output", tmp_path / "report", "--text_column=review", "--label_column", "y"], capsys)
    assert status == 0, err
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())["evaluation"]
    assert metrics["accuracy"] == pytest.approx(result.metrics["validation"]["accuracy"])


@pytest.mark.parametrize("case", ["not a run", "unknown label", "missing column", "training key", "output exists"])
def test_bad_input_is_one_line_and_writes_nothing(case, finished_run, tmp_path, capsys):
    root, result = finished_run
    data, model_dir, extra = root / "valid.csv", result.run_dir, []
    output = tmp_path / "report"
    if case == "not a run":
        model_dir = tmp_path
    elif case == "unknown label":
        data = tmp_path / "odd.csv"
        pd.DataFrame({"text": ["good fun", "bad"], "label": ["pos", "meh"]}).to_csv(data, index=False)
    elif case == "missing column":
        data = tmp_path / "odd.csv"
        pd.DataFrame({"review": ["good fun"], "label": ["pos"]}).to_csv(data, index=False)
    elif case == "training key":
        extra = ["--learning_rate=1e-3"]
    else:
        output.mkdir()
        (output / "keep.txt").write_text("mine")
    status, out, err = _evaluate(["--model", model_dir, "--data", data, "--output", output, *extra], capsys)
    message = command_error(status, err, out)
    expected = {"not a run": "not a tfbert run directory", "unknown label": "not among the known labels",
                "missing column": "column 'text' not found", "training key": "learning_rate cannot change",
                "output exists": "already exists"}[case]
    assert expected in message
    assert case != "unknown label" or "'meh'" in message
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    if case == "output exists":
        assert [p.name for p in output.iterdir()] == ["keep.txt"]
    else:
        assert not output.exists()


@pytest.mark.slow
def test_the_command_runs_as_a_module(finished_run, tmp_path):
    root, result = finished_run
    proc = subprocess.run([sys.executable, "-m", "tfbert.evaluate", "--model", str(result.run_dir),
                           "--data", str(root / "valid.csv"), "--output", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["evaluation"]["num_examples"] == 40


def test_the_command_evaluates_a_wandb_model_artifact_reference(finished_run, tmp_path, capsys, monkeypatch):
    """--model entity/project/name:alias is downloaded (tests/test_predict.py calls wandb.Api's
    stand-in; tests/test_tracking.py evaluates a real artifact's folder) and evaluated."""
    from tfbert import tracking

    root, result = finished_run
    asked = []
    monkeypatch.setattr(tracking, "download_model_artifact", lambda reference: asked.append(reference) or result.run_dir)
    monkeypatch.chdir(tmp_path)
    status, out, err = _evaluate(["--model", "team/tfbert/run-model:best", "--data", root / "valid.csv", "--output",
                                  tmp_path / "report"], capsys)
    assert status == 0, err
    assert asked == ["team/tfbert/run-model:best"]
    evaluated = json.loads((tmp_path / "report" / "metrics.json").read_text())["evaluation"]
    assert evaluated["accuracy"] == pytest.approx(result.metrics["validation"]["accuracy"])


# --------------------------------------------------------------------------- tfbert.evaluate


@pytest.mark.slow
def test_the_python_api_evaluates_as_the_command_does(finished_run, tmp_path, capsys):
    """tfbert.evaluate on a DataFrame and the command on the same rows in a file agree."""

    root, result = finished_run
    run_dir = own_copy(result.run_dir, tmp_path)  # tfbert.evaluate reports into the run's evaluations/
    frame = pd.read_csv(root / "valid.csv").rename(columns={"text": "review"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    status, _, err = _evaluate(["--model", run_dir, "--data", tmp_path / "renamed.csv", "--output",
                                tmp_path / "by_command", "--text_column=review"], capsys)
    assert status == 0, err
    evaluated = tfbert.evaluate(run_dir, frame, text_column="review")
    assert evaluated.folder == run_dir / "evaluations" / "dataframe"
    by_command = json.loads((tmp_path / "by_command" / "metrics.json").read_text())["evaluation"]
    assert evaluated.metrics == by_command
    assert json.loads(evaluated.report_paths["metrics.json"].read_text())["evaluation"] == by_command
    assert set(evaluated.report_paths) == {p.relative_to(tmp_path / "by_command").as_posix()
                                           for p in (tmp_path / "by_command").rglob("*") if p.is_file()}
    with pytest.raises(tfbert.TfbertError, match="already exists"):
        tfbert.evaluate(run_dir, frame, text_column="review")
    with pytest.raises(tfbert.TfbertError, match="learning_rate cannot change"):
        tfbert.evaluate(run_dir, frame, output=tmp_path / "other", learning_rate=1e-3)



# --------------------------------------------------------------------------- staging and unfinished runs


def test_a_report_failing_midway_leaves_no_report_folder(finished_run, tmp_path, capsys, monkeypatch):
    root, result = finished_run
    real_write_report = scoring.write_report
    written = []

    def write_then_fail(report, *args):
        real_write_report(report, *args)  # metrics.json and the rest, in the staging folder
        written.extend(p.name for p in report.path.iterdir())
        raise KeyboardInterrupt  # killed before predictions.csv and the data plots

    monkeypatch.setattr(scoring, "write_report", write_then_fail)
    with pytest.raises(KeyboardInterrupt):
        run_command(evaluate_main, ["--model", str(result.run_dir), "--data", str(root / "valid.csv"),
                                    "--output", str(tmp_path / "report")])
    assert "metrics.json" in written
    assert list(tmp_path.iterdir()) == []  # neither the report nor its staging folder
    monkeypatch.setattr(scoring, "write_report", real_write_report)
    status, _, err = _evaluate(["--model", result.run_dir, "--data", root / "valid.csv", "--output",
                                tmp_path / "report"], capsys)
    assert status == 0, err
    assert "predictions.csv" in {p.name for p in (tmp_path / "report").iterdir()}


@pytest.mark.parametrize("given", ["other", ".other.incomplete"])
def test_evaluate_refuses_an_unfinished_run(given, finished_run, tmp_path, capsys):
    root, result = finished_run
    staging = tmp_path / "runs" / ".other.incomplete"
    shutil.copytree(result.run_dir, staging, ignore=shutil.ignore_patterns("evaluations"))  # all but the rename
    status, out, err = _evaluate(["--model", tmp_path / "runs" / given, "--data", root / "valid.csv"], capsys)
    message = command_error(status, err, out)
    assert message.startswith(f"run directory {tmp_path / 'runs' / 'other'} has not finished (training was interrupted")
    assert f"resume it with python -m tfbert.train --config {staging / 'config.yaml'}" in message
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [".other.incomplete"]
    assert not (staging / "evaluations").exists()
    with pytest.raises(tfbert.TfbertError, match="has not finished"):
        tfbert.evaluate(tmp_path / "runs" / given, root / "valid.csv")
