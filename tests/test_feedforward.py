"""A BERT block's feed-forward layers as fused kernels in inference (tfbert.feedforward)."""

from __future__ import annotations

import collections
import glob
from pathlib import Path

import numpy as np
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

from tfbert import encoder_copy, encoders, feedforward

from conftest import graph_product_dtypes

SHAPES = dict(vocab_size=30, hidden_size=8, num_layers=2, num_heads=2, inner_dim=16, max_positions=16, type_vocab_size=2,
              embedding_width=8)
ACTIVATION_OPS = {"gelu": "Erfc", "gelu_tanh": "Tanh", "relu": "Relu"}  # the op each activation runs as on its own


def _network(activation: str, policy: str = "float32") -> tuple[tf_keras.Model, dict[str, tf.Tensor]]:
    """A small BertEncoder under `policy` and padded inputs for it (encoder_copy's probe batch)."""
    architecture = encoder_copy.Architecture(**SHAPES, activation=activation)
    return encoder_copy.build_network(architecture, policy), encoder_copy.probe_inputs(architecture)


def _op_count(graph: tf.Graph, op_type: str) -> int:
    return [op.type for op in graph.get_operations()].count(op_type)


def _kernels(function, tmp_path) -> collections.Counter:
    """The kernels TensorFlow runs for one call of `function` (after a first call), by name, from its profiler."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    function()
    tf.profiler.experimental.start(str(tmp_path))
    function()
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(glob.glob(f"{tmp_path}/**/*.xplane.pb", recursive=True)[0]).read_bytes())
    return collections.Counter(plane.event_metadata[event.metadata_id].display_name for plane in space.planes
                               for line in plane.lines if line.name.startswith("tf_Compute") for event in line.events)


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh", "relu"])
def test_inference_computes_what_the_layers_compute_and_leaves_them_as_they_were(activation):
    network, inputs = _network(activation)
    weights, layers = [weight.name for weight in network.weights], list(network.submodules)
    eager = network(inputs, training=False)["pooled_output"].numpy()
    plain = tf.function(lambda: network(inputs, training=False))
    with feedforward.fused_feedforward(network) as count:
        fused = tf.function(lambda: network(inputs, training=False))
        graph = fused.get_concrete_function().graph
    assert count == 4  # two blocks, two feed-forward layers each
    plain_graph = plain.get_concrete_function().graph
    assert _op_count(graph, "Einsum") == _op_count(plain_graph, "Einsum") - 4
    assert _op_count(graph, "BiasAdd") == _op_count(plain_graph, "BiasAdd") + 4
    assert encoder_copy.difference(fused(), plain()) <= 1e-6  # sequence_output and pooled_output
    assert [weight.name for weight in network.weights] == weights and list(network.submodules) == layers
    assert all(isinstance(block._intermediate_dense, tf_keras.layers.EinsumDense)
               and isinstance(block._intermediate_activation_layer, tf_keras.layers.Activation)
               for block in network.submodules if hasattr(block, "_intermediate_dense"))  # put back
    np.testing.assert_array_equal(network(inputs, training=False)["pooled_output"], eager)


def test_in_mixed_bfloat16_the_fused_layers_compute_in_bfloat16_within_its_rounding():
    network, inputs = _network("gelu", "mixed_bfloat16")
    plain = network(inputs, training=False)["sequence_output"]
    with feedforward.fused_feedforward(network):
        fused = tf.function(lambda: network(inputs, training=False)["sequence_output"])
        graph = fused.get_concrete_function().graph
    assert graph_product_dtypes(graph) == {"bfloat16"}
    assert 0 < np.abs(fused().numpy() - plain.numpy()).max() <= 0.05  # the activation now in bfloat16, not float32


def test_a_layer_that_is_not_a_biased_dense_over_rows_is_left_alone():
    network, _ = _network("gelu")
    block = next(layer for layer in network.submodules if hasattr(layer, "_intermediate_dense"))
    block._output_dense.bias = None  # as a layer built without bias_axes
    with feedforward.fused_feedforward(network) as count:
        assert count == 2 and isinstance(block._intermediate_dense, tf_keras.layers.EinsumDense)


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_each_layer_runs_as_one_kernel_with_its_activation_inside(activation, tmp_path):
    network, inputs = _network(activation)
    plain = tf.function(lambda: network(inputs, training=False)["pooled_output"])
    with feedforward.fused_feedforward(network):
        fused = tf.function(lambda: network(inputs, training=False)["pooled_output"])
        fused.get_concrete_function()
    before, after = _kernels(plain, tmp_path / "plain"), _kernels(fused, tmp_path / "fused")
    einsums = [sum(count for name, count in kernels.items() if "Einsum" in name) for kernels in (before, after)]
    assert einsums[1] == einsums[0] - 4
    assert any(ACTIVATION_OPS[activation] in name for name in before)
    assert not any(ACTIVATION_OPS[activation] in name for name in after)  # inside the matrix product's kernel


@pytest.mark.slow
def test_a_copy_infers_with_the_fused_layers_and_trains_with_model_gardens(tiny_encoder, tmp_path):
    """The copy tfbert trains: its inference function (validation, evaluation, the export) runs the fused
    layers, its training function Model Garden's, the activation a kernel of its own (and its gradient's input)."""
    path = encoders.trained_copy(tiny_encoder, "float32")
    architecture = encoder_copy.Architecture(**encoder_copy.read_record(path)["architecture"])
    copy, inputs = tf.saved_model.load(str(path)), encoder_copy.probe_inputs(architecture)
    inference = _kernels(lambda: copy(inputs, training=False), tmp_path / "inference")
    training = _kernels(lambda: copy(inputs, training=True), tmp_path / "training")
    activation = ACTIVATION_OPS[architecture.activation]
    assert any(activation in name for name in training) and not any(activation in name for name in inference)
