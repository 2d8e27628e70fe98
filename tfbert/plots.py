"""Pictures of a run, as PNG files: training curves, confusion matrices, the
precision-recall curve, and the data plots (label distribution, text lengths).

Each function returns a matplotlib Figure; `save` writes one and closes it. The Agg
backend draws without a display, so this works on servers and in CI; where a backend
was chosen with MPLBACKEND (a Jupyter kernel chooses its inline one), that one stays,
so notebooks show the figures.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from tfbert.data import statistics

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


@functools.cache
def pyplot() -> Any:
    """matplotlib.pyplot, loaded when the first figure is drawn (a command that draws none,
    predict, never loads matplotlib), with Agg chosen unless MPLBACKEND says otherwise."""
    import matplotlib

    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draws_off_main_thread() -> bool:
    """Whether figures may be drawn in a background thread: with Agg (tfbert's choice when
    MPLBACKEND is unset) or Jupyter's inline backend, which draw into memory; a GUI backend
    (MPLBACKEND=TkAgg, QtAgg, ...) opens windows, which only the main thread may do."""
    backend = os.environ.get("MPLBACKEND", "agg").lower()
    return backend in ("agg", "inline", "module://matplotlib_inline.backend_inline")


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return path


def training_curves(history: pd.DataFrame, metric: str = "accuracy") -> Figure:
    """Loss and `metric` per epoch, training against validation (Keras' CSV history)."""
    figure, axes = pyplot().subplots(1, 2, figsize=(10, 3.8))
    epochs = history["epoch"] + 1
    for axis, name in zip(axes, ("loss", metric)):
        for prefix, label, style in (("", "training", "o-"), ("val_", "validation", "s--")):
            if prefix + name in history:
                axis.plot(epochs, history[prefix + name], style, label=label)
        axis.set(title=name.replace("_", " ").capitalize(), xlabel="epoch")
        axis.set_xticks(list(epochs))
        axis.grid(alpha=0.3)
        axis.legend()
    return figure


def confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> Figure:
    """Counts, and each row divided by its total (so each row shows a true label's recall)."""
    counts = np.asarray(matrix, dtype=float)
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.7 * len(labels) + 2.5)
    figure, axes = pyplot().subplots(1, 2, figsize=(2 * size + 1.5, size), layout="constrained")
    for axis, values, kind, fmt in ((axes[0], counts, "counts", "{:.0f}"), (axes[1], normalised, "row-normalised", "{:.2f}")):
        image = axis.imshow(values, cmap="Blues", vmin=0)
        figure.colorbar(image, ax=axis, fraction=0.046)
        axis.set(title=f"{title}: {kind}", xlabel="predicted", ylabel="true",
                 xticks=range(len(labels)), yticks=range(len(labels)))
        axis.set_xticklabels(labels, rotation=45, ha="right")
        axis.set_yticklabels(labels)
        high = values.max() / 2 if values.size else 0
        for (row, col), value in np.ndenumerate(values):
            axis.text(col, row, fmt.format(value), ha="center", va="center",
                      color="white" if value > high else "black")
    return figure


def precision_recall(truth: np.ndarray, probabilities: np.ndarray, threshold: float, title: str) -> Figure:
    """The binary precision-recall curve, with the decision threshold's point marked."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(truth, probabilities)
    figure, axis = pyplot().subplots(figsize=(5.5, 4.5))
    axis.plot(recall, precision, label="precision-recall curve")
    predicted = probabilities >= threshold
    tp = float(np.sum(predicted & (truth == 1)))
    point_precision = tp / max(float(predicted.sum()), 1.0)
    point_recall = tp / max(float((truth == 1).sum()), 1.0)
    axis.plot([point_recall], [point_precision], "o", color="crimson", markersize=9,
              label=f"threshold {threshold:.3f}: P={point_precision:.3f} R={point_recall:.3f}")
    axis.set(title=title, xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02))
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    return figure


def label_distribution(stats: Mapping[str, Any]) -> Figure:
    """Examples per label in each split (data_stats.json's label_distribution)."""
    splits = [name for name, value in stats.items() if isinstance(value, dict) and "label_distribution" in value]
    labels = list(stats[splits[0]]["label_distribution"])
    figure, axis = pyplot().subplots(figsize=(max(5.0, 0.9 * len(labels) * len(splits) + 2), 4))
    width = 0.8 / len(splits)
    for i, name in enumerate(splits):
        counts = [stats[name]["label_distribution"].get(label, 0) for label in labels]
        axis.bar(np.arange(len(labels)) + i * width, counts, width, label=name)
    axis.set_xticks(np.arange(len(labels)) + width * (len(splits) - 1) / 2)
    axis.set_xticklabels(labels, rotation=30, ha="right")
    axis.set(title="Label distribution", ylabel="examples")
    axis.legend()
    return figure


def text_lengths(texts_by_split: Mapping[str, Sequence[str]]) -> Figure:
    """Histograms of words and characters per text, one colour per split, counts on a log scale
    labelled as plain numbers (1, 2, 5, 10, ...: quicker to read, and to draw, than 10^n)."""
    from matplotlib.ticker import LogFormatter

    figure, axes = pyplot().subplots(1, 2, figsize=(10, 3.8))
    lengths = {name: statistics.text_lengths(texts) for name, texts in texts_by_split.items()}
    for axis, unit in zip(axes, ("words", "characters")):
        for name in texts_by_split:
            axis.hist(lengths[name][unit], bins=40, histtype="stepfilled", alpha=0.6, label=name)
        axis.set(title=f"{unit.capitalize()} per text", xlabel=unit, ylabel="texts", yscale="log")
        axis.set_ylim(bottom=0.7)  # a count is at least 1
        axis.yaxis.set_major_formatter(LogFormatter())
        axis.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
        axis.legend()
    return figure


def save_data_plots(folder: Path, stats: Mapping[str, Any], texts_by_split: Mapping[str, Sequence[str]]) -> dict[str, Path]:
    """The data plots (label distribution, text lengths) as PNGs in `folder`, by name."""
    return {
        "data/label_distribution": save(label_distribution(stats), folder / "label_distribution.png"),
        "data/text_lengths": save(text_lengths(texts_by_split), folder / "text_lengths.png"),
    }


def save_evaluation_plots(folder: Path, title: str, labels: Sequence[str], matrix: Sequence[Sequence[int]] | None,
                          truth: np.ndarray, positive_probabilities: np.ndarray | None,
                          threshold: float) -> dict[str, Path]:
    """One split's confusion matrix (when given) and precision-recall curve (binary tasks) as PNGs."""
    written = {}
    if matrix is not None:
        written[f"{title}/confusion_matrix"] = save(confusion(labels, matrix, title.capitalize()),
                                                    folder / f"{title}_confusion_matrix.png")
    if positive_probabilities is not None:
        written[f"{title}/precision_recall"] = save(
            precision_recall(truth, positive_probabilities, threshold, f"Precision-recall ({title})"),
            folder / f"{title}_precision_recall.png")
    return written
