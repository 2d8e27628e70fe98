from __future__ import annotations

import numpy as np
import pytest

import tfbert  # noqa: F401
import tensorflow as tf
import tf_keras

from tfbert import encoders, model
from tfbert.data import LabelMap

HEADS = {
    "binary": (LabelMap((0, 1), "binary"), 1, "sigmoid", tf_keras.losses.BinaryCrossentropy),
    "multiclass": (LabelMap(("a", "b", "c"), "multiclass"), 3, "softmax", tf_keras.losses.SparseCategoricalCrossentropy),
    "multilabel": (LabelMap(("x", "y", "z", "w"), "multilabel"), 4, "sigmoid", tf_keras.losses.BinaryCrossentropy),
}


def _batch(batch: int = 4, seq: int = 12) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(1).integers(5, 200, size=(batch, seq)).astype(np.int32)
    return {"input_word_ids": ids, "input_mask": np.ones_like(ids), "input_type_ids": np.zeros_like(ids)}


def _labels(task: str, batch: int = 4) -> np.ndarray:
    if task == "multilabel":
        return np.random.default_rng(2).integers(0, 2, size=(batch, 4)).astype(np.float32)
    return np.arange(batch, dtype=np.int32) % (2 if task == "binary" else 3)


@pytest.mark.parametrize("task", list(HEADS))
def test_heads_have_the_right_shape_activation_and_loss(task, tiny_encoder):
    label_map, units, activation, loss_type = HEADS[task]
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.5)
    head = classifier.get_layer("output")
    assert head.units == units
    assert head.activation.__name__ == activation
    assert classifier.get_layer("dropout").rate == 0.5
    assert sorted(classifier.input_names) == ["input_mask", "input_type_ids", "input_word_ids"]
    probabilities = classifier.predict(_batch(), verbose=0)
    assert probabilities.shape == (4, units)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    if task == "multiclass":
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    loss, metrics = model.loss_and_metrics(label_map)
    assert isinstance(loss, loss_type)
    assert metrics[0].name == "accuracy"


def test_binary_metrics_are_accuracy_precision_at_recall_precision_and_recall():
    _, metrics = model.loss_and_metrics(HEADS["binary"][0])
    assert [type(m).__name__ for m in metrics] == ["BinaryAccuracy", "PrecisionAtRecall", "Precision", "Recall"]
    assert metrics[1].recall == 0.5


@pytest.mark.slow
@pytest.mark.parametrize("task", list(HEADS))
def test_every_head_trains_a_step(task, tiny_encoder):
    label_map = HEADS[task][0]
    classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), label_map, dropout=0.1)
    model.compile_classifier(classifier, label_map, model.make_optimizer("adamw", 1e-3, num_train_steps=10))
    before = [w.numpy().copy() for w in classifier.trainable_weights]
    # adamw warms up from a rate of 0 at step 0, so take a few steps.
    history = classifier.fit(_batch(), _labels(task), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # The attention key bias has a zero gradient by construction (softmax ignores a shift
    # shared by every key), so it is the one weight that must not be expected to move.
    frozen = [
        w.name
        for b, w in zip(before, classifier.trainable_weights)
        if np.allclose(b, w.numpy()) and "self_attention/key/bias" not in w.name
    ]
    assert frozen == [], "every trainable weight, the encoder's included, should move"


def test_frozen_encoder_trains_the_head_only(tiny_encoder):
    label_map = HEADS["binary"][0]
    classifier = model.build_classifier(encoders.load_encoder(tiny_encoder, trainable=False), label_map, 0.1)
    assert {w.name.split("/")[0] for w in classifier.trainable_weights} == {"output"}


def _three_steps(optimizer: tf_keras.optimizers.Optimizer) -> list[np.ndarray]:
    """A small net's weights after three steps of `optimizer`, with an embedding's sparse
    gradient (a token repeated in the batch), under a global norm of 1."""
    tf_keras.utils.set_random_seed(3)
    ids = tf_keras.Input((None,), dtype="int32")
    pooled = tf_keras.layers.GlobalAveragePooling1D()(tf_keras.layers.Embedding(50, 8, name="word_embeddings")(ids))
    net = tf_keras.Model(ids, tf_keras.layers.Dense(1, name="output")(tf_keras.layers.LayerNormalization()(pooled)))
    batch = np.array([[3, 7, 7, 9], [1, 3, 4, 4]], np.int32)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = 0.01 * tf.reduce_mean((net(batch) - np.array([[1.0], [-1.0]])) ** 2)
        grads = tape.gradient(loss, net.trainable_weights)
        assert isinstance(grads[0], tf.IndexedSlices)
        assert float(tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads])) < 1.0
        optimizer.apply_gradients(zip(grads, net.trainable_weights))
    return [w.numpy() for w in net.weights]


