"""Hugging Face BERT checkpoints → TF Hub-format encoders, with no PyTorch.

A folder with config.json, vocab.txt and model.safetensors (the layout of
`BertModel.save_pretrained`) is read with safetensors' NumPy API and its weights are
poured into tensorflow/models' BertEncoder, then saved like TF Hub's BERTs
(hub_format.save_hub_encoder). The two libraries differ in layout, not in maths:

- HF Linear weights are [out, in]; Keras kernels are [in, out].
- Attention projections are per head in BertEncoder: q/k/v kernels [hidden, heads,
  head_dim], the attention output kernel [heads, head_dim, hidden].
- HF's "gelu" is the exact erf GELU; BertEncoder defaults to the tanh approximation,
  so the activation is passed explicitly.
- BertEncoder hard-codes a layer-norm epsilon of 1e-12; config.json's layer_norm_eps
  is set on every LayerNormalization before the model is traced and saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert import assets, hub_format
from tfbert.errors import TfbertError

CHECKPOINT_FILES = ("config.json", "vocab.txt", "model.safetensors")

# HF hidden_act -> the name of hub_format.ACTIVATIONS; HF's "gelu" is the exact (erf) form.
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


@dataclasses.dataclass(frozen=True)
class BertShape:
    """The architecture numbers of a BERT checkpoint, from its config.json."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def check_checkpoint_dir(directory: str | Path) -> Path:
    """`directory` if it holds an HF BERT checkpoint, else an error naming what is missing."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise TfbertError(f"Hugging Face checkpoint directory not found: {directory}")
    missing = [name for name in CHECKPOINT_FILES if not (directory / name).is_file()]
    if missing:
        raise TfbertError(f"{directory} is not a Hugging Face BERT checkpoint: missing {', '.join(missing)}")
    return directory


def read_shape(directory: Path) -> BertShape:
    """The BertShape described by `directory`/config.json."""
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type", "bert") != "bert":
        raise TfbertError(f"{directory}/config.json describes a '{config['model_type']}' model; only BERT converts")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise TfbertError(f"{directory}: only absolute position embeddings convert")
    act = config.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise TfbertError(f"{directory}: hidden_act '{act}' is not supported; use one of {', '.join(ACTIVATIONS)}")
    try:
        return BertShape(
            vocab_size=config["vocab_size"],
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            max_positions=config.get("max_position_embeddings", 512),
            type_vocab_size=config.get("type_vocab_size", 2),
            layer_norm_eps=config.get("layer_norm_eps", 1e-12),
            hidden_act=act,
            hidden_dropout=config.get("hidden_dropout_prob", 0.1),
            attention_dropout=config.get("attention_probs_dropout_prob", 0.1),
        )
    except KeyError as err:
        raise TfbertError(f"{directory}/config.json lacks {err.args[0]}") from None


def read_do_lower_case(directory: Path) -> bool:
    """The tokenizer's casing from tokenizer_config.json; uncased when it does not say."""
    path = directory / "tokenizer_config.json"
    if path.is_file():
        return bool(json.loads(path.read_text(encoding="utf-8")).get("do_lower_case", True))
    return True


def read_weights(directory: Path) -> dict[str, np.ndarray]:
    """The checkpoint's tensors by HF name, without a `bert.` prefix, LayerNorm params as weight/bias."""
    from safetensors.numpy import load_file

    tensors = load_file(str(directory / "model.safetensors"))
    renamed = {}
    for name, value in tensors.items():
        name = name.removeprefix("bert.")
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        renamed[name] = value
    return renamed


