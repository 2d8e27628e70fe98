"""Weights & Biases tracking that can never break or stall training.

One W&B run per training job (job_type "train") holds everything about the job: the
resolved config, the data exploration (label distribution, text length histograms,
the data set as an artifact), per-step and per-epoch metrics with the learning rate
(W&B's WandbMetricsLogger), fit's validation metrics every epoch under validation/*
(what a sweep's metric and its early termination read), the final evaluation
(metrics in the summary, classification report, confusion matrix, a capped
predictions table) and the run's serving export as a versioned artifact of type
"model" that `tfbert.Predictor.load("entity/project/name:alias")` downloads and loads.
`python -m tfbert.evaluate` opens a second run in the same group with job_type
"evaluate" for a new labelled file.

Every call into wandb goes through Tracker.safely (Tracker's @guarded methods, and the
hooks of the Keras callbacks in tfbert.wandb_callbacks): the first failure prints one
warning and turns tracking off for the rest of the job, so a lost network, a bad API key
or a W&B bug costs the W&B record, never the training run. The exception is a sweep trial (WANDB_SWEEP_ID set by
`wandb agent`): a W&B run that cannot start stops the trial with a one-line error, since
a trial the sweep never hears of is wasted.

>>> from tfbert.tracking import artifact_name
>>> artifact_name("<DataFrame: 80 rows>")  # the dataset artifact of a DataFrame given as data
'DataFrame-80-rows'
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import netrc
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import urlparse

import pandas as pd

from tfbert.config import KEYS_BY_NAME, WANDB_MODES, Config
from tfbert.data.statistics import text_lengths
from tfbert.errors import TfbertError, first_line, warn

if TYPE_CHECKING:
    import numpy as np
    import tf_keras

    from tfbert.data.labels import LabelMap
    from tfbert.data.splits import Split
    from tfbert.scoring import Evaluation

MAX_TABLE_ROWS = 10_000  # rows of each split kept in the dataset artifact
MAX_PREDICTION_ROWS = 1_000  # rows of the validation predictions table
# What the model artifact holds: the serving export (what tfbert.Predictor loads) and the
# run directory's files that make the downloaded folder a run directory to predict and
# evaluate with.
MODEL_ARTIFACT_FILES = ("config.yaml", "label_map.json", "metrics.json")
MODEL_ARTIFACT_EXPORT = "export"


def sweep_id() -> str | None:
    """The sweep this process is a trial of: `wandb agent` sets WANDB_SWEEP_ID."""
    return os.environ.get("WANDB_SWEEP_ID") or None


def download_model_artifact(reference: str) -> Path:
    """The folder of W&B model artifact `reference` (entity/project/name:alias, or
    project/name:alias in your default entity), downloaded by wandb.Api (into
    ./artifacts/name:version, or WANDB_ARTIFACT_DIR; a second call reuses W&B's cache)."""
    try:
        import wandb

        return Path(wandb.Api().artifact(reference, type="model").download())
    except Exception as err:  # noqa: BLE001  (a bad reference, no key, no network: all one message)
        raise TfbertError(f"{reference} is not a local path, and downloading it as a W&B model artifact failed "
                          f"({type(err).__name__}: {first_line(err)}); give a run directory, an export/ folder or "
                          "entity/project/name:alias of a model logged by tfbert, with `wandb login` done and the "
                          "network up") from err


def api_key_configured() -> bool:
    """Whether wandb would find an API key: WANDB_API_KEY or a netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(config: Config) -> str:
    """wandb_mode, else a WANDB_MODE the environment sets, else online with a key, offline without."""
    if config.wandb_mode:
        return config.wandb_mode
    if os.environ.get("WANDB_MODE") in WANDB_MODES:
        return os.environ["WANDB_MODE"]
    if api_key_configured():
        return "online"
    print("tfbert: no W&B API key configured; logging to W&B offline (`wandb login` to go online, "
          "`--wandb_mode=disabled` to turn tracking off)", file=sys.stderr)
    return "offline"


def default_group(config: Config) -> str:
    """The encoder's short name: the last meaningful part of its handle or path."""
    parts = [p for p in re.split(r"[/:]", str(config.encoder or "")) if p and not p.isdigit()]
    return parts[-1] if parts else "tfbert"


def sweep_overrides(config: Config, wandb_config: Mapping[str, Any]) -> dict[str, Any]:
    """The tfbert keys whose value a sweep agent put in wandb.config and that differ from `config`."""
    recorded = config.to_dict()  # what wandb.init was given: DataFrames as their description
    return {name: value for name, value in wandb_config.items()
            if name in KEYS_BY_NAME and value != recorded[name]}


def artifact_name(text: str) -> str:
    """`text` reduced to the characters W&B allows in artifact names."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "tfbert"


Method = TypeVar("Method", bound=Callable[..., Any])


def guarded(what: str) -> Callable[[Method], Method]:
    """A Tracker method run through Tracker.safely: skipped while tracking is off; on any
    error, one warning ("W&B failed during `what`", `what` formatted with the call's
    arguments) and tracking turns off."""
    def decorate(method: Method) -> Method:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def call(self: "Tracker", *args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(self, *args, **kwargs).arguments
            return self.safely(what.format(**arguments), method, self, *args, **kwargs)
        return call  # type: ignore[return-value]
    return decorate


class Tracker:
    """A W&B run, or nothing (disabled, or after the first failure)."""

    def __init__(self, run: Any = None):
        self.run = run

    @property
    def active(self) -> bool:
        return self.run is not None

    @property
    def run_id(self) -> str | None:
        return getattr(self.run, "id", None) if self.active else None

    def safely(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """function(*args, **kwargs); on any error, warn once and stop tracking."""
        if not self.active:
            return None
        try:
            return function(*args, **kwargs)
        except Exception as err:  # noqa: BLE001  (W&B must never stop training)
            warn(f"W&B failed during {what} ({type(err).__name__}: {first_line(err)}); training goes on without W&B")
            self.run = None
            return None

    # --- the parts of a job -------------------------------------------------

    def keras_callbacks(self, initial_step: int = 0, steps_per_epoch: int = 1) -> list[tf_keras.callbacks.Callback]:
        """W&B's metrics logger: every BATCH_LOG_EVERY steps (batch/*) and every epoch (epoch/*);
        and the validation metrics every epoch under validation/* (ValidationLogger); each
        guarded by a SafeCallback (tfbert.wandb_callbacks).

        A run resumed at global step `initial_step` continues the step counts where the
        killed run's backup left them, and skips the steps the killed run already logged
        after that backup, so its charts have no gap and no step twice (ResumedMetricsLogger)."""
        if not self.active:
            return []
        from tfbert.wandb_callbacks import ResumedMetricsLogger, SafeCallback, ValidationLogger

        logger = self.safely("setting up the Keras logger", ResumedMetricsLogger, initial_step, steps_per_epoch)
        if logger is None:
            return []
        logger.logged_through = self._last_logged_batch_step()
        return [SafeCallback(self, ValidationLogger(self)), SafeCallback(self, logger)]

    @guarded("reading the resumed run's last step")
    def _last_logged_batch_step(self) -> int | None:
        """The last batch/batch_step a resumed W&B run holds (None for a new run)."""
        if not getattr(self.run, "resumed", False):
            return None
        value = self.run.summary.get("batch/batch_step")
        return None if value is None else int(value)

    @guarded("logging the data")
    def log_data(self, config: Config, splits: Mapping[str, Split], label_map: LabelMap,
                 stats: Mapping[str, Any]) -> None:
        """The data exploration (split sizes, label distribution, text lengths), and the data as a dataset artifact."""
        import wandb

        plots = {}
        for name, split in splits.items():
            counts = stats[name]["label_distribution"]
            table = wandb.Table(columns=["label", "count"], data=[[label, n] for label, n in counts.items()])
            plots[f"data/{name}/label_distribution"] = wandb.plot.bar(
                table, "label", "count", title=f"Label distribution ({name})")
            lengths = wandb.Table(dataframe=pd.DataFrame(text_lengths(split.texts)))
            for unit in ("words", "characters"):
                plots[f"data/{name}/{unit}_per_text"] = wandb.plot.histogram(
                    lengths, unit, title=f"{unit.capitalize()} per text ({name})")
        self.run.log(plots)
        self.run.summary["data"] = dict(stats)
        self.run.log_artifact(_dataset_artifact(config, splits, label_map), aliases=["latest"])

    @guarded("logging the {title} evaluation")
    def log_evaluation(self, title: str, evaluation: Evaluation, split: Split, label_map: LabelMap) -> None:
        """Metrics into the summary only (the history's validation/* are fit's, one per epoch;
        the summary holds the final, float32 evaluation of the best epoch, which a sweep
        ranks trials by), report and confusion matrix as tables, and predictions."""
        import wandb

        report = wandb.Table(columns=["label", "precision", "recall", "f1-score", "support"])
        for label, row in evaluation.report_rows.items():
            if isinstance(row, dict):
                report.add_data(label, row["precision"], row["recall"], row["f1-score"], row["support"])
        logged = {f"{title}/classification_report": report,
                  f"{title}/predictions": _predictions_table(evaluation, split, label_map)}
        if label_map.task != "multilabel":
            logged[f"{title}/confusion_matrix"] = wandb.plot.confusion_matrix(
                y_true=list(map(int, split.labels)), preds=list(map(int, evaluation.predicted)),
                class_names=label_map.names, title=f"Confusion matrix ({title})")
        self.run.log(logged)
        self.run.summary.update({f"{title}/{name}": value for name, value in evaluation.metrics.items()})

    @guarded("logging the plots")
    def log_images(self, images: Mapping[str, Path]) -> None:
        """The run's PNG pictures, by name."""
        import wandb

        self.run.log({f"plots/{name}": wandb.Image(str(path)) for name, path in images.items()})

    @guarded("logging the model artifact")
    def log_model(self, run_dir: Path, config: Config, metrics: Mapping[str, Any], label_map: LabelMap) -> None:
        """The finished run's serving export (with config.yaml, label_map.json and metrics.json)
        as a versioned artifact of type "model", aliases latest and best: downloaded, it is
        a run directory that `tfbert.Predictor.load`, predict and evaluate take. Nothing is
        uploaded with wandb_log_model: false or save: metrics (the run kept no model)."""
        if not config.wandb_log_model or config.save == "metrics":
            return
        import wandb

        artifact = wandb.Artifact(artifact_name(f"{config.name}-model"), type="model", metadata={
            "metrics": dict(metrics), "label_map": label_map.to_json(), "encoder": config.encoder,
            "config": config.to_dict()})
        artifact.add_dir(str(run_dir / MODEL_ARTIFACT_EXPORT), name=MODEL_ARTIFACT_EXPORT)
        for name in MODEL_ARTIFACT_FILES:
            artifact.add_file(str(run_dir / name), name=name)
        self.run.log_artifact(artifact, aliases=["latest", "best"])

    @guarded("finishing the run")
    def finish(self, exit_code: int = 0) -> None:
        self.run.finish(exit_code=exit_code)


def _dataset_artifact(config: Config, splits: Mapping[str, Split], label_map: LabelMap) -> Any:
    """The data as a W&B artifact of type "dataset": each split's first MAX_TABLE_ROWS rows as a table."""
    import wandb

    recorded = config.to_dict()  # a DataFrame's rows are in the tables below; its name says so
    source = "data" if config.data_path is None else str(recorded["data_path"])
    artifact = wandb.Artifact(artifact_name(Path(source).stem), type="dataset", metadata={
        "data_path": recorded["data_path"], "valid_path": recorded["valid_path"], "test_path": recorded["test_path"],
        "train_split": config.train_split, "valid_split": config.valid_split, "seed": config.seed,
        "rows": {name: len(split) for name, split in splits.items()}, "max_rows_per_split": MAX_TABLE_ROWS})
    for name, split in splits.items():
        artifact.add(wandb.Table(dataframe=_split_frame(split, label_map)), name)
    return artifact


def _split_frame(split: Split, label_map: LabelMap) -> pd.DataFrame:
    """The first MAX_TABLE_ROWS rows of a split as text (, text_pair), label."""
    rows = slice(0, MAX_TABLE_ROWS)
    frame = pd.DataFrame({"text": [str(t) for t in split.texts[rows]]})
    if split.pairs is not None:
        frame["text_pair"] = [str(t) for t in split.pairs[rows]]
    frame["label"] = _label_names_of(split.labels[rows], label_map)
    return frame


def _predictions_table(evaluation: Evaluation, split: Split, label_map: LabelMap) -> Any:
    """The first MAX_PREDICTION_ROWS rows of a split: text, label, predicted label and its probability."""
    import wandb

    rows = slice(0, MAX_PREDICTION_ROWS)
    probabilities = evaluation.probabilities[rows]
    if label_map.task == "multiclass":
        confidence = probabilities.max(axis=-1)
    elif label_map.task == "binary":
        confidence = probabilities[:, 0]  # probability of the positive label
    else:
        confidence = [", ".join(f"{p:.3f}" for p in row) for row in probabilities]
    frame = pd.DataFrame({
        "text": [str(t) for t in split.texts[rows]],
        "label": _label_names_of(split.labels[rows], label_map),
        "predicted": _label_names_of(evaluation.predicted[rows], label_map),
        "probability": confidence,
    })
    return wandb.Table(dataframe=frame)


def _label_names_of(labels: np.ndarray, label_map: LabelMap) -> list[str]:
    """Label names for ids ([n]) or for 0/1 rows ([n, k], joined with commas)."""
    names = label_map.names
    if labels.ndim == 2:
        return [", ".join(n for n, on in zip(names, row) if on) for row in labels]
    return [names[int(i)] for i in labels]


def start(config: Config, job_type: str = "train", run_id: str | None = None) -> tuple[Tracker, Config]:
    """Open the job's W&B run (resuming the run `run_id` when it exists); returns the
    tracker and the config with any sweep values applied. Under a sweep agent a run that
    cannot start raises TfbertError (no offline fallback: the sweep would never see it)."""
    mode = resolve_mode(config)
    if mode == "disabled":
        return Tracker(None), config
    try:
        import wandb
    except Exception as err:  # noqa: BLE001  (a broken wandb install must not stop training)
        if sweep_id():
            raise TfbertError(f"cannot import wandb ({first_line(err)}); a sweep trial needs W&B: "
                              "reinstall it (pip install wandb)") from err
        warn(f"cannot import wandb ({err}); training goes on without W&B")
        return Tracker(None), config
    tracker = Tracker(None)
    for attempt in ((mode,) if mode == "offline" or sweep_id() else (mode, "offline")):
        tracker = Tracker(_init_run(wandb, config, attempt, job_type, run_id))
        if tracker.active:
            break
    if not tracker.active:
        return tracker, config
    overrides = tracker.safely("reading the sweep's config", lambda: sweep_overrides(config, dict(tracker.run.config)))
    if overrides:
        config = config.replace(**overrides)
        tracker.safely("updating the config", tracker.run.config.update, config.to_dict(), allow_val_change=True)
    return tracker, config


def _init_run(wandb: Any, config: Config, mode: str, job_type: str, run_id: str | None = None) -> Any:
    """wandb.init for this job in `mode`, or None (with a warning) when it fails; under a
    sweep agent a failure raises TfbertError."""
    directory = Path(config.output_dir).resolve()  # absolute: a shared W&B service may run elsewhere
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return wandb.init(
            project=config.wandb_project, entity=config.wandb_entity, group=config.wandb_group or default_group(config),
            tags=config.wandb_tags, job_type=job_type, name=config.run_name, config=config.to_dict(), mode=mode,
            dir=str(directory), reinit="finish_previous", id=run_id, resume="allow" if run_id else None,
            settings=wandb.Settings(init_timeout=60, console="off"),
        )
    except Exception as err:  # noqa: BLE001  (no network, bad key, W&B down: train anyway)
        if sweep_id():
            raise TfbertError(f"could not start the W&B run of sweep {sweep_id()} in {mode} mode "
                              f"({first_line(err)}); a sweep trial must report to W&B, so it stops instead of "
                              "training offline: check the network and `wandb login`, then restart the agent") from err
        fallback = "trying offline" if mode == "online" else "training goes on without W&B"
        warn(f"could not start a W&B run in {mode} mode ({first_line(err)}); {fallback}")
        return None


@contextlib.contextmanager
def tracked_job(config: Config, job_type: str = "train", run_id: str | None = None) -> Iterator[tuple[Tracker, Config]]:
    """A W&B run around a job (the run `run_id`, resumed when it exists): yields the tracker
    and the config with any sweep values applied; the run finishes with exit code 1 if the
    job raises (Ctrl-C included), else 0."""
    tracker, config = start(config, job_type, run_id)
    try:
        yield tracker, config
    except BaseException:
        tracker.finish(exit_code=1)
        raise
    tracker.finish()
