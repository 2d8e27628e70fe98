"""Scoring (tfbert.scoring): thresholds, sklearn-consistent metrics, confusion matrices, and running a model over a split."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, multilabel_confusion_matrix,
                             precision_score, recall_score)

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import input_pipeline, encoders, model, packers, scoring
from tfbert.data.labels import LabelMap
from tfbert.data.splits import Split

BINARY = LabelMap(("no", "yes"), "binary")
MULTICLASS = LabelMap(("cat", "dog", "bird"), "multiclass")
MULTILABEL = LabelMap(("red", "green", "blue"), "multilabel")


# --------------------------------------------------------------------------- predicted_ids

def test_binary_predictions_threshold_the_single_probability_at_one_half():
    probabilities = np.array([[0.1], [0.49999], [0.5], [0.51], [0.99]], dtype=np.float32)
    predicted = scoring.predicted_ids(probabilities, BINARY)
    assert predicted.shape == (5,)
    assert predicted.tolist() == [0, 0, 1, 1, 1]


def test_multiclass_predictions_take_the_most_probable_label():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.34, 0.33, 0.33], [0.1, 0.1, 0.8], [0.4, 0.45, 0.15]])
    assert scoring.predicted_ids(probabilities, MULTICLASS).tolist() == [1, 0, 2, 1]


def test_multilabel_predictions_threshold_each_label():
    probabilities = np.array([[0.9, 0.2, 0.5], [0.1, 0.1, 0.1], [0.6, 0.7, 0.8]])
    predicted = scoring.predicted_ids(probabilities, MULTILABEL)
    assert predicted.tolist() == [[1, 0, 1], [0, 0, 0], [1, 1, 1]]
    assert predicted.shape == (3, 3)


# --------------------------------------------------------------------------- label_metrics

def _sklearn(truth, predicted, average):
    return {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted, average=average, zero_division=0),
        "recall": recall_score(truth, predicted, average=average, zero_division=0),
        "f1": f1_score(truth, predicted, average=average, zero_division=0),
    }


def test_binary_metrics_are_the_positive_classs():
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    predicted = np.array([0, 1, 0, 0, 1, 0, 1, 1, 1, 0])
    metrics = scoring.label_metrics(truth, predicted, BINARY)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "binary"))
    assert metrics["precision"] == pytest.approx(3 / 5) and metrics["recall"] == pytest.approx(3 / 4)
    assert all(type(value) is float for value in metrics.values())  # JSON-ready


def test_multiclass_metrics_are_macro_averages():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 1, 2, 1, 1, 2, 0, 2, 2])
    metrics = scoring.label_metrics(truth, predicted, MULTICLASS)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "macro"))
    assert metrics != pytest.approx(_sklearn(truth, predicted, "weighted"))  # the averaging matters here


def test_multilabel_metrics_are_macro_averages_with_subset_accuracy():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    predicted = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 0, 1]])
    metrics = scoring.label_metrics(truth, predicted, MULTILABEL)
    assert metrics == pytest.approx(_sklearn(truth, predicted, "macro"))
    assert metrics["accuracy"] == pytest.approx(0.5)


def test_a_label_never_predicted_scores_zero_without_warnings():
    truth = np.array([0, 1, 2, 2])
    predicted = np.array([0, 0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's UndefinedMetricWarning would fail here
        metrics = scoring.label_metrics(truth, predicted, MULTICLASS)
    assert metrics["precision"] == pytest.approx(0.25 / 3)
    assert metrics["recall"] == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- confusion

def test_confusion_rows_are_true_labels_and_every_label_is_listed():
    truth = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0])  # label 2 ("bird") appears nowhere
    result = scoring.confusion(truth, predicted, MULTICLASS)
    assert result == {"labels": ["cat", "dog", "bird"], "matrix": [[1, 1, 0], [1, 2, 0], [0, 0, 0]]}
    assert result["matrix"] == confusion_matrix(truth, predicted, labels=[0, 1, 2]).tolist()


def test_binary_confusion_is_two_by_two():
    result = scoring.confusion(np.array([1, 1, 1]), np.array([1, 0, 1]), BINARY)
    assert result == {"labels": ["no", "yes"], "matrix": [[0, 0], [1, 2]]}


def test_multilabel_confusion_is_one_matrix_per_label():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    result = scoring.confusion(truth, predicted, MULTILABEL)
    assert result["labels"] == ["red", "green", "blue"]
    expected = multilabel_confusion_matrix(truth, predicted)
    assert result["matrices"] == {name: m.tolist() for name, m in zip(["red", "green", "blue"], expected)}
    assert result["matrices"]["red"] == [[1, 0], [1, 1]]


# --------------------------------------------------------------------------- running and scoring a split

@pytest.fixture(scope="module")
def tiny(tiny_encoder: str):
    encoder = encoders.load_encoder(tiny_encoder)
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=16)
    return encoder, packer


def _split(num_rows: int, labels: np.ndarray) -> Split:
    words = "good bad film movie story great awful the a was very fun dull".split()
    rng = np.random.default_rng(num_rows)
    texts = np.array([" ".join(rng.choice(words, size=6)) for _ in range(num_rows)], dtype=object)
    return Split("valid", texts, None, labels)


def _run_and_score(classifier, split: Split, packer, batch_size: int, label_map: LabelMap) -> scoring.Evaluation:
    """The final evaluation's route: run_model_in_length_order, then score."""
    def batches(rows: Split):
        return input_pipeline.make_dataset(rows, packer, batch_size, padding="batch")

    return scoring.score(scoring.run_model_in_length_order(classifier, split, batches, label_map), split.labels,
                         label_map)


