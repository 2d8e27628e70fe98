"""Writing TF Hub-format BERT encoders: the interface, determinism, atomic saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401
import tensorflow as tf
import tensorflow_hub as hub

from tfbert import hub_format

def _inputs(batch: int, seq: int) -> dict[str, tf.Tensor]:
    ids = np.random.default_rng(0).integers(5, 100, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[0, seq // 2:] = 0
    return {
        "input_word_ids": tf.constant(ids),
        "input_mask": tf.constant(mask),
        "input_type_ids": tf.zeros_like(ids),
    }


def test_tiny_encoder_has_the_tf_hub_bert_interface(tiny_encoder):
    loaded = hub.load(tiny_encoder)
    outputs = loaded(_inputs(3, 10), training=False)
    assert set(outputs) >= {"pooled_output", "sequence_output", "encoder_outputs", "default"}
    assert outputs["pooled_output"].shape == (3, 32)
    assert outputs["sequence_output"].shape == (3, 10, 32)
    assert len(outputs["encoder_outputs"]) == 1  # one per layer (the fixture has one)
    assert outputs["pooled_output"].dtype == tf.float32
    vocab = Path(loaded.vocab_file.asset_path.numpy().decode()).read_text(encoding="utf-8").split("\n")
    assert vocab[: len(hub_format.SPECIAL_TOKENS)] == list(hub_format.SPECIAL_TOKENS)
    assert vocab[:-1] == hub_format.tiny_vocabulary()
    assert bool(loaded.do_lower_case.numpy()) is True


@pytest.mark.slow
def test_tiny_encoder_is_deterministic_per_seed_and_leaves_no_staging_folders(tmp_path, tiny_encoder):
    written = {name: hub_format.write_tiny_encoder(tmp_path / name, seed=3, num_layers=1) for name in ("a", "b")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    assert all((path / "assets" / "vocab.txt").is_file() for path in written.values())
    inputs = _inputs(2, 6)
    a, b, c = (hub.load(str(path))(inputs, training=False)["pooled_output"].numpy()
               for path in (*written.values(), tiny_encoder))  # c: tiny_encoder's seed, 0
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
