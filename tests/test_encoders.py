from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401
import tensorflow as tf
import tensorflow_hub as hub

from tfbert import encoders
from tfbert.errors import TfbertError


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
    assert len(outputs["encoder_outputs"]) == 2
    assert outputs["pooled_output"].dtype == tf.float32
    vocab = Path(loaded.vocab_file.asset_path.numpy().decode()).read_text(encoding="utf-8").split("\n")
    assert vocab[: len(encoders.SPECIAL_TOKENS)] == list(encoders.SPECIAL_TOKENS)
    assert vocab[:-1] == encoders.tiny_vocabulary()
    assert bool(loaded.do_lower_case.numpy()) is True


def test_tiny_encoder_is_deterministic_per_seed(tmp_path):
    first = hub.load(str(encoders.write_tiny_encoder(tmp_path / "a", seed=3)))
    second = hub.load(str(encoders.write_tiny_encoder(tmp_path / "b", seed=3)))
    other = hub.load(str(encoders.write_tiny_encoder(tmp_path / "c", seed=4)))
    inputs = _inputs(2, 6)
    a, b, c = (m(inputs, training=False)["pooled_output"].numpy() for m in (first, second, other))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_save_leaves_no_staging_folders(tmp_path):
    encoders.write_tiny_encoder(tmp_path / "enc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]
    assert (tmp_path / "enc" / "assets" / "vocab.txt").is_file()


def test_tokenizer_assets_come_from_the_hub_layer(tiny_encoder):
    layer = encoders.load_encoder(tiny_encoder, trainable=False)
    vocab_file, do_lower_case = encoders.tokenizer_assets(layer)
    assert Path(vocab_file).is_file() and Path(vocab_file).name == "vocab.txt"
    assert do_lower_case is True
    assert layer.trainable is False


def test_resolve_handle_passes_online_handles_through():
    for handle in ("https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
                   "https://www.kaggle.com/models/tensorflow/bert/TensorFlow2/en-uncased-l-12-h-768-a-12/4"):
        assert encoders.resolve_handle(handle) == handle


def test_resolve_handle_accepts_a_local_saved_model(tiny_encoder):
    assert encoders.resolve_handle(tiny_encoder) == str(Path(tiny_encoder).resolve())


def test_resolve_handle_writes_tiny_into_the_cache_once(tfbert_cache):
    path = Path(encoders.resolve_handle("tiny"))
    assert path == tfbert_cache / "encoders" / "tiny"
    assert (path / "saved_model.pb").is_file()
    stamp = (path / "saved_model.pb").stat().st_mtime_ns
    assert encoders.resolve_handle("tiny") == str(path)
    assert (path / "saved_model.pb").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("spec, message", [
    ("", "'encoder' is required"),
    ("no/such/encoder", "neither a TF Hub handle"),
])
def test_resolve_handle_errors(spec, message):
    with pytest.raises(TfbertError, match=message):
        encoders.resolve_handle(spec)


def test_resolve_handle_rejects_a_folder_without_saved_model(tmp_path):
    with pytest.raises(TfbertError, match="no saved_model.pb"):
        encoders.resolve_handle(str(tmp_path))


def test_command_line_writes_an_encoder(tmp_path, capsys):
    assert encoders.main(["tiny", str(tmp_path / "cli"), "--seed", "1"]) == 0
    assert (tmp_path / "cli" / "saved_model.pb").is_file()
    assert str(tmp_path / "cli") in capsys.readouterr().out
