"""tfbert's Keras callbacks: backups by steps and by time, under every one-machine strategy; the last
epoch validated as the final evaluation scores it."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import callbacks, distribution, resume
from tfbert.timings import Timings


class FakeClock(tf_keras.callbacks.Callback):
    """A monotonic clock in seconds that moves on by `increments[step]` at each step's end
    (placed before the backup, so the backup reads the new time)."""

    def __init__(self, increments: list[float]):
        super().__init__()
        self.now, self._increments = 0.0, increments

    def __call__(self) -> float:
        return self.now

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.now += self._increments[batch]


class RecordedBackup(callbacks.EpochAndStepBackup):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.taken: list[tuple[int, int]] = []

    def _backup(self, epoch: int, batch: int = 0) -> None:
        super()._backup(epoch, batch)
        self.taken.append((epoch, batch))


def _fit(backup: callbacks.EpochAndStepBackup, *before: tf_keras.callbacks.Callback, epochs: int = 1,
         strategy: tf.distribute.Strategy | None = None) -> tf_keras.Model:
    """A one-weight model fit for `epochs` of 10 steps, with the callbacks `before` and then `backup`."""
    with (strategy or tf.distribute.get_strategy()).scope():
        model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
        model.compile("sgd", "mse")
    model.fit(np.ones((10, 1)), np.ones(10), batch_size=1, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[*before, backup])
    return model


# fit's last epoch ends with no backup: the run marks fit as ended (resume.FIT_ENDED) instead.
@pytest.mark.parametrize("every_steps, minutes, increments, taken, resumes_at", [
    # Every minute: at the first step end 60 s after the last backup; each epoch's end resets the clock.
    (0, 1.0, [25.0] * 10, [(0, 2), (0, 5), (0, 8), (0, 9), (1, 2), (1, 5), (1, 8)], (1, 9)),
    # Both: whichever comes first, each backup restarting both counts.
    (4, 2.0, [10.0, 130.0] + [10.0] * 8, [(0, 1), (0, 5), (0, 9), (1, 1), (1, 5)], (1, 6)),
    (0, 0.0, [100.0] * 10, [(0, 9)], (1, 0)),  # both off: epoch ends only
])
def test_backups_by_time_and_by_steps(tmp_path, every_steps, minutes, increments, taken, resumes_at):
    clock = FakeClock(increments)
    backup = RecordedBackup(tmp_path / "backup", every_steps, steps_per_epoch=10, every_minutes=minutes, clock=clock)
    _fit(backup, clock, epochs=2)
    assert backup.taken == taken
    assert resume.resume_point(tmp_path / "backup", 10) == resumes_at


def test_a_timed_backup_is_where_a_killed_run_resumes(tmp_path):
    class Killed(Exception):
        pass

    class KillAt(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs=None) -> None:
            if batch == 6:
                raise Killed

    clock = FakeClock([40.0] * 10)
    backup = callbacks.EpochAndStepBackup(tmp_path / "backup", 0, 10, every_minutes=1.0, clock=clock)
    with pytest.raises(Killed):
        _fit(backup, clock, KillAt())
    # Backed up at the ends of steps 2, 4 and 6 (80, 160 and 240 s); killed as step 7 ended, before its backup's turn.
    assert resume.resume_point(tmp_path / "backup", 10) == (0, 6)


@pytest.mark.parametrize("name", ["auto", "off", "one_device"])
def test_backups_work_under_every_one_machine_strategy(tmp_path, name):
    """tf_keras' BackupAndRestore refuses OneDeviceStrategy (NotImplementedError); tfbert's does not."""
    strategy = distribution.make_strategy(name)
    first = _fit(callbacks.EpochAndStepBackup(tmp_path / "backup", 3, 10), strategy=strategy)
    assert resume.resume_point(tmp_path / "backup", 10) == (0, 9)  # backed up after steps 3, 6 and 9 (not at fit's end)
    resumed = _fit(callbacks.EpochAndStepBackup(tmp_path / "backup", 3, 10), epochs=2, strategy=strategy)
    assert resumed.optimizer.iterations.numpy() == 20  # restored after 9 steps, then epoch 1's last and epoch 2's 10
    np.testing.assert_array_equal(first.get_weights()[0].shape, resumed.get_weights()[0].shape)


class FixedScore:
    """Stands for the final evaluation's scoring of the validation split: a fixed loss; counts its calls."""

    def __init__(self, loss: float):
        self.loss, self.calls = loss, 0

    def __call__(self, model: tf_keras.Model) -> types.SimpleNamespace:
        self.calls += 1
        return types.SimpleNamespace(keras_results={"loss": self.loss, "mse": 0.5})


class EpochLogs(tf_keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.logs.append(dict(logs))


@pytest.mark.parametrize("last_loss, earlier, kept", [
    (0.0, (), True),  # below the two epochs Keras validated: the checkpoint takes the last epoch
    (1e9, (), False),  # above them: the checkpoint keeps an earlier epoch
    (0.0, (-1.0,), False),  # above a resumed run's earlier best
    (math.nan, (), False),  # never a best, as for the checkpoint
])
def test_the_last_epoch_is_validated_once_as_scored_and_kept_only_when_best(tmp_path, last_loss, earlier, kept):
    score, epoch_logs, timings = FixedScore(last_loss), EpochLogs(), Timings()
    last = callbacks.LastEpochValidation(score, 2, timings, earlier)
    checkpoint = tf_keras.callbacks.ModelCheckpoint(str(tmp_path / "best"), monitor="val_loss", save_best_only=True,
                                                    save_weights_only=True,
                                                    initial_value_threshold=callbacks.best_so_far(earlier))
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(1,))])
    model.compile("sgd", "mse", metrics=["mse"])
    x, y = np.ones((10, 1)), np.ones(10)
    model.fit(x, y, validation_data=(x, y), validation_freq=[1, 2], epochs=3, batch_size=5, verbose=0,
              callbacks=[last, checkpoint, epoch_logs])
    assert score.calls == 1
    assert [sorted(logs) for logs in epoch_logs.logs] == [["loss", "mse", "val_loss", "val_mse"]] * 3
    assert epoch_logs.logs[2]["val_mse"] == 0.5 and np.array_equal(epoch_logs.logs[2]["val_loss"], last_loss, equal_nan=True)
    assert (last.outputs is not None) == kept
    assert (checkpoint.best == last_loss) == kept  # the checkpoint holds the last epoch exactly when it is kept
    assert timings.seconds["fit_validation"] > 0
