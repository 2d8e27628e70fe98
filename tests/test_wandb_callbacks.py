"""The Keras callbacks that log fit to W&B: a resumed run's step counts, and guarded hooks."""

from __future__ import annotations

import doctest

import tfbert  # noqa: F401
import tf_keras
import wandb

from tfbert import tracking, wandb_callbacks
from tfbert.wandb_callbacks import ResumedMetricsLogger, SafeCallback, logged_batch_steps


def batch_steps_logged(logger: ResumedMetricsLogger, batches: list[int], monkeypatch) -> list[int]:
    """The batch/batch_step of each per-step log `logger` makes over `batches` (indices within an epoch)."""
    logged = []
    monkeypatch.setattr(wandb, "log", lambda logs, *args, **kwargs: logged.append(logs["batch/batch_step"]))
    monkeypatch.setattr(logger, "_get_lr", lambda: None)  # no model in this test
    for batch in batches:
        logger.on_train_batch_end(batch, {"loss": 0.5})
    return logged


def test_a_new_run_logs_every_tenth_step_from_zero(disabled_wandb_run, monkeypatch):
    logger = ResumedMetricsLogger()
    assert batch_steps_logged(logger, list(range(25)), monkeypatch) == [0, 10, 20]
    assert logger.global_step == 25


def test_a_resumed_run_skips_the_steps_it_already_holds(disabled_wandb_run, monkeypatch):
    """Resumed at global step 60 (epochs of 30 steps), whose W&B run already holds steps up
    to batch/batch_step 80: steps 60-89 only advance the counts, 90 on are logged."""
    logger = ResumedMetricsLogger(initial_step=60, steps_per_epoch=30, logged_through=80)
    assert (logger.global_step, logger.global_batch) == (60, 60)
    assert batch_steps_logged(logger, [batch % 30 for batch in range(45)], monkeypatch) == [90, 100]
    assert logger.global_step == 105


def test_logged_batch_steps_counts_the_logs_of_each_epoch():
    assert logged_batch_steps(6, 6) == 1 and logged_batch_steps(33, 30) == 4
    assert logged_batch_steps(60, 30) == 6 and logged_batch_steps(0, 30) == 0


def test_a_failing_hook_warns_once_and_turns_tracking_off(capsys):
    calls = []

    class Broken(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            calls.append(epoch)
            raise ConnectionError("W&B is down\nsecond line")

    tracker = tracking.Tracker(run=object())
    callback = SafeCallback(tracker, Broken())
    for epoch in range(3):
        callback.on_epoch_end(epoch)
    assert calls == [0] and not tracker.active
    assert capsys.readouterr().err.splitlines() == [
        "tfbert: warning: W&B failed during Keras callback on_epoch_end (ConnectionError: W&B is down); "
        "training goes on without W&B"]


def test_the_docstring_examples_run():
    result = doctest.testmod(wandb_callbacks)
    assert result.attempted > 0 and result.failed == 0
