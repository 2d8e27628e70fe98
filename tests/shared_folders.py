"""Folders that several tests read and none may write: `shared(folder)` registers one, and
the autouse fixture `shared_folders_stay_as_built` (used by conftest) fails the test after
which any of them changed. Root ignores permission bits, so a listing, not chmod, catches a
test that writes into what another test reads; a test that must write (evaluate a run into
its evaluations/, resume it) works on its own copy (conftest.own_copy).

Usage: `return shared(hub_format.write_tiny_encoder(folder / "tiny"))` in a session or module fixture.
What every worker of a session reads (the tiny encoders, tfbert's cache) is built by the first worker
that needs it: `built_once(tmp_path_factory, "name", build)`.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest

from tfbert import atomic

Folder = TypeVar("Folder", str, Path)

SHARED: dict[Path, list[tuple[str, int, int]]] = {}


def listing(folder: Path) -> list[tuple[str, int, int]]:
    """Every file under `folder`: its relative path, size and modification time."""
    return sorted((str(path.relative_to(folder)), path.stat().st_size, path.stat().st_mtime_ns)
                  for path in Path(folder).rglob("*") if path.is_file())


def shared(folder: Folder) -> Folder:
    """Register `folder` as read-only for the rest of the session; returns it."""
    SHARED[Path(folder)] = listing(Path(folder))
    return folder


def session_root(factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of the whole session: under pytest-xdist the workers' folders' parent,
    which all of them share; else the session's own."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Any]) -> Path:
    """session_root/name, written by `build(folder)` by the first worker that asks (the others wait
    on a lock, then read it): to a staging name, then renamed. Registered as shared."""
    root = session_root(factory)
    path = root / name
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            with atomic.staged(path) as staging:
                build(staging)
    return shared(path)


@pytest.fixture(autouse=True)
def shared_folders_stay_as_built():
    """After each test, every shared folder holds what it held when it was built."""
    yield
    now = {folder: listing(folder) for folder in SHARED}
    changed = {folder: files for folder, files in now.items() if files != SHARED[folder]}
    SHARED.update(changed)  # reported once, by the test that wrote
    assert not changed, f"this test wrote into a shared fixture: {', '.join(map(str, changed))}"
