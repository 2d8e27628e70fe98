"""The saved model's round trip and the serving export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfbert  # (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import encoders, export, model
from tfbert.data import LabelMap
from tfbert.errors import TfbertError
from tfbert.predictor import Predictor

from conftest import product_dtypes, raises_one_line, shared


# --------------------------------------------------------------------------- save / load

def _inputs(batch: int = 5, seq: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    ids = rng.integers(5, 300, size=(batch, seq)).astype(np.int32)
    mask = (np.arange(seq)[None, :] < rng.integers(3, seq + 1, size=(batch, 1))).astype(np.int32)
    return {"input_word_ids": ids * mask, "input_mask": mask, "input_type_ids": np.zeros_like(ids)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: str):
    label_map = LabelMap((10, 2, 7), "multiclass")  # ids in this order, not sorted
    classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), label_map, dropout=0.3)
    directory = tmp_path_factory.mktemp("export") / "model"
    returned = export.save_model(classifier, directory, label_map)
    return classifier, label_map, shared(directory), returned


def test_save_model_writes_a_saved_model_with_its_label_map(saved):
    _, label_map, directory, returned = saved
    assert Path(returned) == directory
    assert (directory / "saved_model.pb").is_file() and (directory / "variables").is_dir()
    assert json.loads((directory / "label_map.json").read_text()) == {"task": "multiclass", "labels": [10, 2, 7]}
    assert (directory / "assets" / "vocab.txt").is_file()  # the encoder's vocabulary travels with it


def test_load_model_round_trip_predicts_the_same_numbers(saved):
    classifier, label_map, directory, _ = saved
    loaded, loaded_map = export.load_model(directory)
    assert loaded_map == label_map  # the label order, not a re-sorted one
    assert all(type(label) is int for label in loaded_map.labels)  # ints stay ints through JSON
    assert isinstance(loaded, tf_keras.Model)
    inputs = _inputs()
    expected = classifier.predict(inputs, verbose=0)
    got = loaded.predict(inputs, verbose=0)
    assert got.shape == (5, 3)
    assert np.abs(got - expected).max() <= 1e-5
    # Inference is deterministic: dropout is off outside training.
    np.testing.assert_array_equal(loaded(inputs, training=False).numpy(), loaded(inputs, training=False).numpy())


def test_the_saved_model_needs_no_custom_objects(saved):
    _, _, directory, _ = saved
    plain = tf_keras.models.load_model(str(directory), compile=False, custom_objects=None)
    assert plain.predict(_inputs(2), verbose=0).shape == (2, 3)


def test_load_model_refuses_a_folder_that_is_not_a_tfbert_model(tmp_path, tiny_encoder):
    with pytest.raises(TfbertError, match="not a tfbert model"):
        export.load_model(tmp_path)
    with pytest.raises(TfbertError, match="not a tfbert model"):
        export.load_model(tiny_encoder)  # a SavedModel, but no label map


# --------------------------------------------------------------------------- serving export over text pairs

QUESTIONS = ["is the film good?", "who directed it?", "Was it long", "¿qué tal?", "best film ever?"]
ANSWERS = ["yes, very good", "a first-time director", "about two hours, too long", "muy bien", "no"]


def test_a_pair_models_signature_takes_text_and_text_pair(pair_export):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    _, _, _, directory = pair_export
    signature = tf.saved_model.load(str(directory)).signatures[export.SERVING_SIGNATURE]
    inputs = signature.structured_input_signature[1]
    assert set(inputs) == {"text", "text_pair"}
    assert all(spec.dtype == tf.string and spec.shape.as_list() == [None] for spec in inputs.values())
    assert set(signature.structured_outputs) == {"probabilities", "label"}
    assert json.loads((directory / "label_map.json").read_text()) == {
        "task": "binary", "labels": ["different", "same"], "threshold": 0.3, "precision": "float32"}


def test_a_pair_export_predicts_what_the_classifier_does_on_both_segments(pair_export):
    classifier, packer, label_map, directory = pair_export
    serving = export.load_serving_model(directory)
    assert serving.takes_pairs and serving.threshold == pytest.approx(0.3) and serving.label_map == label_map
    labels, probabilities = Predictor(serving, 2).serve(QUESTIONS, ANSWERS)
    expected = classifier(packer(np.array(QUESTIONS, dtype=object), np.array(ANSWERS, dtype=object)),
                          training=False).numpy()[:, 0]
    assert probabilities.shape == (5, 2)
    assert np.abs(probabilities[:, 1] - expected).max() <= 1e-5
    assert ((probabilities[:, 1] > 0.3) & (probabilities[:, 1] < 0.5)).all()  # where 0.3 and 0.5 disagree
    assert labels == ["same" if p >= 0.3 else "different" for p in probabilities[:, 1]]
    _, swapped = Predictor(serving, 5).serve(QUESTIONS, ANSWERS[::-1])
    assert np.abs(swapped[:, 1] - probabilities[:, 1]).max() > 1e-6  # the second segment reaches the model


def test_a_pair_export_refuses_single_texts(pair_export):
    serving = export.load_serving_model(pair_export[3])
    with pytest.raises(TfbertError, match="trained on text pairs"):
        Predictor(serving, 2).serve(QUESTIONS, None)


@pytest.mark.slow
def test_an_export_in_bfloat16_computes_in_it_records_it_and_serves_float32_probabilities(pair_export, tiny_encoder,
                                                                                           tmp_path):
    classifier, packer, label_map, float32_export = pair_export
    model.set_precision("mixed_bfloat16")
    try:
        mixed = model.build_classifier(encoders.load_encoder(tiny_encoder, precision="mixed_bfloat16"), label_map, 0.1)
    finally:
        model.set_precision(None)
    mixed.get_layer("output").set_weights(classifier.get_layer("output").get_weights())  # the encoder: the same source's
    directory = export.save_serving_model(mixed, packer, label_map, 0.3, tmp_path / "export", with_pairs=True,
                                          precision="mixed_bfloat16")
    served, reference = Predictor.load(directory), Predictor.load(float32_export)
    assert (served.precision, reference.precision) == ("mixed_bfloat16", "float32")
    assert product_dtypes(float32_export) == {"float32"}
    assert product_dtypes(directory) == {"bfloat16", "float32"}  # the encoder in bfloat16, the float32 head
    outputs = served.serving.signature(text=tf.constant(QUESTIONS), text_pair=tf.constant(ANSWERS))
    assert outputs["probabilities"].dtype == tf.float32
    labels, probabilities = served.serve(QUESTIONS, ANSWERS)
    want_labels, want = reference.serve(QUESTIONS, ANSWERS)
    assert 0 < np.abs(probabilities - want).max() <= 0.02 and labels == want_labels


@pytest.mark.slow
def test_an_export_of_a_clean_text_run_removes_break_tags_as_training_did(tmp_path, tiny_encoder):
    from tfbert import packers
    from tfbert.data import clean_text

    label_map = LabelMap((0, 1), "binary")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=24)
    export.save_serving_model(classifier, packer, label_map, 0.5, tmp_path / "export", with_pairs=False,
                              clean_text=True)
    serving = export.load_serving_model(tmp_path / "export")
    raw = ["a good<br />film", "bad <BR>plot<br/>twist", "no tags here"]
    _, served = Predictor(serving, 8).serve(raw, None)
    _, served_clean = Predictor(serving, 8).serve([clean_text(t) for t in raw], None)
    np.testing.assert_allclose(served, served_clean, atol=1e-6)
    uncleaned = classifier(packer(np.array(raw, dtype=object)), training=False).numpy()[:, 0]
    assert np.abs(uncleaned[:2] - served[:2, 1]).max() > 1e-6  # the tags would have changed the prediction


@pytest.mark.slow
def test_the_export_holds_the_weights_once_without_the_optimizers_slots(tmp_path, tiny_encoder):
    """After training, Adam holds two slots per weight; serving never reads them, so the
    export's variables add up to the model's weights (plus its metrics' counters)."""
    from tfbert import packers

    label_map = LabelMap(("neg", "pos"), "binary")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, num_train_steps=2))
    ids = np.ones((4, 8), np.int32)
    classifier.fit({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}, np.array([0, 1, 0, 1]),
                   epochs=1, verbose=0)
    weights = sum(int(np.prod(w.shape)) for w in classifier.weights)
    slots = sum(int(np.prod(v.shape)) for v in classifier.optimizer.variables)
    assert slots > 2 * sum(int(np.prod(w.shape)) for w in classifier.trainable_weights)  # Adam's m and v, and more

    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=16)
    directory = export.save_serving_model(classifier, packer, label_map, 0.5, tmp_path / "export", with_pairs=False)
    stored = tf.train.list_variables(str(directory / "variables" / "variables"))
    values = sum(int(np.prod(shape)) for name, shape in stored if "/.ATTRIBUTES/VARIABLE_VALUE" in name)
    counters = sum(int(np.prod(v.shape)) for metric in classifier.metrics for v in metric.variables)
    assert weights <= values <= weights + counters
    assert not any("optimizer" in name for name, _ in stored)
    assert classifier.optimizer is not None  # the model keeps its optimizer after the export


