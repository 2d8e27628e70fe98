"""The classifier: BERT inputs → TF Hub encoder → dropout → a head that fits the task.

binary      Dense(1, sigmoid), binary cross-entropy (the report's head)
multiclass  Dense(n, softmax), sparse categorical cross-entropy
multilabel  Dense(n, sigmoid), binary cross-entropy over each label

With `accumulation_steps` N > 1 the classifier is an `AccumulatingClassifier`: each
training step runs its batch as N micro-batches, one after another, and applies their
gradients once, so a step takes about 1/N of the activation memory and trains as the
whole batch would (tf_keras has no gradient accumulation of its own). Built under a
distribution strategy with more than one replica it is one too (with N = 1 if not set): its
step weighs each example of a global batch as one device does, however the batch splits
over the replicas (tf_keras averages the replicas' own means, so a short last batch cut
8 + 1 would count its one row eight times over).

>>> import numpy as np, tf_keras
>>> from tfbert.model import AccumulatingClassifier
>>> inputs = tf_keras.Input(shape=(2,))
>>> model = AccumulatingClassifier(inputs, tf_keras.layers.Dense(1)(inputs), accumulation_steps=4)
>>> model.compile("sgd", "mse")
>>> model.fit(np.ones((8, 2)), np.ones(8), batch_size=8, verbose=0).history["loss"] != []
True
"""

from __future__ import annotations

import uuid

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras
from official.nlp import optimization

from tfbert.data.labels import LabelMap
from tfbert.packers import FEATURE_NAMES, WINDOW_COUNTS


def bert_inputs() -> dict[str, tf_keras.Input]:
    """The three int32 [batch, seq] inputs; seq is left open so batches may be shorter."""
    return {name: tf_keras.Input(shape=(None,), dtype=tf.int32, name=name) for name in FEATURE_NAMES}


def classification_head(label_map: LabelMap) -> tf_keras.layers.Dense:
    """The task's output layer; float32 even under mixed precision, for a stable loss."""
    if label_map.task == "multiclass":
        return tf_keras.layers.Dense(label_map.num_labels, activation="softmax", name="output", dtype="float32")
    units = 1 if label_map.task == "binary" else label_map.num_labels
    return tf_keras.layers.Dense(units, activation="sigmoid", name="output", dtype="float32")


def set_precision(policy: str | None) -> None:
    """Keras' global dtype policy for the layers built next (None: float32).

    Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer at compile
    time. The encoder runs the graph its SavedModel was traced in: tfbert's copy of it
    (encoder_copy) is traced in the run's policy, an encoder loaded as saved keeps its own.
    """
    tf_keras.mixed_precision.set_global_policy(policy or "float32")


