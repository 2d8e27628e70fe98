"""Evaluation: thresholds, sklearn-consistent metrics, confusion matrices and the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, multilabel_confusion_matrix,
                             precision_score, recall_score)

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import input_pipeline, encoders, model, packers, scoring, training
from tfbert.evaluate import main as evaluate_main
from tfbert.config import build_config
from tfbert.data.labels import LabelMap
from tfbert.data.splits import Split
from tfbert.errors import run_command

from conftest import command_error, reviews

BINARY = LabelMap(("no", "yes"), "binary")
MULTICLASS = LabelMap(("cat", "dog", "bird"), "multiclass")
MULTILABEL = LabelMap(("red", "green", "blue"), "multilabel")


# --------------------------------------------------------------------------- predicted_ids

def test_binary_predictions_threshold_the_single_probability_at_one_half():
    probabilities = np.array([[0.1], [0.49999], [0.5], [0.51], [0.99]], dtype=np.float32)
    predicted = scoring.predicted_ids(probabilities, BINARY)
    assert predicted.shape == (5,)
    assert predicted.tolist() == [0, 0, 1, 1, 1]


def test_multiclass_predictions_take_the_most_probable_label():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.34, 0.33, 0.33], [0.1, 0.1, 0.8], [0.4, 0.45, 0.15]])
    assert scoring.predicted_ids(probabilities, MULTICLASS).tolist() == [1, 0, 2, 1]


def test_multilabel_predictions_threshold_each_label():
    probabilities = np.array([[0.9, 0.2, 0.5], [0.1, 0.1, 0.1], [0.6, 0.7, 0.8]])
    predicted = scoring.predicted_ids(probabilities, MULTILABEL)
    assert predicted.tolist() == [[1, 0, 1], [0, 0, 0], [1, 1, 1]]
    assert predicted.shape == (3, 3)


# --------------------------------------------------------------------------- label_metrics

def _sklearn(truth, predicted, average):
    return {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted, average=average, zero_division=0),
        "recall": recall_score(truth, predicted, average=average, zero_division=0),
        "f1": f1_score(truth, predicted, average=average, zero_division=0),
    }


def test_binary_metrics_are_the_positive_classs():
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    predicted = np.array([0, 1, 0, 0, 1, 0, 1, 1, 1, 0])
    metrics = scoring.label_metrics(truth, predicted, BINARY)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "binary"))
    assert metrics["precision"] == pytest.approx(3 / 5) and metrics["recall"] == pytest.approx(3 / 4)
    assert all(type(value) is float for value in metrics.values())  # JSON-ready


def test_multiclass_metrics_are_macro_averages():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 1, 2, 1, 1, 2, 0, 2, 2])
    metrics = scoring.label_metrics(truth, predicted, MULTICLASS)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "macro"))
    assert metrics != pytest.approx(_sklearn(truth, predicted, "weighted"))  # the averaging matters here


def test_multilabel_metrics_are_macro_averages_with_subset_accuracy():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    predicted = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 0, 1]])
    metrics = scoring.label_metrics(truth, predicted, MULTILABEL)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "macro"))
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_a_label_never_predicted_scores_zero_without_warnings():
    truth = np.array([0, 1, 2, 2])
    predicted = np.array([0, 0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's UndefinedMetricWarning would fail here
        metrics = scoring.label_metrics(truth, predicted, MULTICLASS)
    assert metrics["precision"] == pytest.approx(0.25 / 3)
    assert metrics["recall"] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- confusion

def test_confusion_rows_are_true_labels_and_every_label_is_listed():
    truth = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0])  # label 2 ("bird") appears nowhere
    result = scoring.confusion(truth, predicted, MULTICLASS)
    assert result == {"labels": ["cat", "dog", "bird"], "matrix": [[1, 1, 0], [1, 2, 0], [0, 0, 0]]}
    assert result["matrix"] == confusion_matrix(truth, predicted, labels=[0, 1, 2]).tolist()


def test_binary_confusion_is_two_by_two():
    result = scoring.confusion(np.array([1, 1, 1]), np.array([1, 0, 1]), BINARY)
    assert result == {"labels": ["no", "yes"], "matrix": [[0, 0], [1, 2]]}


def test_multilabel_confusion_is_one_matrix_per_label():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    result = scoring.confusion(truth, predicted, MULTILABEL)
    assert result["labels"] == ["red", "green", "blue"]
    expected = multilabel_confusion_matrix(truth, predicted)
    assert result["matrices"] == {name: m.tolist() for name, m in zip(["red", "green", "blue"], expected)}
    assert result["matrices"]["red"] == [[1, 0], [1, 1]]


# --------------------------------------------------------------------------- running and scoring a split

@pytest.fixture(scope="module")
def tiny(tiny_encoder: str):
    encoder = encoders.load_encoder(tiny_encoder)
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=16)
    return encoder, packer


def _split(num_rows: int, labels: np.ndarray) -> Split:
    words = "good bad film movie story great awful the a was very fun dull".split()
    rng = np.random.default_rng(num_rows)
    texts = np.array([" ".join(rng.choice(words, size=6)) for _ in range(num_rows)], dtype=object)
    return Split("valid", texts, None, labels)


def _run_and_score(classifier, split: Split, packer, batch_size: int, label_map: LabelMap) -> scoring.Evaluation:
    """The final evaluation's route: run_model_in_length_order, then score."""
    def batches(rows: Split):
        return input_pipeline.make_dataset(rows, packer, batch_size, padding="batch")

    return scoring.score(scoring.run_model_in_length_order(classifier, split, batches, label_map), split.labels,
                         label_map)


