"""The run's pictures: each is a real PNG with the parts it promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.image import imread

from tfbert import plots


def _is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and imread(path).shape[0] > 100


def test_training_curves_show_training_and_validation(tmp_path):
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [0.7, 0.5, 0.3], "val_loss": [0.6, 0.5, 0.45],
                            "accuracy": [0.5, 0.7, 0.9], "val_accuracy": [0.55, 0.7, 0.8]})
    figure = plots.training_curves(history, "accuracy")
    lines = [[line.get_label() for line in axis.get_lines()] for axis in figure.axes]
    assert lines == [["training", "validation"], ["training", "validation"]]
    np.testing.assert_allclose(figure.axes[0].get_lines()[1].get_ydata(), [0.6, 0.5, 0.45])
    assert _is_png(plots.save(figure, tmp_path / "curves.png"))


def test_confusion_shows_counts_and_row_normalised_rates(tmp_path):
    figure = plots.confusion(["neg", "pos"], [[8, 2], [1, 9]], "Validation")
    counts, rates = (axis.get_images()[0].get_array() for axis in figure.axes[:2])
    np.testing.assert_array_equal(counts, [[8, 2], [1, 9]])
    np.testing.assert_allclose(rates, [[0.8, 0.2], [0.1, 0.9]])
    assert [t.get_text() for t in figure.axes[0].texts] == ["8", "2", "1", "9"]
    assert _is_png(plots.save(figure, tmp_path / "confusion.png"))


def test_precision_recall_marks_the_threshold(tmp_path):
    truth = np.array([0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.1, 0.6, 0.7, 0.4, 0.9, 0.2])
    figure = plots.precision_recall(truth, probabilities, 0.5, "PR")
    marker = figure.axes[0].get_lines()[1]
    # at 0.5: predicted positive = {0.6, 0.7, 0.9}: 2 of 3 right; 2 of the 3 positives found
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (2 / 3, 2 / 3)
    assert "threshold 0.500" in marker.get_label()
    assert _is_png(plots.save(figure, tmp_path / "pr.png"))


def test_data_plots(tmp_path):
    stats = {"task": "binary", "train": {"label_distribution": {"a": 3, "b": 1}},
             "valid": {"label_distribution": {"a": 1, "b": 1}}}
    figure = plots.label_distribution(stats)
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert heights == [3, 1, 1, 1]
    assert _is_png(plots.save(figure, tmp_path / "labels.png"))
    lengths = plots.text_lengths({"train": ["a b c", "a"], "valid": ["a b"]})
    assert [axis.get_xlabel() for axis in lengths.axes] == ["words", "characters"]
    assert _is_png(plots.save(lengths, tmp_path / "lengths.png"))
    low, high = lengths.axes[0].get_ylim()
    counts = [label.get_text() for label in lengths.axes[0].get_yticklabels(which="both")
              if label.get_text() and low <= label.get_position()[1] <= high]
    assert counts == ["1", "10"]  # plain numbers from 1 up, not TeX's 10^0
