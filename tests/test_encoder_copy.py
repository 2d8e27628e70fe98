"""The encoder copy tfbert trains: the same numbers as the SavedModel it was rebuilt from,
the run's precision inside it, dropout seeded by the run, and encoders that do not map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from conftest import graph_product_dtypes, shared
from encoder_sources import write_hf_checkpoint, write_tfhub_export
from tfbert import encoder_copy, encoders, hf_bert, hub_format, model
from tfbert.data import LabelMap

BINARY = LabelMap(("negative", "positive"), "binary")


def hf_source(folder: Path, dropout: float) -> Path:
    write_hf_checkpoint(folder / "hf", dropout=dropout)
    return hf_bert.convert(folder / "hf", folder / "converted")


def tfhub_source(folder: Path, dropout: float) -> Path:
    return write_tfhub_export(folder / "tfhub", dropout=dropout)


def tfhub_mlm_source(folder: Path, dropout: float) -> Path:
    return write_tfhub_export(folder / "tfhub", dropout=dropout, with_mlm=True)


def tfhub_bert_v2_source(folder: Path, dropout: float) -> Path:
    return write_tfhub_export(folder / "tfhub", dropout=dropout, bert_v2=True)


SOURCES = {"hf": hf_source, "tfhub": tfhub_source, "tfhub_with_mlm": tfhub_mlm_source,
           "tfhub_bert_encoder_v2": tfhub_bert_v2_source}


@pytest.fixture(scope="module")
def sources(tmp_path_factory, tiny_encoder_without_dropout):
    """sources(kind, dropout): a source encoder of SOURCES' kind, written once a module for each
    (kind, dropout) and only read by the tests (conftest.shared). The tiny ones are the session's:
    at dropout 0.1 `encoder: tiny` (two layers, in tfbert's cache), at 0.0 tiny_encoder_without_dropout (one)."""
    written: dict[tuple[str, float], Path] = {}

    def get(kind: str, dropout: float) -> Path:
        if (kind, dropout) not in written:
            if kind == "tiny":
                path = {0.0: tiny_encoder_without_dropout, 0.1: encoders.tiny_encoder()}[dropout]
            else:
                path = SOURCES[kind](tmp_path_factory.mktemp(f"{kind}-{dropout}"), dropout)
            written[kind, dropout] = shared(path)
        return written[kind, dropout]

    return get


@pytest.fixture(scope="module")
def copies(sources):
    """copies(kind, dropout, precision): write_copy of sources(kind, dropout) in `precision`, as tfbert's
    cache holds it (encoders.trained_copy: written on first use, by this module or by any run of the
    session over the same source) and only read by the tests."""
    written: dict[tuple[str, float, str], Path] = {}

    def get(kind: str, dropout: float, precision: str) -> Path:
        if (kind, dropout, precision) not in written:
            written[kind, dropout, precision] = shared(encoders.trained_copy(sources(kind, dropout), precision))
        return written[kind, dropout, precision]

    return get


def inputs(saved) -> dict[str, tf.Tensor]:
    """A batch of 4 rows of 10 tokens for `saved`, a loaded encoder SavedModel (source or copy)."""
    variables = encoder_copy.source_variables(saved)
    return encoder_copy.probe_inputs(encoder_copy.read_shapes(variables, {}), batch=4, length=10)


# Inference leaves dropout out: tiny, hf and tfhub are compared at the gradient test's dropout 0 (one
# source and copy each, not two); the other two keep 0.1, so a source with dropout inside is compared too.
@pytest.mark.slow
@pytest.mark.parametrize("kind, dropout", [("tiny", 0.0), ("hf", 0.0), ("tfhub", 0.0), ("tfhub_with_mlm", 0.1),
                                           ("tfhub_bert_encoder_v2", 0.1)])
def test_in_float32_the_copy_computes_what_the_source_computes(sources, copies, kind, dropout):
    source, copy = sources(kind, dropout), copies(kind, dropout, "float32")
    original, rebuilt = tf.saved_model.load(str(source)), hub.KerasLayer(str(copy))
    batch = inputs(original)
    expected, got = original(batch, training=False), rebuilt(batch)
    for key in ("pooled_output", "sequence_output"):
        assert got[key].dtype == tf.float32
        np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), atol=1e-5, rtol=0, err_msg=key)
    # the same variables, by name (a scope above word_embeddings/, as BertEncoderV2's, dropped)
    assert list(encoder_copy.source_variables(original)) == [v.name.split(":")[0]
                                                             for v in rebuilt.resolved_object.trainable_variables]
    assert Path(encoders.tokenizer_assets(rebuilt)[0]).read_text() == Path(
        original.vocab_file.asset_path.numpy().decode()).read_text()
    assert encoders.tokenizer_assets(rebuilt)[1] == bool(original.do_lower_case.numpy())