@tf_keras.utils.register_keras_serializable(package="tfbert")
class DocumentPooling(tf_keras.layers.Layer):
    """long_texts windows: the encoder's vectors of all a batch's windows [windows, hidden]
    and each document's window count [documents] -> one vector a document [documents, hidden],
    a document's windows being consecutive rows. mode "mean" averages them; "attention"
    weighs them by a softmax, over the document's windows, of a learned score. Rows past
    the counts' sum (padding max's zero windows) are ignored. float32, like the head.

    >>> import tensorflow as tf
    >>> from tfbert.model import DocumentPooling
    >>> DocumentPooling()([tf.constant([[1.0], [3.0], [5.0]]), tf.constant([2, 1])]).numpy().tolist()
    [[2.0], [5.0]]
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.mode = mode
        self.score = tf_keras.layers.Dense(1, name="score", dtype="float32") if mode == "attention" else None

    def call(self, inputs):
        vectors, counts = inputs
        documents = tf.shape(counts)[0]
        # each window's document; padding windows past the last get `documents`, a segment then dropped
        segment = tf.searchsorted(tf.cumsum(counts), tf.range(tf.shape(vectors)[0], dtype=counts.dtype), side="right")
        if self.score is None:
            return tf.math.unsorted_segment_mean(vectors, segment, documents + 1)[:documents]
        score = self.score(vectors)[:, 0]
        score = tf.exp(score - tf.gather(tf.math.unsorted_segment_max(score, segment, documents + 1), segment))
        weight = score / tf.gather(tf.math.unsorted_segment_sum(score, segment, documents + 1), segment)
        return tf.math.unsorted_segment_sum(vectors * weight[:, None], segment, documents + 1)[:documents]

    def get_config(self) -> dict:
        return super().get_config() | {"mode": self.mode}


def build_classifier(encoder: hub.KerasLayer, label_map: LabelMap, dropout: float,
                     accumulation_steps: int = 1, window_pooling: str | None = None) -> tf_keras.Model:
    """The report's model: pooled_output of the encoder, dropout, then the task's head;
    an `AccumulatingClassifier` when `accumulation_steps` > 1 or when it is built in the scope
    of a strategy with more than one replica. With `window_pooling`
    (long_texts windows) the encoder runs over every window and `DocumentPooling` makes
    one vector a document before the dropout: one output row a document."""
    inputs = bert_inputs()
    pooled = encoder(inputs)["pooled_output"]
    if window_pooling is not None:
        inputs[WINDOW_COUNTS] = tf_keras.Input(shape=(), dtype=tf.int32, name=WINDOW_COUNTS)
        pooled = DocumentPooling(window_pooling, name="document_pooling")([pooled, inputs[WINDOW_COUNTS]])
    dropped = tf_keras.layers.Dropout(dropout, name="dropout")(pooled)
    outputs = classification_head(label_map)(dropped)
    if accumulation_steps > 1 or tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return AccumulatingClassifier(inputs, outputs, name="bert_classifier", accumulation_steps=accumulation_steps)
    return tf_keras.Model(inputs=inputs, outputs=outputs, name="bert_classifier")


class AccumulatingClassifier(tf_keras.Model):
    """A functional model whose training step splits each (per-replica) batch into
    `accumulation_steps` micro-batches of ceil(batch / N) rows, runs them one after
    another (a while loop, so only one micro-batch's activations are alive), and applies
    the sum of their gradients once. Each micro-batch's loss is weighted by its share of
    the global batch's rows (all replicas'), so the sum over micro-batches and replicas is
    the global batch's mean-loss gradient, as on one device: sample weights (class_weight)
    and a shorter last batch, however it splits over the replicas, included. Under
    mixed_float16 each micro-batch's loss is scaled by the LossScaleOptimizer and the sum
    unscaled once, before it is applied.

    Only training differs: evaluation and prediction are the functional model's, and
    `functional_view` gives the plain model over the same layers, for saving."""

    def __init__(self, *args, accumulation_steps: int, **kwargs):
        super().__init__(*args, **kwargs)
        if accumulation_steps < 1:
            raise ValueError(f"accumulation_steps must be >= 1, not {accumulation_steps}")
        self.accumulation_steps = accumulation_steps

    def train_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        counts = x.get(WINDOW_COUNTS) if isinstance(x, dict) else None  # long_texts windows: rows are documents
        rows = tf.shape(tf.nest.flatten(x)[0] if counts is None else counts)[0]
        # tf_keras divides each replica's mean loss by the replicas in sync; a micro-batch's
        # weight undoes that and counts its rows among the global batch's.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_rows = tf.distribute.get_replica_context().all_reduce("sum", tf.cast(rows, tf.float32))
        variables = self.trainable_variables

        def gradients(x_k, y_k, weight_k):
            with tf.GradientTape() as tape:
                y_pred = self(x_k, training=True)
                loss = self.compute_loss(x_k, y_k, y_pred, weight_k)
                share = tf.math.divide_no_nan(tf.cast(tf.shape(y_pred)[0] * replicas, tf.float32), global_rows)
                loss = self._scaled(loss * tf.cast(share, loss.dtype))
            # compute_metrics' update without its result(), which a replica may not call inside a loop:
            # the metrics sum over the micro-batches as over their batch.
            self.compiled_metrics.update_state(y_k, y_pred, weight_k)
            return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        if self.accumulation_steps == 1:
            sums = gradients(x, y, sample_weight)
        else:
            micro = tf.maximum((rows + self.accumulation_steps - 1) // self.accumulation_steps, 1)

            def step(index, sums):
                grads = gradients(*_micro_batch((x, y, sample_weight), counts, index * micro,
                                                tf.minimum((index + 1) * micro, rows)))
                return index + 1, [total + tf.convert_to_tensor(grad) for total, grad in zip(sums, grads)]

            steps = (rows + micro - 1) // micro
            sums = [tf.zeros(variable.shape, variable.dtype) for variable in variables]
            _, sums = tf.while_loop(lambda index, _: index < steps, step, (tf.constant(0), sums),
                                    parallel_iterations=1)  # one micro-batch at a time: the memory saved
        if isinstance(self.optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
            sums = self.optimizer.get_unscaled_gradients(sums)
        self.optimizer.apply_gradients(zip(sums, variables))
        return self.get_metrics_result()

    def _scaled(self, loss: tf.Tensor) -> tf.Tensor:
        if isinstance(self.optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
            return self.optimizer.get_scaled_loss(loss)
        return loss

    def get_config(self) -> dict:
        return super().get_config() | {"accumulation_steps": self.accumulation_steps}


def _micro_batch(data, counts: tf.Tensor | None, start: tf.Tensor, stop: tf.Tensor):
    """Rows start..stop of (x, y, sample_weight); with window `counts`, documents start..stop:
    their windows are the feature rows between the counts' running sums."""
    pieces = tf.nest.map_structure(lambda tensor: None if tensor is None else tensor[start:stop], data)
    if counts is None:
        return pieces
    splits = tf.concat([[0], tf.cumsum(counts)], axis=0)
    x = {name: pieces[0][name] if name == WINDOW_COUNTS else tensor[splits[start]:splits[stop]]
         for name, tensor in data[0].items()}
    return x, *pieces[1:]


