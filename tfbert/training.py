"""The training job: fine-tune a BERT encoder on labelled data and write a run directory.

The job is three steps: `prepare` (data, encoder, tokenizer and the run directory's
first files) and `fit` (the classifier and model.fit with the usual Keras callbacks and
backups), both below, then `finishing.evaluate_and_save` (the best epoch on the validation
and test splits with the report files, model/ and the serving export written beside that
evaluation, then the finished run directory moved into place). A run killed midway
resumes from its last backup when the same command runs again (see `tfbert.resume`).
`tfbert.train` is this module's `train`; `python -m tfbert.train` is its command.

Under a distribution strategy (see `tfbert.distribution`) every worker runs the same
job: the encoder and model are built in the strategy's scope and fit splits each global
batch over the replicas. Only the chief writes the run directory and W&B; the others
write to a temporary folder they delete, and stop after fit. The chief evaluates and
exports once, with a one-device copy of the best epoch's model.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf
import tensorflow_hub as hub
import tf_keras

from tfbert import (callbacks, distribution, encoder_copy, encoders, finishing, loaded_encoders, model,
                    packers, precision, progress, resume, scoring, tracking)
from tfbert.config import Config, ConfigSource, dump_config, load_config
from tfbert.data.labels import LabelMap, class_weights
from tfbert.data.splits import DataSpec, load_splits
from tfbert.data.statistics import dataset_stats
from tfbert.errors import TfbertError, first_line
from tfbert.job import Job
from tfbert.long_texts import LongTexts
from tfbert.run_directory import RunDirectory, final_path_of, remove_if_empty, staging_for, worker_run_parent
from tfbert.devices import announce_devices
from tfbert.timings import FitEstimate, FitTimer, Timings

@dataclasses.dataclass(frozen=True)
class RunResult:
    """A finished training run."""

    run_dir: Path
    metrics: dict[str, dict[str, float]]  # split title -> metrics
    model: tf_keras.Model  # the trained classifier (the best epoch), in float32; run_dir/model holds it when save: all
    chief: bool = True  # False on the other workers of a multi-worker run: run_dir is the chief's, metrics empty


def default_run_name(config: Config) -> str:
    return f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def compile_for(config: Config, classifier: tf_keras.Model, label_map: LabelMap, num_train_steps: int) -> None:
    """Compile `classifier` with the config's optimizer (scheduled over `num_train_steps`) and jit_compile."""
    optimizer = model.make_optimizer(config.optimizer, config.learning_rate, num_train_steps, config.warmup_fraction,
                                     config.weight_decay)
    model.compile_classifier(classifier, label_map, optimizer, config.jit_compile)


def prepare(config: Config, tracker: tracking.Tracker, timings: Timings, run_parent: Path,
            strategy: tf.distribute.Strategy | None = None) -> Job:
    """Data, the distribution strategy (unless it had to start first), the encoder (in the
    strategy's scope) and tokenizer, and the run directory's first files (config, label
    map and data stats) in `run_parent`."""
    with timings.phase("data"):
        splits, label_map = load_splits(DataSpec.from_config(config))
    strategy = strategy or distribution.strategy_for(config)
    with timings.phase("encoder_and_tokenizer"):
        resolved = precision.resolve(config.mixed_precision, on_tpu=config.distribution_strategy == "tpu")
        with strategy.scope():  # hub.KerasLayer makes its variables when built: the strategy's (tensorflow/hub#469)
            encoder = encoders.load_encoder(config.encoder, trainable=config.trainable,
                                            precision=resolved[0] if config.rebuild_encoder else None)
        policy, why = precision.for_encoder(config.mixed_precision, resolved, encoder_copy.is_copy(encoder))
        timings.precision = policy
        tracker.safely("recording the precision", lambda: tracker.run.summary.update({"compute_precision": policy}))
        encoders.check_max_seq_length(encoder, config.max_seq_length)
        announce_devices(config, strategy, policy, why, encoder, rows=len(splits["train"]))
        assets = encoders.tokenizer_assets(encoder)
        packer = packers.make_packer(config.tokenizer, *assets, config.max_seq_length, LongTexts.from_config(config))
    with timings.phase("data"):
        weights = class_weights(config.class_weight, splits["train"].labels, label_map)
        run = RunDirectory(run_parent, config.run_name, keep_unfinished=True)
        stats = dataset_stats(splits, label_map)
        if tracker.run_id:  # so that a resumed run logs to the same W&B run
            resume.save_wandb_run_id(run.path / resume.BACKUP, tracker.run_id)
        run.write_text("config.yaml", dump_config(config))
        run.write_json("label_map.json", label_map.to_json())
        run.write_json("data_stats.json", stats)
        tracker.log_data(config, splits, label_map, stats)
    shared_path = staging_for(config)
    return Job(config, strategy, tracker, run, shared_path, splits, label_map, stats, encoder, policy, assets, packer,
               weights, timings)



