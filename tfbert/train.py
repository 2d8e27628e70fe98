"""The main job: fine-tune a BERT encoder on a labelled file and write a run directory.

    python -m tfbert.train --config configs/tiny.yaml [--key=value | --key value ...]

Steps: read and split the data, load the encoder and its tokenizer, build the
classifier, model.fit with the usual Keras callbacks, evaluate on the validation
(and test) split, save the model, then move the finished run directory into place.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert import data, encoders, evaluate, export, features, model, plots, tracking
from tfbert.config import Config, dump_config, load_config
from tfbert.errors import ArgumentParser, TfbertError, run_command

SPLIT_TITLES = {"valid": "validation", "test": "test"}


@dataclasses.dataclass(frozen=True)
class RunResult:
    run_dir: Path
    metrics: dict[str, dict[str, float]]  # split title -> metrics
    model: tf_keras.Model  # the trained classifier, as saved in run_dir/model


def default_run_name(config: Config) -> str:
    return f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def class_weights(config: Config, labels: np.ndarray, label_map: data.LabelMap) -> dict[int, float] | None:
    """Keras' class_weight mapping (label id -> weight) for the configured class_weight."""
    if config.class_weight is None:
        return None
    if label_map.task == "multilabel":
        raise TfbertError("class_weight is not supported for multi-label data; set class_weight: null")
    if config.class_weight == "balanced":
        present = np.unique(labels)
        if len(present) < label_map.num_labels:
            raise TfbertError("class_weight: balanced needs every label in the training split")
        weights = compute_class_weight("balanced", classes=present, y=labels)
        return {int(i): float(w) for i, w in zip(present, weights)}
    ids = {str(label): i for i, label in enumerate(label_map.labels)}
    unknown = [label for label in config.class_weight if str(label) not in ids]
    if unknown:
        raise TfbertError(f"class_weight names labels that are not in the data: {unknown}; labels are {list(label_map.labels)}")
    weights = {i: 1.0 for i in range(label_map.num_labels)}
    weights.update({ids[str(label)]: weight for label, weight in config.class_weight.items()})
    return weights


def training_callbacks(run_dir: Path, checkpoint: Path, patience: int) -> list[tf_keras.callbacks.Callback]:
    """Best-on-validation-loss checkpoint, early stopping, NaN guard and CSV history."""
    callbacks = [
        tf_keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True,
                                           save_weights_only=True),
        tf_keras.callbacks.TerminateOnNaN(),
        tf_keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    if patience > 0:
        callbacks.append(tf_keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                          restore_best_weights=True))
    return callbacks


def _check_finite(history: tf_keras.callbacks.History) -> None:
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TfbertError("training diverged (the loss became NaN); lower learning_rate and try again")


def _curves_and_data_plots(run_dir: Path, stats: dict, splits: dict[str, data.Split]) -> dict[str, Path]:
    """Training curves and the report's data plots, as PNGs."""
    folder = run_dir / "plots"
    history = pd.read_csv(run_dir / "history.csv")
    curves = {"training_curves": plots.save(plots.training_curves(history, "accuracy"), folder / "training_curves.png")}
    return curves | plots.save_data_plots(folder, stats, {name: split.texts for name, split in splits.items()})


def train(config: Config) -> RunResult:
    """Run the whole job for `config`; returns the finished run directory, metrics and model."""
    config = config.replace(run_name=config.run_name or default_run_name(config))
    tracker, config = tracking.start(config)  # a sweep agent's values arrive here
    try:
        result = _train(config, tracker)
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    tracker.finish()
    return result


