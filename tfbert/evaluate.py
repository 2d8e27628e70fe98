"""Evaluation: Keras loss and metrics plus sklearn's per-class report and confusion matrix.

Binary and multi-label predictions are thresholded (at 0.5 unless a binary task's
decision_threshold says otherwise), multi-class ones take the most probable label. For binary tasks precision, recall and F1 are the positive class's
(label id 1, as Keras' Precision and Recall count them); otherwise they are macro averages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             multilabel_confusion_matrix, precision_recall_curve,
                             precision_recall_fscore_support)

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert.data import LabelMap

THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What one split's evaluation found, in the forms the run directory stores."""

    metrics: dict[str, float]
    report: str  # sklearn's classification report, as text
    report_rows: dict[str, Any]  # the same report as sklearn's output_dict
    confusion: dict[str, Any]
    probabilities: np.ndarray  # the model's output, [n, 1] or [n, k]
    predicted: np.ndarray  # predicted_ids(probabilities)


def predicted_ids(probabilities: np.ndarray, label_map: LabelMap, threshold: float = THRESHOLD) -> np.ndarray:
    """Label ids (binary, multiclass: [n]) or 0/1 rows (multilabel: [n, k])."""
    if label_map.task == "multiclass":
        return probabilities.argmax(axis=-1)
    predicted = (probabilities >= threshold).astype(np.int32)
    return predicted[:, 0] if label_map.task == "binary" else predicted


def f1_threshold(truth: np.ndarray, positive_probabilities: np.ndarray) -> float:
    """The probability threshold that maximises the positive class's F1 on (truth, probabilities)."""
    precision, recall, thresholds = precision_recall_curve(truth, positive_probabilities)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=(precision + recall) > 0)
    return float(thresholds[int(np.argmax(f1))])


def label_metrics(truth: np.ndarray, predicted: np.ndarray, label_map: LabelMap) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (positive class for binary, else macro)."""
    average = "binary" if label_map.task == "binary" else "macro"
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average=average, zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def confusion(truth: np.ndarray, predicted: np.ndarray, label_map: LabelMap) -> dict[str, Any]:
    """Counts with rows = true label, columns = predicted label (one 2x2 per label for multilabel)."""
    if label_map.task == "multilabel":
        matrices = multilabel_confusion_matrix(truth, predicted)
        return {"labels": label_map.names, "matrices": {name: m.tolist() for name, m in zip(label_map.names, matrices)}}
    matrix = confusion_matrix(truth, predicted, labels=list(range(label_map.num_labels)))
    return {"labels": label_map.names, "matrix": matrix.tolist()}


@dataclasses.dataclass(frozen=True)
class ModelOutputs:
    """What the model said about one split: Keras' loss and metrics, and its probabilities."""

    keras_results: dict[str, float]
    probabilities: np.ndarray


def run_model(model: tf_keras.Model, dataset: tf.data.Dataset) -> ModelOutputs:
    return ModelOutputs(model.evaluate(dataset, return_dict=True, verbose=0), model.predict(dataset, verbose=0))


def decision_threshold(setting: float | str, truth: np.ndarray, outputs: ModelOutputs, label_map: LabelMap) -> float:
    """The binary threshold to predict with: the configured number, or the F1-optimal one on `truth`."""
    if label_map.task != "binary" or setting != "f1":
        return THRESHOLD if label_map.task != "binary" else float(setting)
    return f1_threshold(truth, outputs.probabilities[:, 0])


def score(outputs: ModelOutputs, truth: np.ndarray, label_map: LabelMap, threshold: float = THRESHOLD) -> Evaluation:
    """Score the model's outputs against `truth`, predicting a binary task's positive label at `threshold`."""
    predicted = predicted_ids(outputs.probabilities, label_map, threshold)
    metrics = label_metrics(truth, predicted, label_map)
    metrics["loss"] = float(outputs.keras_results["loss"])
    if label_map.task == "binary":
        metrics["precision_at_recall_0.5"] = float(outputs.keras_results["precision_at_recall_0.5"])
        metrics["decision_threshold"] = float(threshold)
        metrics["at_0.5"] = label_metrics(truth, predicted_ids(outputs.probabilities, label_map), label_map)
    metrics["num_examples"] = int(len(truth))
    report_args = dict(labels=list(range(label_map.num_labels)), target_names=label_map.names, zero_division=0)
    report = classification_report(truth, predicted, digits=4, **report_args)
    report_rows = classification_report(truth, predicted, output_dict=True, **report_args)
    return Evaluation(metrics, report, report_rows, confusion(truth, predicted, label_map),
                      outputs.probabilities, predicted)


def evaluate_split(model: tf_keras.Model, dataset: tf.data.Dataset, truth: np.ndarray,
                   label_map: LabelMap, threshold: float = THRESHOLD) -> Evaluation:
    """Run the model over `dataset` (whose labels are `truth`) and score it."""
    return score(run_model(model, dataset), truth, label_map, threshold)