def functional_view(classifier: tf_keras.Model) -> tf_keras.Model:
    """`classifier` as a plain functional tf_keras.Model over the same layers and weights
    (an AccumulatingClassifier trains differently, but is saved, reloaded and served as
    the plain model, with no custom class to register)."""
    return layers_only(classifier) if isinstance(classifier, AccumulatingClassifier) else classifier


def layers_only(classifier: tf_keras.Model) -> tf_keras.Model:
    """A functional model over `classifier`'s layers and nothing else: its checkpoint holds
    the layers' weights without the optimizer's state (a third the size with Adam)."""
    return tf_keras.Model(inputs=classifier.inputs, outputs=classifier.outputs, name=classifier.name)


def copy_weights(source: tf_keras.Model, target: tf_keras.Model) -> None:
    """Give `target`, the same layers built again (as the float32 copy of a mixed-precision
    classifier is), `source`'s weights: through a checkpoint in TensorFlow's in-memory ram://
    filesystem, so that variables are matched by where they sit, as a checkpoint on disk
    would be (two SavedModels of one encoder name some variables differently)."""
    folder = f"ram://tfbert-weights-{uuid.uuid4().hex}"
    try:
        layers_only(source).save_weights(f"{folder}/weights")
        target.load_weights(f"{folder}/weights").expect_partial()
    finally:
        tf.io.gfile.rmtree(folder)


def loss_and_metrics(label_map: LabelMap) -> tuple[tf_keras.losses.Loss, list[tf_keras.metrics.Metric]]:
    """The loss and Keras metrics for the task (the report's four for binary)."""
    if label_map.task == "binary":
        return tf_keras.losses.BinaryCrossentropy(), [
            tf_keras.metrics.BinaryAccuracy(name="accuracy"),
            tf_keras.metrics.PrecisionAtRecall(0.5, name="precision_at_recall_0.5"),
            tf_keras.metrics.Precision(name="precision"),
            tf_keras.metrics.Recall(name="recall"),
        ]
    if label_map.task == "multiclass":
        return tf_keras.losses.SparseCategoricalCrossentropy(), [
            tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        ]
    return tf_keras.losses.BinaryCrossentropy(), [
        tf_keras.metrics.BinaryAccuracy(name="accuracy"),
        tf_keras.metrics.Precision(name="precision"),
        tf_keras.metrics.Recall(name="recall"),
    ]


