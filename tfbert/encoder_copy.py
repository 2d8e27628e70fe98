"""The encoder tfbert trains: a BERT SavedModel rebuilt as Model Garden's BertEncoder.

A TF Hub-format BERT SavedModel is a graph traced once, in float32, by whoever exported
it; Keras' dtype policy and TensorFlow's seeds stop at its boundary. So tfbert reads the
SavedModel's variables, pours them by name and shape into a new `BertEncoder` built under
the run's dtype policy, checks that in float32 it computes what the original computes,
and saves that as the SavedModel `hub.KerasLayer` loads. Its dropout draws from a
`tf.random.Generator` per layer whose state is a variable of the SavedModel:
`seed_dropout` sets it from the run's seed, and Keras' backups checkpoint it with the
weights, so a resumed run continues the same dropout masks.

An encoder that does not map (another architecture, a variable BertEncoder has no place
for) raises `NotRebuildable`, naming the first variable with no home; it is then trained
as it was saved.

>>> import tempfile, tensorflow as tf, tensorflow_hub as hub
>>> from tfbert import encoder_copy, encoders
>>> folder = tempfile.mkdtemp()
>>> source = encoders.tiny_encoder()  # the tiny random encoder, written to tfbert's cache on first use
>>> copy = encoder_copy.write_copy(source, f"{folder}/copy", "mixed_bfloat16")
>>> layer = hub.KerasLayer(str(copy), trainable=True)
>>> encoder_copy.is_copy(layer), encoder_copy.read_record(copy)["precision"]
(True, 'mixed_bfloat16')
>>> ids = tf.constant([[2, 40, 41, 3]])
>>> layer({"input_word_ids": ids, "input_mask": tf.ones_like(ids), "input_type_ids": tf.zeros_like(ids)})["pooled_output"].dtype
tf.bfloat16
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import feedforward, hub_format
from tfbert.hub_format import ACTIVATIONS, set_layer_norm_epsilon
from tfbert.packers import FEATURE_NAMES
from tfbert.precision import POLICIES

RECORD = "tfbert_copy.json"  # beside saved_model.pb: what the copy is, for people and for copying it again
MATCH_TOLERANCE = 1e-4  # largest |difference| in float32 between the source's outputs and BertEncoder's

# BertEncoder's variables, named as Model Garden names them (and as TF Hub's BERTs were exported).
WORD_EMBEDDINGS = "word_embeddings/embeddings"
POSITION_EMBEDDINGS = "position_embedding/embeddings"
TYPE_EMBEDDINGS = "type_embeddings/embeddings"
LAYER = "transformer/layer_{}/"

EPSILONS = (1e-12, 1e-5, 1e-6, 1e-7)  # layer norm epsilons of published BERTs; BertEncoder's is 1e-12


class NotRebuildable(Exception):
    """The SavedModel does not map onto BertEncoder; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """What BertEncoder needs beyond the variables' shapes, with BERT's defaults."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    inner_dim: int
    max_positions: int
    type_vocab_size: int
    embedding_width: int
    activation: str = "gelu_tanh"
    layer_norm_eps: float = 1e-12
    norm_first: bool = False
    output_dropout: float = 0.1
    attention_dropout: float = 0.1

    def network_arguments(self) -> dict[str, Any]:
        return dict(vocab_size=self.vocab_size, hidden_size=self.hidden_size, num_layers=self.num_layers,
                    num_attention_heads=self.num_heads, inner_dim=self.inner_dim,
                    max_sequence_length=self.max_positions, type_vocab_size=self.type_vocab_size,
                    embedding_width=self.embedding_width, inner_activation=ACTIVATIONS[self.activation],
                    norm_first=self.norm_first, output_dropout=self.output_dropout,
                    attention_dropout=self.attention_dropout)


# ------------------------------------------------------------------ reading the source

HINTED = ("activation", "layer_norm_eps", "norm_first", "output_dropout", "attention_dropout")  # not in the shapes


def source_variables(saved: Any) -> dict[str, tf.Variable]:
    """The floating-point variables of a loaded encoder SavedModel by their BertEncoder
    name: ':0' dropped, and any scope above `word_embeddings/` (BertEncoderV2's
    `bert_encoder_v2/`, say) removed from every name."""
    if not hasattr(saved, "variables"):
        raise NotRebuildable("it lists no variables (TF Hub's reusable SavedModel interface)")
    floating = [v for v in saved.variables if v.dtype.is_floating]
    names = [v.name.split(":")[0] for v in floating]
    root = next((name[: -len(WORD_EMBEDDINGS)] for name in names if name.endswith(WORD_EMBEDDINGS)), None)
    if root is None:
        raise NotRebuildable(f"variable '{names[0] if names else '?'}' has no home in BertEncoder "
                             f"(it has no {WORD_EMBEDDINGS})")
    return {name.removeprefix(root): variable for name, variable in zip(names, floating)}


def _shape(variables: Mapping[str, tf.Variable], name: str) -> list[int]:
    if name not in variables:
        raise NotRebuildable(f"it has no variable {name}, which BertEncoder needs")
    return list(variables[name].shape)


def read_shapes(variables: Mapping[str, tf.Variable], hints: Mapping[str, Any]) -> Architecture:
    """The Architecture the variables' shapes say, with `hints` (see `read_hints`) for the rest."""
    query = LAYER.format(0) + "self_attention/query/kernel"
    try:
        (vocab_size, embedding_width), (hidden_size, num_heads, _) = (_shape(variables, WORD_EMBEDDINGS),
                                                                       _shape(variables, query))
    except ValueError:
        raise NotRebuildable(f"its variables {WORD_EMBEDDINGS} and {query} do not have BertEncoder's ranks") from None
    num_layers = 0
    while LAYER.format(num_layers) + "self_attention/query/kernel" in variables:
        num_layers += 1
    return Architecture(
        vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
        inner_dim=_shape(variables, LAYER.format(0) + "intermediate/kernel")[1],
        max_positions=_shape(variables, POSITION_EMBEDDINGS)[0],
        type_vocab_size=_shape(variables, TYPE_EMBEDDINGS)[0], embedding_width=embedding_width,
        **{key: value for key, value in hints.items() if key in HINTED})


