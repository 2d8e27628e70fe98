"""tfbert.atomic: a file or folder appears under its final name whole, or not at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tfbert import atomic


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_a_staged_file_appears_only_when_the_block_ends(tmp_path):
    target = tmp_path / "metrics.json"
    with atomic.staged(target) as temporary:
        temporary.write_text('{"accuracy": 1.0}')
        assert temporary.parent == tmp_path and temporary.name.startswith(".metrics.json.")
        assert not target.exists()
    assert target.read_text() == '{"accuracy": 1.0}'
    assert _siblings(target) == ["metrics.json"]


def test_a_write_failing_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic.staged(target) as temporary:
            temporary.write_text('{"accur')
            raise OSError("disk full")
    assert target.read_text() == "old"
    assert _siblings(target) == ["metrics.json"]


def test_a_folder_failing_midway_leaves_nothing(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(KeyboardInterrupt):
        with atomic.staged(target) as temporary:
            (temporary / "variables").mkdir(parents=True)
            (temporary / "saved_model.pb").write_bytes(b"half")
            raise KeyboardInterrupt
    assert _siblings(target) == []


def test_a_staged_folder_replaces_an_existing_one_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("from an earlier attempt")
    with atomic.staged(target) as temporary:
        temporary.mkdir()
        (temporary / "saved_model.pb").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["saved_model.pb"]
    assert _siblings(target) == ["model"]


def test_keep_suffix_keeps_the_final_names_suffix(tmp_path):
    assert atomic.temporary_name(tmp_path / "out.csv.gz", keep_suffix=True).suffix == ".gz"
    assert atomic.temporary_name(tmp_path / "out.csv.gz").suffix == ".tmp"
    assert atomic.temporary_name(tmp_path / "a.csv") != atomic.temporary_name(tmp_path / "a.csv")  # unique
    with atomic.staged(tmp_path / "out.parquet", keep_suffix=True) as temporary:
        assert temporary.suffix == ".parquet" and temporary.name.startswith(".out.parquet.")
        temporary.write_text("x")
    assert (tmp_path / "out.parquet").read_text() == "x"


def test_write_text_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "report.txt"
    atomic.write_text(target, "first\n")
    real_write_text = Path.write_text

    def write_half_then_fail(self, text, *args, **kwargs):
        real_write_text(self, text[:3], *args, **kwargs)
        raise OSError("no space left on device")

    monkeypatch.setattr(Path, "write_text", write_half_then_fail)
    with pytest.raises(OSError, match="no space"):
        atomic.write_text(target, "second\n")
    monkeypatch.undo()
    assert target.read_text() == "first\n"
    assert _siblings(target) == ["report.txt"]


def test_a_process_killed_midway_never_leaves_the_final_name(tmp_path):
    """SIGKILL runs no cleanup: the temporary stays, hidden, and the final name is untouched."""
    target = tmp_path / "predictions.csv"
    target.write_text("earlier\n")
    child = ("import os, signal, sys\n"
             "from tfbert import atomic\n"
             "with atomic.staged(sys.argv[1]) as temporary:\n"
             "    temporary.write_text('half of the new ')\n"
             "    os.kill(os.getpid(), signal.SIGKILL)\n")
    process = subprocess.run([sys.executable, "-c", child, str(target)], capture_output=True)
    assert process.returncode == -9, process.stderr
    assert target.read_text() == "earlier\n"
    left = [name for name in _siblings(target) if name != "predictions.csv"]
    assert len(left) == 1 and left[0].startswith(".predictions.csv.") and left[0].endswith(".tmp")
