"""A BERT block's feed-forward layers written for inference as TensorFlow fuses them on a CPU.

Model Garden's TransformerEncoderBlock runs each feed-forward layer as an EinsumDense (an
einsum, then the bias as an add) and the intermediate activation as a layer of its own,
in float32 under mixed_bfloat16: on the block's widest tensor, casts and half a dozen
elementwise kernels (the exact GELU is Neg, Mul, Erfc, Mul, Mul), each a pass over memory.
Written as MatMul and BiasAdd over 2-D rows, with the activation after them, grappler's
remapper (with oneDNN) runs each layer as one kernel, the activation computed inside it.
`fused_feedforward` writes them so while a function is traced for inference; the layers and
their weights stay as they are, and training traces them as Model Garden writes them.

>>> import tensorflow as tf
>>> from tfbert import encoder_copy, feedforward, packers
>>> network = encoder_copy.build_network(encoder_copy.Architecture(
...     vocab_size=30, hidden_size=8, num_layers=2, num_heads=2, inner_dim=16, max_positions=16,
...     type_vocab_size=2, embedding_width=8, activation="gelu"))
>>> inputs = {name: tf.ones([2, 5], tf.int32) for name in packers.FEATURE_NAMES}
>>> plain = tf.function(lambda: network(inputs, training=False)["pooled_output"])
>>> with feedforward.fused_feedforward(network) as layers:
...     fused = tf.function(lambda: network(inputs, training=False)["pooled_output"])
...     graph = fused.get_concrete_function().graph
>>> layers  # two blocks, two feed-forward layers each
4
>>> [op.type for op in graph.get_operations()].count("BiasAdd")  # the pooler's, then one a layer
5
>>> float(tf.reduce_max(tf.abs(fused() - plain()))) < 1e-6
True
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tf_keras

ROWS_EQUATION = "abc,cd->abd"  # EinsumDense over [batch, sequence, features]: a MatMul over its rows
# Model Garden's names for a block's feed-forward layers: (the dense layer, the activation layer after it or None)
FEED_FORWARD = (("_intermediate_dense", "_intermediate_activation_layer"), ("_output_dense", None))


def _as_matmul(dense: tf_keras.layers.EinsumDense,
               activation: Callable[[tf.Tensor], tf.Tensor] | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """`dense` then `activation` over [batch, sequence, features], as MatMul, BiasAdd and the
    activation over the rows, computed in dense's compute dtype."""
    units = dense.kernel.shape[-1]

    def call(inputs: tf.Tensor) -> tf.Tensor:
        dtype = dense.compute_dtype
        rows = tf.reshape(tf.cast(inputs, dtype), [-1, inputs.shape[-1]])
        outputs = tf.nn.bias_add(tf.matmul(rows, tf.cast(dense.kernel, dtype)), tf.cast(dense.bias, dtype))
        if activation is not None:
            outputs = activation(outputs)
        shape = tf.shape(inputs)
        return tf.reshape(outputs, [shape[0], shape[1], units])

    return call


def _identity(inputs: tf.Tensor) -> tf.Tensor:
    return inputs


def _swaps(block: Any) -> list[tuple[str, Any]]:
    """(attribute, new value) pairs that write `block`'s feed-forward layers as MatMuls;
    none when a layer is not a biased EinsumDense over rows or its activation not a layer."""
    swaps: list[tuple[str, Any]] = []
    for dense_name, activation_name in FEED_FORWARD:
        dense = getattr(block, dense_name, None)
        activation = getattr(block, activation_name, None) if activation_name else None
        if (not isinstance(dense, tf_keras.layers.EinsumDense) or dense.equation != ROWS_EQUATION or dense.bias is None
                or (activation_name and not isinstance(activation, tf_keras.layers.Activation))):
            return []
        swaps.append((dense_name, _as_matmul(dense, activation.activation if activation_name else None)))
        if activation_name:
            swaps.append((activation_name, _identity))
    return swaps


@contextlib.contextmanager
def fused_feedforward(network: tf_keras.Model) -> Iterator[int]:
    """Inside, every TransformerEncoderBlock of `network` computes its feed-forward layers as
    MatMul, BiasAdd and activation (trace inference functions here); gives how many layers.

    The swap bypasses Keras' attribute tracking (object.__setattr__), so the network's
    weights, their order and its checkpoints do not change, and it is undone on the way out."""
    swapped: list[tuple[Any, str, Any]] = []
    try:
        for block in network.submodules:
            for name, value in _swaps(block):
                swapped.append((block, name, getattr(block, name)))
                object.__setattr__(block, name, value)
        yield sum(1 for _, name, _ in swapped if name.endswith("_dense"))
    finally:
        for block, name, value in reversed(swapped):
            object.__setattr__(block, name, value)
