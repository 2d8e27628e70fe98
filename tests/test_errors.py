"""Every command's --quiet and --verbose, and what a failing command prints with and without --verbose."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import progress
from tfbert.errors import ArgumentParser, TfbertError, run_command

from conftest import command_error, run_python

REPO = Path(__file__).parents[1]
COMMANDS = ["train", "evaluate", "predict", "encoders", "assets"]  # the modules with a main(argv)


@pytest.fixture(autouse=True)
def normal_verbosity():
    progress.set_verbosity(progress.NORMAL)
    yield
    progress.set_verbosity(progress.NORMAL)


def main_of(command: str):
    return importlib.import_module(f"tfbert.{command}").main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_quiet_and_verbose(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main_of(command)(["--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert "--quiet" in shown and "--verbose" in shown


@pytest.mark.parametrize("command", COMMANDS)
def test_quiet_and_verbose_exclude_each_other(command, capsys):
    status = run_command(main_of(command), ["--quiet", "--verbose"])
    out, err = capsys.readouterr()
    assert "not allowed with argument" in command_error(status, err, out)


def test_parsing_sets_the_verbosity_and_a_subcommand_keeps_the_main_parsers_choice():
    parser = ArgumentParser(prog="tool")
    parser.add_subparsers(dest="command", required=True).add_parser("run")
    for argv, level in [(["--quiet", "run"], "quiet"), (["run", "--verbose"], "verbose"), (["run"], "normal"),
                        (["--verbose", "run"], "verbose")]:
        parser.parse_args(argv)
        assert progress.verbosity() == level, argv


def test_train_consumes_the_flags_instead_of_passing_them_on_as_config_keys(monkeypatch, capsys):
    from tfbert import training

    def stop(config, **_):
        raise TfbertError(f"stopped before training, epochs={config.epochs}")

    monkeypatch.setattr(training, "train", stop)
    status = run_command(main_of("train"), ["--config", str(REPO / "configs" / "tiny.yaml"), "--quiet", "--epochs=3"])
    out, err = capsys.readouterr()
    assert command_error(status, err, out) == "stopped before training, epochs=3"
    assert progress.verbosity() == "quiet"


def failing(argv):
    """A command that hides an OSError behind a one-line TfbertError, as tfbert's readers do."""
    ArgumentParser(prog="failing").parse_args(argv)
    try:
        open("/no/such/folder/data.csv", encoding="utf-8")
    except OSError:
        raise TfbertError("cannot read /no/such/folder/data.csv") from None


def test_without_verbose_a_failure_is_one_line(capsys):
    status = run_command(failing, [])
    out, err = capsys.readouterr()
    assert command_error(status, err, out) == "cannot read /no/such/folder/data.csv"


def test_verbose_prints_the_hidden_traceback_then_the_one_line(capsys):
    status = run_command(failing, ["--verbose"])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith("Traceback (most recent call last):")
    assert "FileNotFoundError: [Errno 2] No such file or directory: '/no/such/folder/data.csv'" in err
    assert "During handling of the above exception, another exception occurred" in err
    lines = err.splitlines()
    assert lines[-2] == "tfbert.errors.TfbertError: cannot read /no/such/folder/data.csv"
    assert lines[-1] == "tfbert: error: cannot read /no/such/folder/data.csv"


def test_verbose_predict_shows_the_pandas_error_behind_an_empty_file(pair_export, tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    argv = ["--model", str(pair_export[3]), "--input", str(tmp_path / "empty.csv"), "--pair-column", "other"]
    status = run_command(main_of("predict"), ["--verbose", *argv])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert "Traceback" in err and "EmptyDataError" in err
    assert err.splitlines()[-1].startswith(f"tfbert: error: data file {tmp_path / 'empty.csv'} is empty")

    status = run_command(main_of("predict"), argv)
    out, err = capsys.readouterr()
    assert command_error(status, err, out).startswith(f"data file {tmp_path / 'empty.csv'} is empty")


def noted_then_failing(argv):
    """A command that says what it does (a note), then finds a problem, as a training run can."""
    ArgumentParser(prog="noted").parse_args(argv)
    progress.note("devices: 1 replica on CPU (x, 2 cores); precision: float32 (mixed_precision: float32)")
    raise TfbertError("run directory runs/x already exists")


def test_a_failure_after_a_note_ends_with_its_one_error_line_and_quiet_drops_the_note(capsys):
    status = run_command(noted_then_failing, [])
    out, err = capsys.readouterr()
    assert err.splitlines() == ["tfbert: devices: 1 replica on CPU (x, 2 cores); precision: float32 (mixed_precision: "
                                "float32)", "tfbert: error: run directory runs/x already exists"]
    assert command_error(status, err, out) == "run directory runs/x already exists"
    status = run_command(noted_then_failing, ["--quiet"])
    out, err = capsys.readouterr()
    assert err == "tfbert: error: run directory runs/x already exists\n" and command_error(status, err, out)


@pytest.mark.parametrize("stderr", [
    "tfbert: warning: dropped 2 rows\ntfbert: error: no rows\n",  # a warning is not a note
    "2026-12-01 23:06:53.376676: E external/cuda_platform.cc:51] failed call to cuInit\ntfbert: error: no rows\n",
    "tfbert: error: no rows\ntfbert: fit: 1 steps\n",  # the error is the last line
])
def test_only_notes_may_come_before_a_commands_error_line(stderr):
    with pytest.raises(AssertionError):
        command_error(2, stderr)


# A command's end in a fresh interpreter: an atexit handler, buffered output and an object whose
# finaliser runs only in Python's teardown, then exit_process.
ENDING_A_COMMAND = """
import atexit, sys
from tfbert.errors import exit_process

class Teardown:
    def __del__(self):
        print("torn down", file=sys.stderr)

kept = Teardown()
atexit.register(lambda: print("atexit ran", file=sys.stderr))
sys.stdout.write("last line, not yet flushed")
exit_process(3)
"""


@pytest.mark.parametrize("tf_config", [None, '{"cluster": {}}'])
def test_a_command_exits_with_its_status_after_atexit_and_the_flushes_and_without_teardown_unless_a_worker(tf_config):
    done = run_python(ENDING_A_COMMAND, TF_CONFIG=tf_config)
    assert done.returncode == 3
    assert done.stdout == "last line, not yet flushed"
    assert "atexit ran" in done.stderr
    # Skipped in a plain command's process; a multi-worker run's worker (TF_CONFIG) exits as Python does.
    assert ("torn down" in done.stderr) == (tf_config is not None)
