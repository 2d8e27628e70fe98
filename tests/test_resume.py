"""Resuming a killed training run: backups, the same batches in the same order, refusals."""

from __future__ import annotations

import os
import re
import signal
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from conftest import ROOT, command_error, nan_weights_at, numbered_rows, saved_weights, shared
from hooked_train import logged_batches, run_hooked_train
from tfbert import callbacks, resume
from tfbert.config import load_config
from tfbert.errors import TfbertError, run_command
from tfbert.train import main

STEPS_PER_EPOCH, EPOCHS = 12, 3  # 240 rows, train_split 0.8, batches of 16

@pytest.mark.slow
def test_a_killed_run_resumes_at_the_next_batch_and_ends_with_the_uninterrupted_weights(tmp_path, tiny_encoder):
    data = numbered_rows(tmp_path / "rows.csv")
    # Dropout inside the encoder (tiny_encoder's 0.1): its generators' state is backed up with the weights, so
    # the resumed run draws the masks the uninterrupted one drew. (The head's dropout is 0: its
    # stateful random op starts afresh in a new process.)
    common = ["--config", "configs/tiny.yaml", f"--data_path={data}", f"--encoder={tiny_encoder}", "--epochs", str(EPOCHS),
              "--dropout=0",
              "--train_batch_size=16", "--backup_every_steps=4", "--wandb_mode=disabled"]

    whole = run_hooked_train(common + [f"--output_dir={tmp_path / 'whole'}", "--run_name=r"], tmp_path / "whole.log")
    assert whole.returncode == 0, whole.stderr[-3000:]

    args = common + [f"--output_dir={tmp_path / 'killed'}", "--run_name=r"]
    killed = run_hooked_train(args, tmp_path / "killed.log", KILL_AT="1,9")  # backups after steps 4 and 8 of epoch 2
    assert killed.returncode == -signal.SIGKILL
    staging = tmp_path / "killed" / ".r.incomplete"
    assert not (tmp_path / "killed" / "r").exists()
    assert resume.resume_point(staging / resume.BACKUP, STEPS_PER_EPOCH) == (1, 8)  # mid-epoch

    resumed = run_hooked_train(args, tmp_path / "resumed.log")  # the same command
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming training at epoch 2, step 9" in resumed.stderr
    run = tmp_path / "killed" / "r"
    assert run.is_dir() and not staging.exists() and not (run / resume.BACKUP).exists()

    # Every batch an uninterrupted run trains on, in its order: the killed run's up to its
    # last backup (its log may run ahead: tf.data prepares batches before fit asks), then the resumed run's.
    expected = logged_batches(tmp_path / "whole.log")
    assert len(expected) == EPOCHS * STEPS_PER_EPOCH
    after_backup = logged_batches(tmp_path / "resumed.log")
    assert len(after_backup) == EPOCHS * STEPS_PER_EPOCH - (STEPS_PER_EPOCH + 8)
    trained = logged_batches(tmp_path / "killed.log")[:STEPS_PER_EPOCH + 8] + after_backup
    assert trained == expected
    for epoch in range(EPOCHS):
        rows = [row for batch in trained[epoch * STEPS_PER_EPOCH:(epoch + 1) * STEPS_PER_EPOCH] for row in batch]
        assert len(rows) == len(set(rows)) == 192  # each training example exactly once per epoch
    assert trained[:STEPS_PER_EPOCH] != trained[STEPS_PER_EPOCH:2 * STEPS_PER_EPOCH]  # reshuffled each epoch

    want, got = saved_weights(tmp_path / "whole" / "r"), saved_weights(run)
    assert want.keys() == got.keys() and len(want) > 10
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, err_msg=name)
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(EPOCHS))  # no epoch twice, none missing


@pytest.mark.slow
def test_a_nan_loss_stops_at_once_and_keeps_the_run_resumable(tmp_path, capsys, monkeypatch):
    argv = ["--config", "configs/tiny.yaml", "--epochs=2", "--wandb_mode=disabled", f"--output_dir={tmp_path}",
            "--run_name=n", "--backup_every_steps=0"]
    original = callbacks.training_callbacks
    monkeypatch.setattr(callbacks, "training_callbacks", lambda *args: original(*args) + [nan_weights_at(1, 2)])
    message = command_error(run_command(main, argv), capsys.readouterr().err)
    assert message.startswith("the training loss became nan at epoch 2, step 3; ")
    assert "learning_rate" in message and "mixed_float16" in message and "labels" in message
    staging = tmp_path / ".n.incomplete"
    assert not (tmp_path / "n").exists()
    assert (staging / "checkpoints" / "best.weights.index").is_file()  # epoch 1's
    assert resume.resume_point(staging / resume.BACKUP, 15) == (1, 0)  # epoch 1's backup, not the poisoned weights
    assert len(pd.read_csv(staging / "history.csv")) == 1

    monkeypatch.setattr(callbacks, "training_callbacks", original)
    assert run_command(main, argv + ["--learning_rate=1e-4"]) == 0  # a lower learning rate resumes it
    assert "resuming training at epoch 2, step 1" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "n" / "history.csv")["epoch"].tolist() == [0, 1]