def set_determinism(deterministic: bool) -> None:
    """Deterministic TensorFlow ops on or off (a process-wide switch)."""
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as framework_config  # the switch's other half, not public

        framework_config.disable_op_determinism()


def fit(job: Job, extra_callbacks: Sequence[tf_keras.callbacks.Callback] = (), *,
        after_first_step: Callable[[], None] = lambda: None) -> tuple[tf_keras.Model, dict[str, scoring.ModelOutputs]]:
    """The classifier, trained (with `extra_callbacks` after tfbert's own: see `train`;
    `after_first_step` is called once the first step, which traces, is done);
    its weights are the best epoch's on validation loss. With it, the outputs already
    scored with those weights, by split: the validation split's, when the last epoch is the
    best and fit scored it as the final evaluation would, in float32 (`_validates_as_evaluated`;
    Keras validates the other epochs, in fit's precision, and every epoch of runs under a
    strategy). Resumes from the run's backup when there is one. Under a distribution
    strategy the chief gets a one-device copy (for evaluation and export), the other workers
    the distributed model as fit left it. With gradient accumulation the chief's model is the
    plain functional one (model.functional_view)."""
    config = job.config
    with job.timings.phase("model_build"):
        # Seeded here, after the encoder is loaded: a first run that fetches and converts it
        # builds TensorFlow ops the later runs do not, which would shift the seeded streams.
        tf_keras.utils.set_random_seed(config.seed)
        set_determinism(config.deterministic)
        model.set_precision(job.precision)
        with job.strategy.scope():
            classifier = _compiled_classifier(job, job.encoder)
        encoder_copy.seed_dropout(job.encoder, config.seed)  # a resumed run's backup then restores its state

    checkpoint = _best_checkpoint(job)
    start = resume.resume_point(job.backup_dir, job.steps_per_epoch)
    if distribution.workers(job.strategy) > 1:
        _check_workers_agree(job, start)
    scored: dict[str, scoring.ModelOutputs] = {}
    evaluated = _EvaluatedModel(job)
    if start is not None and start[0] < config.epochs:
        with job.timings.phase("fit"), evaluated.settled():
            scored = _fit_from(job, classifier, checkpoint, *start, extra_callbacks, evaluated=evaluated,
                               after_first_step=after_first_step)
    if not job.is_chief:
        return classifier, scored
    resume.mark_fit_ended(job.backup_dir)
    if not Path(f"{checkpoint}.index").is_file():
        raise TfbertError("no epoch reached a finite validation loss, so there is no best model to keep; "
                          "check the validation data and lower learning_rate")
    if scored:  # the last epoch was the best: the model that scored it has its weights
        return evaluated.built, scored
    if evaluated.ready() is not None:
        return _best_epoch(evaluated.built, checkpoint), scored
    if distribution.is_distributed(job.strategy) or job.precision != "float32":
        with job.timings.phase("model_build"):
            classifier = _one_device_copy(job, "float32")
    return _best_epoch(classifier, checkpoint), scored


