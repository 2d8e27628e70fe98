"""W&B tracking (tfbert.tracking), read back from the offline run's transaction log (tests/wandb_logs.py); and W&B failing."""

from __future__ import annotations

import doctest
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

import tfbert  # noqa: F401
import wandb

from tfbert import evaluation, export, tracking, training
from tfbert.evaluate import main as evaluate_main
from tfbert.predict import main as predict_main
from tfbert.train import main as train_main
from tfbert.config import build_config
from tfbert.data import LabelMap
from tfbert.data.statistics import dataset_stats
from tfbert.errors import run_command
from tfbert.predictor import Predictor
from tfbert.wandb_callbacks import ResumedMetricsLogger, ValidationLogger

from conftest import RUN_FILES, command_error, make_split, nan_weights_at, own_copy, raises_one_line, shared, write_yaml
from wandb_logs import LoggedRun, artifact_folder, sentiment_csv, tracked_config


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory, tiny_encoder):
    tmp_path = tmp_path_factory.mktemp("tracked")
    result = training.train(tracked_config(tmp_path, tiny_encoder))
    (run_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")  # W&B's service may still write its logs
    shared(result.run_dir)
    return result, LoggedRun(run_dir)


@pytest.mark.slow
def test_the_resolved_config_is_the_runs_config(tracked_run):
    result, logged = tracked_run
    written = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    for key in ("learning_rate", "max_seq_length", "dropout", "encoder", "run_name", "wandb_project"):
        assert logged.config[key] == written[key], key


@pytest.mark.slow
def test_history_has_per_step_and_per_epoch_loss_and_learning_rate(tracked_run):
    _, logged = tracked_run
    steps = [row for row in logged.history if "batch/loss" in row]
    epochs = [row for row in logged.history if "epoch/loss" in row]
    assert steps and all("batch/learning_rate" in row for row in steps)
    assert len(epochs) == 2
    assert all(row["epoch/learning_rate"] == pytest.approx(1e-3) for row in epochs)
    assert all("epoch/val_loss" in row for row in epochs)


@pytest.mark.slow
def test_evaluation_metrics_tables_and_confusion_matrix_are_logged(tracked_run):
    result, logged = tracked_run
    for name, value in result.metrics["validation"].items():
        assert logged.summary[f"validation/{name}"] == pytest.approx(value), name
    assert {"plots/training_curves", "plots/validation/confusion_matrix", "plots/validation/precision_recall",
            "plots/data/label_distribution", "plots/data/text_lengths"} <= set().union(*logged.history)
    keys = set().union(*logged.history)
    assert {"validation/classification_report", "validation/predictions", "validation/confusion_matrix_table",
            "data/train/label_distribution_table", "data/train/words_per_text_table"} <= keys


@pytest.mark.slow
def test_model_and_dataset_artifacts_are_logged(tracked_run):
    result, logged = tracked_run
    by_type = {artifact.type: artifact for artifact in logged.artifacts}
    assert {"model", "dataset"} <= set(by_type)  # (W&B adds run_table artifacts for logged tables)
    model = by_type["model"]
    assert set(model.aliases) >= {"latest", "best"}
    metadata = json.loads(model.metadata)
    assert metadata["label_map"] == json.loads((result.run_dir / "label_map.json").read_text())
    assert metadata["metrics"]["validation"]["accuracy"] == pytest.approx(result.metrics["validation"]["accuracy"])
    assert metadata["encoder"] == result.run_dir.joinpath("config.yaml").read_text().split("encoder: ")[1].split("\n")[0]
    saved = {entry.path for entry in model.manifest.contents}
    assert {"export/saved_model.pb", "export/label_map.json", "config.yaml", "label_map.json", "metrics.json"} <= saved
    assert not [path for path in saved if path.startswith("model/")]  # what Predictor loads, not the Keras model
    assert json.loads(by_type["dataset"].metadata)["rows"] == {"train": 90, "valid": 30}


@pytest.mark.slow
def test_the_model_artifact_is_what_predictor_predict_and_evaluate_load(tracked_run, tmp_path, capsys):
    result, logged = tracked_run
    (model,) = [artifact for artifact in logged.artifacts if artifact.type == "model"]
    folder = artifact_folder(model, tmp_path / "artifacts" / "tracked-model:v0")
    texts = ["the film was very good great", "the film was a bad dull", "fun"]
    from_artifact = Predictor.load(folder).predict(texts)
    from_run = Predictor.load(result.run_dir).predict(texts)
    pd.testing.assert_frame_equal(from_artifact, from_run)
    assert json.loads((folder / "export" / "label_map.json").read_text())["threshold"] == pytest.approx(
        result.metrics["validation"]["decision_threshold"])

    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    status = run_command(predict_main, ["--model", str(folder), "--input", str(tmp_path / "in.csv"),
                                                "--output", str(tmp_path / "out.csv")])
    assert status == 0, capsys.readouterr().err
    assert pd.read_csv(tmp_path / "out.csv", dtype={"predicted_label": str})["predicted_label"].tolist() == \
        from_run["predicted_label"].tolist()
    new = sentiment_csv(tmp_path / "new.csv", rows=40)
    status = run_command(evaluate_main, ["--model", str(folder), "--data", str(new), "--output",
                                                 str(tmp_path / "report"), "--wandb_mode=disabled"])
    assert status == 0, capsys.readouterr().err
    evaluated = json.loads((tmp_path / "report" / "metrics.json").read_text())["evaluation"]
    assert evaluated["num_examples"] == 40 and 0 <= evaluated["accuracy"] <= 1


@pytest.mark.slow
def test_validation_metrics_are_logged_every_epoch_and_the_final_ones_in_the_summary(tracked_run):
    """configs/sweep.yaml's metric, validation/loss, is in the history once per epoch (fit's,
    for Hyperband) and in the summary as the final evaluation's (the best epoch, float32)."""
    result, logged = tracked_run
    rows = [row for row in logged.history if "validation/loss" in row]
    history = pd.read_csv(result.run_dir / "history.csv")
    assert [row["epoch/epoch"] for row in rows] == history["epoch"].tolist() == [0, 1]
    assert [row["validation/loss"] for row in rows] == pytest.approx(history["val_loss"].tolist())
    assert [row["validation/accuracy"] for row in rows] == pytest.approx(history["val_accuracy"].tolist())
    assert {f"validation/{name}" for name in ("precision", "recall", "precision_at_recall_0.5")} <= set(rows[0])
    final = result.metrics["validation"]
    assert logged.summary["validation/loss"] == pytest.approx(final["loss"])
    assert not [row for row in logged.history if "validation/f1" in row]  # final metrics: summary only
    assert logged.summary["validation/f1"] == pytest.approx(final["f1"])


@pytest.mark.slow
def test_the_evaluate_command_logs_an_evaluate_job_in_the_trainings_group(tracked_run, tmp_path):
    result, logged = tracked_run
    run_dir = own_copy(result.run_dir.parent, tmp_path) / result.run_dir.name  # its runs/ and runs/wandb/
    wandb_dir = run_dir.parent / "wandb"
    before = set(wandb_dir.glob("offline-run-*"))
    evaluated = evaluation.evaluate(run_dir, str(sentiment_csv(tmp_path / "new.csv", rows=40)))
    folder, metrics = evaluated.folder, evaluated.metrics
    (new_run,) = set(wandb_dir.glob("offline-run-*")) - before
    evaluated = LoggedRun(new_run)
    assert (logged.job_type, evaluated.job_type) == ("train", "evaluate")
    assert evaluated.group == logged.group and evaluated.group
    for name in ("accuracy", "f1", "loss"):
        assert evaluated.summary[f"evaluation/{name}"] == pytest.approx(metrics[name]), name
    keys = set().union(*evaluated.history)
    assert {"evaluation/classification_report", "evaluation/predictions", "plots/evaluation/confusion_matrix",
            "plots/evaluation/precision_recall"} <= keys
    assert folder == run_dir / "evaluations" / "new"


@pytest.mark.slow
def test_a_dataframe_as_data_is_logged_as_a_dataset_artifact_and_save_model_uploads_only_the_export(tmp_path,
                                                                                                     tiny_encoder):
    """From the Python API, data_path may be a DataFrame: W&B's config says what it was and
    the dataset artifact holds its rows. With save: model the run keeps and uploads its
    export/ and no model/. (save: metrics is tested with configs/sweep.yaml's trials below.)"""
    frame = pd.read_csv(sentiment_csv(tmp_path / "data.csv", rows=80))
    result = training.train(tracked_config(tmp_path, tiny_encoder, epochs=1, data_path=frame, save="model"))
    (run_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    logged = LoggedRun(run_dir)
    assert logged.config["data_path"] == "<DataFrame: 80 rows>"
    (dataset,) = [artifact for artifact in logged.artifacts if artifact.type == "dataset"]
    assert dataset.name == "DataFrame-80-rows"
    metadata = json.loads(dataset.metadata)
    assert metadata["data_path"] == "<DataFrame: 80 rows>" and metadata["rows"] == {"train": 60, "valid": 20}
    assert {entry.path for entry in dataset.manifest.contents} >= {"train.table.json", "valid.table.json"}
    assert result.metrics["validation"]["num_examples"] == 20

    assert sorted(p.name for p in result.run_dir.iterdir()) == sorted(set(RUN_FILES) - {"model"})
    raises_one_line(export.load_model, result.run_dir / "model", match="saved with `save: model`.*its export/")
    (model,) = [artifact for artifact in logged.artifacts if artifact.type == "model"]
    saved = {entry.path for entry in model.manifest.contents}  # save: all's artifact, loaded in a test above
    assert {"export/saved_model.pb", "export/label_map.json", "config.yaml", "metrics.json"} <= saved
    assert not [path for path in saved if path.startswith("model/")]


@pytest.mark.slow
def test_wandb_init_failing_online_falls_back_to_offline_and_failing_mid_training_warns_once(tmp_path, tiny_encoder,
                                                                                              monkeypatch, capsys):
    """Two faults of one run: W&B refuses the online run (the run goes on offline), then
    every log call fails (one warning, and the run completes)."""
    real_init = wandb.init
    modes = []

    def init(**kwargs):
        modes.append(kwargs["mode"])
        if kwargs["mode"] == "online":
            raise wandb.errors.CommError("invalid API key")
        return real_init(**kwargs)

    def broken_log(*args, **kwargs):
        raise ConnectionError("W&B is down")

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", broken_log)
    result = training.train(tracked_config(tmp_path, tiny_encoder, epochs=1, wandb_mode="online"))
    assert modes == ["online", "offline"]
    err = capsys.readouterr().err
    assert "invalid API key" in err
    assert list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert (result.run_dir / "model" / "saved_model.pb").is_file()
    assert sorted(p.name for p in result.run_dir.iterdir()) == RUN_FILES
    warnings = [line for line in err.splitlines() if line.startswith("tfbert: warning: W&B failed")]
    assert len(warnings) == 1 and "W&B is down" in warnings[0]


def test_under_a_sweep_agent_a_failing_wandb_init_stops_the_trial_in_one_line(tmp_path, tiny_encoder, monkeypatch,
                                                                               capsys):
    modes = []

    def init(**kwargs):
        modes.append(kwargs["mode"])
        raise wandb.errors.CommError("Network error (ConnectionError), entering retry loop.\nmore")

    monkeypatch.setattr(wandb, "init", init)
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")
    config = tracked_config(tmp_path, tiny_encoder, epochs=1, wandb_mode="online")
    message = raises_one_line(training.train, config, match="could not start the W&B run of sweep abc123")
    assert modes == ["online"] and "Network error" in message and "wandb login" in message  # no offline fallback
    assert not (tmp_path / "runs" / "run").exists()

    config_file = write_yaml(tmp_path / "trial.yaml", config.to_dict())
    status = run_command(train_main, ["--config", str(config_file)])
    out, err = capsys.readouterr()
    assert "sweep abc123" in command_error(status, err, out)


@pytest.mark.slow
def test_a_resumed_run_logs_to_the_same_wandb_run_and_continues_its_steps(tmp_path, tiny_encoder, monkeypatch):
    from tfbert import callbacks
    from tfbert.errors import TfbertError

    config = tracked_config(tmp_path, tiny_encoder, epochs=3, backup_every_steps=0)  # 6 steps per epoch
    original = callbacks.training_callbacks
    monkeypatch.setattr(callbacks, "training_callbacks", lambda *args: original(*args) + [nan_weights_at(2, 2)])
    with pytest.raises(TfbertError, match="epoch 3, step 3"):
        training.train(config)
    monkeypatch.setattr(callbacks, "training_callbacks", original)
    training.train(config)

    first, second = (LoggedRun(path) for path in sorted((tmp_path / "runs" / "wandb").glob("offline-run-*")))
    assert first.run_id == second.run_id
    # Offline, W&B cannot say which steps the killed run logged after its last backup
    # (end of epoch 2); the resumed run numbers its steps from that backup on, not from 0.
    steps = [[row["batch/batch_step"] for row in run.history if "batch/loss" in row] for run in (first, second)]
    epochs = [[row["epoch/epoch"] for row in run.history if "epoch/loss" in row] for run in (first, second)]
    assert (steps, epochs) == ([[0, 10, 20], [20]], [[0, 1], [2]])


class ResumedRun:  # a run W&B resumed: its summary holds the last step the killed run logged
    resumed, summary = True, {"batch/batch_step": 80}


def test_a_resumed_online_run_skips_the_steps_it_already_holds(disabled_wandb_run):
    """The metrics logger continues a resumed run's counts from the backup's step (60, in
    epochs of 30 steps) and skips the steps the run holds (tests/test_wandb_callbacks.py
    runs the skipping); a new run starts at 0 and skips nothing."""
    validation, metrics = tracking.Tracker(ResumedRun()).keras_callbacks(initial_step=60, steps_per_epoch=30)
    assert isinstance(validation._callback, ValidationLogger) and isinstance(metrics._callback, ResumedMetricsLogger)
    logger = metrics._callback
    assert (logger.global_step, logger.global_batch, logger.logged_through) == (60, 60, 80)
    _, metrics = tracking.Tracker(disabled_wandb_run).keras_callbacks()
    assert (metrics._callback.global_step, metrics._callback.global_batch, metrics._callback.logged_through) == \
        (0, 0, None)
    assert tracking.Tracker(None).keras_callbacks(60, 30) == []


class FailingRun:
    """A resumed W&B run whose every call fails, as when the network is lost."""

    resumed = True

    def __getattr__(self, name):
        raise ConnectionError("W&B is down\nretrying")


@pytest.fixture
def logged_things(tmp_path):
    """What each of Tracker's log methods takes, for a two-row binary split."""
    label_map = LabelMap(labels=("bad", "good"), task="binary")
    split = make_split(["a dull film", "a great film"], labels=np.array([0, 1], dtype=np.int32), name="train")
    evaluation = SimpleNamespace(metrics={"accuracy": 1.0}, predicted=np.array([0, 1]),
                                 probabilities=np.array([[0.2], [0.9]], dtype=np.float32),
                                 report_rows={"bad": dict(precision=1.0, recall=1.0, support=1, **{"f1-score": 1.0}),
                                              "accuracy": 1.0})
    run_dir = tmp_path / "run"
    (run_dir / "export").mkdir(parents=True)
    for name in tracking.MODEL_ARTIFACT_FILES:
        (run_dir / name).write_text("{}")
    config = build_config({"data_path": "reviews.csv"}, name="tracked")
    return SimpleNamespace(label_map=label_map, split=split, evaluation=evaluation, run_dir=run_dir, config=config,
                           stats=dataset_stats({"train": split}, label_map))


GUARDED_CALLS = {
    "reading the resumed run's last step": lambda tracker, things: tracker._last_logged_batch_step(),
    "logging the data": lambda tracker, things: tracker.log_data(
        things.config, {"train": things.split}, things.label_map, things.stats),
    "logging the validation evaluation": lambda tracker, things: tracker.log_evaluation(
        "validation", things.evaluation, things.split, things.label_map),
    "logging the plots": lambda tracker, things: tracker.log_images({}),
    "logging the model artifact": lambda tracker, things: tracker.log_model(
        things.run_dir, things.config, {}, things.label_map),
    "finishing the run": lambda tracker, things: tracker.finish(),
}


@pytest.mark.parametrize("what", GUARDED_CALLS)
def test_a_failing_wandb_call_in_each_tracker_method_warns_once_and_turns_tracking_off(what, logged_things, capsys):
    tracker = tracking.Tracker(FailingRun())
    assert GUARDED_CALLS[what](tracker, logged_things) is None
    assert not tracker.active and tracker.run_id is None
    assert GUARDED_CALLS[what](tracker, logged_things) is None  # tracking is off: nothing runs, nothing said
    assert capsys.readouterr().err.splitlines() == [
        f"tfbert: warning: W&B failed during {what} (ConnectionError: W&B is down); training goes on without W&B"]


def test_reading_a_resumed_runs_last_step():
    assert tracking.Tracker(ResumedRun())._last_logged_batch_step() == 80
    assert tracking.Tracker(SimpleNamespace(resumed=False))._last_logged_batch_step() is None
    assert tracking.Tracker(SimpleNamespace(resumed=True, summary={}))._last_logged_batch_step() is None


def test_the_docstring_examples_run():
    result = doctest.testmod(tracking)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow
def test_disabled_writes_nothing_for_wandb(tmp_path, tiny_encoder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    training.train(tracked_config(tmp_path, tiny_encoder, epochs=1, wandb_mode="disabled"))
    assert not list(tmp_path.rglob("wandb"))


@pytest.mark.parametrize("env, netrc_text, expected", [
    ({"WANDB_API_KEY": "x" * 40}, None, "online"),
    ({}, "machine api.wandb.ai\n  login user\n  password abc\n", "online"),
    ({}, None, "offline"),
    ({"WANDB_MODE": "disabled"}, None, "disabled"),
])
def test_default_mode_follows_the_api_key(tmp_path, monkeypatch, capsys, env, netrc_text, expected):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    netrc_path = tmp_path / "netrc"
    if netrc_text:
        netrc_path.write_text(netrc_text)
        netrc_path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_path))
    assert tracking.resolve_mode(build_config({})) == expected
    said = capsys.readouterr().err
    assert ("logging to W&B offline" in said) == (expected == "offline" and not env)


def test_sweep_values_in_wandb_config_override_the_config():
    config = build_config({"learning_rate": 2e-5, "dropout": 0.5})
    overrides = tracking.sweep_overrides(config, {"learning_rate": 3e-4, "dropout": 0.5, "_wandb": {}, "other": 1})
    assert overrides == {"learning_rate": 3e-4}


@pytest.mark.parametrize("encoder, group", [
    ("https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4", "bert_en_uncased_L-12_H-768_A-12"),
    ("all-minilm-l6-v2", "all-minilm-l6-v2"),
    ("hf:/models/my-bert/", "my-bert"),
])
def test_default_group_is_the_encoders_name(encoder, group):
    assert tracking.default_group(build_config({"encoder": encoder})) == group
