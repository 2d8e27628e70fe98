"""The training job: fine-tune a BERT encoder on labelled data and write a run directory.

The job is four steps, each a function below: `prepare` (data, encoder, tokenizer and
the run directory's first files), `fit` (the classifier and model.fit with the usual
Keras callbacks and backups), `evaluate_splits` (the best epoch on the validation and
test splits, with the report files) and `save` (the model, the serving export, then the
finished run directory moved into place). A run killed midway resumes from its last
backup when the same command runs again (see `tfbert.resume`). `tfbert.train` is this
module's `train`; `python -m tfbert.train` is its command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfbert import callbacks, data, datasets, encoders, export, model, packers, plots, progress, resume, scoring, tracking
from tfbert.config import Config, ConfigSource, dump_config, load_config
from tfbert.errors import TfbertError, first_line
from tfbert.run_directory import RunDirectory, staging_path
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

    @property
    def backup_dir(self) -> Path:
        return self.run.path / resume.BACKUP

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.splits["train"]) / self.config.train_batch_size)

    def training_batches(self, start_epoch: int, start_batch: int) -> tf.data.Dataset:
        """The training batches of every epoch from (start_epoch, start_batch) on, each
        epoch shuffled by the seed and its number (see datasets.training_batches)."""
        config = self.config
        return datasets.training_batches(self.splits["train"], self.packer, config.train_batch_size, config.seed,
                                         config.padding, config.epochs, start_epoch, start_batch)

    def batches(self, split: data.Split, in_order: bool = True) -> tf.data.Dataset:
        """Evaluation batches: the final evaluation keeps the rows' order, so predictions
        line up with them, while fit's per-epoch validation only sums loss and metrics,
        so it may bucket like training."""
        config = self.config
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
        encoders.check_max_seq_length(encoder, config.max_seq_length)
        assets = encoders.tokenizer_assets(encoder)
        packer = packers.make_packer(config.tokenizer, *assets, config.max_seq_length)
    with timings.phase("data"):
        weights = class_weights(config, splits["train"].labels, label_map)
        run = RunDirectory(config.output_dir, config.run_name, keep_unfinished=True)
        stats = data.dataset_stats(splits, label_map)
        if tracker.run_id:  # so that a resumed run logs to the same W&B run
            resume.save_wandb_run_id(run.path / resume.BACKUP, tracker.run_id)
        run.write_text("config.yaml", dump_config(config))
        run.write_json("label_map.json", label_map.to_json())
        run.write_json("data_stats.json", stats)
        tracker.log_data(config, splits, label_map, stats)
    return Job(config, tracker, run, splits, label_map, stats, encoder, assets, packer, weights, timings)


def set_determinism(deterministic: bool) -> None:
    """Deterministic TensorFlow ops on or off (a process-wide switch)."""
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as framework_config  # the switch's other half, not public

        framework_config.disable_op_determinism()


def fit(job: Job) -> tf_keras.Model:
    """The classifier, trained; its weights are the best epoch's on validation loss.
    Resumes from the run's backup when there is one."""
    config = job.config
    with job.timings.phase("model_build"):
        # Seeded here, after the encoder is loaded: a first run that fetches and converts it
        # builds TensorFlow ops the later runs do not, which would shift the seeded streams.
        tf_keras.utils.set_random_seed(config.seed)
        set_determinism(config.deterministic)
        model.set_precision(config.mixed_precision)
        classifier = model.build_classifier(job.encoder, job.label_map, config.dropout)
        compile_for(config, classifier, job.label_map, job.steps_per_epoch * config.epochs)

    checkpoint = job.run.path / "checkpoints" / "best.weights"
    start = resume.resume_point(job.backup_dir, job.steps_per_epoch)
    if start is not None and start[0] < config.epochs:
        with job.timings.phase("fit"):
            _fit_from(job, classifier, checkpoint, *start)
    resume.mark_fit_ended(job.backup_dir)
    if not Path(f"{checkpoint}.index").is_file():
        raise TfbertError("no epoch reached a finite validation loss, so there is no best model to keep; "
                          "check the validation data and lower learning_rate")
    classifier.load_weights(str(checkpoint))  # the best epoch on validation loss
    return classifier