def _layer_norm(weights: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [weights[f"{prefix}.LayerNorm.weight"], weights[f"{prefix}.LayerNorm.bias"]]


def _dense(weights: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    return [weights[f"{prefix}.weight"].T, weights[f"{prefix}.bias"]]


def _per_head(weights: dict[str, np.ndarray], prefix: str, shape: BertShape) -> list[np.ndarray]:
    """A q/k/v projection as BertEncoder holds it: kernel [hidden, heads, head_dim]."""
    kernel, bias = _dense(weights, prefix)
    return [kernel.reshape(shape.hidden_size, shape.num_heads, shape.head_dim),
            bias.reshape(shape.num_heads, shape.head_dim)]


def keras_weights(weights: dict[str, np.ndarray], shape: BertShape) -> dict[str, list[np.ndarray]]:
    """Weights for each BertEncoder layer, by layer name, from HF-named tensors."""
    layers = {
        "word_embeddings": [weights["embeddings.word_embeddings.weight"]],
        "position_embedding": [weights["embeddings.position_embeddings.weight"]],
        "type_embeddings": [weights["embeddings.token_type_embeddings.weight"]],
        "embeddings/layer_norm": _layer_norm(weights, "embeddings"),
    }
    for i in range(shape.num_layers):
        hf = f"encoder.layer.{i}"
        out_kernel, out_bias = _dense(weights, f"{hf}.attention.output.dense")
        layers[f"transformer/layer_{i}"] = [
            *_per_head(weights, f"{hf}.attention.self.query", shape),
            *_per_head(weights, f"{hf}.attention.self.key", shape),
            *_per_head(weights, f"{hf}.attention.self.value", shape),
            out_kernel.reshape(shape.num_heads, shape.head_dim, shape.hidden_size), out_bias,
            *_layer_norm(weights, f"{hf}.attention.output"),
            *_dense(weights, f"{hf}.intermediate.dense"),
            *_dense(weights, f"{hf}.output.dense"),
            *_layer_norm(weights, f"{hf}.output"),
        ]
    if "pooler.dense.weight" in weights:
        layers["pooler_transform"] = _dense(weights, "pooler.dense")
    return layers


def build_network(directory: Path) -> tf_keras.Model:
    """A BertEncoder holding the checkpoint's weights."""
    shape = read_shape(directory)
    weights = read_weights(directory)
    network = hub_format.build_bert_network(
        shape.vocab_size, hidden_size=shape.hidden_size, num_layers=shape.num_layers,
        num_attention_heads=shape.num_heads, inner_dim=shape.intermediate_size,
        max_sequence_length=shape.max_positions, type_vocab_size=shape.type_vocab_size,
        inner_activation=hub_format.ACTIVATIONS[ACTIVATIONS[shape.hidden_act]], output_dropout=shape.hidden_dropout,
        attention_dropout=shape.attention_dropout,
    )
    hub_format.set_layer_norm_epsilon(network, shape.layer_norm_eps)
    try:
        layer_weights = keras_weights(weights, shape)
    except KeyError as err:
        raise TfbertError(f"{directory}/model.safetensors lacks the tensor {err.args[0]}; is it a BERT checkpoint?") from None
    if "pooler_transform" not in layer_weights:
        raise TfbertError(f"{directory}/model.safetensors has no pooler (pooler.dense.*); tfbert's heads need pooled_output")
    for name, values in layer_weights.items():
        layer = network.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [v.shape for v in values]:
            raise TfbertError(f"{directory}: weights for {name} have shapes {[v.shape for v in values]}, expected {expected}")
        layer.set_weights(values)
    return network


def checkpoint_digest(directory: Path) -> str:
    """A short content hash of the checkpoint, naming its converted copy in the cache."""
    digest = hashlib.sha256()
    for name in (*CHECKPOINT_FILES, "tokenizer_config.json"):
        path = directory / name
        if path.is_file():
            assets.hash_file(path, digest)
    return digest.hexdigest()[:16]


def convert(directory: str | Path, export_dir: str | Path) -> Path:
    """Write the HF BERT checkpoint in `directory` as a TF Hub-format encoder at `export_dir`."""
    directory = check_checkpoint_dir(directory)
    # Seeded, so the dropout ops saved inside the encoder carry op seeds: TensorFlow's op
    # determinism (deterministic: true) refuses to run random ops saved without one.
    tf_keras.utils.set_random_seed(0)
    network = build_network(directory)
    return hub_format.save_hub_encoder(network, directory / "vocab.txt", read_do_lower_case(directory), export_dir)
