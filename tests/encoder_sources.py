"""Encoders as others write them, for the tests: a random BERT checkpoint in Hugging Face's
layout (write_hf_checkpoint) and a BERT SavedModel exported as TF Hub's were (write_tfhub_export)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import hub_format

HF_SHAPE = dict(hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
             max_position_embeddings=64, type_vocab_size=3, layer_norm_eps=1e-5)


def write_hf_checkpoint(directory: Path, seed: int = 0, prefix: str = "", gamma_beta: bool = False,
                        dropout: float = 0.1) -> dict:
    """A random BERT checkpoint in Hugging Face layout (`dropout`: its hidden and attention
    dropout rates); returns its tensors by plain HF name."""
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
    config = {"model_type": "bert", "hidden_act": "gelu", "vocab_size": len(vocab), **HF_SHAPE,
              "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return tensors


def write_tfhub_export(directory: Path, dropout: float = 0.1, with_mlm: bool = False, bert_v2: bool = False) -> Path:
    """A BERT encoder SavedModel written exactly as TF Hub's BERTs were: Model Garden's
    export_tfhub_lib.export_model from a checkpoint (a random one, of a small BertConfig;
    with_mlm as the encoders published beside a preprocessing model), vocab_file and
    do_lower_case attached, dropout ops unseeded. `bert_v2`: from Model Garden's newer
    encoder config instead (BertEncoderV2, its variables under bert_encoder_v2/, with
    16-wide word embeddings projected to the hidden size). Returns the SavedModel's folder."""
    import tensorflow as tf
    from official.legacy.bert import configs
    from official.nlp.configs import encoders as encoder_configs
    from official.nlp.tools import export_tfhub_lib

    vocab = hub_format.tiny_vocabulary()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    bert_config = configs.BertConfig(vocab_size=len(vocab), hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                                     intermediate_size=40, max_position_embeddings=64, type_vocab_size=2,
                                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    configured = {"bert_config": bert_config}
    if bert_v2:
        configured = {"encoder_config": encoder_configs.EncoderConfig(type="bert_v2", bert_v2=encoder_configs.BertEncoderConfig(
            vocab_size=len(vocab), hidden_size=24, num_layers=2, num_attention_heads=3, intermediate_size=40,
            max_position_embeddings=64, type_vocab_size=2, dropout_rate=dropout, attention_dropout_rate=dropout,
            embedding_size=16))}
    _, restored = export_tfhub_lib._create_model(with_mlm=with_mlm, **configured)  # what export_model restores
    items = restored.checkpoint_items if with_mlm else {"encoder": restored}
    checkpoint = tf.train.Checkpoint(**items).save(str(directory / "checkpoint" / "ckpt"))
    export_tfhub_lib.export_model(str(directory / "encoder"), model_checkpoint_path=checkpoint, with_mlm=with_mlm,
                                  vocab_file=str(directory / "vocab.txt"), do_lower_case=True, **configured)
    return directory / "encoder"
