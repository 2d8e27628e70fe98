"""How much a command says while it works: the one place for output verbosity.

The level is "quiet" (no progress at all), "normal" or "verbose" (progress, and a
failing command's traceback too); every command's `--quiet` / `--verbose` sets it.
A long loop reports through `meter`: a tqdm bar on a terminal or in a notebook, a plain
line at every tenth of the work (or every minute) when the output is a file or a pipe,
nothing when quiet. Progress goes to stderr, so a command's results on stdout stay clean;
so do `note`'s one-line `tfbert: ...` notes on what a run does (its devices, its steps).

>>> import sys
>>> from tfbert import progress
>>> progress.set_verbosity("normal")
>>> with progress.meter(4, "predicting", unit="text", stream=sys.stdout) as advance:
...     for _ in range(2):
...         advance(2)
predicting: 2/4 texts (50%) in ...s, about ... to go
predicting: 4/4 texts (100%) in ...s
>>> progress.keras_verbose()  # what model.fit should print here: one line per epoch
2
>>> progress.note("fit: 15 steps per epoch", stream=sys.stdout)
tfbert: fit: 15 steps per epoch
>>> progress.duration(4000), progress.duration(75), progress.duration(3.2)
('1h 07m', '1m 15s', '3.2s')
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


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (Jupyter, VS Code, Colab): IPython's shell
    with a kernel, whose output cells redraw a line on a carriage return."""
    if "ipykernel" not in sys.modules:
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _shows_live(stream: TextIO) -> bool:
    """Whether a bar redrawn in place renders on `stream`: a terminal, or a notebook's own output."""
    if stream.isatty():
        return True
    return in_notebook() and type(stream).__module__.startswith(("ipykernel.", "google.colab."))


def keras_verbose() -> int:
    """The `verbose` to give model.fit or model.predict: 0 when quiet, 1 (a live bar) when
    stdout is a terminal or a notebook's, 2 (one line per epoch) otherwise."""
    if _level == QUIET:
        return 0
    return 1 if _shows_live(sys.stdout) else 2


def note(message: str, stream: TextIO | None = None) -> None:
    """One line on what the run does, `tfbert: <message>`, on stderr (nothing when quiet).
    Notes come before the work they describe; a failing command's last line is still its
    `tfbert: error: ...` (see tfbert.errors)."""
    if _level != QUIET:
        print(f"tfbert: {message}", file=sys.stderr if stream is None else stream, flush=True)


def duration(seconds: float) -> str:
    """`seconds` as a person reads it: 3.2s, 1m 15s, 1h 07m."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h {minutes % 60:02d}m"


class PeriodicLines:
    """advance(n) for output that is not a terminal: a plain line (no carriage return) each
    time the work passes another tenth, or `interval` seconds after the previous line."""

    def __init__(self, total: int, description: str, unit: str, stream: TextIO, interval: float = LINE_INTERVAL):
        self.total, self.description, self.unit, self.stream, self.interval = total, description, unit, stream, interval
        self.done = self.tenths = 0
        self.start = self.last_line = time.monotonic()

    def __call__(self, count: int, total: int | None = None) -> None:
        """`count` more done; `total`, when given, the work's new (estimated) size."""
        self.done += count
        self.total = self.total if total is None else total
        tenths = self.done * 10 // max(self.total, 1)
        now = time.monotonic()
        if tenths > self.tenths or now - self.last_line >= self.interval:
            self.tenths, self.last_line = tenths, now
            percent = self.done * 100 // max(self.total, 1)
            elapsed = now - self.start
            to_go = ""
            if 0 < self.done < self.total:
                to_go = f", about {duration(elapsed * (self.total - self.done) / self.done)} to go"
            print(f"{self.description}: {self.done:,}/{self.total:,} {self.unit}s ({percent}%) in {elapsed:.0f}s{to_go}",
                  file=self.stream, flush=True)


@contextlib.contextmanager
def meter(total: int, description: str, unit: str = "example", stream: TextIO | None = None,
          interval: float = LINE_INTERVAL) -> Iterator[Callable[[int], None]]:
    """advance(count, total=None), to call as each batch of `total` items is done (`total`
    given again when an estimate of it changes): a bar with its time to go when `stream`
    (default stderr) is a terminal or a notebook's output, PeriodicLines when it is a file
    or a pipe, nothing when quiet."""
    stream = sys.stderr if stream is None else stream
    if _level == QUIET:
        yield lambda count, total=None: None
    elif _shows_live(stream):
        with _bar_class(stream)(total=total, desc=description, unit=unit, file=stream, disable=False,
                                dynamic_ncols=True) as bar:

            def advance(count: int, total: int | None = None) -> None:
                if total is not None and total != bar.total:
                    bar.total = total
                bar.update(count)

            yield advance
    else:
        yield PeriodicLines(total, description, unit, stream, interval)


def _bar_class(stream: TextIO) -> type[tqdm]:
    """tqdm's notebook bar (a widget) in a notebook that has ipywidgets, else its text bar,
    which a notebook's output cell redraws on each carriage return too."""
    if stream.isatty() or not in_notebook():
        return tqdm
    try:
        import ipywidgets  # noqa: F401  (tqdm.notebook's widget; without it tqdm.notebook refuses to draw)
        from tqdm.notebook import tqdm as notebook_tqdm
    except ImportError:
        return tqdm
    return notebook_tqdm
