"""How much a command says while it works: the one place for output verbosity.

The level is "quiet" (no progress at all), "normal" or "verbose" (progress, and a
failing command's traceback too); every command's `--quiet` / `--verbose` sets it.
A long loop reports through `meter`: a tqdm bar on a terminal, a plain line at every
tenth of the work (or every minute) when the output is a file or a pipe, nothing when
quiet. Progress goes to stderr, so a command's results on stdout stay clean.

>>> import sys
>>> from tfbert import progress
>>> progress.set_verbosity("normal")
>>> with progress.meter(4, "predicting", unit="text", stream=sys.stdout) as advance:
...     for _ in range(2):
...         advance(2)
predicting: 2/4 texts (50%) in ...s
predicting: 4/4 texts (100%) in ...s
>>> progress.keras_verbose()  # what model.fit should print here: one line per epoch
2
>>> progress.set_verbosity("quiet")
>>> with progress.meter(4, "predicting", stream=sys.stdout) as advance:
...     advance(4)
>>> progress.keras_verbose(), progress.verbosity()
(0, 'quiet')
>>> progress.set_verbosity("normal")
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, TextIO

from tqdm import tqdm

QUIET, NORMAL, VERBOSE = "quiet", "normal", "verbose"
LEVELS = (QUIET, NORMAL, VERBOSE)
LINE_INTERVAL = 60.0  # seconds: the longest a non-terminal output waits between two lines

_level = NORMAL


def set_verbosity(level: str) -> None:
    """Make every later progress report and error follow `level` (quiet, normal or verbose)."""
    global _level
    if level not in LEVELS:
        raise ValueError(f"verbosity must be one of {', '.join(LEVELS)}, not {level!r}")
    _level = level


def verbosity() -> str:
    """The current level: quiet, normal or verbose."""
    return _level


def keras_verbose() -> int:
    """The `verbose` to give model.fit or model.predict: 0 when quiet, 1 (a bar) when stdout
    is a terminal, 2 (one line per epoch) otherwise."""
    if _level == QUIET:
        return 0
    return 1 if sys.stdout.isatty() else 2


class PeriodicLines:
    """advance(n) for output that is not a terminal: a plain line (no carriage return) each
    time the work passes another tenth, or `interval` seconds after the previous line."""

    def __init__(self, total: int, description: str, unit: str, stream: TextIO, interval: float = LINE_INTERVAL):
        self.total, self.description, self.unit, self.stream, self.interval = total, description, unit, stream, interval
        self.done = self.tenths = 0
        self.start = self.last_line = time.monotonic()

    def __call__(self, count: int) -> None:
        self.done += count
        tenths = self.done * 10 // max(self.total, 1)
        now = time.monotonic()
        if tenths > self.tenths or now - self.last_line >= self.interval:
            self.tenths, self.last_line = tenths, now
            percent = self.done * 100 // max(self.total, 1)
            print(f"{self.description}: {self.done:,}/{self.total:,} {self.unit}s ({percent}%) in {now - self.start:.0f}s",
                  file=self.stream, flush=True)


@contextlib.contextmanager
def meter(total: int, description: str, unit: str = "example", stream: TextIO | None = None,
          interval: float = LINE_INTERVAL) -> Iterator[Callable[[int], None]]:
    """advance(count), to call as each batch of `total` items is done: a bar when `stream`
    (default stderr) is a terminal, PeriodicLines when it is not, nothing when quiet."""
    stream = sys.stderr if stream is None else stream
    if _level == QUIET:
        yield lambda count: None
    elif stream.isatty():
        with tqdm(total=total, desc=description, unit=unit, file=stream, disable=False, dynamic_ncols=True) as bar:
            yield bar.update
    else:
        yield PeriodicLines(total, description, unit, stream, interval)
