"""Variant (a): the per-example pipeline, one tf.py_function per example, every example padded to 128.

tf.data calls classifier_data_lib.convert_single_example (FullTokenizer, in Python) once per
example, shuffles 1,000 examples, batches, and feeds tfbert's model.build_classifier over a
hub.KerasLayer compiled with Adam(2e-5), binary cross-entropy and four metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

from .corpus import MAX_SEQ_LENGTH, load_frame
from .timing import keras_inference, keras_train, keras_widths, tokenize_summary, width_stats

SHUFFLE_BUFFER = 1000
LABELS = [0, 1]


def per_example_dataset(texts: Sequence[str], labels: Sequence[int], tokenizer, batch_size: int,
                        shuffle_seed: int | None = None, max_seq_length: int = MAX_SEQ_LENGTH):
    """Batches of (features, label) made by one py_function call per example; shuffled when shuffle_seed is given.

    Labels must be 0 or 1; the last partial batch is dropped.
    """
    import tensorflow as tf
    from official.nlp.data import classifier_data_lib

    def convert(text, label):
        example = classifier_data_lib.InputExample(guid=None, text_a=text.numpy(), text_b=None, label=label.numpy())
        feature = classifier_data_lib.convert_single_example(0, example, LABELS, max_seq_length, tokenizer)
        return feature.input_ids, feature.input_mask, feature.segment_ids, feature.label_id

    def to_features(text, label):
        ids, mask, types, label_id = tf.py_function(convert, inp=[text, label], Tout=[tf.int32] * 4)
        for tensor in (ids, mask, types):
            tensor.set_shape([max_seq_length])
        label_id.set_shape([])
        return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}, label_id

    with tf.device("/cpu:0"):
        dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
        dataset = dataset.map(to_features, num_parallel_calls=tf.data.AUTOTUNE)
        if shuffle_seed is not None:
            dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=shuffle_seed)
        return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def build_model(encoder):
    """tfbert's classifier over the hub layer, compiled with Adam(2e-5), binary cross-entropy and four metrics."""
    import tf_keras

    from tfbert import data, model

    classifier = model.build_classifier(encoder, data.build_label_map(LABELS, None, False), dropout=0.5)
    classifier.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate=2e-5), loss=tf_keras.losses.BinaryCrossentropy(),
        metrics=[tf_keras.metrics.BinaryAccuracy(), tf_keras.metrics.PrecisionAtRecall(0.5),
                 tf_keras.metrics.Precision(), tf_keras.metrics.Recall()])
    return classifier


def run(spec: dict) -> dict:
    """Tokenization, training and inference figures of the per-example pipeline."""
    import tfbert  # noqa: F401  (Keras 2 before TensorFlow)
    # isort: split
    import tensorflow_hub as hub
    import tf_keras
    from official.nlp.tools import tokenization

    from tfbert import encoders

    tf_keras.utils.set_random_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    texts, labels = frame["sentence"].to_numpy(), frame["label"].to_numpy()
    batch_size, seed = spec["batch_size"], spec["seed"]
    # The hub layer, and the tokenizer from the assets it carries.
    encoder = hub.KerasLayer(encoders.resolve_handle(spec["encoder"]), trainable=True, name="encoder")
    tokenizer = tokenization.FullTokenizer(encoder.resolved_object.vocab_file.asset_path.numpy(),
                                           encoder.resolved_object.do_lower_case.numpy())

    examples, seconds, widths = keras_widths(per_example_dataset(texts, labels, tokenizer, batch_size, seed))
    result = tokenize_summary(examples, [seconds])
    classifier = build_model(encoder)
    result |= keras_train(classifier, per_example_dataset(texts, labels, tokenizer, batch_size, seed), spec, batch_size)
    result |= width_stats(widths[: spec["warmup"] + spec["steps"]], spec["real_tokens"])

    n = spec["infer_examples"] - spec["infer_examples"] % spec["eval_batch_size"]  # partial batches are dropped
    infer = per_example_dataset(texts[:n], labels[:n], tokenizer, spec["eval_batch_size"])
    return result | keras_inference(classifier, infer, n)
