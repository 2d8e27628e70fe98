"""Shared fixtures: an offline tiny encoder and a cache that lives in the test's temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import hub_format


# What a finished run directory holds (README, "The run directory").
RUN_FILES = sorted([
    "config.yaml", "data_stats.json", "history.csv", "metrics.json", "classification_report.txt",
    "confusion_matrix.json", "export", "label_map.json", "model", "plots", "timings.json",
])


@pytest.fixture(scope="session", autouse=True)
def tfbert_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep `encoder: tiny`, cached assets and W&B's files out of the user's home; W&B
    is off unless a test turns it on (wandb_mode: offline)."""
    cache = tmp_path_factory.mktemp("tfbert-cache")
    wandb_home = tmp_path_factory.mktemp("wandb-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFBERT_CACHE", str(cache))
        patch.setenv("WANDB_MODE", "disabled")
        patch.setenv("WANDB_SILENT", "true")
        patch.delenv("WANDB_API_KEY", raising=False)
        for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
            patch.setenv(name, str(wandb_home / name.lower()))
        yield cache


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small random TF Hub-format BERT encoder, written once per test session."""
    return str(hub_format.write_tiny_encoder(tmp_path_factory.mktemp("encoders") / "tiny", seed=0))


HF_SHAPE = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
             max_position_embeddings=64, type_vocab_size=3, layer_norm_eps=1e-5)


def write_hf_checkpoint(directory: Path, seed: int = 0, prefix: str = "", gamma_beta: bool = False) -> dict:
    """A random BERT checkpoint in Hugging Face layout; returns its tensors by plain HF name."""
    rng = np.random.default_rng(seed)
    vocab = hub_format.tiny_vocabulary()
    h, inner = HF_SHAPE["hidden_size"], HF_SHAPE["intermediate_size"]

    def normal(*shape):
        return rng.normal(0, 0.2, size=shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": normal(len(vocab), h),
        "embeddings.position_embeddings.weight": normal(HF_SHAPE["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": normal(HF_SHAPE["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": 1 + normal(h), "embeddings.LayerNorm.bias": normal(h),
        "pooler.dense.weight": normal(h, h), "pooler.dense.bias": normal(h),
    }
    for i in range(HF_SHAPE["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            tensors[f"{p}.attention.self.{name}.weight"] = normal(h, h)
            tensors[f"{p}.attention.self.{name}.bias"] = normal(h)
        tensors |= {
            f"{p}.attention.output.dense.weight": normal(h, h), f"{p}.attention.output.dense.bias": normal(h),
            f"{p}.attention.output.LayerNorm.weight": 1 + normal(h), f"{p}.attention.output.LayerNorm.bias": normal(h),
            f"{p}.intermediate.dense.weight": normal(inner, h), f"{p}.intermediate.dense.bias": normal(inner),
            f"{p}.output.dense.weight": normal(h, inner), f"{p}.output.dense.bias": normal(h),
            f"{p}.output.LayerNorm.weight": 1 + normal(h), f"{p}.output.LayerNorm.bias": normal(h),
        }
    stored = {}
    for name, value in tensors.items():
        if gamma_beta:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        stored[prefix + name] = value
    stored[prefix + "embeddings.position_ids"] = np.arange(HF_SHAPE["max_position_embeddings"])[None]
    directory.mkdir(parents=True, exist_ok=True)
    save_file(stored, str(directory / "model.safetensors"))
    config = {"model_type": "bert", "hidden_act": "gelu", "vocab_size": len(vocab), **HF_SHAPE}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return tensors


@pytest.fixture
def hf_checkpoint():
    """write_hf_checkpoint(directory, seed=0, prefix="", gamma_beta=False) -> tensors by HF name."""
    return write_hf_checkpoint


@pytest.fixture(scope="session")
def pair_export(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: str):
    """An untrained binary classifier over text pairs and its serving export (threshold 0.3)."""
    from tfbert import encoders, export, features, model
    from tfbert.data import LabelMap

    label_map = LabelMap(("different", "same"), "binary")
    encoder = encoders.load_encoder(tiny_encoder)
    classifier = model.build_classifier(encoder, label_map, dropout=0.1)
    packer = features.make_packer("tf_text", *encoders.tokenizer_assets(encoder), max_seq_length=24)
    directory = export.save_serving_model(classifier, packer, label_map, 0.3,
                                          tmp_path_factory.mktemp("pairs") / "export", with_pairs=True)
    return classifier, packer, label_map, directory
