"""Where a training run's time goes: wall-clock seconds per phase, kept in timings.json.

>>> import time
>>> from tfbert.timings import Timings
>>> timings = Timings()
>>> with timings.phase("data"):
...     time.sleep(0.01)
>>> timings.seconds["data"] >= 0.01
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert import progress

# The phases of a training run, in the order they happen (fit's own parts follow fit).
PHASES = ("start_up", "data", "encoder_and_tokenizer", "model_build", "fit", "fit_first_step",
          "fit_validation", "final_evaluation", "reports_and_plots", "model_save", "export")


def process_start_up() -> float | None:
    """Seconds from this process's start to now, when it runs a tfbert command (python -m
    tfbert.train): interpreter start-up and imports. None in a notebook or another program."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name.startswith("tfbert."):
        return None
    return seconds_since_process_start()


def seconds_since_process_start() -> float | None:
    """This process's age: on Linux from the kernel's start time in clock ticks since boot,
    to 10 ms (psutil's create_time adds the boot time, which Linux gives in whole seconds,
    so its age can be up to a second off); elsewhere psutil's; None when neither answers."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return time.clock_gettime(time.CLOCK_BOOTTIME) - int(after_name[19]) / os.sysconf("SC_CLK_TCK")  # field 22
    except (OSError, ValueError, IndexError, AttributeError):
        pass
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
                "note": "fit includes fit_first_step (tracing) and fit_validation (per-epoch validation); "
                        "model_save and export run beside final_evaluation and reports_and_plots"}


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


class FitEstimate(tf_keras.callbacks.Callback):
    """Keras callback: as fit begins, a `tfbert: fit: ...` note with the rows, batch, steps
    per epoch and epochs; after `after` steps, one with the measured time per step and
    what it makes an epoch and the whole run take (see progress.note).

    The step time is the mean interval between the ends of consecutive steps within an
    epoch, from step `skip` + 1 of this fit on: the first step traces the step function
    and is far slower than the rest. Validation is not in it (fit has not validated yet).
    """

    def __init__(self, rows: int, batch_size: int, steps_per_epoch: int, epochs: int, start_epoch: int = 0,
                 start_batch: int = 0, after: int = 20, skip: int = 2):
        super().__init__()
        self.rows, self.batch_size, self.steps_per_epoch, self.epochs = rows, batch_size, steps_per_epoch, epochs
        self.done_before = start_epoch * steps_per_epoch + start_batch  # a resumed run's steps from earlier
        self.after, self.skip = after, skip
        self._steps = 0  # steps of this fit so far
        self._intervals: list[float] = []
        self._previous_end: float | None = None

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def plan(self) -> str:
        """The before-fit note's message."""
        message = (f"fit: {self.rows:,} training rows in batches of {self.batch_size} = {self.steps_per_epoch:,} steps "
                   f"per epoch, {self.epochs} epoch{'s' if self.epochs != 1 else ''} = {self.total_steps:,} steps")
        if self.done_before:
            message += f", {self.total_steps - self.done_before:,} to go"
        return message

    def estimate(self, step_seconds: float) -> str:
        """The after-`after`-steps note's message, for a measured `step_seconds`."""
        left = self.total_steps - self.done_before - self._steps
        epoch, run, to_go = (progress.duration(step_seconds * steps)
                             for steps in (self.steps_per_epoch, self.total_steps, left))
        step = f"{step_seconds * 1000:.0f}ms" if step_seconds < 1 else f"{step_seconds:.2f}s"
        return (f"fit: {step} per step (the mean of steps {self.skip + 1}-{self._steps}): about {epoch} per epoch, "
                f"{run} for the run's {self.total_steps:,} steps, {to_go} to go (training steps only: validation and "
                "the end-of-epoch checkpoints come on top)")

    def on_train_begin(self, logs: dict | None = None) -> None:
        progress.note(self.plan())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._previous_end = None  # the gap across validation is not a step

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self._steps += 1
        if self._previous_end is not None and self._steps > self.skip:
            self._intervals.append(now - self._previous_end)
        self._previous_end = now
        if self._steps == self.after and self._intervals:
            if (getattr(self, "params", None) or {}).get("verbose") == 1 and sys.stdout.isatty():
                print(file=sys.stderr)  # leave Keras' bar its line; it goes on below the note
            progress.note(self.estimate(sum(self._intervals) / len(self._intervals)))
