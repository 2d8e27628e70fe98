"""Evaluation: Keras loss and metrics plus sklearn's per-class report and confusion matrix.

Binary and multi-label predictions are thresholded at 0.5, multi-class ones take the
most probable label. For binary tasks precision, recall and F1 are the positive class's
(label id 1, as Keras' Precision and Recall count them); otherwise they are macro averages.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             multilabel_confusion_matrix, precision_recall_fscore_support)

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


def predicted_ids(probabilities: np.ndarray, label_map: LabelMap) -> np.ndarray:
    """Label ids (binary, multiclass: [n]) or 0/1 rows (multilabel: [n, k])."""
    if label_map.task == "multiclass":
        return probabilities.argmax(axis=-1)
    predicted = (probabilities >= THRESHOLD).astype(np.int32)
    return predicted[:, 0] if label_map.task == "binary" else predicted


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


def evaluate_split(model: tf_keras.Model, dataset: tf.data.Dataset, truth: np.ndarray,
                   label_map: LabelMap) -> Evaluation:
    """Run the model over `dataset` (whose labels are `truth`) and score it."""
    keras_results = model.evaluate(dataset, return_dict=True, verbose=0)
    probabilities = model.predict(dataset, verbose=0)
    predicted = predicted_ids(probabilities, label_map)
    metrics = label_metrics(truth, predicted, label_map)
    metrics["loss"] = float(keras_results["loss"])
    if label_map.task == "binary":
        metrics["precision_at_recall_0.5"] = float(keras_results["precision_at_recall_0.5"])
    metrics["num_examples"] = int(len(truth))
    report_args = dict(labels=list(range(label_map.num_labels)), target_names=label_map.names, zero_division=0)
    report = classification_report(truth, predicted, digits=4, **report_args)
    report_rows = classification_report(truth, predicted, output_dict=True, **report_args)
    return Evaluation(metrics, report, report_rows, confusion(truth, predicted, label_map), probabilities, predicted)
