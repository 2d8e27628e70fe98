"""The run directory: a run's output folder, written in a hidden staging folder
(output_dir/.RUN_NAME.incomplete) and renamed to output_dir/RUN_NAME only once every
file is in place, so an interrupted run never leaves a directory that looks finished.

>>> import tempfile
>>> from tfbert.run_directory import RunDirectory
>>> run = RunDirectory(tempfile.mkdtemp(), "demo")
>>> _ = run.write_json("metrics.json", {"accuracy": 1.0})
>>> run.path.name, run.finish().name
('.demo.incomplete', 'demo')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tfbert.errors import TfbertError


class RunDirectory:
    """A run's output folder, staged until `finish` renames it into place."""

    def __init__(self, output_dir: str | Path, run_name: str):
        output_dir = Path(output_dir)
        self.final_path = output_dir / run_name
        if self.final_path.exists():
            raise TfbertError(f"run directory {self.final_path} already exists; set another run_name")
        # Staged beside the final folder, so that finish() is one rename even when
        # run_name names a subfolder (sweeps/lr-3e-5).
        self.path = self.final_path.parent / f".{self.final_path.name}.incomplete"
        if self.path.exists():
            shutil.rmtree(self.path)  # left by an interrupted run of the same name
        self.path.mkdir(parents=True)

    def write_text(self, name: str, text: str) -> Path:
        target = self.path / name
        target.write_text(text, encoding="utf-8")
        return target

    def write_json(self, name: str, payload: Any) -> Path:
        return self.write_text(name, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")

    def finish(self) -> Path:
        """Move the complete run into place; returns its final path."""
        os.replace(self.path, self.final_path)
        self.path = self.final_path
        return self.final_path