class _EvaluatedModel:
    """The float32 model the final evaluation scores, as fit's last epoch validates with it
    (LastEpochValidation): fit's own model (its functional view) when fit computes in float32,
    else a one-device float32 copy, built once, given fit's weights (model.copy_weights).
    `build_ahead` builds the copy in a thread while fit's steps run (Python's work, and the
    steps leave a core partly idle); fit asks for it only without the caller's callbacks,
    which might build Keras layers while the copy sets Keras' global dtype policy."""

    def __init__(self, job: Job):
        self._job = job
        self.built: tf_keras.Model | None = None
        self._building: Future | None = None

    def build_ahead(self) -> None:
        if self._job.precision != "float32" and self._building is None and self.built is None:
            worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfbert-copy")
            self._building = worker.submit(self._float32_copy)
            worker.shutdown(wait=False)  # the thread ends with its one task

    @contextlib.contextmanager
    def settled(self) -> Iterator[None]:
        """At its end, waits for a copy building in the background (no thread outlives a failed fit)."""
        try:
            yield
        finally:
            if self._building is not None:
                wait([self._building])

    def ready(self) -> tf_keras.Model | None:
        """The float32 model, if the last epoch's validation or `build_ahead` built it."""
        if self.built is None and self._building is not None:
            self.built = self._building.result()
        return self.built

    def with_weights_of(self, fitted: tf_keras.Model) -> tf_keras.Model:
        if self._job.precision == "float32":
            self.built = model.functional_view(fitted)
        else:
            if self.ready() is None:
                self.built = self._float32_copy()
            model.copy_weights(model.functional_view(fitted), self.built)
        return self.built

    def _float32_copy(self) -> tf_keras.Model:
        return model.functional_view(_one_device_copy(self._job, "float32"))


def _validates_as_evaluated(job: Job) -> bool:
    """Whether fit can score its last epoch's validation as the final evaluation will, with the
    float32 model that evaluation scores (_EvaluatedModel): when no strategy is set (in a strategy's
    scope, Keras' losses reduce only in fit's own loop)."""
    return job.strategy is tf.distribute.get_strategy()


def _best_checkpoint(job: Job) -> Path:
    """Where fit keeps the best epoch's weights (on validation loss), until the run is saved."""
    return job.run.path / "checkpoints" / "best.weights"


def _best_epoch(classifier: tf_keras.Model, checkpoint: Path) -> tf_keras.Model:
    """`classifier` with the best epoch's weights (on validation loss), as a plain functional model."""
    classifier.load_weights(str(checkpoint)).expect_partial()
    return model.functional_view(classifier)


def _check_workers_agree(job: Job, start: tuple[int, int] | None) -> None:
    """The workers of a multi-worker run must start at the same step with the same data,
    or their steps would not line up (a hang) or their weights would silently differ."""
    rows = len(job.splits["train"]), len(job.splits["valid"])
    if not distribution.agree(job.strategy, [*(start or (-1, -1)), *rows]):
        where = "after fit" if start is None else f"at epoch {start[0] + 1}, step {start[1] + 1}"
        raise TfbertError(f"the workers of this multi-worker run disagree on where to start or on the data "
                          f"({distribution.worker_name(job.strategy)}: {where}, {rows[0]} training and {rows[1]} "
                          "validation rows); every worker must read the same data and see the chief's backup: put "
                          "output_dir on a filesystem all workers share")


def _compiled_classifier(job: Job, encoder: hub.KerasLayer) -> tf_keras.Model:
    """The job's classifier over `encoder`, compiled with its optimizer for the whole run's steps."""
    config = job.config
    pooling = config.window_pooling if config.long_texts == "windows" else None
    classifier = model.build_classifier(encoder, job.label_map, config.dropout, config.gradient_accumulation_steps, pooling)
    compile_for(config, classifier, job.label_map, job.steps_per_epoch * config.epochs)
    return classifier


def _one_device_copy(job: Job, precision: str) -> tf_keras.Model:
    """The classifier built again on one device in `precision`: in float32 for the chief's
    evaluation, model/ and the export (a distributed model's predict and save would wait on
    the other workers, and what is scored computes in float32 whatever fit's precision); in
    the run's precision for an export_precision: auto export. Keras' policy is float32 after."""
    model.set_precision(precision)
    try:
        rebuilt = encoder_copy.is_copy(job.encoder)
        encoder = encoders.load_encoder(job.config.encoder, trainable=job.config.trainable,
                                        precision=precision if rebuilt else None)
        return _compiled_classifier(job, encoder)
    finally:
        model.set_precision("float32")