def test_adam_keeps_a_constant_rate_and_updates_as_keras_adam_does_with_one_fused_op_a_weight():
    optimizer = model.make_optimizer("adam", 3e-5, num_train_steps=100)
    assert isinstance(optimizer, tf_keras.optimizers.Adam) and type(optimizer) is model.FusedAdam
    assert optimizer.learning_rate.numpy() == pytest.approx(3e-5)
    expected, got = _three_steps(tf_keras.optimizers.Adam(1e-2)), _three_steps(model.make_optimizer("adam", 1e-2, 4))
    assert any(np.abs(e - w).max() > 1e-3 for e, w in zip(expected, _three_steps(tf_keras.optimizers.SGD(1e-2))))
    for want, have in zip(expected, got):  # float32 apart: the kernel rounds 1 - beta_1 from 0.9f, Keras from 0.9
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-6)
    weights = [tf.Variable(tf.ones((3, 2))), tf.Variable(tf.ones(2))]
    optimizer.build(weights)
    step = tf.function(lambda: optimizer.apply_gradients(zip([tf.ones((3, 2)), tf.ones(2)], weights)))
    op_types = [op.type for op in step.get_concrete_function().graph.get_operations()]
    assert op_types.count("ResourceApplyAdam") == 2 and "Sqrt" not in op_types  # no elementwise update of its own
    assert op_types.count("Pow") == 2  # beta_1 and beta_2 to the step's power, once a step (not once a weight)
    assert "_step_scalars" not in {name for name, _ in optimizer._trackable_children().items()}


def test_a_checkpoint_of_keras_adam_restores_into_fused_adam_and_trains_on_alike(tmp_path):
    """A backup written by tf_keras' Adam (tfbert's adam before FusedAdam) resumes with it."""
    weights = {name: tf.Variable(tf.ones((3, 2))) for name in ("before", "after")}
    gradient = tf.constant([[0.5, -1.0], [2.0, 0.0], [-3.0, 0.25]])
    keras_adam = tf_keras.optimizers.Adam(0.1)
    for _ in range(2):
        keras_adam.apply_gradients([(gradient, weights["before"])])
    saved = tf.train.Checkpoint(weight=weights["before"], optimizer=keras_adam).save(str(tmp_path / "backup"))
    fused = model.FusedAdam(0.1)
    fused.build([weights["after"]])
    tf.train.Checkpoint(weight=weights["after"], optimizer=fused).restore(saved).assert_consumed()
    assert int(fused.iterations) == 2 and len(fused.variables) == len(keras_adam.variables)
    for restored, written in zip(fused.variables, keras_adam.variables):
        np.testing.assert_array_equal(restored.numpy(), written.numpy())
    keras_adam.apply_gradients([(gradient, weights["before"])])
    fused.apply_gradients([(gradient, weights["after"])])
    np.testing.assert_allclose(weights["after"].numpy(), weights["before"].numpy(), rtol=1e-6)


def test_adamw_warms_up_decays_and_excludes_layer_norm_and_bias():
    optimizer = model.make_optimizer("adamw", 1e-4, num_train_steps=1000, warmup_fraction=0.1, weight_decay=0.05)
    assert type(optimizer).__name__ == "AdamWeightDecay"
    assert optimizer.weight_decay_rate == 0.05
    assert optimizer.gradient_clip_norm == 1.0
    schedule = optimizer.learning_rate
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(50)) == pytest.approx(0.5e-4)
    assert float(schedule(100)) == pytest.approx(1e-4 * 900 / 1000, rel=1e-3)
    assert float(schedule(1000)) == pytest.approx(0.0, abs=1e-9)
    assert not optimizer._do_use_weight_decay("encoder/transformer/layer_0/output_layer_norm/gamma:0")
    assert not optimizer._do_use_weight_decay("output/bias:0")
    assert optimizer._do_use_weight_decay("output/kernel:0")


