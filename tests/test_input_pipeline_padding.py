"""Padding leaves results alone: make_dataset's padding modes give a tiny model the same evaluation
and training losses (make_dataset's batches themselves: test_input_pipeline.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from conftest import make_split
from texts import WORDS
from tfbert import input_pipeline, encoders, hub_format, model, packers
from tfbert.data import LabelMap, Split


def pad_to(feats: dict[str, tf.Tensor], width: int) -> dict[str, tf.Tensor]:
    """Each feature zero padded to `width` columns, with that static width."""
    padded = {}
    for name, tensor in feats.items():
        tensor = tf.pad(tensor, [[0, 0], [0, width - tf.shape(tensor)[1]]])
        tensor.set_shape([None, width])
        padded[name] = tensor
    return padded


# --------------------------------------------------------------------------- 6. padding leaves results alone


BINARY = LabelMap((0, 1), "binary")


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny encoder's shape without dropout, so that training steps are deterministic."""
    import tf_keras

    folder = tmp_path_factory.mktemp("dropout-free")
    vocab = hub_format.tiny_vocabulary()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tf_keras.utils.set_random_seed(0)
    network = hub_format.build_bert_network(len(vocab), hidden_size=32, num_layers=2, num_attention_heads=2,
                                          inner_dim=64, max_sequence_length=128, dropout_rate=0.0,
                                          attention_dropout_rate=0.0)
    return str(hub_format.save_hub_encoder(network, folder / "vocab.txt", True, folder / "encoder"))


@pytest.fixture(scope="module")
def varied_split() -> Split:
    """72 labelled texts of 3 to 64 tokens, so that batches and buckets have several widths."""
    rng = random.Random(11)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.choice([1, 3, 6, 10, 20, 40, 70])))
             for _ in range(72)]
    labels = np.array([i % 2 for i in range(72)], dtype=np.int32)
    return make_split(texts, labels=labels)


class TinyClassifier:
    """One classifier over the dropout-free encoder, reset to the same weights and a fresh
    optimizer for each run (loading the encoder once)."""

    def __init__(self, encoder_dir: str):
        import tf_keras

        tf_keras.utils.set_random_seed(3)
        encoder = encoders.load_encoder(encoder_dir)
        self.packer = packers.make_packer("tf_text", *encoders.tokenizer_assets(encoder), 64)
        self.model = model.build_classifier(encoder, BINARY, dropout=0.0)
        self.initial = self.model.get_weights()

    def reset(self):
        """The initial weights and a fresh optimizer state (compiled once: traced steps are kept)."""
        self.model.set_weights(self.initial)
        if self.model.optimizer is None:
            model.compile_classifier(self.model, BINARY, model.make_optimizer("adam", 1e-3, num_train_steps=9))
        for variable in self.model.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        return self.model

    def train_one_epoch(self, dataset: tf.data.Dataset) -> tuple[float, list[np.ndarray]]:
        history = self.reset().fit(dataset, epochs=1, verbose=0, shuffle=False)
        return history.history["loss"][0], self.model.get_weights()


@pytest.fixture(scope="module")
def tiny_classifier(dropout_free_encoder) -> TinyClassifier:
    return TinyClassifier(dropout_free_encoder)


def test_padding_mode_leaves_evaluation_unchanged(tiny_classifier, varied_split):
    classifier = tiny_classifier.reset()
    by_padding = {padding: input_pipeline.make_dataset(varied_split, tiny_classifier.packer, 8, padding=padding)
                for padding in input_pipeline.PADDINGS}
    widths = {padding: {b[0]["input_word_ids"].shape[1] for b in ds.as_numpy_iterator()}
              for padding, ds in by_padding.items()}
    assert widths["max"] == {64} and len(widths["batch"]) >= 3
    assert widths["bucket"] <= set(input_pipeline.bucket_widths(64)) and len(widths["bucket"]) >= 3
    losses = {padding: classifier.evaluate(ds, verbose=0, return_dict=True)["loss"]
              for padding, ds in by_padding.items()}
    assert losses["batch"] == pytest.approx(losses["max"], abs=1e-5)
    assert losses["bucket"] == pytest.approx(losses["max"], abs=1e-5)
    predictions = {padding: classifier.predict(by_padding[padding], verbose=0) for padding in ("max", "batch")}
    np.testing.assert_allclose(predictions["batch"], predictions["max"], atol=1e-5)


@pytest.mark.slow
def test_padding_mode_leaves_training_unchanged(tiny_classifier, varied_split):
    """One epoch on the same batches in the same order: padded to max_seq_length, to each
    batch's longest, and bucketed (against the same bucketed batches padded to max)."""
    packer = tiny_classifier.packer
    loss_max, weights_max = tiny_classifier.train_one_epoch(
        input_pipeline.make_dataset(varied_split, packer, 8, padding="max"))
    loss_batch, weights_batch = tiny_classifier.train_one_epoch(
        input_pipeline.make_dataset(varied_split, packer, 8, padding="batch"))
    print(f"\nepoch loss: max {loss_max:.7f}, batch {loss_batch:.7f}", end="")
    assert loss_batch == pytest.approx(loss_max, abs=1e-4)
    assert not np.allclose(weights_max[0], tiny_classifier.initial[0])  # it did train
    for a, b in zip(weights_batch, weights_max):
        np.testing.assert_allclose(a, b, atol=1e-4)

    bucketed = input_pipeline.make_dataset(varied_split, packer, 8, padding="bucket")
    padded = bucketed.map(lambda feats, labels: (pad_to(feats, 64), labels))
    loss_bucket, weights_bucket = tiny_classifier.train_one_epoch(bucketed)
    loss_padded, weights_padded = tiny_classifier.train_one_epoch(padded)
    print(f", bucket {loss_bucket:.7f}, the same batches padded to max {loss_padded:.7f}")
    assert loss_bucket == pytest.approx(loss_padded, abs=1e-4)
    for a, b in zip(weights_bucket, weights_padded):
        np.testing.assert_allclose(a, b, atol=1e-4)
    assert loss_bucket == pytest.approx(loss_max, abs=0.05)  # other batches, a similar epoch
