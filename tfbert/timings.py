"""Where a training run's time goes: wall-clock seconds per phase, kept in timings.json.

>>> import time
>>> from tfbert.timings import Timings
>>> timings = Timings()
>>> with timings.phase("data"):
...     time.sleep(0.01)
>>> round(timings.seconds["data"], 2)
0.01
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Iterator

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

# The phases of a training run, in the order they happen (fit's own parts follow fit).
PHASES = ("start_up", "data", "encoder_and_tokenizer", "model_build", "fit", "fit_first_step",
          "fit_validation", "final_evaluation", "reports_and_plots", "model_save", "export")


def process_start_up() -> float | None:
    """Seconds from this process's start to now, when it runs a tfbert command (python -m
    tfbert.train): interpreter start-up and imports. None in a notebook or another program."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name.startswith("tfbert."):
        return None
    try:
        import psutil

        return time.time() - psutil.Process().create_time()
    except (ImportError, OSError):
        return None


class Timings:
    """Seconds per named phase of one job, measured with a monotonic clock."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.precision: str | None = None  # the policy fit computed in, which the seconds depend on
        self._started = time.perf_counter()
        start_up = process_start_up()
        if start_up is not None:
            self.seconds["start_up"] = start_up

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as `name` (added to what `name` already holds)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def to_json(self) -> dict[str, Any]:
        """The phases in PHASES order, rounded to milliseconds, and the job's total so far."""
        phases = {name: round(self.seconds[name], 3) for name in PHASES if name in self.seconds}
        phases |= {name: round(value, 3) for name, value in self.seconds.items() if name not in phases}
        return {"seconds": phases, "job_seconds": round(time.perf_counter() - self._started, 3),
                "compute_precision": self.precision,
                "note": "fit includes fit_first_step (tracing) and fit_validation (per-epoch validation)"}


class FitTimer(tf_keras.callbacks.Callback):
    """Keras callback: the first training step (which traces the step function) and the
    per-epoch validation inside fit, into `timings` as fit_first_step and fit_validation."""

    def __init__(self, timings: Timings):
        super().__init__()
        self._timings = timings
        self._step_started: float | None = None
        self._test_started = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if "fit_first_step" not in self._timings.seconds and self._step_started is None:
            self._step_started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._step_started is not None:
            self._timings.seconds["fit_first_step"] = time.perf_counter() - self._step_started
            self._step_started = None

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._test_started = time.perf_counter()

    def on_test_end(self, logs: dict | None = None) -> None:
        seconds = self._timings.seconds
        seconds["fit_validation"] = seconds.get("fit_validation", 0.0) + time.perf_counter() - self._test_started