@contextlib.contextmanager
def _training_faults(config: Config) -> Iterator[None]:
    """TensorFlow's errors during fit that come from the config, as one-line TfbertErrors."""
    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        if config.deterministic and "must have a seed" in str(err):
            raise TfbertError(f"deterministic: true cannot train encoder '{config.encoder}': it holds random ops (dropout) "
                              "saved without a seed, which TensorFlow's op determinism refuses, and tfbert trains it as "
                              "saved; set deterministic: false, or rebuild_encoder: true with a BERT encoder tfbert can "
                              "rebuild") from err
        raise
    except tf.errors.ResourceExhaustedError as err:
        raise TfbertError(f"out of memory while training ({first_line(err)}); set gradient_accumulation_steps "
                          "(e.g. 4: the same steps in smaller pieces) or lower train_batch_size or max_seq_length") from err
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError) as err:
        if config.distribution_strategy != "multi_worker_mirrored":
            raise
        lost = ", ".join(sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", str(err))))) or first_line(err)
        raise TfbertError(f"a worker of the multi-worker run stopped (lost: {lost}); the run is kept unfinished with "
                          "its last backup: start every worker again with the same command to resume") from err


def _fit_from(job: Job, classifier: tf_keras.Model, checkpoint: Path, start_epoch: int, start_batch: int,
              extra_callbacks: Sequence[tf_keras.callbacks.Callback] = (), *, evaluated: _EvaluatedModel,
              after_first_step: Callable[[], None] = lambda: None) -> dict[str, scoring.ModelOutputs]:
    """model.fit from step `start_batch` of epoch `start_epoch`, with the run's callbacks
    and then `extra_callbacks` (see `train`), the backup last; returns what `fit` returns
    as scored. Without a strategy, its last epoch validates as the final evaluation scores,
    with `evaluated`'s float32 model (callbacks.LastEpochValidation): one validation pass fewer."""
    config = job.config
    if (start_epoch, start_batch) != (0, 0):
        print(f"tfbert: resuming training at epoch {start_epoch + 1}, step {start_batch + 1}", file=sys.stderr)
    earlier = resume.earlier_val_losses(job.shared_path / "history.csv", start_epoch, trim=job.is_chief)
    last = None
    if _validates_as_evaluated(job):
        last = callbacks.LastEpochValidation(lambda fitted: finishing.scored(job, evaluated.with_weights_of(fitted), "valid"),
                                             config.epochs - 1, job.timings, earlier)
    keras_validates = last is None or start_epoch < config.epochs - 1  # an epoch before the last is left
    with _training_faults(config):
        classifier.fit(
            job.training_batches(start_epoch, start_batch),
            steps_per_epoch=job.steps_per_epoch,
            validation_data=job.validation_batches() if keras_validates else None,
            validation_steps=job.validation_steps,
            validation_freq=list(range(1, config.epochs)) if last else 1,  # epochs numbered from 1
            epochs=config.epochs,
            callbacks=[callbacks.StopOnNonFiniteLoss()] + ([last] if last else [])
            + callbacks.training_callbacks(job.run.path, checkpoint, config.early_stopping_patience, earlier)
            + [FitTimer(job.timings), callbacks.AfterFirstStep(after_first_step)]
            + ([callbacks.AfterFirstStep(evaluated.build_ahead)] if last and not extra_callbacks else [])
            + [FitEstimate(len(job.splits["train"]), config.train_batch_size, job.steps_per_epoch, config.epochs,
                           start_epoch, start_batch)]
            + job.tracker.keras_callbacks(start_epoch * job.steps_per_epoch + start_batch, job.steps_per_epoch)
            + _tensorboard(job)
            + list(extra_callbacks)
            + [callbacks.EpochAndStepBackup(job.backup_dir, config.backup_every_steps, job.steps_per_epoch,
                                            config.backup_every_minutes)],
            verbose=progress.keras_verbose(),
        )
    return {"valid": last.outputs} if last and last.outputs is not None else {}


def _tensorboard(job: Job) -> list[tf_keras.callbacks.Callback]:
    """With tensorboard: true, tf_keras' TensorBoard writing to the run directory's tensorboard/
    (a resumed run adds event files beside the killed run's)."""
    if not job.config.tensorboard:
        return []
    return [tf_keras.callbacks.TensorBoard(str(job.run.path / "tensorboard"), write_graph=False)]


def _served_model(job: Job, classifier: tf_keras.Model) -> tuple[tf_keras.Model, str]:
    """The model export/ serves and the precision it computes in (export_precision): the evaluated
    float32 classifier, or the best epoch built again in the run's precision."""
    config = job.config
    served_precision = precision.for_export(config.export_precision, job.precision, encoder_copy.is_copy(job.encoder))
    if served_precision == "float32" or config.save == "metrics":
        return classifier, served_precision
    with job.timings.phase("export"):
        return _best_epoch(_one_device_copy(job, served_precision), _best_checkpoint(job)), served_precision


def reset_state() -> None:
    """Forget what earlier jobs in this process left behind (Keras' layer names and
    graph, the global dtype policy), so a second job trains as the first did."""
    tf_keras.backend.clear_session()
    model.set_precision(None)


def train(config: ConfigSource, /, *, resume_run: bool | str | Path | None = None,
          callbacks: Sequence[tf_keras.callbacks.Callback] = (), **overrides: Any) -> RunResult:
    """Run the whole training job, as `python -m tfbert.train` does: a config file's path,
    a dict or a Config, with config keys as `overrides` (data_path, valid_path and
    test_path may be pandas DataFrames). Returns the finished run directory, the metrics
    by split and the trained model; a problem with the config or data raises TfbertError.

    An unfinished run of the same run_name is resumed from its last backup. With the
    default timestamped name, `resume_run=True` resumes the latest unfinished run of this
    config in output_dir, and `resume_run=PATH` the run in that folder.

    `callbacks`: Keras callbacks (tf_keras, not Keras 3) added to model.fit, on every
    worker of a distributed run. Keras calls callbacks in list order, and they come after
    tfbert's own: the stop at a non-finite loss (first, so nothing sees a NaN step), the
    last epoch's validation when fit scores it itself (see `fit`), the best checkpoint,
    history.csv, early stopping, the timers and W&B's logging (so at an
    epoch's end yours sees its history row and checkpoint written), and before the backup
    (last, so a backup follows everything else of its step or epoch, yours included). A
    resumed run calls them only for the steps it trains.

        >>> import tfbert
        >>> result = tfbert.train("configs/tiny.yaml", epochs=1, wandb_mode="disabled", output_dir=tmp)
        15/15 - ... - loss: ... - val_loss: ...
        >>> sorted(result.metrics), (result.run_dir / "export").is_dir()
        (['validation'], True)
    """
    timings = Timings()
    config = load_config(config, **overrides)
    early = distribution.early_strategy(config, named=config.run_name is not None or bool(resume_run))
    config = resume.resolve_run(config, resume_run, default_run_name(config))
    reset_state()
    chief = early is None or distribution.is_chief(early)
    config = config if chief else config.replace(wandb_mode="disabled")  # the chief's W&B run is the run's record
    shared_path = staging_for(config)
    # A sweep agent's values arrive in the config tracked_job yields.
    with (worker_run_parent(chief, config.output_dir) as run_parent,
          tracking.tracked_job(config, run_id=resume.wandb_run_id(shared_path / resume.BACKUP)) as (tracker, config)):
        job = prepare(config, tracker, timings, run_parent, early)
        with finishing.ReportsAhead(job, draws=not callbacks) as ahead:  # report work done while fit's steps run
            classifier, scored = fit(job, callbacks, after_first_step=ahead.start)
            if not chief:
                remove_if_empty(job.backup_dir, shared_path)  # left by tf_keras' backups when output_dir is not shared
                return RunResult(final_path_of(shared_path), {}, classifier, chief=False)
            metrics, run_dir = finishing.evaluate_and_save(job, classifier, scored, *_served_model(job, classifier), ahead)
        if job.precision != "float32" and not callbacks:  # fit's model is not `classifier` and nothing else holds it
            loaded_encoders.release(job.encoder)
        tracker.log_model(run_dir, config, metrics, job.label_map)  # its export/; nothing with save: metrics
    return RunResult(run_dir, metrics, classifier)