def loss_and_gradients(encoder: hub.KerasLayer, head: list[np.ndarray], batch: dict, labels: tf.Tensor):
    classifier = model.build_classifier(encoder, BINARY, dropout=0.0)
    classifier.get_layer("output").set_weights(head)
    with tf.GradientTape() as tape:
        loss = tf_keras.losses.BinaryCrossentropy()(labels, classifier(batch, training=True))
    gradients = tape.gradient(loss, classifier.trainable_weights)
    return float(loss), {w.name: tf.convert_to_tensor(g).numpy() for w, g in zip(classifier.trainable_weights, gradients)}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["tiny", "hf", "tfhub"])
def test_a_training_step_without_dropout_gives_the_sources_loss_and_gradients(sources, copies, kind):
    source, copy = sources(kind, 0.0), copies(kind, 0.0, "float32")
    original = tf.saved_model.load(str(source))
    batch, labels = inputs(original), tf.constant([[0.0], [1.0], [1.0], [0.0]])
    rng = np.random.default_rng(1)
    width = int(original(batch, training=False)["pooled_output"].shape[-1])
    head = [rng.normal(0, 0.5, (width, 1)).astype(np.float32), np.zeros(1, np.float32)]
    want_loss, want = loss_and_gradients(hub.KerasLayer(str(source), trainable=True), head, batch, labels)
    got_loss, got = loss_and_gradients(hub.KerasLayer(str(copy), trainable=True), head, batch, labels)
    assert got_loss == pytest.approx(want_loss, abs=1e-4)
    assert got.keys() == want.keys() and len(want) > 20  # the encoder's weights as well as the head's
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)
    assert max(np.abs(g).max() for g in want.values()) > 1e-3  # the gradients are not all zero


def inner_dtypes(copy: Path) -> set[str]:
    """The dtypes of the matrix products inside the copy's inference function."""
    saved = tf.saved_model.load(str(copy))
    function = next(f for f in saved.__call__.concrete_functions if f.structured_input_signature[0][1] is False)
    return graph_product_dtypes(function.graph)


@pytest.mark.slow
@pytest.mark.parametrize("policy, dtype", [("mixed_bfloat16", tf.bfloat16), ("mixed_float16", tf.float16),
                                           ("float32", tf.float32)])
def test_the_copy_computes_in_the_runs_precision_with_float32_variables(copies, policy, dtype):
    copy = copies("tiny", 0.1, policy)
    assert inner_dtypes(copy) == {dtype.name}  # a tensor inside the encoder, not only its outputs
    layer = hub.KerasLayer(str(copy), trainable=True)
    outputs = layer(inputs(layer.resolved_object), training=True)
    assert outputs["pooled_output"].dtype == dtype  # (Model Garden keeps its layer norms, so sequence_output, in float32)
    assert {w.dtype for w in layer.trainable_weights} == {tf.float32}
    assert encoder_copy.read_record(copy)["precision"] == policy


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_classifier_over_a_mixed_copy_has_a_float32_head_and_float16_scales_its_loss(copies, policy):
    copy = copies("tiny", 0.1, policy)
    model.set_precision(policy)
    try:
        classifier = model.build_classifier(hub.KerasLayer(str(copy), trainable=True, name="encoder"), BINARY, dropout=0.1)
        model.compile_classifier(classifier, BINARY, model.make_optimizer("adamw", 1e-3, 10))
    finally:
        model.set_precision(None)
    assert classifier.output.dtype == tf.float32
    assert isinstance(classifier.optimizer, tf_keras.mixed_precision.LossScaleOptimizer) == (policy == "mixed_float16")
    encoder = classifier.get_layer("encoder").resolved_object
    batch = {name: np.tile(value.numpy(), (4, 1)) for name, value in inputs(encoder).items()}
    before = [w.numpy() for w in classifier.trainable_weights]
    history = classifier.fit(batch, np.tile([[0.0], [1.0]], (8, 1)), epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(classifier.get_layer("encoder").trainable_weights,
                                                                before))  # the encoder's own weights train


@pytest.mark.slow
def test_dropout_inside_the_copy_follows_the_seed(copies):
    copy = copies("tiny", 0.1, "float32")
    layer = hub.KerasLayer(str(copy), trainable=True)
    batch = inputs(layer.resolved_object)

    def seeded(seed: int) -> np.ndarray:
        encoder_copy.seed_dropout(layer, seed)
        return np.concatenate([layer(batch, training=True)["sequence_output"].numpy() for _ in range(2)])

    first = seeded(7)
    assert first.tobytes() == seeded(7).tobytes()
    assert np.abs(first - seeded(8)).max() > 1e-3
    assert np.abs(first[:4] - first[4:]).max() > 1e-3  # each call draws new masks
    inference = layer(batch, training=False)["sequence_output"].numpy()
    assert inference.tobytes() == layer(batch, training=False)["sequence_output"].numpy().tobytes()