class FusedAdam(tf_keras.optimizers.Adam):
    """tf_keras' Adam, each weight updated by TensorFlow's fused Adam kernel (ResourceApplyAdam,
    the update legacy Adam runs) instead of the half-dozen elementwise ops Keras builds per
    weight on a CPU (it fuses them with XLA on a GPU only). The same rule, moments and
    checkpoint; a step traces and runs one op per weight. A sparse gradient (the word
    embeddings') is made dense first: Keras sums its repeated rows before the update, and
    both forms decay the moments of the rows a batch did not touch.

    >>> import tensorflow as tf
    >>> from tfbert.model import FusedAdam
    >>> weight = tf.Variable([1.0, -1.0])
    >>> _ = FusedAdam(learning_rate=0.1).apply_gradients([(tf.constant([0.5, -2.0]), weight)])
    >>> [round(float(value), 4) for value in weight.numpy()]  # a first step moves each weight by the rate
    [0.9, -0.9]
    """

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        # A step's scalars (the rate, the betas and their powers) are made once a step and dtype,
        # not once a weight: a step traces a handful of scalar ops instead of a dozen per weight.
        # (With jit_compile each weight's update is its own function, which makes its own.)
        # object.__setattr__: a dict set on a Keras optimizer would be tracked into its checkpoints.
        object.__setattr__(self, "_step_scalars", None if self.jit_compile else {})
        try:
            return super()._distributed_apply_gradients_fn(distribution, grads_and_vars, **kwargs)
        finally:
            object.__setattr__(self, "_step_scalars", None)

    def _scalars(self, dtype: tf.DType) -> dict[str, tf.Tensor]:
        """ResourceApplyAdam's scalar arguments in `dtype` for this step."""
        made = getattr(self, "_step_scalars", None)
        if made is not None and dtype in made:
            return made[dtype]
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        scalars = {"beta1_power": tf.pow(beta_1, step), "beta2_power": tf.pow(beta_2, step),
                   "lr": tf.cast(self.learning_rate, dtype), "beta1": beta_1, "beta2": beta_2,
                   "epsilon": tf.cast(self.epsilon, dtype)}
        if made is not None:
            made[dtype] = scalars
        return scalars

    def update_step(self, gradient, variable):
        if self.amsgrad or self.adaptive_epsilon:
            return super().update_step(gradient, variable)
        index = self._index_dict[self._var_key(variable)]
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            grad=tf.convert_to_tensor(gradient), use_locking=False, **self._scalars(variable.dtype))


class AdamWeightDecay(optimization.AdamWeightDecay):
    """Model Garden's AdamW (BERT's recipe), its arithmetic done in fewer passes over the
    weights: a sparse gradient (the word embeddings') is made dense, so TensorFlow's fused
    Adam kernel updates that table in one pass instead of legacy Adam's half-dozen (rows
    a batch did not touch decay their moments in both), and the decoupled weight decay is
    one multiply, var * (1 - lr * weight_decay), instead of two multiplies and a
    subtraction. Clipping then takes the norm of the summed gradient, as PyTorch does,
    where the sparse form counted a token's repeats apart."""

    def apply_gradients(self, grads_and_vars, name=None, experimental_aggregate_gradients=True):
        dense = [(tf.convert_to_tensor(grad) if isinstance(grad, tf.IndexedSlices) else grad, var)
                 for grad, var in grads_and_vars]
        return super().apply_gradients(dense, name, experimental_aggregate_gradients)

    def _decay_weights_op(self, var, learning_rate, apply_state):
        if not self._do_use_weight_decay(var.name):
            return tf.no_op()
        rate = apply_state[(var.device, var.dtype.base_dtype)]["weight_decay_rate"]
        return var.assign(var * (1.0 - learning_rate * rate), use_locking=self._use_locking)


def make_optimizer(name: str, learning_rate: float, num_train_steps: int, warmup_fraction: float = 0.1,
                   weight_decay: float = 0.01) -> tf_keras.optimizers.Optimizer:
    """adam: constant-rate Adam (`FusedAdam`). adamw: BERT's recipe as Model Garden's create_optimizer
    sets it up (AdamW with linear warm-up over `warmup_fraction` of the steps, then linear
    decay, gradients clipped at global norm 1), run by `AdamWeightDecay` above.

    >>> from tfbert.model import make_optimizer
    >>> make_optimizer("adamw", 5e-5, num_train_steps=100).weight_decay_rate
    0.01
    """
    if name == "adam":
        return FusedAdam(learning_rate=learning_rate)
    created = optimization.create_optimizer(
        init_lr=learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=int(warmup_fraction * num_train_steps),
        optimizer_type="adamw",
    )
    settings = created.get_config()
    return AdamWeightDecay(  # create_optimizer's settings, with the weight decay asked for (it fixes 0.01)
        learning_rate=created.learning_rate, beta_1=settings["beta_1"], beta_2=settings["beta_2"],
        epsilon=settings["epsilon"], weight_decay_rate=weight_decay, gradient_clip_norm=created.gradient_clip_norm,
        exclude_from_weight_decay=created._exclude_from_weight_decay)


def compile_classifier(model: tf_keras.Model, label_map: LabelMap, optimizer: tf_keras.optimizers.Optimizer,
                       jit_compile: bool = False) -> None:
    """Compile with the task's loss and metrics (`loss_and_metrics`)."""
    loss, metrics = loss_and_metrics(label_map)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile)
