"""User-facing errors: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NoReturn, Sequence


class TfbertError(Exception):
    """A problem with the user's config, data or command line, not a bug in tfbert."""


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