@pytest.mark.slow
def test_the_architecture_is_found_from_the_variables_and_the_outputs(tmp_path, copies):
    exact = copies("hf", 0.0, "float32")  # write_hf_checkpoint's: HF's exact GELU and a layer-norm epsilon of 1e-5
    write_hf_checkpoint(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new", "layer_norm_eps": 1e-6}))
    tanh = encoder_copy.write_copy(hf_bert.convert(tmp_path / "hf", tmp_path / "b"), tmp_path / "copy_b", "float32")
    found = {name: encoder_copy.read_record(path)["architecture"] for name, path in (("exact", exact), ("tanh", tanh))}
    assert (found["exact"]["activation"], found["exact"]["layer_norm_eps"]) == ("gelu", 1e-5)
    assert (found["tanh"]["activation"], found["tanh"]["layer_norm_eps"]) == ("gelu_tanh", 1e-6)
    assert {key: found["exact"][key] for key in ("hidden_size", "num_layers", "num_heads", "inner_dim", "max_positions",
                                                 "type_vocab_size", "vocab_size")} == {
        "hidden_size": 24, "num_layers": 2, "num_heads": 3, "inner_dim": 40, "max_positions": 64, "type_vocab_size": 3,
        "vocab_size": len(hub_format.tiny_vocabulary())}
    again = encoder_copy.write_copy(exact, tmp_path / "copy_of_copy", "float32")  # a copy is a source like any other
    assert encoder_copy.read_record(again)["architecture"] == found["exact"]


def encoder_with_an_adapter(folder: Path) -> Path:
    """A TF Hub-format SavedModel whose pooled_output goes through one more Dense layer."""
    vocab = hub_format.tiny_vocabulary()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    network = hub_format.build_bert_network(len(vocab), max_sequence_length=64)
    inputs = {tensor.name: tensor for tensor in network.inputs}
    outputs = dict(network(inputs))
    outputs["pooled_output"] = tf_keras.layers.Dense(32, name="adapter")(outputs["pooled_output"])
    wrapped = tf_keras.Model(inputs, outputs)
    return hub_format.save_hub_encoder(wrapped, folder / "vocab.txt", True, folder / "adapter")


@pytest.mark.slow
def test_an_encoder_that_does_not_map_is_loaded_as_saved_with_one_line(tmp_path, capsys, monkeypatch):
    source = encoder_with_an_adapter(tmp_path)
    capsys.readouterr()
    assert encoders.trained_copy(source, "mixed_bfloat16") is None
    warning = capsys.readouterr().err
    assert warning.startswith("tfbert: warning: encoder ") and warning.count("\n") == 1
    assert "'adapter/kernel' has no home in BertEncoder" in warning
    assert "no mixed precision" in warning and "deterministic: true refused" in warning
    monkeypatch.setattr(encoder_copy, "write_copy", None)  # the refusal is remembered: no second try
    layer = encoders.load_encoder(str(source), precision="mixed_float16")
    assert not encoder_copy.is_copy(layer) and layer.trainable_weights[-1].name.startswith("adapter/")
    assert capsys.readouterr().err == warning


@pytest.mark.slow
def test_copies_are_cached_by_source_and_precision(sources):
    source = sources("tiny", 0.1)
    first = encoders.trained_copy(source, "float32")
    stamp = (first / "saved_model.pb").stat().st_mtime_ns
    assert encoders.trained_copy(source, "float32") == first
    assert (first / "saved_model.pb").stat().st_mtime_ns == stamp
    other = encoders.trained_copy(source, "mixed_bfloat16")
    assert other != first and other.parent == first.parent
    assert encoders.trained_copy(sources("tiny", 0.0), "float32") != first  # another source, another copy


@pytest.mark.slow
def test_a_copy_that_fails_midway_leaves_nothing_in_the_cache(tmp_path, sources, monkeypatch):
    source = sources("tiny", 0.0)
    monkeypatch.setenv("TFBERT_CACHE", str(tmp_path / "cache"))

    def fail(*args):
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(tf.saved_model, "save", fail)
    with pytest.raises(KeyboardInterrupt):
        encoders.trained_copy(source, "float32")
    leftovers = [p.name for p in (tmp_path / "cache" / "encoders").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
    monkeypatch.undo()
    assert encoders.trained_copy(source, "float32") is not None  # and the next run writes it


def test_an_encoder_written_by_the_previous_release_is_rebuilt(release_0_2_0):
    source = release_0_2_0 / "tiny-encoder-0.2.0"
    copy, original = encoders.trained_copy(source, "float32"), tf.saved_model.load(str(source))
    batch = inputs(original)
    expected = original(batch, training=False)
    got = hub.KerasLayer(str(copy))(batch)
    np.testing.assert_allclose(got["pooled_output"].numpy(), expected["pooled_output"].numpy(), atol=1e-5, rtol=0)