def test_non_finite_weights_are_never_backed_up(tmp_path):
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
    model.compile("sgd", "mse")
    backup = callbacks.EpochAndStepBackup(tmp_path / "backup", every_steps=1, steps_per_epoch=4)
    with pytest.raises(TfbertError, match="weights became non-finite at epoch 1, step 1"):
        model.fit(np.ones((4, 1)), np.ones(4), batch_size=1, verbose=0, callbacks=[nan_weights_at(0, 0), backup])
    assert resume.resume_point(tmp_path / "backup", 4) == (0, 0)


def test_a_resumed_run_trains_at_the_learning_rate_it_is_given(tmp_path):
    def fit(learning_rate: float, epochs: int) -> tf_keras.Model:
        model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
        model.compile(tf_keras.optimizers.Adam(learning_rate), "mse")
        backup = callbacks.EpochAndStepBackup(tmp_path / "backup", every_steps=0, steps_per_epoch=2)
        model.fit(np.ones((4, 1)), np.ones(4), batch_size=2, epochs=epochs, verbose=0, callbacks=[backup])
        return model

    first = fit(0.1, epochs=1)
    resumed = fit(0.001, epochs=2)  # restores the backup, Adam's learning rate variable included
    assert resumed.optimizer.iterations.numpy() == 4  # it did resume (2 steps before, 2 after)
    assert resumed.optimizer.learning_rate.numpy() == pytest.approx(0.001)
    assert first.optimizer.learning_rate.numpy() == pytest.approx(0.1)


def _unfinished(folder: Path, name: str, **config) -> Path:
    """A staging folder as a killed run of configs/tiny.yaml with `config` leaves it."""
    from tfbert.config import dump_config

    staging = folder / f".{name}.incomplete"
    staging.mkdir(parents=True)
    (staging / "config.yaml").write_text(dump_config(load_config("configs/tiny.yaml", **config)))
    return staging


def test_the_same_command_resumes_a_named_run_and_refuses_other_values(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    _unfinished(tmp_path, "named", output_dir=str(tmp_path))
    same = load_config("configs/tiny.yaml", output_dir=str(tmp_path), run_name="named", learning_rate=1e-4,
                       wandb_mode="offline", backup_every_steps=7)  # keys a resume may change
    assert resume.resolve_run(same, None, "unused").run_name == "named"
    other = same.replace(epochs=9, max_seq_length=16)
    with pytest.raises(TfbertError, match=r"other values of max_seq_length, epochs; .*its own config"):
        resume.resolve_run(other, None, "unused")


def test_resume_finds_the_latest_unfinished_run_of_the_config_or_a_given_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_config("configs/tiny.yaml", output_dir=str(tmp_path))
    older = _unfinished(tmp_path, "tiny-20260101-000000", output_dir=str(tmp_path))
    newer = _unfinished(tmp_path, "tiny-20260102-000000", output_dir=str(tmp_path))
    _unfinished(tmp_path, "other-20260103-000000", output_dir=str(tmp_path))
    os.utime(older, (1, 1))
    assert resume.resolve_run(config, True, "tiny-new").run_name == "tiny-20260102-000000"
    by_path = resume.resolve_run(load_config("configs/tiny.yaml"), str(older), "tiny-new")
    assert (by_path.output_dir, by_path.run_name) == (str(tmp_path), "tiny-20260101-000000")
    assert resume.resolve_run(config, None, "tiny-new").run_name == "tiny-new"  # without --resume: a new run
    assert newer.is_dir()


@pytest.mark.parametrize("case, match", [
    ("none", r"--resume: no unfinished run of config 'tiny' in .*; run without --resume"),
    ("finished", r"--resume .*done: the run .*done has finished; give an unfinished run's folder"),
    ("missing", r"--resume .*nowhere: the run .*nowhere does not exist"),
])
def test_resume_refuses_what_it_cannot_resume(tmp_path, capsys, case, match):
    (tmp_path / "done").mkdir()
    flag = {"none": ["--resume"], "finished": ["--resume", str(tmp_path / "done")],
            "missing": ["--resume", str(tmp_path / "nowhere")]}[case]
    argv = ["--config", "configs/tiny.yaml", "--wandb_mode=disabled", f"--output_dir={tmp_path}", *flag]
    message = command_error(run_command(main, argv), capsys.readouterr().err)
    assert re.search(match, message), message
    assert sorted(os.listdir(tmp_path)) == ["done"]


def test_a_finished_run_is_never_resumed_or_overwritten(tmp_path, capsys):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "metrics.json").write_text("{}")
    argv = ["--config", "configs/tiny.yaml", "--wandb_mode=disabled", f"--output_dir={tmp_path}", "--run_name=done"]
    message = command_error(run_command(main, argv), capsys.readouterr().err)
    assert "already exists and is finished" in message
    assert os.listdir(tmp_path) == ["done"] and (tmp_path / "done" / "metrics.json").read_text() == "{}"


