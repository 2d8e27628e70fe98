"""Variant (b): tfbert's default pipeline and model; (b') is the same with jit_compile flipped.

packers.make_packer(config.tokenizer, ...) and input_pipeline.make_dataset(..., padding=config.padding),
model.build_classifier, model.make_optimizer and model.compile_classifier, every config key at
its default unless the command line's --set overrides it. Besides predict over the eval pipeline it times the
run's serving export, as tfbert.predict and tfbert.evaluate use it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .corpus import MAX_SEQ_LENGTH, load_frame
from .timing import TOKENIZE_PASSES, Timer, keras_inference, keras_train, keras_widths, tokenize_summary, width_stats

SHOWN_CONFIG_KEYS = ("tokenizer", "padding", "jit_compile", "mixed_precision", "optimizer", "eval_batch_size")


def build_config(spec: dict, flip_jit: bool):
    """tfbert's config for the benchmark: defaults, the batch sizes and max_seq_length, --set overrides."""
    from tfbert.config import build_config as tfbert_config

    values = {"encoder": spec["encoder"], "train_batch_size": spec["batch_size"], "max_seq_length": MAX_SEQ_LENGTH,
              **spec["overrides"]}
    if spec["eval_batch_size_given"]:
        values["eval_batch_size"] = spec["eval_batch_size"]
    config = tfbert_config(values)
    return config.replace(jit_compile=not config.jit_compile) if flip_jit else config


def serving_inference(classifier, packer, label_map, batch_size: int, texts) -> dict:
    """Texts per second through the run's serving export, as tfbert.predict and tfbert.evaluate run it."""
    from tfbert import export
    from tfbert.predictor import Predictor

    with tempfile.TemporaryDirectory(prefix="tfbert-bench-export-") as folder:
        directory = export.save_serving_model(classifier, packer, label_map, 0.5, Path(folder) / "export",
                                              with_pairs=False)
        serving = export.load_serving_model(directory)
        predictor = Predictor(serving, batch_size)
        predictor.serve(texts[:batch_size])  # warm-up
        timer = Timer()
        _, probabilities = predictor.serve(texts)
        seconds = timer.seconds
    assert len(probabilities) == len(texts)
    return {"predict_ex_per_s": len(texts) / seconds}


def run(spec: dict, flip_jit: bool = False) -> dict:
    """Tokenization, training, inference and serving figures of tfbert's pipeline."""
    import tfbert  # noqa: F401  (Keras 2 before TensorFlow)
    # isort: split
    import tf_keras

    from tfbert import data, input_pipeline, encoders, model, packers, training

    config = build_config(spec, flip_jit)
    tf_keras.utils.set_random_seed(spec["seed"])
    frame, _ = load_frame(spec["data"], spec["limit"], spec["seed"])
    label_map = data.build_label_map(frame["label"].tolist(), None, False)
    split = data.Split("train", frame["sentence"].to_numpy(dtype=object), None,
                       label_map.encode(frame["label"].tolist(), "benchmark"))
    encoder = encoders.load_encoder(config.encoder, trainable=config.trainable)
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoder)
    packer = packers.make_packer(config.tokenizer, vocab_file, do_lower_case, config.max_seq_length)

    def train_batches():
        return input_pipeline.make_dataset(split, packer, config.train_batch_size, shuffle=True, seed=spec["seed"],
                                     padding=config.padding)

    settings = config.to_dict()
    result = {"config": {key: settings[key] for key in SHOWN_CONFIG_KEYS if key in settings}}
    # A pass takes about a second, too short for tf.data's autotuning to settle every time: the median of a few.
    passes = [keras_widths(train_batches()) for _ in range(TOKENIZE_PASSES)]
    examples, _, widths = passes[0]
    result |= tokenize_summary(examples, [seconds for _, seconds, _ in passes])

    model.set_precision(config.mixed_precision)
    classifier = model.build_classifier(encoder, label_map, config.dropout)
    training.compile_for(config, classifier, label_map, spec["warmup"] + spec["steps"])
    result |= keras_train(classifier, train_batches(), spec, config.train_batch_size)
    result |= width_stats(widths[: spec["warmup"] + spec["steps"]], spec["real_tokens"])

    n = spec["infer_examples"]
    infer_split = split.rows(input_pipeline.length_order(split.texts[:n]))  # the first n, as tfbert.train's final evaluation
    eval_padding = "max" if config.padding == "max" else "batch"
    infer = input_pipeline.make_dataset(infer_split, packer, config.eval_batch_size, padding=eval_padding)
    result |= keras_inference(classifier, infer, n)
    serving_packer = packers.make_packer("tf_text", vocab_file, do_lower_case, config.max_seq_length)
    return result | serving_inference(classifier, serving_packer, label_map, config.eval_batch_size, split.texts[:n])