@pytest.mark.parametrize("label_map", [MULTICLASS, BINARY], ids=["multiclass", "binary"])
def test_running_and_scoring_a_split_scores_a_model(label_map, tiny):
    encoder, packer = tiny
    labels = np.arange(23, dtype=np.int32) % label_map.num_labels
    split = _split(23, labels)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, batch_size=8, padding="batch")
    result = _run_and_score(classifier, split, packer, 8, label_map)

    keys = {"accuracy", "precision", "recall", "f1", "loss", "num_examples"}
    if label_map.task == "binary":
        keys |= {"precision_at_recall_0.5", "decision_threshold", "at_0.5"}
    assert set(result.metrics) == keys
    assert result.metrics["num_examples"] == 23
    probabilities = classifier.predict(dataset, verbose=0)
    predicted = scoring.predicted_ids(probabilities, label_map)
    assert {k: result.metrics[k] for k in ("accuracy", "precision", "recall", "f1")} == pytest.approx(
        scoring.label_metrics(labels, predicted, label_map))
    keras = classifier.evaluate(dataset, return_dict=True, verbose=0)
    assert result.metrics["loss"] == pytest.approx(keras["loss"], rel=1e-5)
    # The command line's route (probabilities only, no model) gives Keras' own figures.
    assert scoring.keras_results(label_map, labels, probabilities) == pytest.approx(keras, rel=1e-5, abs=1e-6)

    for name in label_map.names:
        assert name in result.report
    assert "macro avg" in result.report and "accuracy" in result.report
    matrix = np.array(result.confusion["matrix"])
    assert matrix.shape == (label_map.num_labels,) * 2
    assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=label_map.num_labels).tolist()
    assert result.confusion["labels"] == label_map.names


def test_running_in_length_order_gives_the_in_order_outputs_back_in_order(tiny):
    encoder, packer = tiny
    words = "good bad film movie story great awful the a was very fun dull".split()
    rng = np.random.default_rng(3)
    texts = np.array([" ".join(rng.choice(words, size=n)) for n in rng.integers(1, 14, size=37)], dtype=object)
    labels = (np.arange(37) % 3).astype(np.int32)
    split = Split("valid", texts, None, labels)
    classifier = model.build_classifier(encoder, MULTICLASS, dropout=0.1)
    model.compile_classifier(classifier, MULTICLASS, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, 8, padding="batch")
    in_order = scoring.ModelOutputs(classifier.evaluate(dataset, return_dict=True, verbose=0),
                                    classifier.predict(dataset, verbose=0))  # two passes, as Keras users would
    batches_seen = []

    def batches(rows: Split):
        batches_seen.append(rows.texts.tolist())
        return input_pipeline.make_dataset(rows, packer, 8, padding="batch")

    sorted_run = scoring.run_model_in_length_order(classifier, split, batches, MULTICLASS)
    assert batches_seen == [sorted(texts.tolist(), key=len)]  # the model saw the rows shortest first
    np.testing.assert_allclose(sorted_run.probabilities, in_order.probabilities, atol=1e-5)
    assert sorted_run.keras_results == pytest.approx(in_order.keras_results, rel=1e-5)


def test_running_and_scoring_multilabel_data(tiny):
    encoder, packer = tiny
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    split = _split(5, labels)
    classifier = model.build_classifier(encoder, MULTILABEL, dropout=0.1)
    model.compile_classifier(classifier, MULTILABEL, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, 4, padding="batch")
    result = _run_and_score(classifier, split, packer, 4, MULTILABEL)
    keras = classifier.evaluate(dataset, return_dict=True, verbose=0)
    assert scoring.keras_results(MULTILABEL, labels, result.probabilities) == pytest.approx(keras, rel=1e-5, abs=1e-6)
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1", "loss", "num_examples"}
    assert result.metrics["num_examples"] == 5
    assert all(name in result.report for name in MULTILABEL.names) and "macro avg" in result.report
    assert sorted(result.confusion["matrices"]) == sorted(MULTILABEL.names)