def test_adamw_updates_the_weights_as_model_gardens_adamw_does(tmp_path):
    """The same three steps of BERT's AdamW, with an embedding's sparse gradient (a token
    repeated in the batch) and weights that decay and weights that do not. (The gradients
    stay under the clipping norm, where the two measure a repeated token's norm apart.)"""
    from official.nlp import optimization

    ours = model.make_optimizer("adamw", 1e-2, num_train_steps=4, warmup_fraction=0.25, weight_decay=0.1)
    theirs = optimization.create_optimizer(1e-2, num_train_steps=4, num_warmup_steps=1, optimizer_type="adamw")
    theirs.weight_decay_rate = 0.1
    assert type(ours).__name__ == type(theirs).__name__ == "AdamWeightDecay" and type(ours) is not type(theirs)
    expected, got = _three_steps(theirs), _three_steps(ours)
    assert any(np.abs(e - w).max() > 1e-3 for e, w in zip(expected, _three_steps(tf_keras.optimizers.legacy.SGD(1e-2))))
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_mixed_precision_keeps_a_float32_head_and_scales_the_loss(tiny_encoder):
    label_map = HEADS["binary"][0]
    model.set_precision("mixed_float16")
    try:
        classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), label_map, dropout=0.1)
        model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, 10))
        assert classifier.get_layer("dropout").compute_dtype == "float16"
        assert classifier.get_layer("output").compute_dtype == "float32"
        assert isinstance(classifier.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
        history = classifier.fit(_batch(), _labels("binary"), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert classifier.predict(_batch(), verbose=0).dtype == np.float32
    finally:
        model.set_precision(None)
    assert tf_keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow
def test_jit_compile_is_passed_to_keras(tiny_encoder):
    label_map = HEADS["binary"][0]
    for jit in (True, False):
        classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), label_map, dropout=0.1)
        model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, 10), jit_compile=jit)
        assert classifier._jit_compile is jit



# --------------------------------------------------------------------------- gradient accumulation

def _two_steps(accumulation_steps: int, policy: str = "float32",
               jit_compile: bool = False) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Initial and trained weights and the history of two SGD steps on 14 class-weighted
    rows in batches of 8 (a full batch, then a shorter last one), from the same initial
    weights: a small classifier over word embeddings, without dropout, as the
    classifier's loss and metrics train it (so it takes seconds, not BERT's minute)."""
    label_map = HEADS["binary"][0]
    model.set_precision(policy)
    try:
        tf_keras.utils.set_random_seed(5)
        ids = tf_keras.Input((None,), dtype="int32", name="input_word_ids")
        hidden = tf_keras.layers.Dense(16, activation="tanh")(
            tf_keras.layers.GlobalAveragePooling1D()(tf_keras.layers.Embedding(200, 16)(ids)))
        head = model.classification_head(label_map)(hidden)
        classifier = (model.AccumulatingClassifier(ids, head, accumulation_steps=accumulation_steps)
                      if accumulation_steps > 1 else tf_keras.Model(ids, head))
        model.compile_classifier(classifier, label_map, tf_keras.optimizers.SGD(0.5), jit_compile)
        initial = [w.numpy() for w in classifier.trainable_weights]
        weights = np.where(np.arange(14) % 3 == 0, 2.5, 0.5).astype(np.float32)  # class_weight arrives like this
        history = classifier.fit(_batch(14)["input_word_ids"], _labels("binary", 14), sample_weight=weights,
                                 batch_size=8, shuffle=False, verbose=0)
        return initial, [w.numpy() for w in classifier.trainable_weights], history.history
    finally:
        model.set_precision(None)


@pytest.mark.slow
def test_an_accumulated_step_equals_the_full_batch_step():
    initial, whole, whole_history = _two_steps(1)
    assert max(np.abs(w - i).max() for w, i in zip(whole, initial)) > 1e-2  # the steps did move the weights
    # Micro-batches of 4 rows, then 3 and 3; of 2 rows, then 2, 2 and 2 (also compiled by XLA).
    for steps, jit_compile in ((2, False), (4, False), (4, True)):
        _, accumulated, history = _two_steps(steps, jit_compile=jit_compile)
        for want, got in zip(whole, accumulated):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        for name in ("loss", "accuracy", "precision", "recall", "precision_at_recall_0.5"):
            np.testing.assert_allclose(history[name], whole_history[name], rtol=1e-5, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("policy, atol", [("mixed_float16", 1e-4), ("mixed_bfloat16", 1e-2)])
def test_accumulation_under_mixed_precision_equals_the_full_batch_step(policy, atol):
    """mixed_float16: each micro-batch's loss scaled by the LossScaleOptimizer, the sum
    unscaled once. The tolerances are the half-precision forward passes' rounding (float16's
    10 bits, bfloat16's 7), which differs between a batch and its micro-batches."""
    _, whole, _ = _two_steps(1, policy)
    _, accumulated, history = _two_steps(4, policy)
    assert np.isfinite(history["loss"]).all()
    for want, got in zip(whole, accumulated):
        np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_an_accumulating_classifier_is_saved_as_the_plain_functional_model():
    ids = tf_keras.Input((None,), dtype="int32")
    head = model.classification_head(HEADS["binary"][0])(tf_keras.layers.GlobalAveragePooling1D()(
        tf_keras.layers.Embedding(20, 4)(ids)))
    classifier = model.AccumulatingClassifier(ids, head, name="bert_classifier", accumulation_steps=2)
    assert classifier.accumulation_steps == 2 and classifier.get_config()["accumulation_steps"] == 2
    plain = model.functional_view(classifier)
    assert type(plain) is type(tf_keras.Model(ids, head)) and not isinstance(plain, model.AccumulatingClassifier)
    assert plain.weights[0] is classifier.weights[0] and plain.name == classifier.name
    assert model.functional_view(plain) is plain


