"""The library's training (tfbert.training): an interrupted run, other tasks, the last epoch's
validation as the final evaluation's pass (the `python -m tfbert.train` command: test_train.py;
reproducible runs: test_api.py; class weights: test_labels.py)."""

from __future__ import annotations

import json
import os
import threading
import types

import numpy as np
import pandas as pd
import pytest
import yaml

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras
from tfbert import distribution, export, plots, scoring, training
from tfbert.config import build_config

from conftest import RUN_FILES, write_yaml
from train_command import MACRO_METRICS, NEUTRAL, TOPICS, macro_row, run_main, sentiment_frame, topic_frame


# --------------------------------------------------------------------------- interrupted run

CRASHED_IN: list[str] = []


def _crash(*args, **kwargs):
    CRASHED_IN.append(threading.current_thread().name)
    raise KeyboardInterrupt  # as if the user pressed Ctrl-C there


@pytest.mark.slow
@pytest.mark.parametrize("where, module, function", [
    ("drawing the data plots, in the background while fit's steps run", plots, "save_data_plots"),
    ("writing model/, in the background", export, "save_model"),
    ("writing export/, in the background after model/", export, "save_serving_model"),
    ("writing the reports, while the background writes", scoring, "write_report"),
])
def test_an_interrupted_run_leaves_no_directory_that_looks_finished(tmp_path, tiny_encoder, monkeypatch, where, module,
                                                                    function):
    sentiment_frame(40, seed=3).to_csv(tmp_path / "reviews.csv", index=False)
    config = build_config({
        "data_path": str(tmp_path / "reviews.csv"), "text_column": "review", "label_column": "sentiment",
        "encoder": tiny_encoder, "max_seq_length": 16, "epochs": 1, "train_split": 0.5,
        "output_dir": str(tmp_path / "runs"), "run_name": "crash",
    })
    monkeypatch.setattr(module, function, _crash)
    CRASHED_IN.clear()
    with pytest.raises(KeyboardInterrupt):
        training.train(config)
    assert CRASHED_IN[0].startswith({"save_data_plots": "tfbert-reports", "write_report": "MainThread"}.get(function,
                                                                                                        "tfbert-save"))
    runs = tmp_path / "runs"
    assert not (runs / "crash").exists()
    # Only the hidden staging folder remains, and it is not the finished layout.
    assert os.listdir(runs) == [".crash.incomplete"]
    staged = sorted(os.listdir(runs / ".crash.incomplete"))
    assert "timings.json" not in staged and staged != RUN_FILES
    assert (function in ("write_report", "save_data_plots")) is ("metrics.json" not in staged)  # it got as far as crashing there
    if module is export:  # the writing that crashed left nothing; a crash beside it may leave model/ (it is waited for)
        assert ("model" in staged, "export" in staged) == (function == "save_serving_model", False)
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith(("tfbert-save", "tfbert-reports"))]


# --------------------------------------------------------------------------- other tasks

@pytest.fixture
def validation_passes(monkeypatch) -> types.SimpleNamespace:
    """Records the splits the final evaluation's scoring runs over (`scored`) and the models
    Keras' evaluate runs (`evaluated`: fit calls it for its own per-epoch validation)."""
    passes = types.SimpleNamespace(scored=[], evaluated=[])
    run_model, evaluate = scoring.run_model_in_length_order, tf_keras.Model.evaluate

    def counted(classifier, split, *args):
        passes.scored.append(split.name)
        return run_model(classifier, split, *args)

    def counted_evaluate(model, *args, **kwargs):
        passes.evaluated.append(model.name)
        return evaluate(model, *args, **kwargs)

    monkeypatch.setattr(scoring, "run_model_in_length_order", counted)
    monkeypatch.setattr(tf_keras.Model, "evaluate", counted_evaluate)
    return passes


@pytest.mark.parametrize("strategy, precision, validates", [
    ("auto", "float32", True), ("one_device", "float32", False), ("auto", "mixed_bfloat16", True),
])
def test_fit_validates_its_last_epoch_as_evaluated_with_no_strategy(strategy, precision, validates):
    job = types.SimpleNamespace(strategy=distribution.make_strategy(strategy), precision=precision)
    assert training._validates_as_evaluated(job) is validates


