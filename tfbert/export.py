"""Saving a trained classifier: the model that reloads on its own, and the serving
export over raw strings (with the helpers that find, load and call it).

An export is found in a run directory, in an export/ folder, or behind a W&B model
artifact reference (entity/project/name:alias), which is downloaded; a local path that
exists always wins over the reference reading.

>>> from tfbert.export import is_artifact_reference
>>> is_artifact_reference("my-team/tfbert/demo-model:best"), is_artifact_reference("runs/demo-20261124-183820")
(True, False)
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert import atomic, tracking
from tfbert.data.labels import LabelMap
from tfbert.data.splits import BREAK_TAG
from tfbert.packers import TfTextPacker
from tfbert.errors import TfbertError
from tfbert.run_directory import final_path_of, is_staging_folder, is_unfinished, saved_config, staging_path

if TYPE_CHECKING:
    import tf_keras  # loaded by load_model only: serving a run's export needs no Keras

LABEL_MAP_FILE = "label_map.json"
# [entity/]project/name:alias, W&B's artifact reference (the alias may be a version, v3).
ARTIFACT_REFERENCE = re.compile(r"(?:[\w.-]+/){1,2}[\w.-]+:[\w.-]+")


def _write_label_map(directory: Path, payload: dict[str, Any]) -> None:
    (directory / LABEL_MAP_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def save_model(model: tf_keras.Model, directory: str | Path, label_map: LabelMap) -> Path:
    """The trained classifier as a SavedModel, with its label map beside the weights.

    The SavedModel holds the encoder's variables and functions, so it reloads without
    the original TF Hub handle and without custom_objects. It is written beside `directory`
    and renamed into place, so `directory` never holds half a model.
    """
    with atomic.staged(directory) as staging:
        model.save(str(staging), include_optimizer=False, save_format="tf")
        _write_label_map(staging, label_map.to_json())
    return Path(directory)


def load_model(directory: str | Path) -> tuple[tf_keras.Model, LabelMap]:
    """A classifier saved by `save_model` (a run's model/ folder) and its label map."""
    directory = Path(directory)
    if not (directory / "saved_model.pb").is_file() or not (directory / LABEL_MAP_FILE).is_file():
        save = saved_with(directory.parent)
        if directory.name == "model" and save in ("model", "metrics"):
            raise TfbertError(f"run {directory.parent} was saved with `save: {save}`, which keeps no model/ folder; "
                              "train with save: all to keep it" + (" (its export/ serves predictions)"
                                                                    if save == "model" else ""))
        raise TfbertError(f"{directory} is not a tfbert model folder (saved_model.pb and {LABEL_MAP_FILE})")
    import tf_keras

    model = tf_keras.models.load_model(str(directory), compile=False)
    label_map = LabelMap.from_json(json.loads((directory / LABEL_MAP_FILE).read_text(encoding="utf-8")))
    return model, label_map


SERVING_SIGNATURE = "serving_default"


class ServingModel(tf.Module):
    """The whole trained pipeline over raw strings: tokenization (tensorflow_text ops),
    the classifier, and the label names and decision threshold, for tf.saved_model."""

    def __init__(self, classifier: tf_keras.Model, packer: TfTextPacker, label_map: LabelMap, threshold: float,
                 clean_text: bool = False):
        super().__init__(name="tfbert_serving")
        # Its variables are tracked, not the Keras model: tf.saved_model.save would serialize a
        # tracked model for Keras too, tracing every layer again (0.5 s of a tiny model's 0.8 s
        # here) into functions serving never calls; model/ is the Keras reload.
        self._classifier = self._no_dependency(classifier)
        self.classifier_variables = list(classifier.weights)  # the weights once, no optimizer slots
        self.wordpiece = packer.wordpiece  # tracked, so its tables travel with the SavedModel
        self.label_names = tf.constant(label_map.names)
        self.threshold = tf.constant(threshold, tf.float32)
        self._packer = packer
        self._task = label_map.task
        self._clean_text = clean_text

    def _cleaned(self, texts: tf.Tensor | None) -> tf.Tensor | None:
        """clean_text's <br /> removal; the tokenizer splits on whitespace, so runs of it need no collapsing."""
        if texts is None or not self._clean_text:
            return texts
        return tf.strings.regex_replace(texts, "(?i)" + BREAK_TAG, " ")  # RE2's \s is ASCII whitespace only

    def predict(self, texts: tf.Tensor, pairs: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """probabilities [batch, num_labels] and label [batch] (multi-label: names joined by ", ")."""
        probabilities = self._classifier(self._packer(self._cleaned(texts), self._cleaned(pairs)), training=False)
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
                       directory: str | Path, with_pairs: bool, clean_text: bool = False,
                       precision: str = "float32") -> Path:
    """A SavedModel whose serving_default signature takes `text` (and `text_pair`) strings,
    cleaned as training's were when `clean_text`. `precision` is the Keras policy `classifier`
    was built in, recorded in label_map.json (what `LoadedExport.precision` reads)."""
    serving = ServingModel(classifier, packer, label_map, threshold, clean_text)
    text = tf.TensorSpec([None], tf.string, name="text")
    # Plain graph code, traced without autograph (as the input pipeline's maps are): converting
    # tensorflow_text's Python took 1.5-2.5 s of the export's 2.3-4.0 s.
    if with_pairs:
        signature = tf.function(lambda text, text_pair: serving.predict(text, text_pair),
                                input_signature=[text, tf.TensorSpec([None], tf.string, name="text_pair")],
                                autograph=False)
    else:
        signature = tf.function(lambda text: serving.predict(text), input_signature=[text], autograph=False)
    with atomic.staged(directory) as staging:
        tf.saved_model.save(serving, str(staging), signatures={SERVING_SIGNATURE: signature})
        _write_label_map(staging, {**label_map.to_json(), "threshold": threshold, "precision": precision})
    return Path(directory)


def refuse_unfinished(path: str | Path) -> None:
    """Raise when `path` is an unfinished run (its staging folder, a folder in it, or a run
    name whose staging folder exists while the run directory does not)."""
    path = Path(path)
    for run in (path, path.parent):
        if is_unfinished(run):
            staging = run if is_staging_folder(run) else staging_path(run)
            raise TfbertError(f"run directory {final_path_of(staging)} has not finished (training was interrupted "
                              f"or is still running); resume it with python -m tfbert.train --config "
                              f"{staging / 'config.yaml'} or use a finished run")


def is_artifact_reference(text: str) -> bool:
    """Whether `text` reads as a W&B artifact reference: [entity/]project/name:alias."""
    return ARTIFACT_REFERENCE.fullmatch(text) is not None


def local_or_artifact(path: str | Path) -> Path:
    """`path` when it exists (a local path always wins); else, when it reads as a W&B
    artifact reference, the folder it downloads to (`tracking.download_model_artifact`);
    else `path` as given, for the caller to refuse."""
    if Path(path).exists() or not is_artifact_reference(str(path)):
        return Path(path)
    return tracking.download_model_artifact(str(path))


def saved_with(run_dir: Path) -> str | None:
    """The `save` key of the run in `run_dir` (from its config.yaml), None when it has none."""
    config = saved_config(run_dir)
    return None if config is None else config.get("save", "all")


def find_export(path: str | Path) -> Path:
    """The serving export of a finished run directory, `path` itself when it is one, or
    the downloaded folder of a W&B model artifact reference (see `local_or_artifact`)."""
    path = local_or_artifact(path)
    refuse_unfinished(path)
    for candidate in (path / "export", path):
        if (candidate / "saved_model.pb").is_file() and (candidate / LABEL_MAP_FILE).is_file():
            return candidate
    if saved_with(path) == "metrics":
        raise TfbertError(f"run {path} was saved with `save: metrics`, which keeps no model (no export/); "
                          "train it again with save: model or save: all to predict or evaluate with it")
    raise TfbertError(f"{path} is neither a tfbert run directory nor its export/ folder")


@dataclasses.dataclass(frozen=True)
class LoadedExport:
    """A serving export, loaded: its signature and what its label_map.json says."""

    signature: Any  # the serving_default ConcreteFunction
    label_map: LabelMap
    threshold: float
    takes_pairs: bool
    directory: Path | None = None  # the export/ folder it was loaded from
    precision: str = "float32"  # the Keras policy it computes in (export_precision); float32 in exports older than it


def load_serving_model(path: str | Path) -> LoadedExport:
    """The export of a run directory (or an export folder, or a W&B model artifact
    reference), ready to call on strings."""
    directory = find_export(path)
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops the export uses)

    payload = json.loads((directory / LABEL_MAP_FILE).read_text(encoding="utf-8"))
    signature = tf.saved_model.load(str(directory)).signatures[SERVING_SIGNATURE]
    return LoadedExport(signature, LabelMap.from_json(payload), float(payload["threshold"]),
                        "text_pair" in signature.structured_input_signature[1], Path(directory).resolve(),
                        payload.get("precision", "float32"))


def with_predictions(frame: pd.DataFrame, labels: Sequence[str], probabilities: np.ndarray,
                     label_map: LabelMap) -> pd.DataFrame:
    """`frame` plus predicted_label and one probability_<label> column per label."""
    result = frame.copy()
    result["predicted_label"] = list(labels)
    for name, column in zip(label_map.names, probabilities.T):
        result[f"probability_{name}"] = column
    return result