def test_f1_threshold_maximises_f1_and_beats_one_half():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth = (rng.random(400) < 0.1).astype(int)  # rare positives (10%): the F1 threshold lies below 0.5
    probabilities = np.clip(0.25 * truth + rng.random(400) * 0.45, 0, 1)
    best = scoring.f1_threshold(truth, probabilities)
    f1_at = lambda t: f1_score(truth, probabilities >= t)  # noqa: E731
    assert f1_at(best) >= max(f1_at(t) for t in np.linspace(0.01, 0.99, 99)) - 1e-12
    assert f1_at(best) > f1_at(0.5)


def test_score_reports_the_decision_threshold_and_one_half():
    label_map = LabelMap((0, 1), "binary")
    truth = np.array([0, 0, 1, 1])
    outputs = scoring.ModelOutputs({"loss": 0.4, "precision_at_recall_0.5": 1.0},
                                    np.array([[0.1], [0.35], [0.4], [0.8]]))
    result = scoring.score(outputs, truth, label_map, threshold=0.3)
    assert result.metrics["decision_threshold"] == 0.3
    assert result.metrics["accuracy"] == 0.75  # 0.35 becomes a false positive
    assert result.metrics["at_0.5"]["accuracy"] == 0.75 and result.metrics["at_0.5"]["recall"] == 0.5
    assert scoring.decision_threshold("f1", truth, outputs, label_map) == pytest.approx(0.4)
    assert scoring.decision_threshold(0.5, truth, outputs, label_map) == 0.5


# --------------------------------------------------------------------------- python -m tfbert.evaluate

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_encoder):
    """A binary run validated on an explicit file, so the command can re-evaluate that same file."""
    root = tmp_path_factory.mktemp("evaluate_cli")
    reviews(120, seed=0, labels=("neg", "pos")).to_csv(root / "train.csv", index=False)
    valid = reviews(40, seed=1, labels=("neg", "pos"))
    valid.loc[::7, "label"] = valid.loc[::7, "label"].map({"pos": "neg", "neg": "pos"})  # some errors to find
    valid.to_csv(root / "valid.csv", index=False)
    config = build_config({"data_path": str(root / "train.csv"), "valid_path": str(root / "valid.csv"),
                           "encoder": tiny_encoder, "max_seq_length": 16, "learning_rate": 1e-3, "dropout": 0.1,
                           "epochs": 4, "decision_threshold": "f1", "output_dir": str(root / "runs"),
                           "run_name": "run", "wandb_mode": "disabled"})
    return root, training.train(config)


def _evaluate(argv, capsys):
    status = run_command(evaluate_main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_reproduces_the_runs_validation_report(finished_run, capsys):
    root, result = finished_run
    status, out, err = _evaluate(["--model", result.run_dir, "--data", root / "valid.csv"], capsys)
    assert status == 0, err
    folder = result.run_dir / "evaluations" / "valid"
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
    assert confusion["evaluation"] == json.loads((result.run_dir / "confusion_matrix.json").read_text())["validation"]
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


def test_the_python_api_evaluates_as_the_command_does(finished_run, tmp_path, capsys):
    """tfbert.evaluate on a DataFrame and the command on the same rows in a file agree."""

    root, result = finished_run
    frame = pd.read_csv(root / "valid.csv").rename(columns={"text": "review"})
    frame.to_csv(tmp_path / "renamed.csv", index=False)
    status, _, err = _evaluate(["--model", result.run_dir, "--data", tmp_path / "renamed.csv", "--output",
                                tmp_path / "by_command", "--text_column=review"], capsys)
    assert status == 0, err
    evaluated = tfbert.evaluate(result.run_dir, frame, text_column="review")
    assert evaluated.folder == result.run_dir / "evaluations" / "dataframe"
    by_command = json.loads((tmp_path / "by_command" / "metrics.json").read_text())["evaluation"]
    assert evaluated.metrics == by_command
    assert json.loads(evaluated.report_paths["metrics.json"].read_text())["evaluation"] == by_command
    assert set(evaluated.report_paths) == {p.relative_to(tmp_path / "by_command").as_posix()
                                           for p in (tmp_path / "by_command").rglob("*") if p.is_file()}
    with pytest.raises(tfbert.TfbertError, match="already exists"):
        tfbert.evaluate(result.run_dir, frame, text_column="review")
    with pytest.raises(tfbert.TfbertError, match="learning_rate cannot change"):
        tfbert.evaluate(result.run_dir, frame, output=tmp_path / "other", learning_rate=1e-3)



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
