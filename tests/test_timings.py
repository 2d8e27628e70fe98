"""timings.json's clock: phases add up, keep their order, and fit's parts are caught."""

from __future__ import annotations

import time

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from conftest import run_python
from tfbert.timings import FitTimer, Timings, process_start_up


class FakeClock:
    """time.perf_counter as a test moves it: `now` seconds, changed by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """A FakeClock in place of timings' time.perf_counter."""
    fake = FakeClock()
    monkeypatch.setattr("tfbert.timings.time.perf_counter", fake)
    return fake


def test_a_phase_adds_up_over_its_blocks_and_the_json_keeps_the_phase_order(clock):
    timings = Timings()
    clock.now = 1.0  # before the first phase: in the job's total only
    for name, seconds in [("fit", 2.5), ("my_phase", 0.25), ("data", 1.0), ("fit", 0.5)]:
        with timings.phase(name):
            clock.now += seconds
    assert timings.seconds == {"fit": 3.0, "my_phase": 0.25, "data": 1.0}
    clock.now += 0.0004  # rounded away
    written = timings.to_json()
    assert list(written["seconds"].items()) == [("data", 1.0), ("fit", 3.0), ("my_phase", 0.25)]  # PHASES order, then others
    assert written["job_seconds"] == 5.25


def test_a_phase_that_raises_still_counts_its_time(clock):
    timings = Timings()
    with pytest.raises(KeyError), timings.phase("data"):
        clock.now += 2.0
        raise KeyError("bad row")
    assert timings.seconds == {"data": 2.0}


def test_start_up_is_only_measured_for_a_tfbert_command():
    assert process_start_up() is None  # pytest's __main__ is not a tfbert command
    assert "start_up" not in Timings().seconds


def test_a_process_s_age_is_within_the_wall_time_it_ran():
    """The start_up phase's clock: a fresh interpreter's age as it ends is no more than the time
    its parent saw it run (psutil's create_time, from the boot time in whole seconds, was up to
    a second more)."""
    started = time.monotonic()
    done = run_python("from tfbert.timings import seconds_since_process_start; print(seconds_since_process_start())")
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert 0 < float(done.stdout) <= wall


def test_the_fit_timer_catches_the_first_step_and_the_validation():
    model = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((64, 3), np.float32), np.zeros((64, 1), np.float32)
    timings = Timings()
    with timings.phase("fit"):
        model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), callbacks=[FitTimer(timings)], verbose=0)
    seconds = timings.seconds
    assert 0 < seconds["fit_first_step"] and 0 < seconds["fit_validation"]
    assert seconds["fit_first_step"] + seconds["fit_validation"] < seconds["fit"]


def test_the_fit_timer_times_only_the_first_step_and_adds_up_the_validations(clock):
    """The hooks in the order fit calls them: a 10 s first step, 0.5 s steps, 3 s and 4 s validations."""
    timings = Timings()
    timer = FitTimer(timings)
    for epoch, validation in enumerate([3.0, 4.0]):
        for batch in range(3):
            timer.on_train_batch_begin(batch)
            clock.now += 10.0 if (epoch, batch) == (0, 0) else 0.5
            timer.on_train_batch_end(batch)
        timer.on_test_begin()
        clock.now += validation
        timer.on_test_end()
    assert timings.seconds == {"fit_first_step": 10.0, "fit_validation": 7.0}


# --------------------------------------------------------------------------- FitEstimate: steps and ETA

def run_steps(estimate, clock: FakeClock, epochs: range, steps_per_epoch: int, stop_after: int) -> None:
    """The estimate's hooks through a fit whose first step traces for 10 s, whose other steps
    take 0.5 s each, and whose validation takes 30 s between epochs."""
    steps = 0
    estimate.on_train_begin()
    for epoch in epochs:
        estimate.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            clock.now += 10.0 if steps == 0 else 0.5
            estimate.on_train_batch_end(batch)
            steps += 1
            if steps == stop_after:
                return
        clock.now += 30.0


def test_fit_estimate_says_the_plan_then_the_time_measured_after_the_first_steps(clock, capsys):
    from tfbert import progress
    from tfbert.timings import FitEstimate

    progress.set_verbosity("normal")
    run_steps(FitEstimate(rows=250, batch_size=32, steps_per_epoch=8, epochs=4), clock, range(4), 8, stop_after=25)
    plan, estimate = capsys.readouterr().err.splitlines()
    assert plan == "tfbert: fit: 250 training rows in batches of 32 = 8 steps per epoch, 4 epochs = 32 steps"
    # Neither the 10 s tracing step nor the 30 s validations count: 0.5 s a step.
    assert estimate.startswith("tfbert: fit: 500ms per step (the mean of steps 3-20): about 4.0s per epoch, 16s for the "
                               "run's 32 steps, 6.0s to go (training steps only")


def test_fit_estimate_of_a_resumed_fit_counts_the_steps_left(clock, capsys):
    from tfbert.timings import FitEstimate

    estimate = FitEstimate(rows=250, batch_size=32, steps_per_epoch=8, epochs=4, start_epoch=1, start_batch=3,
                           after=10)
    run_steps(estimate, clock, range(1, 4), 8, stop_after=12)
    plan, measured = capsys.readouterr().err.splitlines()
    assert plan.endswith("4 epochs = 32 steps, 21 to go")
    assert "(the mean of steps 3-10)" in measured and "5.5s to go" in measured  # 32 - 11 - 10 = 11 steps of 0.5 s


def test_fit_estimate_stays_silent_in_a_fit_shorter_than_its_measure_and_when_quiet(capsys):
    from tfbert import progress
    from tfbert.timings import FitEstimate

    inputs = tf_keras.Input(shape=(1,))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((12, 1)), np.zeros(12), batch_size=4, epochs=2, verbose=0,
              callbacks=[FitEstimate(rows=12, batch_size=4, steps_per_epoch=3, epochs=2, after=5)])
    plan, measured = capsys.readouterr().err.splitlines()  # a real fit calls the hooks: plan, then after 5 steps
    assert plan.startswith("tfbert: fit: 12 training rows") and measured.startswith("tfbert: fit: ")
    assert "per step (the mean of steps 3-5)" in measured

    model.fit(np.zeros((12, 1)), np.zeros(12), batch_size=4, epochs=1, verbose=0,
              callbacks=[FitEstimate(rows=12, batch_size=4, steps_per_epoch=3, epochs=1, after=20)])
    assert len(capsys.readouterr().err.splitlines()) == 1  # the plan only: 3 steps never reach 20
    progress.set_verbosity("quiet")
    try:
        model.fit(np.zeros((12, 1)), np.zeros(12), batch_size=4, epochs=2, verbose=0,
                  callbacks=[FitEstimate(rows=12, batch_size=4, steps_per_epoch=3, epochs=2, after=5)])
    finally:
        progress.set_verbosity("normal")
    assert capsys.readouterr().err == ""


def test_on_a_terminal_the_estimate_leaves_keras_bar_its_line(monkeypatch, capsys):
    import io

    from tfbert.timings import FitEstimate

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Terminal())
    inputs = tf_keras.Input(shape=(1,))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((16, 1)), np.zeros(16), batch_size=4, epochs=1, verbose=1,
              callbacks=[FitEstimate(rows=16, batch_size=4, steps_per_epoch=4, epochs=1, after=4)])
    plan, blank, measured = capsys.readouterr().err.splitlines()  # the bar's line ends before the note
    assert plan.startswith("tfbert: fit: 16 training rows") and blank == "" and measured.startswith("tfbert: fit: ")
