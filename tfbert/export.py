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
import tensorflow as tf
import tf_keras

from tfbert.data import LabelMap
from tfbert.features import TfTextPacker
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


SERVING_SIGNATURE = "serving_default"


class ServingModel(tf.Module):
    """The whole trained pipeline over raw strings: tokenization (tensorflow_text ops),
    the classifier, and the label names and decision threshold, for tf.saved_model."""

    def __init__(self, classifier: tf_keras.Model, packer: TfTextPacker, label_map: LabelMap, threshold: float):
        super().__init__(name="tfbert_serving")
        self.classifier = classifier
        self.wordpiece = packer.wordpiece  # tracked, so its tables travel with the SavedModel
        self.label_names = tf.constant(label_map.names)
        self.threshold = tf.constant(threshold, tf.float32)
        self._packer = packer
        self._task = label_map.task

    def predict(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """probabilities [batch, num_labels] and label [batch] (multi-label: names joined by ", ")."""
        probabilities = self.classifier(self._packer(texts, pairs), training=False)
        if self._task == "binary":
            positive = probabilities[:, 0]
            return {"probabilities": tf.stack([1.0 - positive, positive], axis=1),
                    "label": tf.gather(self.label_names, tf.cast(positive >= self.threshold, tf.int32))}
        if self._task == "multiclass":
            return {"probabilities": probabilities, "label": tf.gather(self.label_names, tf.argmax(probabilities, -1))}
        chosen = tf.ragged.boolean_mask(tf.broadcast_to(self.label_names, tf.shape(probabilities)),
                                        probabilities >= self.threshold)
        return {"probabilities": probabilities, "label": tf.strings.reduce_join(chosen, axis=1, separator=", ")}


def save_serving_model(classifier: tf_keras.Model, packer: TfTextPacker, label_map: LabelMap, threshold: float,
                       directory: str | Path, with_pairs: bool) -> Path:
    """A SavedModel whose serving_default signature takes `text` (and `text_pair`) strings."""
    serving = ServingModel(classifier, packer, label_map, threshold)
    text = tf.TensorSpec([None], tf.string, name="text")
    if with_pairs:
        signature = tf.function(lambda text, text_pair: serving.predict(text, text_pair),
                                input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")])
    else:
        signature = tf.function(lambda text: serving.predict(text), input_signature=[text])
    directory = Path(directory)
    tf.saved_model.save(serving, str(directory), signatures={SERVING_SIGNATURE: signature})
    (directory / LABEL_MAP_FILE).write_text(json.dumps({**label_map.to_json(), "threshold": threshold}, indent=2) + "\n",
                                            encoding="utf-8")
    return directory
