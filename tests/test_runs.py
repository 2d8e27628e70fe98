"""Listing and cleaning the runs in an output_dir, finished and unfinished (built by hand)."""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from conftest import command_error, raises_one_line

import tfbert
from tfbert import resume, runs
from tfbert.config import dump_config, load_config
from tfbert.errors import run_command

MODIFIED = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))


def touch_all(folder: Path, modified: float) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (modified, modified))


def finished_run(output_dir: Path, name: str, accuracy: float, modified: float) -> Path:
    folder = output_dir / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_config(load_config(epochs=2)))
    metrics = {"validation": {"accuracy": accuracy, "f1": 0.5, "loss": 0.25, "num_examples": 10}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "model.bin").write_bytes(b"\0" * 2048)
    touch_all(folder, modified)
    return folder


def unfinished_run(output_dir: Path, name: str, modified: float, epoch: int | None = None, batch: int = -1,
                   fit_ended: bool = False) -> Path:
    """A staging folder as a killed run leaves it: 3200 training rows in batches of 32 (100
    steps per epoch), 5 epochs, and a BackupAndRestore checkpoint at (epoch, batch) when given."""
    staging = output_dir / f".{name}.incomplete"
    staging.mkdir(parents=True)
    (staging / "config.yaml").write_text(dump_config(load_config(epochs=5, train_batch_size=32)))
    (staging / "data_stats.json").write_text(json.dumps({"train": {"num_examples": 3200}}))
    backup = staging / resume.BACKUP
    backup.mkdir()
    if epoch is not None:
        import tensorflow as tf

        state = tf.train.Checkpoint(ckpt_saved_epoch=tf.Variable(epoch, dtype=tf.int64),
                                    ckpt_saved_batch=tf.Variable(batch, dtype=tf.int64))
        tf.train.CheckpointManager(state, str(backup / "chief"), max_to_keep=1).save()
    if fit_ended:
        resume.mark_fit_ended(backup)
    touch_all(staging, modified)
    return staging


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """Finished and unfinished runs, one nested (run_name: sweep/...), beside W&B's folder."""
    root = tmp_path / "runs"
    finished_run(root, "demo-1", 0.8, MODIFIED)
    finished_run(root, "sweep/lr-3e-5", 0.9, MODIFIED + 60)
    unfinished_run(root, "demo-2", MODIFIED + 120, epoch=1, batch=39)
    unfinished_run(root, "demo-3", MODIFIED + 180, epoch=2, batch=99)
    unfinished_run(root, "demo-4", MODIFIED + 240, fit_ended=True)
    unfinished_run(root, "demo-5", MODIFIED + 300)
    (root / ".demo-6.incomplete").mkdir()  # killed before it wrote its config
    os.utime(root / ".demo-6.incomplete", (MODIFIED + 360, MODIFIED + 360))
    (root / "wandb" / "run-1").mkdir(parents=True)
    (root / "wandb" / "run-1" / "config.yaml").write_text("{}\n")
    return root


def test_list_runs_says_where_each_unfinished_run_stopped_and_how_each_finished_one_scored(output_dir):
    records = runs.list_runs(output_dir)
    assert [(record.name, record.finished, record.status) for record in records] == [
        ("demo-1", True, "validation: accuracy=0.8000 f1=0.5000 loss=0.2500"),
        ("sweep/lr-3e-5", True, "validation: accuracy=0.9000 f1=0.5000 loss=0.2500"),
        ("demo-2", False, "stopped in epoch 2/5 after step 40/100"),  # BackupAndRestore's batch 39 is the 40th step
        ("demo-3", False, "stopped after epoch 3/5"),
        ("demo-4", False, "stopped after training, before the final evaluation"),
        ("demo-5", False, "stopped before its first backup"),
        ("demo-6", False, "stopped before it started training"),
    ]
    assert records[0].path == output_dir / "demo-1" and records[2].path == output_dir / ".demo-2.incomplete"
    assert records[0].modified == MODIFIED and records[-1].modified == MODIFIED + 360
    files = [path for path in (output_dir / "demo-1").rglob("*") if path.is_file()]
    assert records[0].size_bytes == sum(path.stat().st_size for path in files) > 2048
    assert tfbert.runs.list_runs is runs.list_runs  # the lazy API


def test_the_list_command_prints_one_line_per_run(output_dir, capsys):
    assert run_command(runs.main, ["list", "--output_dir", str(output_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(MODIFIED))
    size = runs.human_size(runs.list_runs(output_dir)[0].size_bytes)
    assert re.fullmatch(r"\d\.\d kB", size)
    assert lines[0] == f"demo-1  finished  validation: accuracy=0.8000 f1=0.5000 loss=0.2500  {size}  {when}"
    assert lines[2].startswith("demo-2  unfinished  stopped in epoch 2/5 after step 40/100  ")


def test_clean_removes_the_unfinished_runs_only(output_dir):
    removed = runs.clean(output_dir)
    assert sorted(path.name for path in removed) == [f".demo-{i}.incomplete" for i in range(2, 7)]
    assert [record.name for record in runs.list_runs(output_dir)] == ["demo-1", "sweep/lr-3e-5"]
    assert (output_dir / "wandb" / "run-1").is_dir()
    assert runs.clean(output_dir) == []
    raises_one_line(runs.remove_unfinished, [output_dir / "demo-1"], match="demo-1 is not an unfinished run's")
    assert (output_dir / "demo-1").is_dir()


class FakeStdin(io.StringIO):
    def __init__(self, text: str, tty: bool):
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    "args, stdin, removed",
    [(["--yes"], FakeStdin("", tty=False), True), ([], FakeStdin("y\n", tty=True), True),
     ([], FakeStdin("\n", tty=True), False), ([], FakeStdin("n\n", tty=True), False)],
    ids=["yes", "answered-y", "answered-default", "answered-n"],
)
def test_the_clean_command_asks_first(output_dir, capsys, monkeypatch, args, stdin, removed):
    monkeypatch.setattr("sys.stdin", stdin)
    assert run_command(runs.main, ["clean", f"--output_dir={output_dir}", *args]) == 0
    out = capsys.readouterr().out
    left = [record.name for record in runs.list_runs(output_dir)]
    if removed:
        assert left == ["demo-1", "sweep/lr-3e-5"]
        assert out.count("removed ") == 5
    else:
        assert len(left) == 7 and out.endswith("nothing removed\n")
    assert ("remove 5 unfinished runs (" in out) == (not args)  # the question is asked only without --yes


def test_clean_without_a_terminal_or_yes_refuses_and_removes_nothing(output_dir, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeStdin("y\n", tty=False))
    status = run_command(runs.main, ["clean", f"--output_dir={output_dir}"])
    captured = capsys.readouterr()
    assert "stdin is not a terminal; pass --yes" in command_error(status, captured.err)
    assert len(runs.list_runs(output_dir)) == 7


@pytest.mark.parametrize("command", ["list", "clean"])
def test_a_missing_output_dir_is_a_one_line_error(tmp_path, capsys, command):
    status = run_command(runs.main, [command, f"--output_dir={tmp_path / 'nope'}"])
    assert re.search(r"output_dir .*nope is not a folder; .*--output_dir DIR$", command_error(status, capsys.readouterr().err))


def test_nothing_to_list_or_clean(tmp_path, capsys):
    assert run_command(runs.main, ["list", f"--output_dir={tmp_path}"]) == 0
    assert run_command(runs.main, ["clean", f"--output_dir={tmp_path}"]) == 0
    assert capsys.readouterr().out == f"no runs in {tmp_path}\nno unfinished runs in {tmp_path}\n"
