"""The training job: fine-tune a BERT encoder on labelled data and write a run directory.

The job is four steps, each a function below: `prepare` (data, encoder, tokenizer and
the run directory's first files), `fit` (the classifier and model.fit with the usual
Keras callbacks), `evaluate_splits` (the best epoch on the validation and test splits,
with the report files) and `save` (the model, the serving export, then the finished run
directory moved into place). `tfbert.train` is this module's `train`;
`python -m tfbert.train` is its command.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfbert import data, datasets, encoders, export, model, packers, plots, scoring, tracking
from tfbert.config import Config, ConfigSource, dump_config, load_config
from tfbert.errors import TfbertError
from tfbert.run_directory import RunDirectory
from tfbert.timings import FitTimer, Timings

SPLIT_TITLES = {"valid": "validation", "test": "test"}


@dataclasses.dataclass(frozen=True)
class RunResult:
    """A finished training run."""

    run_dir: Path
    metrics: dict[str, dict[str, float]]  # split title -> metrics
    model: tf_keras.Model  # the trained classifier, as saved in run_dir/model


@dataclasses.dataclass
class Job:
    """What the steps of one training run share."""

    config: Config
    tracker: tracking.Tracker
    run: RunDirectory
    splits: dict[str, data.Split]
    label_map: data.LabelMap
    stats: dict[str, Any]
    encoder: hub.KerasLayer
    tokenizer_assets: tuple[str, bool]  # the encoder's vocab_file and do_lower_case
    packer: packers.Packer
    class_weight: dict[int, float] | None
    timings: Timings

    def batches(self, split: data.Split, training: bool = False, in_order: bool = True) -> tf.data.Dataset:
        """Training batches (shuffled, seeded), or evaluation batches; the final evaluation
        keeps the rows' order, so predictions line up with them, while fit's per-epoch
        validation only sums loss and metrics, so it may bucket like training."""
        config = self.config
        if training:
            return datasets.make_dataset(split, self.packer, config.train_batch_size, shuffle=True, seed=config.seed,
                                         padding=config.padding)
        padding = config.padding if not in_order or config.padding == "max" else "batch"
        return datasets.make_dataset(split, self.packer, config.eval_batch_size, padding=padding)


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


def compile_for(config: Config, classifier: tf_keras.Model, label_map: data.LabelMap, num_train_steps: int) -> None:
    """Compile `classifier` with the config's optimizer (scheduled over `num_train_steps`) and jit_compile."""
    optimizer = model.make_optimizer(config.optimizer, config.learning_rate, num_train_steps, config.warmup_fraction,
                                     config.weight_decay)
    model.compile_classifier(classifier, label_map, optimizer, config.jit_compile)


def prepare(config: Config, tracker: tracking.Tracker, timings: Timings) -> Job:
    """Data, encoder and tokenizer, and the run directory's config, label map and data stats."""
    with timings.phase("data"):
        splits, label_map = data.load_splits(data.DataSpec.from_config(config))
    with timings.phase("encoder_and_tokenizer"):
        encoder = encoders.load_encoder(config.encoder, trainable=config.trainable)
        assets = encoders.tokenizer_assets(encoder)
        packer = packers.make_packer(config.tokenizer, *assets, config.max_seq_length)
    with timings.phase("data"):
        weights = class_weights(config, splits["train"].labels, label_map)
        run = RunDirectory(config.output_dir, config.run_name)
        stats = data.dataset_stats(splits, label_map)
        run.write_text("config.yaml", dump_config(config))
        run.write_json("label_map.json", label_map.to_json())
        run.write_json("data_stats.json", stats)
        tracker.log_data(config, splits, label_map, stats)
    return Job(config, tracker, run, splits, label_map, stats, encoder, assets, packer, weights, timings)