def _keras_nodes(source_dir: Path) -> Iterator[dict]:
    """The metadata Keras saved with each of its objects: keras_metadata.pb, or inside
    saved_model.pb for SavedModels written before TensorFlow 2.5."""
    path = source_dir / "keras_metadata.pb"
    if path.is_file():
        from tf_keras.protobuf import saved_metadata_pb2

        metadata = saved_metadata_pb2.SavedMetadata()
        metadata.ParseFromString(path.read_bytes())
        texts = [node.metadata for node in metadata.nodes]
    else:
        from tensorflow.core.protobuf import saved_model_pb2

        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString((source_dir / "saved_model.pb").read_bytes())
        texts = [node.user_object.metadata for node in saved_model.meta_graphs[0].object_graph_def.nodes
                 if node.HasField("user_object")]
    for text in texts:
        with contextlib.suppress(ValueError):
            yield json.loads(text)


def read_hints(source_dir: str | Path) -> dict[str, Any]:
    """What the variables do not say, from what the exporter recorded: a copy's record, or
    Keras' metadata of the BertEncoder (dropout rates, norm_first) and of its layer norms
    (epsilon). Hints only: `write_copy` checks the outputs."""
    source_dir = Path(source_dir)
    if (source_dir / RECORD).is_file():
        return read_record(source_dir)["architecture"]
    hints: dict[str, Any] = {}
    for node in _keras_nodes(source_dir):
        config = node.get("config") or {}
        if str(node.get("class_name", "")).split(">")[-1] in ("BertEncoder", "BertEncoderV2"):
            for key, names in (("output_dropout", ("output_dropout", "dropout_rate")),
                               ("attention_dropout", ("attention_dropout", "attention_dropout_rate"))):
                rate = next((config[name] for name in names if isinstance(config.get(name), (int, float))), None)
                if rate is not None:
                    hints.setdefault(key, float(rate))
            if isinstance(config.get("norm_first"), bool):
                hints.setdefault("norm_first", config["norm_first"])
        elif node.get("class_name") == "LayerNormalization" and isinstance(config.get("epsilon"), float):
            hints.setdefault("layer_norm_eps", config["epsilon"])
    return hints


# ------------------------------------------------------------------ building and checking