# --------------------------------------------------------------------------- long_texts windows: one row a document

COUNTS = np.array([2, 1, 3, 1], dtype=np.int32)  # 7 windows of 4 documents


def test_document_pooling_averages_each_documents_windows_and_ignores_padding_rows():
    vectors = np.random.default_rng(3).normal(size=(9, 5)).astype(np.float32)  # 7 windows + 2 padding rows
    pooled = model.DocumentPooling("mean")([tf.constant(vectors), tf.constant(COUNTS)]).numpy()
    starts = np.concatenate([[0], np.cumsum(COUNTS)])
    want = np.stack([vectors[a:b].mean(axis=0) for a, b in zip(starts[:-1], starts[1:])])
    np.testing.assert_allclose(pooled, want, rtol=1e-6)
    assert model.DocumentPooling("mean")([tf.zeros([0, 5]), tf.zeros([0], tf.int32)]).shape == (0, 5)


def test_attention_pooling_weighs_each_documents_windows_by_a_softmax_of_a_learned_score():
    vectors = np.random.default_rng(4).normal(size=(7, 5)).astype(np.float32)
    layer = model.DocumentPooling("attention")
    pooled = layer([tf.constant(vectors), tf.constant(COUNTS)]).numpy()
    kernel, bias = (w.numpy() for w in layer.score.weights)
    scores = (vectors @ kernel)[:, 0] + bias[0]
    starts = np.concatenate([[0], np.cumsum(COUNTS)])
    for document, (a, b) in enumerate(zip(starts[:-1], starts[1:])):
        weights = np.exp(scores[a:b] - scores[a:b].max())
        np.testing.assert_allclose(pooled[document], (weights / weights.sum()) @ vectors[a:b], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1], vectors[2], rtol=1e-6)  # a one-window document is its window
    assert layer.get_config()["mode"] == "attention" and len(layer.trainable_weights) == 2


