"""User-facing errors: one line on stderr and exit status 2; the traceback only with --verbose."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import traceback
from typing import Callable, NoReturn, Sequence

from tfbert import progress


class TfbertError(Exception):
    """A problem with the user's config, data or command line, not a bug in tfbert."""


def first_line(err: BaseException) -> str:
    """The first line of `err`'s message, or its type name when the message is blank.

    >>> from tfbert.errors import first_line
    >>> first_line(ValueError("  bad value\\n  at line 3"))
    'bad value'
    >>> first_line(OSError())
    'OSError'
    """
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def warn(message: str) -> None:
    """A problem tfbert works around and goes on: one line on stderr, `tfbert: warning: ...`."""
    print(f"tfbert: warning: {message}", file=sys.stderr)


def full_traceback(err: BaseException) -> str:
    """`err`'s traceback with every exception it chains, the context that `raise ... from None` hides included.

    >>> from tfbert.errors import TfbertError, full_traceback
    >>> try:
    ...     try:
    ...         {}["epochs"]
    ...     except KeyError:
    ...         raise TfbertError("the config has no epochs") from None
    ... except TfbertError as err:
    ...     shown = full_traceback(err)
    >>> shown.splitlines()[-1], "KeyError: 'epochs'" in shown
    ('tfbert.errors.TfbertError: the config has no epochs', True)
    """
    shown = traceback.TracebackException.from_exception(err)
    link: traceback.TracebackException | None = shown
    while link is not None:
        link.__suppress_context__ = False
        link = link.__cause__ or link.__context__
    return "".join(shown.format())


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage mistakes as a TfbertError (one line, exit 2), with the
    --quiet and --verbose every command takes: parsing them sets `progress`' verbosity."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        amount = self.add_mutually_exclusive_group()
        # SUPPRESS: a subcommand's parser, which leaves them out, keeps the main parser's choice
        amount.add_argument("--quiet", dest="verbosity", action="store_const", const=progress.QUIET,
                            default=argparse.SUPPRESS, help="no progress bars, progress lines or tfbert: notes")
        amount.add_argument("--verbose", dest="verbosity", action="store_const", const=progress.VERBOSE,
                            default=argparse.SUPPRESS, help="TensorFlow's log lines too; on failure, the underlying traceback")

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        progress.set_verbosity(getattr(parsed, "verbosity", progress.NORMAL))
        return parsed, rest

    def error(self, message: str) -> NoReturn:
        raise TfbertError(f"{message} (see {self.prog} --help)")

    def options(self) -> set[str]:
        """Every option this parser takes (--model, --quiet, ...); its subcommands' are theirs."""
        return set(self._option_string_actions)

    def subcommands(self) -> dict[str, "ArgumentParser"]:
        """The subcommands' parsers by name (runs list and clean, ...); none for a plain command."""
        return {name: parser for action in self._actions if isinstance(action, argparse._SubParsersAction)
                for name, parser in action.choices.items()}


def run_command(command: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command-line entry point, turning a TfbertError into 'tfbert: error: ...' and 2
    (after the full traceback when the command ran with --verbose)."""
    try:
        return command(argv)
    except TfbertError as err:
        if progress.verbosity() == progress.VERBOSE:
            print(full_traceback(err), file=sys.stderr, end="")
        print(f"tfbert: error: {err}", file=sys.stderr)
        return 2


def exit_process(status: int) -> NoReturn:
    """End a command's process with `status` once its results are out, without Python's
    teardown of TensorFlow's modules and objects (1.4 s of a tiny training command's 16 s,
    on 2 cores). What a result depends on still happens first: the atexit handlers (logging's
    shutdown, W&B's service), then stdout and stderr flushed; the run directory, reports and
    outputs were written and renamed into place before the command returned. A worker of a
    multi-worker run (TF_CONFIG set) exits as Python does, so the other workers hear it leave.
    Only the commands' `__main__` ends here: a Python caller's process is its own."""
    if os.environ.get("TF_CONFIG"):
        sys.exit(status)
    atexit._run_exitfuncs()  # what interpreter exit runs first: CPython's own function, not a copy
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader has gone, or the stream was closed
            pass
    os._exit(status)
