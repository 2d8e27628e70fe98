"""The Keras callbacks that log model.fit to a W&B run, each hook guarded so that W&B can
never stop training (imported by tfbert.tracking once a run is tracked; importing this
module imports wandb).

- ResumedMetricsLogger: W&B's WandbMetricsLogger (batch/* every BATCH_LOG_EVERY steps,
  epoch/* every epoch, with the learning rate), continuing a resumed run's step counts;
- ValidationLogger: fit's validation metrics every epoch under validation/*;
- SafeCallback: runs another callback's hooks through the tracker's `safely`.

>>> from tfbert.wandb_callbacks import logged_batch_steps, validation_metrics
>>> validation_metrics({"loss": 0.7, "val_loss": 0.6, "val_accuracy": 0.8})
{'validation/loss': 0.6, 'validation/accuracy': 0.8}
>>> logged_batch_steps(33, steps_per_epoch=30)  # steps 0, 10, 20 of epoch 1 and step 0 of epoch 2
4
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras
from wandb.integration.keras import WandbMetricsLogger

BATCH_LOG_EVERY = 10  # training steps between per-step metric logs
VALIDATION = "validation"  # the title of the validation split's metrics: configs/sweep.yaml's validation/loss
EPOCH_STEP = "epoch/epoch"  # the epoch number WandbMetricsLogger logs with epoch/*


class Guard(Protocol):
    """What the callbacks need of tfbert.tracking.Tracker: its run and its `safely`."""

    run: Any

    def safely(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...


def validation_metrics(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """fit's per-epoch validation metrics (val_*) under the final evaluation's names (validation/*)."""
    return {f"{VALIDATION}/{name.removeprefix('val_')}": float(value)
            for name, value in (logs or {}).items() if name.startswith("val_")}


def logged_batch_steps(step: int, steps_per_epoch: int) -> int:
    """How many per-step logs WandbMetricsLogger makes in the first `step` steps of fit
    (it logs a step whose index within its epoch is a multiple of BATCH_LOG_EVERY)."""
    epochs, within = divmod(step, steps_per_epoch)
    return epochs * -(-steps_per_epoch // BATCH_LOG_EVERY) + -(-within // BATCH_LOG_EVERY)


class ResumedMetricsLogger(WandbMetricsLogger):
    """W&B's metrics logger for a run that may resume at global step `initial_step`: its step
    counts continue where the killed run's backup left them, and the steps the killed run
    already logged after that backup (batch/batch_step up to `logged_through`) only advance
    the counts, so the run's charts have no gap and no step twice."""

    def __init__(self, initial_step: int = 0, steps_per_epoch: int = 1, logged_through: int | None = None):
        super().__init__(log_freq=BATCH_LOG_EVERY, initial_global_step=initial_step)
        self.global_batch = logged_batch_steps(initial_step, steps_per_epoch) * BATCH_LOG_EVERY
        self.logged_through = logged_through

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.logged_through is None or self.global_batch > self.logged_through:
            super().on_train_batch_end(batch, logs)
            return
        self.global_step += 1
        if batch % self.log_freq == 0:
            self.global_batch += self.log_freq


class SafeCallback(tf_keras.callbacks.Callback):
    """Runs a W&B Keras callback's hooks through the tracker's `safely`, so a failing log call
    turns logging off instead of stopping model.fit."""

    HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
             "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end")

    def __init__(self, tracker: Guard, callback: tf_keras.callbacks.Callback):
        super().__init__()
        self._tracker = tracker
        self._callback = callback
        for hook in self.HOOKS:
            setattr(self, hook, self._guarded(hook))

    def _guarded(self, hook: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            self._tracker.safely(f"Keras callback {hook}", getattr(self._callback, hook), *args, **kwargs)
        return call

    def set_model(self, model: tf_keras.Model) -> None:
        super().set_model(model)
        self._callback.set_model(model)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self._callback.set_params(params)


class ValidationLogger(tf_keras.callbacks.Callback):
    """Logs fit's validation metrics at each epoch's end as validation/* (validation/loss,
    validation/accuracy, ...) against the epoch (epoch/epoch), the names configs/sweep.yaml's
    metric uses, so a sweep's Hyperband early termination sees them every epoch. Wrapped in
    a SafeCallback by Tracker.keras_callbacks."""

    def __init__(self, tracker: Guard):
        super().__init__()
        self._tracker = tracker

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._tracker.run.define_metric(EPOCH_STEP)
        self._tracker.run.define_metric(f"{VALIDATION}/*", step_metric=EPOCH_STEP)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = validation_metrics(logs)
        if metrics:
            self._tracker.run.log({**metrics, EPOCH_STEP: epoch})
