"""A converted Hugging Face checkpoint computes what BERT computes, checked in NumPy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from scipy.special import erf

import tfbert  # noqa: F401
import tensorflow_hub as hub

from tfbert import hf_bert
from tfbert.errors import TfbertError

def _config(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _linear(x, t, name):
    return x @ t[f"{name}.weight"].T + t[f"{name}.bias"]


def numpy_bert(t: dict, config: dict, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BERT's forward pass written from the paper's equations: (sequence_output, pooled_output)."""
    t = {k: v.astype(np.float64) for k, v in t.items()}
    batch, seq = ids.shape
    heads, eps = config["num_attention_heads"], config["layer_norm_eps"]
    head_dim = config["hidden_size"] // heads
    x = (t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:seq]
         + t["embeddings.token_type_embeddings.weight"][types])
    x = _layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    blocked = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"

        def split(y):
            return y.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)

        q, k, v = (split(_linear(x, t, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + blocked
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, -1)
        x = _layer_norm(x + _linear(context, t, f"{p}.attention.output.dense"),
                        t[f"{p}.attention.output.LayerNorm.weight"], t[f"{p}.attention.output.LayerNorm.bias"], eps)
        hidden = _linear(x, t, f"{p}.intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
        x = _layer_norm(x + _linear(hidden, t, f"{p}.output.dense"),
                        t[f"{p}.output.LayerNorm.weight"], t[f"{p}.output.LayerNorm.bias"], eps)
    pooled = np.tanh(_linear(x[:, 0], t, "pooler.dense"))
    return x, pooled


def _inputs(config: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    ids = rng.integers(0, config["vocab_size"], size=(3, 11)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    mask[2, 3:] = 0
    types = rng.integers(0, config["type_vocab_size"], size=ids.shape).astype(np.int32)
    return ids, mask, types


@pytest.mark.slow
@pytest.mark.parametrize("prefix, gamma_beta", [("", False), ("bert.", True)])
def test_converted_encoder_matches_numpy_bert(tmp_path, hf_checkpoint, prefix, gamma_beta):
    tensors = hf_checkpoint(tmp_path / "hf", prefix=prefix, gamma_beta=gamma_beta)
    config = _config(tmp_path / "hf")
    encoder = hub.load(str(hf_bert.convert(tmp_path / "hf", tmp_path / "converted")))
    ids, mask, types = _inputs(config)
    outputs = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}, training=False)
    sequence, pooled = numpy_bert(tensors, config, ids, mask, types)
    assert np.abs(outputs["sequence_output"].numpy() - sequence).max() <= 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() <= 1e-4
    assert bool(encoder.do_lower_case.numpy()) is False  # from tokenizer_config.json
    vocab = Path(encoder.vocab_file.asset_path.numpy().decode()).read_text(encoding="utf-8")
    assert vocab == (tmp_path / "hf" / "vocab.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_tanh_gelu_would_be_measurably_wrong(tmp_path, hf_checkpoint):
    """Guards the explicit erf GELU: the approximation is off by more than the tolerance."""
    tensors = hf_checkpoint(tmp_path / "hf")
    config = _config(tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    encoder = hub.load(str(hf_bert.convert(tmp_path / "hf", tmp_path / "converted")))
    ids, mask, types = _inputs(config)
    outputs = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}, training=False)
    sequence, _ = numpy_bert(tensors, config, ids, mask, types)
    assert np.abs(outputs["sequence_output"].numpy() - sequence).max() > 1e-4


@pytest.mark.parametrize("change, message", [
    (lambda d: (d / "vocab.txt").unlink(), "missing vocab.txt"),
    (lambda d: (d / "config.json").write_text(json.dumps({"model_type": "roberta"})), "only BERT"),
    (lambda d: (d / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_act": "swish"})), "hidden_act"),
])
def test_bad_checkpoints_are_clear_errors(tmp_path, hf_checkpoint, change, message):
    hf_checkpoint(tmp_path / "hf")
    change(tmp_path / "hf")
    with pytest.raises(TfbertError, match=message):
        hf_bert.convert(tmp_path / "hf", tmp_path / "converted")
    assert not (tmp_path / "converted").exists()


def test_checkpoint_without_pooler_is_refused(tmp_path, hf_checkpoint):
    tensors = hf_checkpoint(tmp_path / "hf")
    del tensors["pooler.dense.weight"], tensors["pooler.dense.bias"]
    save_file(tensors, str(tmp_path / "hf" / "model.safetensors"))
    with pytest.raises(TfbertError, match="no pooler"):
        hf_bert.convert(tmp_path / "hf", tmp_path / "converted")


def test_digest_follows_the_weights(tmp_path, hf_checkpoint):
    hf_checkpoint(tmp_path / "a", seed=0)
    hf_checkpoint(tmp_path / "b", seed=0)
    hf_checkpoint(tmp_path / "c", seed=1)
    assert hf_bert.checkpoint_digest(tmp_path / "a") == hf_bert.checkpoint_digest(tmp_path / "b")
    assert hf_bert.checkpoint_digest(tmp_path / "a") != hf_bert.checkpoint_digest(tmp_path / "c")