def _train(config: Config, tracker: tracking.Tracker) -> RunResult:
    splits, label_map = data.load_splits(config)
    encoder = encoders.load_encoder(config.encoder, trainable=config.trainable)
    vocab_file, do_lower_case = encoders.tokenizer_assets(encoder)
    packer = features.make_packer(config.tokenizer, vocab_file, do_lower_case, config.max_seq_length)
    weights = class_weights(config, splits["train"].labels, label_map)

    run = export.RunDirectory(config.output_dir, config.run_name)
    stats = data.dataset_stats(splits, label_map)
    run.write_text("config.yaml", dump_config(config))
    run.write_json("label_map.json", label_map.to_json())
    run.write_json("data_stats.json", stats)
    tracker.log_data(config, splits, label_map, stats)

    def batches(split: data.Split, training: bool = False, in_order: bool = True):
        if training:
            return features.make_dataset(split, packer, config.train_batch_size, shuffle=True, seed=config.seed,
                                         padding=config.padding)
        # The final evaluation keeps the rows' order, so predictions line up with them;
        # fit's per-epoch validation only sums loss and metrics, so it may bucket like training.
        padding = config.padding if not in_order or config.padding == "max" else "batch"
        return features.make_dataset(split, packer, config.eval_batch_size, padding=padding)

    # Seeded here, after the encoder is loaded: a first run that fetches and converts it
    # builds TensorFlow ops the later runs do not, which would shift the seeded streams.
    tf_keras.utils.set_random_seed(config.seed)
    model.set_precision(config.mixed_precision)
    classifier = model.build_classifier(encoder, label_map, config.dropout)
    steps_per_epoch = math.ceil(len(splits["train"]) / config.train_batch_size)
    model.compile_classifier(classifier, label_map, config, steps_per_epoch * config.epochs)

    checkpoint = run.path / "checkpoints" / "best.weights"
    history = classifier.fit(
        batches(splits["train"], training=True),
        validation_data=batches(splits["valid"], in_order=False),
        epochs=config.epochs,
        class_weight=weights,
        callbacks=training_callbacks(run.path, checkpoint, config.early_stopping_patience) + tracker.keras_callbacks(),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    _check_finite(history)
    if not Path(f"{checkpoint}.index").is_file():
        raise TfbertError("no epoch reached a finite validation loss, so there is no best model to keep; "
                          "check the validation data and lower learning_rate")
    classifier.load_weights(str(checkpoint))  # the best epoch on validation loss
    shutil.rmtree(checkpoint.parent)

    outputs = {name: evaluate.run_model_in_length_order(classifier, splits[name], batches)
               for name in ("valid", "test") if name in splits}
    threshold = evaluate.decision_threshold(config.decision_threshold, splits["valid"].labels, outputs["valid"], label_map)
    results = {SPLIT_TITLES[name]: (evaluate.score(output, splits[name].labels, label_map, threshold), splits[name])
               for name, output in outputs.items()}
    for title, (result, split) in results.items():
        tracker.log_evaluation(title, result, split, label_map)
    figures = evaluate.write_report(run, results, label_map, threshold)
    figures |= _curves_and_data_plots(run.path, stats, splits)
    tracker.log_images(figures)
    metrics = {title: result.metrics for title, (result, _) in results.items()}
    export.save_model(classifier, run.path / "model", label_map)
    serving_packer = features.make_packer("tf_text", vocab_file, do_lower_case, config.max_seq_length)
    export.save_serving_model(classifier, serving_packer, label_map, threshold, run.path / "export",
                              with_pairs=splits["train"].pairs is not None, clean_text=config.clean_text)
    run_dir = run.finish()
    tracker.log_model(run_dir / "model", config, metrics, label_map)
    return RunResult(run_dir, metrics, classifier)


def main(argv: Sequence[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m tfbert.train", description=__doc__.split("\n")[0],
                            epilog="Any config key can be overridden: --learning_rate=3e-5 or --learning_rate 3e-5.")
    parser.add_argument("--config", required=True, help="YAML config file (see configs/)")
    args, overrides = parser.parse_known_args(argv)
    result = train(load_config(args.config, overrides))
    print(f"run directory: {result.run_dir}")
    for title, values in result.metrics.items():
        print(evaluate.format_metrics(title, values))
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
