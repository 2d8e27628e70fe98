"""User-facing errors: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Sequence


class TfbertError(Exception):
    """A problem with the user's config, data or command line, not a bug in tfbert."""


def first_line(err: BaseException) -> str:
    """The first line of `err`'s message, or its type name when the message is blank.

    >>> from tfbert.errors import first_line
    >>> from tfbert.errors import first_line
    >>> first_line(ValueError("  bad value\\n  at line 3"))
    'bad value'
    >>> first_line(OSError())
    'OSError'
    """
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage mistakes as a TfbertError (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise TfbertError(f"{message} (see {self.prog} --help)")


def run_command(command: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command-line entry point, turning a TfbertError into 'tfbert: error: ...' and 2."""
    try:
        return command(argv)
    except TfbertError as err:
        print(f"tfbert: error: {err}", file=sys.stderr)
        return 2