@contextlib.contextmanager
def _training_faults(config: Config) -> Iterator[None]:
    """TensorFlow's errors during fit that come from the config, as one-line TfbertErrors."""
    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        if config.deterministic and "must have a seed" in str(err):
            raise TfbertError(f"deterministic: true cannot train encoder '{config.encoder}': it holds random ops (dropout) "
                              "saved without a seed, which TensorFlow's op determinism refuses; set deterministic: false, "
                              "or use an encoder tfbert converts (hf:DIR, all-minilm-l6-v2)") from err
        raise
    except tf.errors.ResourceExhaustedError as err:
        raise TfbertError(f"out of memory while training ({first_line(err)}); lower train_batch_size or "
                          "max_seq_length") from err


def _fit_from(job: Job, classifier: tf_keras.Model, checkpoint: Path, start_epoch: int, start_batch: int) -> None:
    """model.fit from step `start_batch` of epoch `start_epoch`, with the run's callbacks."""
    config = job.config
    if (start_epoch, start_batch) != (0, 0):
        print(f"tfbert: resuming training at epoch {start_epoch + 1}, step {start_batch + 1}", file=sys.stderr)
    earlier = resume.earlier_val_losses(job.run.path / "history.csv", start_epoch)
    with _training_faults(config):
        classifier.fit(
            job.training_batches(start_epoch, start_batch),
            steps_per_epoch=job.steps_per_epoch,
            validation_data=job.batches(job.splits["valid"], in_order=False),
            epochs=config.epochs,
            class_weight=job.class_weight,
            callbacks=[callbacks.StopOnNonFiniteLoss()]
            + callbacks.training_callbacks(job.run.path, checkpoint, config.early_stopping_patience, earlier)
            + [FitTimer(job.timings)]
            + job.tracker.keras_callbacks(start_epoch * job.steps_per_epoch + start_batch, job.steps_per_epoch)
            + [callbacks.EpochAndStepBackup(job.backup_dir, config.backup_every_steps, job.steps_per_epoch)],
            verbose=progress.keras_verbose(),
        )


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
    shutil.rmtree(job.run.path / "checkpoints", ignore_errors=True)
    shutil.rmtree(job.backup_dir)
    return job.run.finish()


def reset_state() -> None:
    """Forget what earlier jobs in this process left behind (Keras' layer names and
    graph, the global dtype policy), so a second job trains as the first did."""
    tf_keras.backend.clear_session()
    model.set_precision(None)


def train(config: ConfigSource, /, *, resume_run: bool | str | Path | None = None, **overrides: Any) -> RunResult:
    """Run the whole training job, as `python -m tfbert.train` does: a config file's path,
    a dict or a Config, with config keys as `overrides` (data_path, valid_path and
    test_path may be pandas DataFrames). Returns the finished run directory, the metrics
    by split and the trained model; a problem with the config or data raises TfbertError.

    An unfinished run of the same run_name is resumed from its last backup. With the
    default timestamped name, `resume_run=True` resumes the latest unfinished run of this
    config in output_dir, and `resume_run=PATH` the run in that folder.

    >>> import tfbert
    >>> result = tfbert.train("configs/tiny.yaml", epochs=1, wandb_mode="disabled", output_dir=tmp)
    15/15 - ... - loss: ... - val_loss: ...
    >>> sorted(result.metrics), (result.run_dir / "export").is_dir()
    (['validation'], True)
    """
    timings = Timings()
    config = load_config(config, **overrides)
    config = resume.resolve_run(config, resume_run, default_run_name(config))
    reset_state()
    backup_dir = staging_path(Path(config.output_dir) / config.run_name) / resume.BACKUP
    # A sweep agent's values arrive in the config tracked_job yields.
    with tracking.tracked_job(config, run_id=resume.wandb_run_id(backup_dir)) as (tracker, config):
        job = prepare(config, tracker, timings)
        classifier = fit(job)
        metrics, threshold = evaluate_splits(job, classifier)
        run_dir = save(job, classifier, threshold)
        tracker.log_model(run_dir / "model", config, metrics, job.label_map)
    return RunResult(run_dir, metrics, classifier)