class Killed(Exception):
    """What `kill_at` raises: fit stops with no callback after it running (the backup is last)."""


def kill_at(epoch: int, batch: int) -> tf_keras.callbacks.Callback:
    """A user callback (tfbert.train's `callbacks`) that stops the run as step `batch` of `epoch` ends (0-based)."""
    class KillAt(tf_keras.callbacks.Callback):
        def on_epoch_begin(self, current: int, logs=None) -> None:
            self.epoch = current

        def on_train_batch_end(self, current: int, logs=None) -> None:
            if (self.epoch, current) == (epoch, batch):
                raise Killed

    return KillAt()


class WhatCameBefore(tf_keras.callbacks.Callback):
    """A user callback that notes, as steps and epochs end, where a resumed run would start
    (what the backup has taken so far) and the history rows written."""

    def __init__(self, staging: Path):
        super().__init__()
        self.staging, self.seen = staging, []

    def _note(self, when: str) -> None:
        history = self.staging / "history.csv"
        rows = len(pd.read_csv(history)) if history.is_file() else 0
        self.seen.append((when, resume.resume_point(self.staging / resume.BACKUP, 6), rows))

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if batch == 1:
            self._note("step 2")

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self._note(f"epoch {epoch + 1}")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_encoder):
    """Settings for quick in-process runs (120 rows: 6 steps of 16, in micro-batches of 8,
    for 2 epochs; a backup every 2 steps; TensorBoard logs, no model saved) and an
    uninterrupted run of them, with a WhatCameBefore callback."""
    folder = tmp_path_factory.mktemp("small_run")
    settings = dict(data_path=str(numbered_rows(folder / "rows.csv", rows=120)), encoder=tiny_encoder, epochs=2,
                    dropout=0.0, train_batch_size=16, gradient_accumulation_steps=2, backup_every_steps=2,
                    tensorboard=True, save="metrics", wandb_mode="disabled", mixed_precision="float32", run_name="r")
    recorder = WhatCameBefore(folder / "whole" / ".r.incomplete")
    whole = tfbert.train("configs/tiny.yaml", output_dir=str(folder / "whole"), callbacks=[recorder], **settings)
    shared(whole.run_dir)
    return types.SimpleNamespace(settings=settings, result=whole, seen=recorder.seen)


@pytest.mark.slow
def test_train_calls_its_callbacks_after_its_own_and_before_the_backup_and_logs_to_tensorboard(small_run):
    assert small_run.seen == [
        ("step 2", (0, 0), 0),  # the backup of step 2 comes after the user's callback
        ("epoch 1", (0, 4), 1),  # history.csv's row comes before it, the epoch's backup after
        ("step 2", (1, 0), 1),
        ("epoch 2", (1, 4), 2),
    ]
    events = list((small_run.result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert {path.parent.name for path in events} == {"train", "validation"}
    assert all(path.stat().st_size > 0 for path in events)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["off", "one_device"])
def test_every_one_machine_strategy_resumes_a_killed_run_to_the_uninterrupted_weights(small_run, tmp_path, capsys,
                                                                                        strategy):
    """Under gradient accumulation too: its steps resume like any others. (auto is off's very
    strategy object on a machine without GPUs: test_distribution's test_one_machine_strategies_by_name.)"""
    settings = small_run.settings | {"distribution_strategy": strategy, "output_dir": str(tmp_path)}
    with pytest.raises(Killed):
        tfbert.train("configs/tiny.yaml", callbacks=[kill_at(0, 2)], **settings)  # after the backup at step 2
    assert resume.resume_point(tmp_path / ".r.incomplete" / resume.BACKUP, 6) == (0, 2)
    resumed = tfbert.train("configs/tiny.yaml", **settings)
    assert "resuming training at epoch 1, step 3" in capsys.readouterr().err
    want, got = small_run.result.model.get_weights(), resumed.model.get_weights()
    assert len(got) == len(want) > 10
    for have, expected in zip(got, want):
        np.testing.assert_allclose(have, expected, atol=1e-5)
