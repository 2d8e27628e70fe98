"""Scoring a model's outputs: Keras' loss and metrics plus sklearn's per-class report,
the confusion matrix, the decision threshold, and the report files a run keeps.

Binary and multi-label predictions are thresholded (at 0.5 unless a binary task's
decision_threshold says otherwise), multi-class ones take the most probable label. For
binary tasks precision, recall and F1 are the positive class's (label id 1, as Keras'
Precision and Recall count them); otherwise they are macro averages.

>>> import numpy as np
>>> from tfbert.data.labels import LabelMap
>>> from tfbert.scoring import label_metrics, predicted_ids
>>> label_map = LabelMap(("negative", "positive"), "binary")
>>> predicted = predicted_ids(np.array([[0.2], [0.7], [0.9]]), label_map)
>>> predicted.tolist(), label_metrics(np.array([0, 1, 0]), predicted, label_map)["accuracy"]
([0, 1, 1], 0.6666666666666666)
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import model, plots, progress
from tfbert.data.labels import LabelMap
from tfbert.data.splits import Split
from tfbert.input_pipeline import run_in_length_order
from tfbert.run_directory import RunDirectory

THRESHOLD = 0.5


@functools.cache
def sklearn_metrics() -> Any:
    """sklearn.metrics, loaded on first use (0.6-0.9 s): `python -m tfbert.train` starts without
    it, and `tfbert.finishing` loads it in the background while the final evaluation runs."""
    from sklearn import metrics

    return metrics


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
    precision, recall, thresholds = sklearn_metrics().precision_recall_curve(truth, positive_probabilities)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(precision), where=(precision + recall) > 0)
    return float(thresholds[int(np.argmax(f1))])


def label_metrics(truth: np.ndarray, predicted: np.ndarray, label_map: LabelMap) -> dict[str, float]:
    """Accuracy, precision, recall and F1 (positive class for binary, else macro)."""
    average = "binary" if label_map.task == "binary" else "macro"
    metrics = sklearn_metrics()
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(truth, predicted, average=average, zero_division=0)
    return {
        "accuracy": float(metrics.accuracy_score(truth, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def confusion(truth: np.ndarray, predicted: np.ndarray, label_map: LabelMap) -> dict[str, Any]:
    """Counts with rows = true label, columns = predicted label (one 2x2 per label for multilabel)."""
    if label_map.task == "multilabel":
        matrices = sklearn_metrics().multilabel_confusion_matrix(truth, predicted)
        return {"labels": label_map.names, "matrices": {name: m.tolist() for name, m in zip(label_map.names, matrices)}}
    matrix = sklearn_metrics().confusion_matrix(truth, predicted, labels=list(range(label_map.num_labels)))
    return {"labels": label_map.names, "matrix": matrix.tolist()}


@dataclasses.dataclass(frozen=True)
class ModelOutputs:
    """What the model said about one split: Keras' loss and metrics, and its probabilities."""

    keras_results: dict[str, float]
    probabilities: np.ndarray


class ProgressCallback(tf_keras.callbacks.Callback):
    """Advances a progress.meter by the examples of each batch model.predict finishes."""

    def __init__(self, advance: Callable[[int], None]):
        super().__init__()
        self.advance = advance

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.advance(len(tf.nest.flatten(logs["outputs"])[0]))


def predict_with_progress(model: tf_keras.Model, dataset: tf.data.Dataset, num_examples: int,
                          description: str = "evaluating") -> np.ndarray:
    """model.predict over `dataset` (`num_examples` examples), its progress counted in examples
    as tfbert.progress shows it; the texts are tokenized inside the dataset, batch by batch,
    so a large file's tokenization shows in it too."""
    with progress.meter(num_examples, description) as advance:
        return model.predict(dataset, verbose=0, callbacks=[ProgressCallback(advance)])


def run_model_in_length_order(model: tf_keras.Model, split: Split, batches: Callable[[Split], tf.data.Dataset],
                              label_map: LabelMap) -> ModelOutputs:
    """One pass over `split`, shortest text first so that batches carry little padding: the
    model's probabilities in the split's own order, and Keras' loss and metrics computed from
    them against its labels (what model.evaluate would report, without a second pass)."""
    def predict(order: np.ndarray) -> tuple[np.ndarray]:
        return (predict_with_progress(model, batches(split.rows(order)), len(order), f"evaluating {split.name}"),)

    (probabilities,) = run_in_length_order(predict, split.texts, split.pairs)
    return ModelOutputs(keras_results(label_map, split.labels, probabilities), probabilities)


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
    report = sklearn_metrics().classification_report(truth, predicted, digits=4, **report_args)
    report_rows = sklearn_metrics().classification_report(truth, predicted, output_dict=True, **report_args)
    return Evaluation(metrics, report, report_rows, confusion(truth, predicted, label_map),
                      outputs.probabilities, predicted)


def keras_results(label_map: LabelMap, truth: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """The task's Keras loss and metrics computed from probabilities, as model.evaluate reports them."""
    loss, metrics = model.loss_and_metrics(label_map)
    truth = truth.reshape(-1, 1) if label_map.task == "binary" else truth
    results = {"loss": float(loss(tf.constant(truth), tf.constant(probabilities)))}
    for metric in metrics:
        metric.update_state(truth, probabilities)
        results[metric.name] = float(metric.result())
    return results


def format_metrics(title: str, metrics: Mapping[str, Any]) -> str:
    """One line: name=value, nested metrics (at_0.5) as at_0.5.accuracy=..."""
    def parts(values: Mapping[str, Any], prefix: str = "") -> list[str]:
        out = []
        for name, value in values.items():
            if isinstance(value, dict):
                out += parts(value, f"{prefix}{name}.")
            else:
                out.append(f"{prefix}{name}={value:.4f}" if isinstance(value, float) else f"{prefix}{name}={value}")
        return out

    return f"{title}: " + " ".join(parts(metrics))


def write_report(run: RunDirectory, results: Mapping[str, tuple[Evaluation, Split]], label_map: LabelMap,
                 threshold: float) -> dict[str, Path]:
    """metrics.json, classification_report.txt, confusion_matrix.json and each split's plots; returns the plots."""
    figures = {}
    for title, (result, split) in results.items():
        figures |= plots.save_evaluation_plots(
            run.path / "plots", title, label_map.names, result.confusion.get("matrix"), split.labels,
            result.probabilities[:, 0] if label_map.task == "binary" else None, threshold)
    run.write_json("metrics.json", {title: result.metrics for title, (result, _) in results.items()})
    run.write_text("classification_report.txt",
                   "\n".join(f"== {title} ==\n{result.report}" for title, (result, _) in results.items()))
    run.write_json("confusion_matrix.json", {title: result.confusion for title, (result, _) in results.items()})
    return figures


def model_probabilities(served: np.ndarray, label_map: LabelMap) -> np.ndarray:
    """The classifier's own output from the export's probabilities (binary: [p(0), p(1)] -> [p(1)])."""
    return served[:, 1:] if label_map.task == "binary" else served
