"""Writing a run's outputs: the run directory, and the model that reloads on its own.

A run is written into a hidden staging folder (output_dir/.RUN_NAME.incomplete) and
renamed to output_dir/RUN_NAME only once every file is in place, so an interrupted run
never leaves a directory that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert.data import LabelMap
from tfbert.errors import TfbertError

LABEL_MAP_FILE = "label_map.json"


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


def save_model(model: tf_keras.Model, directory: str | Path, label_map: LabelMap) -> Path:
    """The trained classifier as a SavedModel, with its label map beside the weights.

    The SavedModel holds the encoder's variables and functions, so it reloads without
    the original TF Hub handle and without custom_objects.
    """
    directory = Path(directory)
    model.save(str(directory), include_optimizer=False, save_format="tf")
    (directory / LABEL_MAP_FILE).write_text(json.dumps(label_map.to_json(), indent=2) + "\n", encoding="utf-8")
    return directory


def load_model(directory: str | Path) -> tuple[tf_keras.Model, LabelMap]:
    """A classifier saved by `save_model` (a run's model/ folder) and its label map."""
    directory = Path(directory)
    if not (directory / "saved_model.pb").is_file() or not (directory / LABEL_MAP_FILE).is_file():
        raise TfbertError(f"{directory} is not a tfbert model folder (saved_model.pb and {LABEL_MAP_FILE})")
    model = tf_keras.models.load_model(str(directory), compile=False)
    label_map = LabelMap.from_json(json.loads((directory / LABEL_MAP_FILE).read_text(encoding="utf-8")))
    return model, label_map