# --------------------------------------------------------------------------- atomic saves and unfinished runs

def _siblings(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.parent.iterdir())


def test_saves_leave_only_the_final_folder(saved, pair_export):
    assert _siblings(saved[2]) == ["model"]
    assert _siblings(pair_export[3]) == ["export"]


def test_a_model_save_failing_midway_leaves_no_model_folder(saved, tmp_path, monkeypatch):
    classifier, label_map, _, _ = saved

    def save_half(path, **kwargs):
        Path(path, "variables").mkdir(parents=True)
        Path(path, "saved_model.pb").write_bytes(b"\x08\x01")  # a SavedModel's first bytes, then the disk fills
        raise OSError("no space left on device")

    monkeypatch.setattr(classifier, "save", save_half)
    with pytest.raises(OSError, match="no space"):
        export.save_model(classifier, tmp_path / "run" / "model", label_map)
    assert _siblings(tmp_path / "run" / "model") == []


def test_a_model_save_failing_after_the_weights_keeps_the_earlier_model(saved, tmp_path, monkeypatch):
    """A resumed run saving over an earlier attempt's model/: a failure leaves that one whole."""
    classifier, label_map, _, _ = saved
    earlier = tmp_path / "model"
    earlier.mkdir()
    (earlier / "saved_model.pb").write_text("earlier")
    monkeypatch.setattr(classifier, "save", lambda path, **kwargs: Path(path).mkdir())
    monkeypatch.setattr(export, "_write_label_map", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        export.save_model(classifier, earlier, label_map)
    assert [p.name for p in earlier.iterdir()] == ["saved_model.pb"] and _siblings(earlier) == ["model"]


def test_a_serving_export_failing_midway_leaves_no_export_folder(pair_export, tmp_path, monkeypatch):
    classifier, packer, label_map, _ = pair_export
    written = []

    def save_half(module, path, signatures=None):
        Path(path).mkdir()
        (Path(path) / "saved_model.pb").write_bytes(b"\x08\x01")
        written.append(path)
        raise KeyboardInterrupt  # the job is killed while the variables are being written

    monkeypatch.setattr(tf.saved_model, "save", save_half)
    with pytest.raises(KeyboardInterrupt):
        export.save_serving_model(classifier, packer, label_map, 0.5, tmp_path / "export", with_pairs=True)
    assert written and Path(written[0]).parent == tmp_path  # it did write, beside the final name
    assert _siblings(tmp_path / "export") == []
    raises_one_line(export.find_export, tmp_path, match="neither a tfbert run directory")


@pytest.mark.parametrize("given", ["run", ".run.incomplete", ".run.incomplete/export", "run/export"])
def test_find_export_refuses_an_unfinished_run(given, pair_export, tmp_path):
    import shutil

    staging = tmp_path / "runs" / ".run.incomplete"
    shutil.copytree(pair_export[3], staging / "export")  # a whole export, in a run that has not finished
    message = raises_one_line(export.find_export, tmp_path / "runs" / given, match="has not finished")
    assert message.startswith(f"run directory {tmp_path / 'runs' / 'run'} has not finished")
    assert f"python -m tfbert.train --config {staging / 'config.yaml'}" in message
    staging.rename(tmp_path / "runs" / "run")  # the run finishes
    if not given.startswith("."):
        assert export.find_export(tmp_path / "runs" / given) == tmp_path / "runs" / "run" / "export"


# --------------------------------------------------------------------------- what the previous release wrote

@pytest.mark.slow
def test_a_run_directory_of_the_previous_release_still_loads_predicts_and_evaluates(release_0_2_0, tmp_path):
    import pandas as pd

    run_dir = release_0_2_0 / "run-0.2.0"
    texts = ["a great film", "the worst movie", "boring and dull", "wonderful acting"]
    classifier, label_map = export.load_model(run_dir / "model")
    assert label_map.names == ["0", "1"]  # toy-sentiment's labels
    predictor = Predictor.load(run_dir)
    assert predictor.precision == "float32"  # no precision in its label_map.json: exports were float32 then
    labels, probabilities = predictor.serve(texts)
    assert probabilities.shape == (4, 2) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    assert set(labels) <= {"0", "1"}
    from tfbert import packers

    tokenizer_assets = (str(run_dir / "export" / "assets" / "vocab.txt"), True)
    packed = packers.make_packer("tf_text", *tokenizer_assets, max_seq_length=16)(tf.constant(texts))
    np.testing.assert_allclose(classifier.predict(packed, verbose=0)[:, 0], probabilities[:, 1], atol=1e-5)
    pd.DataFrame({"text": texts, "label": [1, 0, 0, 1]}).to_csv(
        tmp_path / "new.csv", index=False)
    evaluated = tfbert.evaluate(run_dir, tmp_path / "new.csv", output=tmp_path / "evaluation")
    assert evaluated.metrics["num_examples"] == 4 and 0 <= evaluated.metrics["accuracy"] <= 1


# --------------------------------------------------------------------------- long_texts windows: the windowing inside the export

LONG_TEXTS = ["a good movie " * 40, "bad", "the plot " * 90 + "was good", "", "a " * 5, "good bad " * 25]
PAIRS = ["good", "the plot was bad " * 6, "a", "bad movie", "", "movie"]


@pytest.mark.slow
@pytest.mark.parametrize("with_pairs", [False, True])
def test_a_windows_export_predicts_what_the_model_does_document_by_document(with_pairs, tmp_path, tiny_encoder):
    from tfbert import input_pipeline, packers
    from tfbert.long_texts import LongTexts
    from conftest import make_split

    label_map = LabelMap(("a", "b", "c"), "multiclass")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1, window_pooling="attention")
    packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), 16, LongTexts("windows", 10, 3))
    pairs = PAIRS if with_pairs else None
    export.save_serving_model(classifier, packer, label_map, 0.5, tmp_path / "export", with_pairs=with_pairs)
    export.save_model(classifier, tmp_path / "model", label_map)
    _, served = Predictor(export.load_serving_model(tmp_path / "export"), 4).serve(LONG_TEXTS, pairs)
    feats = packer(tf.constant(LONG_TEXTS), None if pairs is None else tf.constant(pairs))
    assert sorted(set(feats["window_counts"].numpy().tolist())) == [1, 3]  # long and short documents
    direct = classifier(feats, training=False).numpy()
    assert served.shape == (6, 3)
    np.testing.assert_allclose(served, direct, atol=1e-5)
    split = make_split(LONG_TEXTS, pairs, labels=np.arange(6) % 3)
    batches = input_pipeline.make_dataset(split, packer, 4, padding="batch")  # in order, 4 documents a batch
    batched = np.concatenate([classifier(f, training=False).numpy() for f, _ in batches])
    np.testing.assert_allclose(batched, direct, atol=1e-5)  # training's and evaluation's batches, per document
    reloaded, _ = export.load_model(tmp_path / "model")
    np.testing.assert_allclose(reloaded(feats, training=False).numpy(), direct, atol=1e-5)