@contextlib.contextmanager
def _building(policy: str) -> Iterator[None]:
    """Keras layers built inside take `policy`, and their dropout a tf.random.Generator
    (a state variable) instead of stateful random ops."""
    policy_before = tf_keras.mixed_precision.global_policy()
    generator_before = tf_keras.backend.experimental.is_tf_random_generator_enabled()
    tf_keras.mixed_precision.set_global_policy(policy)
    tf_keras.backend.experimental.enable_tf_random_generator()
    try:
        yield
    finally:
        if not generator_before:
            tf_keras.backend.experimental.disable_tf_random_generator()
        tf_keras.mixed_precision.set_global_policy(policy_before)


def build_network(architecture: Architecture, policy: str = "float32") -> tf_keras.Model:
    """A BertEncoder of `architecture` under `policy`, with generator-backed dropout."""
    with _building(policy):
        network = hub_format.build_bert_network(**architecture.network_arguments())
    set_layer_norm_epsilon(network, architecture.layer_norm_eps)
    return network


def dropout_states(network: tf_keras.Model) -> list[tf.Variable]:
    """The state variable of every dropout layer's generator, in a fixed order."""
    states = []
    for layer in network.submodules:
        if isinstance(layer, tf_keras.layers.Dropout):
            generator = layer._random_generator  # tf_keras' BaseRandomLayer keeps it here
            generator._maybe_init()
            states.append(generator._generator.state)
    return states


def fill(network: tf_keras.Model, variables: Mapping[str, tf.Variable]) -> None:
    """Assign the source's variables to `network`'s by name and shape; every source
    variable must find its home and every network variable its value."""
    targets = {v.name.split(":")[0]: v for v in network.weights}
    for name, variable in variables.items():
        target = targets.get(name)
        if target is None:
            raise NotRebuildable(f"variable '{name}' has no home in BertEncoder")
        if tuple(target.shape) != tuple(variable.shape):
            raise NotRebuildable(f"variable '{name}' has shape {tuple(variable.shape)}, BertEncoder's "
                                 f"{tuple(target.shape)}")
    for name, target in targets.items():
        if name not in variables:
            raise NotRebuildable(f"it has no variable {name}, which BertEncoder needs")
        target.assign(variables[name])