@pytest.mark.parametrize("label_map", [MULTICLASS, BINARY], ids=["multiclass", "binary"])
def test_running_and_scoring_a_split_scores_a_model(label_map, tiny):
    encoder, packer = tiny
    labels = np.arange(23, dtype=np.int32) % label_map.num_labels
    split = _split(23, labels)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, batch_size=8, padding="batch")
    result = _run_and_score(classifier, split, packer, 8, label_map)

    keys = {"accuracy", "precision", "recall", "f1", "loss", "num_examples"}
    if label_map.task == "binary":
        keys |= {"precision_at_recall_0.5", "decision_threshold", "at_0.5"}
    assert set(result.metrics) == keys
    assert result.metrics["num_examples"] == 23
    probabilities = classifier.predict(dataset, verbose=0)
    predicted = scoring.predicted_ids(probabilities, label_map)
    assert {k: result.metrics[k] for k in ("accuracy", "precision", "recall", "f1")} == pytest.approx(
        scoring.label_metrics(labels, predicted, label_map))
    keras = classifier.evaluate(dataset, return_dict=True, verbose=0)
    assert result.metrics["loss"] == pytest.approx(keras["loss"], rel=1e-5)
    # The command line's route (probabilities only, no model) gives Keras' own figures.
    assert scoring.keras_results(label_map, labels, probabilities) == pytest.approx(keras, rel=1e-5, abs=1e-6)

    for name in label_map.names:
        assert name in result.report
    assert "macro avg" in result.report and "accuracy" in result.report
    matrix = np.array(result.confusion["matrix"])
    assert matrix.shape == (label_map.num_labels,) * 2
    assert matrix.sum(axis=1).tolist() == np.bincount(labels, minlength=label_map.num_labels).tolist()
    assert result.confusion["labels"] == label_map.names


def test_running_in_length_order_gives_the_in_order_outputs_back_in_order(tiny):
    encoder, packer = tiny
    words = "good bad film movie story great awful the a was very fun dull".split()
    rng = np.random.default_rng(3)
    texts = np.array([" ".join(rng.choice(words, size=n)) for n in rng.integers(1, 14, size=37)], dtype=object)
    labels = (np.arange(37) % 3).astype(np.int32)
    split = Split("valid", texts, None, labels)
    classifier = model.build_classifier(encoder, MULTICLASS, dropout=0.1)
    model.compile_classifier(classifier, MULTICLASS, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, 8, padding="batch")
    in_order = scoring.ModelOutputs(classifier.evaluate(dataset, return_dict=True, verbose=0),
                                    classifier.predict(dataset, verbose=0))  # two passes, as Keras users would
    batches_seen = []

    def batches(rows: Split):
        batches_seen.append(rows.texts.tolist())
        return input_pipeline.make_dataset(rows, packer, 8, padding="batch")

    sorted_run = scoring.run_model_in_length_order(classifier, split, batches, MULTICLASS)
    assert batches_seen == [sorted(texts.tolist(), key=len)]  # the model saw the rows shortest first
    np.testing.assert_allclose(sorted_run.probabilities, in_order.probabilities, atol=1e-5)
    assert sorted_run.keras_results == pytest.approx(in_order.keras_results, rel=1e-5)


def test_running_and_scoring_multilabel_data(tiny):
    encoder, packer = tiny
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.float32)
    split = _split(5, labels)
    classifier = model.build_classifier(encoder, MULTILABEL, dropout=0.1)
    model.compile_classifier(classifier, MULTILABEL, model.make_optimizer("adam", 1e-3, num_train_steps=1))
    dataset = input_pipeline.make_dataset(split, packer, 4, padding="batch")
    result = _run_and_score(classifier, split, packer, 4, MULTILABEL)
    keras = classifier.evaluate(dataset, return_dict=True, verbose=0)
    assert scoring.keras_results(MULTILABEL, labels, result.probabilities) == pytest.approx(keras, rel=1e-5, abs=1e-6)
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1", "loss", "num_examples"}
    assert result.metrics["num_examples"] == 5
    assert all(name in result.report for name in MULTILABEL.names) and "macro avg" in result.report
    assert sorted(result.confusion["matrices"]) == sorted(MULTILABEL.names)


def test_f1_threshold_maximises_f1_and_beats_one_half():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    truth = (rng.random(400) < 0.1).astype(int)  # rare positives (10%): the F1 threshold lies below 0.5
    probabilities = np.clip(0.25 * truth + rng.random(400) * 0.45, 0, 1)
    best = scoring.f1_threshold(truth, probabilities)
    f1_at = lambda t: f1_score(truth, probabilities >= t)  # noqa: E731
    assert f1_at(best) >= max(f1_at(t) for t in np.linspace(0.01, 0.99, 99)) - 1e-12
    assert f1_at(best) > f1_at(0.5)


def test_score_reports_the_decision_threshold_and_one_half():
    label_map = LabelMap((0, 1), "binary")
    truth = np.array([0, 0, 1, 1])
    outputs = scoring.ModelOutputs({"loss": 0.4, "precision_at_recall_0.5": 1.0},
                                    np.array([[0.1], [0.35], [0.4], [0.8]]))
    result = scoring.score(outputs, truth, label_map, threshold=0.3)
    assert result.metrics["decision_threshold"] == 0.3
    assert result.metrics["accuracy"] == 0.75  # 0.35 becomes a false positive
    assert result.metrics["at_0.5"]["accuracy"] == 0.75 and result.metrics["at_0.5"]["recall"] == 0.5
    assert scoring.decision_threshold("f1", truth, outputs, label_map) == pytest.approx(0.4)
    assert scoring.decision_threshold(0.5, truth, outputs, label_map) == 0.5

