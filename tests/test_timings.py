"""timings.json's clock: phases add up, keep their order, and fit's parts are caught."""

from __future__ import annotations

import time

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert.timings import PHASES, FitTimer, Timings, process_start_up


def test_a_phase_adds_up_over_its_blocks_and_the_json_keeps_the_phase_order():
    timings = Timings()
    with timings.phase("fit"):
        time.sleep(0.02)
    with timings.phase("data"):
        time.sleep(0.01)
    with timings.phase("fit"):
        time.sleep(0.02)
    written = timings.to_json()
    assert list(written["seconds"]) == ["data", "fit"]  # PHASES order, not call order
    assert 0.04 <= written["seconds"]["fit"] < 0.2 and 0.01 <= written["seconds"]["data"] < 0.1
    assert written["job_seconds"] >= written["seconds"]["fit"] + written["seconds"]["data"] - 0.002  # each rounded to ms
    assert PHASES.index("data") < PHASES.index("fit") < PHASES.index("export")


def test_start_up_is_only_measured_for_a_tfbert_command():
    assert process_start_up() is None  # pytest's __main__ is not a tfbert command
    assert "start_up" not in Timings().seconds


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