def fit(job: Job) -> tf_keras.Model:
    """The classifier, trained; its weights are the best epoch's on validation loss."""
    config, splits = job.config, job.splits
    with job.timings.phase("model_build"):
        # Seeded here, after the encoder is loaded: a first run that fetches and converts it
        # builds TensorFlow ops the later runs do not, which would shift the seeded streams.
        tf_keras.utils.set_random_seed(config.seed)
        model.set_precision(config.mixed_precision)
        classifier = model.build_classifier(job.encoder, job.label_map, config.dropout)
        steps_per_epoch = math.ceil(len(splits["train"]) / config.train_batch_size)
        compile_for(config, classifier, job.label_map, steps_per_epoch * config.epochs)

    checkpoint = job.run.path / "checkpoints" / "best.weights"
    with job.timings.phase("fit"):
        history = classifier.fit(
            job.batches(splits["train"], training=True),
            validation_data=job.batches(splits["valid"], in_order=False),
            epochs=config.epochs,
            class_weight=job.class_weight,
            callbacks=training_callbacks(job.run.path, checkpoint, config.early_stopping_patience)
            + [FitTimer(job.timings)] + job.tracker.keras_callbacks(),
            verbose=1 if sys.stdout.isatty() else 2,
        )
        _check_finite(history)
        if not Path(f"{checkpoint}.index").is_file():
            raise TfbertError("no epoch reached a finite validation loss, so there is no best model to keep; "
                              "check the validation data and lower learning_rate")
        classifier.load_weights(str(checkpoint))  # the best epoch on validation loss
        shutil.rmtree(checkpoint.parent)
    return classifier


def evaluate_splits(job: Job, classifier: tf_keras.Model) -> tuple[dict[str, dict[str, Any]], float]:
    """Metrics of the validation (and test) split, the report files and plots; returns
    the metrics by split title and the decision threshold."""
    splits, label_map = job.splits, job.label_map
    with job.timings.phase("final_evaluation"):
        outputs = {name: scoring.run_model_in_length_order(classifier, splits[name], job.batches, label_map)
                   for name in ("valid", "test") if name in splits}
        threshold = scoring.decision_threshold(job.config.decision_threshold, splits["valid"].labels,
                                               outputs["valid"], label_map)
        results = {SPLIT_TITLES[name]: (scoring.score(output, splits[name].labels, label_map, threshold),
                                        splits[name]) for name, output in outputs.items()}
    with job.timings.phase("reports_and_plots"):
        for title, (result, split) in results.items():
            job.tracker.log_evaluation(title, result, split, label_map)
        figures = scoring.write_report(job.run, results, label_map, threshold)
        figures |= _curves_and_data_plots(job.run.path, job.stats, splits)
        job.tracker.log_images(figures)
    return {title: result.metrics for title, (result, _) in results.items()}, threshold


def save(job: Job, classifier: tf_keras.Model, threshold: float) -> Path:
    """model/, export/ and timings.json, then the run directory moved into place; returns its final path."""
    config = job.config
    with job.timings.phase("model_save"):
        export.save_model(classifier, job.run.path / "model", job.label_map)
    with job.timings.phase("export"):
        serving_packer = packers.make_packer("tf_text", *job.tokenizer_assets, config.max_seq_length)
        export.save_serving_model(classifier, serving_packer, job.label_map, threshold, job.run.path / "export",
                                  with_pairs=job.splits["train"].pairs is not None, clean_text=config.clean_text)
    job.run.write_json("timings.json", job.timings.to_json())
    return job.run.finish()


def reset_state() -> None:
    """Forget what earlier jobs in this process left behind (Keras' layer names and
    graph, the global dtype policy), so a second job trains as the first did."""
    tf_keras.backend.clear_session()
    model.set_precision(None)


def train(config: ConfigSource, /, **overrides: Any) -> RunResult:
    """Run the whole training job, as `python -m tfbert.train` does: a config file's path,
    a dict or a Config, with config keys as `overrides` (data_path, valid_path and
    test_path may be pandas DataFrames). Returns the finished run directory, the metrics
    by split and the trained model; a problem with the config or data raises TfbertError.

    >>> import tfbert
    >>> result = tfbert.train("configs/tiny.yaml", epochs=1, wandb_mode="disabled", output_dir=tmp)
    15/15 - ... - loss: ... - val_loss: ...
    >>> sorted(result.metrics), (result.run_dir / "export").is_dir()
    (['validation'], True)
    """
    timings = Timings()
    config = load_config(config, **overrides)
    config = config.replace(run_name=config.run_name or default_run_name(config))
    reset_state()
    with tracking.tracked_job(config) as (tracker, config):  # a sweep agent's values arrive here
        job = prepare(config, tracker, timings)
        classifier = fit(job)
        metrics, threshold = evaluate_splits(job, classifier)
        run_dir = save(job, classifier, threshold)
        tracker.log_model(run_dir / "model", config, metrics, job.label_map)
    return RunResult(run_dir, metrics, classifier)