def probe_inputs(architecture: Architecture, batch: int = 3, length: int = 12) -> dict[str, tf.Tensor]:
    """Random inputs with padding, for comparing two encoders."""
    length = min(length, architecture.max_positions)
    rng = np.random.default_rng(0)
    mask = np.ones((batch, length), np.int32)
    mask[1:, length // 2:] = 0
    return {"input_word_ids": tf.constant(rng.integers(0, architecture.vocab_size, (batch, length)), tf.int32),
            "input_mask": tf.constant(mask),
            "input_type_ids": tf.constant(rng.integers(0, architecture.type_vocab_size, (batch, length)), tf.int32)}


def difference(outputs: Mapping[str, tf.Tensor], expected: Mapping[str, tf.Tensor]) -> float:
    """The largest |difference| of pooled_output and sequence_output, over unpadded positions too."""
    return max(float(tf.reduce_max(tf.abs(tf.cast(outputs[key], tf.float32) - tf.cast(expected[key], tf.float32))))
               for key in ("pooled_output", "sequence_output"))


def _candidates(hints: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """(activation, epsilon) pairs to try, the hinted epsilon first."""
    epsilons = dict.fromkeys([hints.get("layer_norm_eps", EPSILONS[0]), *EPSILONS])
    for epsilon in epsilons:
        for activation in ACTIVATIONS:
            yield activation, epsilon


def _set_activation(network: tf_keras.Model, activation: str) -> None:
    from official.nlp.modeling import layers as nlp_layers  # Model Garden's modelling code: only to write a copy

    for layer in network.submodules:
        if isinstance(layer, nlp_layers.TransformerEncoderBlock):
            layer._intermediate_activation_layer.activation = ACTIVATIONS[activation]  # Model Garden's name


def matching_architecture(saved: Any, variables: Mapping[str, tf.Variable],
                          hints: Mapping[str, Any]) -> Architecture:
    """The Architecture whose float32 BertEncoder, holding `variables`, computes what the
    loaded SavedModel `saved` computes (within MATCH_TOLERANCE): the shapes from the
    variables, the activation and layer-norm epsilon found by trying the usual ones."""
    architecture = read_shapes(variables, hints)
    try:
        network = build_network(architecture)
    except (ValueError, TypeError) as err:
        raise NotRebuildable(f"BertEncoder cannot be built with its shapes ({str(err).splitlines()[0][:200]})") from None
    fill(network, variables)
    inputs = probe_inputs(architecture)
    try:
        expected = saved(inputs, training=False)
    except (TypeError, ValueError, tf.errors.OpError) as err:
        raise NotRebuildable(f"it cannot be called as a BERT encoder ({str(err).splitlines()[0][:200]})") from None
    closest = None
    for activation, epsilon in _candidates(hints):
        set_layer_norm_epsilon(network, epsilon)
        _set_activation(network, activation)
        gap = difference(network(inputs, training=False), expected)
        if gap <= MATCH_TOLERANCE:
            return dataclasses.replace(architecture, activation=activation, layer_norm_eps=epsilon)
        closest = gap if closest is None else min(closest, gap)
    raise NotRebuildable(f"its outputs differ from BertEncoder's by {closest:.2g} with the same variables "
                         "(another architecture)")


# ------------------------------------------------------------------ the SavedModel


def _saved_module(network: tf_keras.Model, states: list[tf.Variable], saved: Any) -> Any:
    """The object tf.saved_model.save writes: TF Hub's reusable SavedModel interface
    (__call__ with a training argument, variables, trainable_variables,
    regularization_losses) plus the source's tokenizer assets and the dropout states."""
    root = tf.__internal__.tracking.AutoTrackable()  # a plain object: its attributes are what is saved

    @tf.function
    def call(inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, Any]:
        # Inference (validation, evaluation, the export) with the feed-forward layers as fused kernels
        with contextlib.nullcontext() if training else feedforward.fused_feedforward(network):
            outputs = dict(network(inputs, training=training))
        outputs["default"] = outputs["pooled_output"]
        return outputs

    specs = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in FEATURE_NAMES}
    for training in (False, True):
        call.get_concrete_function(specs, training=training)
    root.__call__ = call
    root.trainable_variables = list(network.trainable_weights)
    root.regularization_losses = []
    root.dropout_states = states
    extras = []  # as in TF Hub's exports, do_lower_case is among the variables
    if hasattr(saved, "vocab_file"):
        root.vocab_file = tf.saved_model.Asset(saved.vocab_file.asset_path)
    if hasattr(saved, "do_lower_case"):
        root.do_lower_case = tf.Variable(bool(saved.do_lower_case.numpy()), trainable=False)
        extras.append(root.do_lower_case)
    root.variables = list(network.weights) + states + extras
    return root


def write_copy(source_dir: str | Path, directory: str | Path, precision: str) -> Path:
    """Write the encoder SavedModel at `source_dir` rebuilt as a BertEncoder computing in
    `precision` (a Keras policy: float32, mixed_bfloat16 or mixed_float16) to `directory`.
    Raises NotRebuildable when it does not map."""
    if precision not in POLICIES:
        raise ValueError(f"precision must be one of {', '.join(POLICIES)}, not {precision!r}")
    source_dir, directory = Path(source_dir), Path(directory)
    saved = tf.saved_model.load(str(source_dir))
    variables = source_variables(saved)
    architecture = matching_architecture(saved, variables, read_hints(source_dir))
    network = build_network(architecture, precision)
    fill(network, variables)
    states = dropout_states(network)
    seed_states(states, 0)  # the generators' saved state; seed_dropout sets the run's
    tf.saved_model.save(_saved_module(network, states, saved), str(directory))
    record = {"source": str(source_dir), "precision": precision, "architecture": dataclasses.asdict(architecture)}
    (directory / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return directory


def read_record(directory: str | Path) -> dict[str, Any]:
    """What `write_copy` recorded: source, precision and architecture."""
    return json.loads((Path(directory) / RECORD).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the run's seed


def is_copy(layer: Any) -> bool:
    """Whether a hub.KerasLayer runs a copy written by `write_copy`."""
    return hasattr(getattr(layer, "resolved_object", None), "dropout_states")


def seed_states(states: list[tf.Variable], seed: int) -> None:
    """Set each generator's state from (seed, its index): the same seed, the same masks."""
    for index, state in enumerate(states):
        state.assign(tf.random.create_rng_state(np.array([seed, index], np.int64), "auto_select"))


def seed_dropout(layer: Any, seed: int) -> None:
    """Seed the dropout inside an encoder copy loaded as `layer` (nothing for other encoders)."""
    if is_copy(layer):
        seed_states(list(layer.resolved_object.dropout_states), seed)
