"""The Keras callbacks of a training run: the best checkpoint, early stopping, history,
backups a killed run resumes from, a stop at the first non-finite loss, the last epoch's
validation scored as the final evaluation scores it (so that pass is not run twice), and
work started once the first step is done.

Backups are tf_keras' BackupAndRestore (weights, optimizer slots, epoch and step), taken
at every epoch's end but fit's last, every `backup_every_minutes` minutes and every
`backup_every_steps` steps; `tfbert.resume` reads where one left off, so the training data
can start there (fit itself restarts its input at the start).

>>> import numpy as np, tf_keras
>>> from tfbert.callbacks import StopOnNonFiniteLoss
>>> from tfbert.errors import TfbertError
>>> model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
>>> model.compile("sgd", "mse")
>>> try:
...     model.fit(np.array([[1.0], [np.nan]]), np.zeros(2), batch_size=1, shuffle=False, verbose=0,
...               callbacks=[StopOnNonFiniteLoss()])
... except TfbertError as err:
...     print(str(err)[:47])
the training loss became nan at epoch 1, step 2
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import distribution
from tfbert.errors import TfbertError
from tfbert.model import layers_only

if TYPE_CHECKING:
    from tfbert.timings import Timings


class StopOnNonFiniteLoss(tf_keras.callbacks.Callback):
    """Raises a TfbertError at the first step whose loss is NaN or infinite, before any
    later callback runs (place it first), so no backup or checkpoint takes the bad weights."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TfbertError(_non_finite_message(f"the training loss became {float(loss)}", self._epoch, batch))


class AfterFirstStep(tf_keras.callbacks.Callback):
    """Keras callback: `then()`, once, when this fit's first training step is done (it traces
    the step function, so work started then does not compete with the tracing)."""

    def __init__(self, then: Callable[[], None]):
        super().__init__()
        self._then: Callable[[], None] | None = then

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._then is not None:
            then, self._then = self._then, None
            then()


def _non_finite_message(what: str, epoch: int, batch: int) -> str:
    return (f"{what} at epoch {epoch + 1}, step {batch + 1}; usual causes: learning_rate too high, mixed_float16 "
            "without loss scaling, or bad labels; the run is kept unfinished with its last backup and best "
            "checkpoint: lower learning_rate and run the same command to resume")