@pytest.mark.slow
def test_multiclass_run_with_overrides_and_balanced_weights(tmp_path, tiny_encoder, validation_passes):
    """Also: in float32 on one device, fit validates its last epoch as the final evaluation
    scores, and that evaluation reuses it (each split scored once)."""
    frame = topic_frame(60, seed=4)
    frame = frame[~((frame["topic"] == "nature") & (frame.index % 2 == 0))]  # unbalanced: 20/20/10
    frame.to_csv(tmp_path / "topics.csv", index=False)
    config_file = write_yaml(tmp_path / "topics.yaml", {
        "data_path": str(tmp_path / "topics.csv"), "label_column": "topic", "encoder": tiny_encoder,
        "max_seq_length": 16, "epochs": 3, "learning_rate": 1e-3, "train_split": 0.6,
        "output_dir": str(tmp_path / "runs"), "run_name": "topics",
    })
    run = run_main(["--config", str(config_file), "--learning_rate=3e-5", "--epochs", "1", "--mixed_precision=float32",
                    "--dropout", "0.2", "--class_weight=balanced", "--optimizer", "adamw"])
    assert run.status == 0, run.stderr
    run_dir = tmp_path / "runs" / "topics"
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (written["learning_rate"], written["epochs"], written["dropout"]) == (3e-5, 1, 0.2)
    assert (written["class_weight"], written["optimizer"]) == ("balanced", "adamw")
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 1
    assert validation_passes.scored == ["valid"] and validation_passes.evaluated == []  # once, in fit; no Keras pass
    assert history["val_loss"].iloc[0] == run.result.metrics["validation"]["loss"]  # the same pass, bit for bit
    assert json.loads((run_dir / "timings.json").read_text())["seconds"]["fit_validation"] > 0

    head = run.result.model.get_layer("output")
    assert head.units == 3 and head.activation.__name__ == "softmax"
    assert json.loads((run_dir / "label_map.json").read_text()) == {"task": "multiclass",
                                                                    "labels": ["crime", "music", "nature"]}
    validation = run.result.metrics["validation"]
    assert set(validation) == MACRO_METRICS
    assert validation["num_examples"] == 20
    report = (run_dir / "classification_report.txt").read_text()
    assert all(name in report for name in ("crime", "music", "nature"))
    # multi-class precision / recall / F1 are macro averages
    assert macro_row(report) == pytest.approx([validation["precision"], validation["recall"], validation["f1"]], abs=1e-4)
    matrix = np.array(json.loads((run_dir / "confusion_matrix.json").read_text())["validation"]["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 20
    assert matrix.sum(axis=1).tolist() == [8, 8, 4]


@pytest.mark.slow
def test_a_mixed_precision_run_validates_its_last_epoch_in_float32_once(tmp_path, tiny_encoder, validation_passes):
    """In mixed_bfloat16, fit's last epoch validates with the float32 model the final evaluation
    scores (not in bfloat16, with Keras), that evaluation reuses it, and the run keeps that model:
    the export scores the validation file to the metrics within 1e-6."""
    sentiment_frame(48, seed=5).to_csv(tmp_path / "train.csv", index=False)
    sentiment_frame(24, seed=6).to_csv(tmp_path / "valid.csv", index=False)
    config = build_config({
        "data_path": str(tmp_path / "train.csv"), "valid_path": str(tmp_path / "valid.csv"), "text_column": "review",
        "label_column": "sentiment", "encoder": tiny_encoder, "max_seq_length": 16, "epochs": 1,
        "mixed_precision": "mixed_bfloat16", "output_dir": str(tmp_path / "runs"), "run_name": "mixed",
        "wandb_mode": "disabled",
    })
    result = training.train(config)
    timings = json.loads((result.run_dir / "timings.json").read_text())
    assert timings["compute_precision"] == "mixed_bfloat16"
    assert validation_passes.scored == ["valid"] and validation_passes.evaluated == []  # once, in fit; no Keras pass
    history = pd.read_csv(result.run_dir / "history.csv")
    assert history["val_loss"].iloc[0] == result.metrics["validation"]["loss"]  # the same pass, bit for bit
    assert {layer.compute_dtype for layer in result.model.layers} == {"float32", "int32"}  # int32: the inputs
    evaluated = tfbert.evaluate(result.run_dir, str(tmp_path / "valid.csv"), text_column="review",
                                label_column="sentiment", wandb_mode="disabled")
    for name in ("accuracy", "f1", "loss"):
        assert evaluated.metrics[name] == pytest.approx(result.metrics["validation"][name], abs=1e-6)


@pytest.mark.slow
def test_multilabel_run(tmp_path, tiny_encoder):
    rng = np.random.default_rng(5)
    names = list(TOPICS)
    rows = []
    for i in range(48):
        labels = sorted({names[i % 3], names[int(rng.integers(0, 3))]})
        words = list(rng.choice(NEUTRAL, size=3)) + [TOPICS[label][0] for label in labels]
        rows.append({"text": " ".join(words), "tags": labels})
    pd.DataFrame(rows).to_json(tmp_path / "tags.jsonl", orient="records", lines=True)
    config = build_config({
        "data_path": str(tmp_path / "tags.jsonl"), "label_column": "tags", "encoder": tiny_encoder,
        "max_seq_length": 16, "epochs": 1, "learning_rate": 1e-3, "train_split": 0.5,
        "output_dir": str(tmp_path / "runs"), "run_name": "tags",
    })
    result = training.train(config)
    head = result.model.get_layer("output")
    assert head.units == 3 and head.activation.__name__ == "sigmoid"
    assert json.loads((result.run_dir / "label_map.json").read_text()) == {"task": "multilabel", "labels": sorted(names)}
    validation = result.metrics["validation"]
    assert set(validation) == MACRO_METRICS
    assert validation["num_examples"] == 24
    report = (result.run_dir / "classification_report.txt").read_text()
    assert all(name in report for name in names) and "macro avg" in report
    assert macro_row(report) == pytest.approx([validation["precision"], validation["recall"], validation["f1"]], abs=1e-4)
    confusion = json.loads((result.run_dir / "confusion_matrix.json").read_text())["validation"]
    assert sorted(confusion["matrices"]) == sorted(names)
    assert all(np.array(m).shape == (2, 2) and np.array(m).sum() == 24 for m in confusion["matrices"].values())
    assert sorted(os.listdir(result.run_dir)) == RUN_FILES


# --------------------------------------------------------------------------- long documents

@pytest.mark.slow
def test_a_windows_run_trains_scores_saves_and_serves_one_row_a_document(tmp_path, tiny_encoder):
    """long_texts: windows end to end: texts of 1 to ~6 windows, the topic word at the end, an empty
    text dropped by on_bad_rows, micro-batches by document; evaluation, the export and
    `tfbert.evaluate` read the mode from the run and give one row a document."""
    from tfbert.evaluation import evaluate
    from tfbert.predictor import Predictor

    frame = topic_frame(45, seed=6)
    frame["text"] = [" ".join(["the film"] * (i % 7) * 6 + [text]) for i, text in enumerate(frame["text"])]
    frame.loc[len(frame)] = ["   ", "music"]  # a whitespace-only text: on_bad_rows
    frame.to_csv(tmp_path / "long.csv", index=False)
    config_file = write_yaml(tmp_path / "long.yaml", {
        "data_path": str(tmp_path / "long.csv"), "label_column": "topic", "encoder": tiny_encoder,
        "max_seq_length": 16, "long_texts": "windows", "max_windows": 3, "window_pooling": "attention",
        "epochs": 1, "train_batch_size": 8, "gradient_accumulation_steps": 2, "train_split": 0.6,
        "on_bad_rows": "drop", "output_dir": str(tmp_path / "runs"), "run_name": "long"})
    run = run_main(["--config", str(config_file), "--window_stride=10"])
    assert run.status == 0, run.stderr
    run_dir = tmp_path / "runs" / "long"
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert {key: written[key] for key in ("long_texts", "window_stride", "max_windows", "window_pooling")} == {
        "long_texts": "windows", "window_stride": 10, "max_windows": 3, "window_pooling": "attention"}
    assert run.result.metrics["validation"]["num_examples"] == 18  # documents, not windows
    assert run.result.model.get_layer("document_pooling").mode == "attention"
    texts = ["the film " * 40 + "music love", "fun", ""]
    predicted = Predictor.load(run_dir).predict(texts)
    assert len(predicted) == 3 and set(predicted["predicted_label"]) <= set(TOPICS)
    frame.iloc[:12].to_csv(tmp_path / "new.csv", index=False)
    evaluated = evaluate(run_dir, str(tmp_path / "new.csv"), output=tmp_path / "scored")
    assert evaluated.metrics["num_examples"] == 12
