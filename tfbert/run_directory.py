"""The run directory: a run's output folder, written in a hidden staging folder
(output_dir/.RUN_NAME.incomplete) and renamed to output_dir/RUN_NAME only once every
file is in place, so an interrupted run never leaves a directory that looks finished.
A training run killed midway keeps its staging folder, and running it again resumes there.

>>> import tempfile
>>> from tfbert.run_directory import RunDirectory
>>> run = RunDirectory(tempfile.mkdtemp(), "demo")
>>> _ = run.write_json("metrics.json", {"accuracy": 1.0})
>>> run.path.name, run.finish().name
('.demo.incomplete', 'demo')
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import yaml

from tfbert import atomic
from tfbert.errors import TfbertError

if TYPE_CHECKING:
    from tfbert.config import Config

UNFINISHED_SUFFIX = ".incomplete"


def staging_path(final_path: str | Path) -> Path:
    """Where the run that will end at `final_path` is written until it finishes."""
    final_path = Path(final_path)
    return final_path.parent / f".{final_path.name}{UNFINISHED_SUFFIX}"


def staging_for(config: Config) -> Path:
    """The staging folder of `config`'s run: output_dir/.RUN_NAME.incomplete, where it
    trains and keeps its backups until it finishes."""
    return staging_path(Path(config.output_dir) / config.run_name)


def is_staging_folder(path: str | Path) -> bool:
    """Whether `path`'s name is a staging folder's (.NAME.incomplete)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(UNFINISHED_SUFFIX)


def is_unfinished(path: str | Path) -> bool:
    """Whether `path` is a run's staging folder, or names a run whose staging folder
    exists while its final folder does not (the run has not finished)."""
    path = Path(path)
    if is_staging_folder(path):
        return True
    return not path.exists() and staging_path(path).is_dir()


def final_path_of(staging: str | Path) -> Path:
    """The final path of a staging folder (output_dir/.NAME.incomplete -> output_dir/NAME)."""
    staging = Path(staging)
    return staging.parent / staging.name[1:-len(UNFINISHED_SUFFIX)]


def unfinished_runs(output_dir: str | Path, prefix: str = "") -> list[Path]:
    """The staging folders in `output_dir` whose run name starts with `prefix`, oldest first."""
    folders = Path(output_dir).glob(f".{prefix}*{UNFINISHED_SUFFIX}")
    return sorted((path for path in folders if path.is_dir()), key=lambda path: (path.stat().st_mtime, path.name))


def saved_config(run_dir: str | Path) -> dict[str, Any] | None:
    """The mapping in a run's config.yaml, or None when it has none (or not a readable mapping)."""
    try:
        loaded = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


@contextlib.contextmanager
def worker_run_parent(chief: bool, output_dir: str | Path) -> Iterator[Path]:
    """Where this worker puts its run directory: output_dir on the chief; on the other
    workers of a multi-worker run a temporary folder, deleted at the end."""
    if chief:
        yield Path(output_dir)
        return
    folder = Path(tempfile.mkdtemp(prefix="tfbert-worker-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_if_empty(*folders: Path) -> None:
    """Remove each of `folders` that is empty; leave the others (and missing ones) be."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


class RunDirectory:
    """A run's output folder, staged until `finish` renames it into place.

    keep_unfinished: resume in the staging folder an interrupted run of the same name
    left behind (`resumed` says so); otherwise that folder is emptied first.
    """

    def __init__(self, output_dir: str | Path, run_name: str, keep_unfinished: bool = False):
        output_dir = Path(output_dir)
        self.final_path = output_dir / run_name
        if self.final_path.exists():
            raise TfbertError(f"run directory {self.final_path} already exists and is finished; "
                              "set another run_name (a finished run is never resumed or overwritten)")
        # Staged beside the final folder, so that finish() is one rename even when
        # run_name names a subfolder (sweeps/lr-3e-5).
        self.path = staging_path(self.final_path)
        self.resumed = keep_unfinished and self.path.is_dir()
        if self.path.exists() and not self.resumed:
            shutil.rmtree(self.path)  # left by an interrupted run of the same name
        self.path.mkdir(parents=True, exist_ok=True)

    def write_text(self, name: str, text: str) -> Path:
        """`text` written to the file `name` atomically (temporary name, then rename)."""
        return atomic.write_text(self.path / name, text)

    def write_json(self, name: str, payload: Any) -> Path:
        return self.write_text(name, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")

    def finish(self) -> Path:
        """Move the complete run into place; returns its final path."""
        os.replace(self.path, self.final_path)
        self.path = self.final_path
        return self.final_path