@pytest.mark.slow
@pytest.mark.parametrize("task, pooling", [("binary", "mean"), ("multiclass", "attention"), ("multilabel", "attention")])
def test_a_windows_classifier_gives_one_row_a_document_and_trains(task, pooling, tiny_encoder):
    label_map = HEADS[task][0]
    classifier = model.build_classifier(encoders.load_encoder(tiny_encoder), label_map, 0.1, window_pooling=pooling)
    assert "window_counts" in classifier.input_names
    model.compile_classifier(classifier, label_map, model.make_optimizer("adam", 1e-3, num_train_steps=3))
    inputs = {**_batch(int(COUNTS.sum())), "window_counts": COUNTS}  # one batch: Keras cannot cut windows
    assert classifier(inputs, training=False).shape == (4, HEADS[task][1])
    history = classifier.fit(tf.data.Dataset.from_tensors((inputs, _labels(task))), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    pooling_layer = classifier.get_layer("document_pooling")
    assert pooling_layer.mode == pooling and pooling_layer.compute_dtype == "float32"


def _two_window_steps(accumulation_steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """_two_steps for documents of 1-3 windows: 14 class-weighted documents (29 windows) in
    batches of 8 documents, a small classifier over word embeddings pooled by document."""
    counts = np.array([1, 3, 2, 1, 1, 3, 2, 2, 3, 1, 2, 3, 1, 4], dtype=np.int32)
    tf_keras.utils.set_random_seed(5)
    inputs = {"input_word_ids": tf_keras.Input((None,), dtype="int32", name="input_word_ids"),
              "window_counts": tf_keras.Input((), dtype="int32", name="window_counts")}
    windows = tf_keras.layers.Dense(16, activation="tanh")(
        tf_keras.layers.GlobalAveragePooling1D()(tf_keras.layers.Embedding(200, 16)(inputs["input_word_ids"])))
    head = model.classification_head(HEADS["binary"][0])(model.DocumentPooling()([windows, inputs["window_counts"]]))
    classifier = (model.AccumulatingClassifier(inputs, head, accumulation_steps=accumulation_steps)
                  if accumulation_steps > 1 else tf_keras.Model(inputs, head))
    model.compile_classifier(classifier, HEADS["binary"][0], tf_keras.optimizers.SGD(0.5))
    initial = [w.numpy() for w in classifier.trainable_weights]
    ids = _batch(int(counts.sum()))["input_word_ids"]
    labels, weights = _labels("binary", 14), np.where(np.arange(14) % 3 == 0, 2.5, 0.5).astype(np.float32)
    split = int(counts[:8].sum())
    batches = [tf.data.Dataset.from_tensors(({"input_word_ids": ids[rows], "window_counts": counts[docs]},
                                             labels[docs], weights[docs]))
               for rows, docs in ((slice(0, split), slice(0, 8)), (slice(split, None), slice(8, 14)))]
    classifier.fit(batches[0].concatenate(batches[1]), verbose=0)
    return initial, [w.numpy() for w in classifier.trainable_weights]


@pytest.mark.slow
def test_an_accumulated_step_over_windows_splits_by_document_and_equals_the_full_batch_step():
    initial, whole = _two_window_steps(1)
    assert max(np.abs(w - i).max() for w, i in zip(whole, initial)) > 1e-2
    for steps in (2, 3):
        _, accumulated = _two_window_steps(steps)
        for want, got in zip(whole, accumulated):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _checkpointed(classifier: tf_keras.Model, path) -> dict[str, np.ndarray]:
    """The layers' weights of `classifier` by where they sit in its checkpoint (not by variable name)."""
    model.layers_only(classifier).save_weights(str(path))
    return {key: tf.train.load_variable(str(path), key) for key, _ in tf.train.list_variables(str(path))
            if key.startswith("layer") and "OPTIMIZER" not in key}


def test_copy_weights_gives_a_float32_rebuild_what_a_checkpoint_of_the_mixed_classifier_gives(tiny_encoder, tmp_path):
    labels = LabelMap(("negative", "positive"), "binary")
    model.set_precision("mixed_bfloat16")
    try:
        mixed = model.build_classifier(encoders.load_encoder(tiny_encoder, trainable=True, precision="mixed_bfloat16"),
                                       labels, 0.1)
    finally:
        model.set_precision("float32")
    copied, loaded = (model.build_classifier(encoders.load_encoder(tiny_encoder, trainable=True, precision="float32"),
                                             labels, 0.1) for _ in range(2))
    rng = np.random.default_rng(0)
    for weight in mixed.weights:
        weight.assign(rng.normal(size=weight.shape).astype(weight.dtype.as_numpy_dtype))
    model.copy_weights(mixed, copied)
    saved = _checkpointed(mixed, tmp_path / "mixed" / "w")
    loaded.load_weights(str(tmp_path / "mixed" / "w")).expect_partial()  # what fit's best checkpoint gives
    want, got = _checkpointed(loaded, tmp_path / "loaded" / "w"), _checkpointed(copied, tmp_path / "copied" / "w")
    assert want.keys() == got.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    shared = saved.keys() & got.keys()  # all but the embedding dropout's state, whose key holds its variable's name
    assert len(shared) > 10 and all(np.array_equal(got[key], saved[key]) for key in shared)
    assert not tf.io.gfile.glob("ram://tfbert-weights-*")  # the in-memory checkpoint is removed