class EpochAndStepBackup(tf_keras.callbacks.BackupAndRestore):
    """BackupAndRestore at every epoch's end but fit's last (after it the run marks fit as
    ended: resume.FIT_ENDED) and, within an epoch, at the end of the first step after
    `every_minutes` minutes of training since the last backup (or since fit began) and every
    `every_steps` steps (0 turns either off; both may be on). Place it last, so an epoch's
    backup follows its checkpoint and history row. The backup is kept when fit ends; the
    run deletes it when it finishes.

    Under every strategy tfbert can make: tf_keras' BackupAndRestore refuses strategies it
    has not listed, OneDeviceStrategy among them, though its checkpoint is an ordinary
    one-device checkpoint (the chief writes, as without a strategy). The workers of a
    multi-worker run agree on each timed backup (checkpoints are saved collectively).

    `clock` (seconds, monotonic) is for tests."""

    def __init__(self, backup_dir: str | Path, every_steps: int, steps_per_epoch: int, every_minutes: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        # An integer save_freq makes BackupAndRestore record the step, so fit resumes mid-epoch.
        super().__init__(str(backup_dir), save_freq=every_steps or steps_per_epoch, delete_checkpoint=False)
        self._supported_strategies += (tf.distribute.OneDeviceStrategy,)
        self._every_steps = every_steps
        self._every_seconds = every_minutes * 60
        self._steps_per_epoch = steps_per_epoch
        self._clock = clock

    def on_train_begin(self, logs: dict | None = None) -> None:
        rate = self.model.optimizer.learning_rate
        configured = rate.numpy() if isinstance(rate, tf.Variable) else None
        super().on_train_begin(logs)  # restores the backup, the learning rate variable included
        if configured is not None:
            rate.assign(configured)  # a resumed run may lower learning_rate (after a NaN)
        self._time_is_up_anywhere = distribution.AnyWorker(self.model.distribute_strategy)
        self._last_backup = self._clock()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self._steps_since_backup = 0  # count steps within the epoch, not across epochs

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch + 1 >= self._steps_per_epoch:
            return  # the epoch's last step: on_epoch_end backs up
        self._training_state.backup_if_preempted()
        self._steps_since_backup += 1
        steps_due = bool(self._every_steps) and self._steps_since_backup >= self._every_steps
        if steps_due or self._time_is_up():
            self._backup(epoch=self._current_epoch, batch=batch)

    def _time_is_up(self) -> bool:
        if not self._every_seconds:
            return False
        return self._time_is_up_anywhere(self._clock() - self._last_backup >= self._every_seconds)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 >= self.params.get("epochs", math.inf):
            # fit ends: nothing is left to resume training at (the run marks fit as ended and
            # evaluates its best checkpoint), so the run's last backup is not written.
            self._check_finite(epoch, self._steps_per_epoch - 1)
            return
        # Recorded as the epoch's last step, which resumes at the next epoch's first.
        self._training_state._ckpt_saved_batch.assign(self._steps_per_epoch - 1)
        self._backup(epoch=epoch, batch=self._steps_per_epoch - 1)

    def _check_finite(self, epoch: int, batch: int) -> None:
        # A step's reported loss is computed before its update, so an update that made
        # the weights non-finite shows only in the next step's loss: check before saving.
        if not all(bool(tf.reduce_all(tf.math.is_finite(weight))) for weight in self.model.trainable_weights):
            raise TfbertError(_non_finite_message("the weights became non-finite", epoch, batch))

    def _backup(self, epoch: int, batch: int = 0) -> None:
        self._check_finite(epoch, batch)
        super()._backup(epoch=epoch, batch=batch)
        self._steps_since_backup, self._last_backup = 0, self._clock()


class ResumingEarlyStopping(tf_keras.callbacks.EarlyStopping):
    """EarlyStopping on val_loss that starts from the validation losses of the epochs a
    resumed run already trained (its best and its patience count), not from scratch."""

    def __init__(self, patience: int, earlier_val_losses: Sequence[float] = ()):
        super().__init__(monitor="val_loss", patience=patience)
        self._earlier = list(earlier_val_losses)

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        for epoch, val_loss in enumerate(self._earlier):
            self.wait += 1
            if self._is_improvement(val_loss, self.best):
                self.best, self.best_epoch, self.wait = val_loss, epoch, 0


def best_so_far(val_losses: Sequence[float]) -> float | None:
    """The lowest finite validation loss, or None."""
    finite = [value for value in val_losses if math.isfinite(value)]
    return float(np.min(finite)) if finite else None


class LastEpochValidation(tf_keras.callbacks.Callback):
    """The last epoch's validation, scored as the final evaluation scores it, in place of
    Keras' (give fit a validation_freq that leaves the last epoch out): `score(model)` returns
    the validation split's outputs, whose `keras_results` (loss and metrics computed from the
    probabilities) go into the epoch's logs as val_* for the callbacks after this one (the
    checkpoint, early stopping, the history, W&B, the progress line). When that epoch beats
    every earlier one (`earlier_val_losses` and this fit's), the best checkpoint holds its
    weights, and `outputs` keeps the outputs for the final evaluation, which then need not
    score the split again. The pass counts as fit_validation in `timings`."""

    def __init__(self, score: Callable[[tf_keras.Model], Any], last_epoch: int, timings: Timings,
                 earlier_val_losses: Sequence[float] = ()):
        super().__init__()
        self._score, self._last_epoch, self._timings = score, last_epoch, timings
        self._best = best_so_far(earlier_val_losses)
        self.outputs: Any = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        outputs = None
        if epoch == self._last_epoch:
            with self._timings.phase("fit_validation"):
                outputs = self._score(self.model)
            logs.update({f"val_{name}": value for name, value in outputs.keras_results.items()})
        loss = logs.get("val_loss")
        if loss is not None and math.isfinite(loss) and (self._best is None or loss < self._best):
            self._best = float(loss)  # ModelCheckpoint's rule: strictly below the best so far
            self.outputs = outputs  # the last epoch's, or None


class BestWeightsCheckpoint(tf_keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint of the best epoch's layer weights only (save_best_only on val_loss): it
    saves a functional twin of fit's model (the same layers, no optimizer), so the checkpoint is
    a third the size of the model's own (Adam's two slots per weight are left out). Reads back
    with `model.load_weights(path).expect_partial()`; a killed run resumes from its backup, which
    keeps the optimizer's state."""

    def __init__(self, checkpoint: Path, initial_value_threshold: float | None = None):
        super().__init__(str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True,
                         initial_value_threshold=initial_value_threshold)

    def set_model(self, model: tf_keras.Model) -> None:
        # Built where fit calls this: in the model's distribution strategy's scope, like the model.
        super().set_model(layers_only(model))


def training_callbacks(run_dir: Path, checkpoint: Path, patience: int,
                       earlier_val_losses: Sequence[float] = ()) -> list[tf_keras.callbacks.Callback]:
    """Best-on-validation-loss checkpoint, early stopping and CSV history, continuing a
    resumed run's (`earlier_val_losses`: its finished epochs' validation losses)."""
    callbacks = [
        BestWeightsCheckpoint(checkpoint, initial_value_threshold=best_so_far(earlier_val_losses)),
        tf_keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=bool(earlier_val_losses)),
    ]
    if patience > 0:
        callbacks.append(ResumingEarlyStopping(patience, earlier_val_losses))
    return callbacks
