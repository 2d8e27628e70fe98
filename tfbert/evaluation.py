"""Re-evaluating a finished run on new labelled data, through the run's serving export
(the tokenization, weights and decision threshold that serve), with the training run's
report files written to a new folder (default RUN_DIR/evaluations/<file name>).

`tfbert.evaluate` is this module's `evaluate`; `python -m tfbert.evaluate` is its command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

from tfbert import export, plots, scoring, tracking
from tfbert.config import Config, load_config
from tfbert.data.splits import Columns, make_split, read_labelled
from tfbert.data.statistics import dataset_stats
from tfbert.data.tables import DataSource
from tfbert.errors import TfbertError
from tfbert.predictor import Predictor
from tfbert.run_directory import RunDirectory

REPORT_TITLE = "evaluation"  # the split title of a file evaluated after training
# Config keys an evaluation takes: how to read the new file, and where to track.
EVALUATION_KEYS = ("text_column", "text_pair_column", "label_column", "clean_text", "on_bad_rows", "eval_batch_size",
                   "wandb_mode", "wandb_project", "wandb_entity", "wandb_group", "wandb_tags")
DATAFRAME_FOLDER = "dataframe"  # the report folder's default name when the data is a DataFrame


@dataclasses.dataclass(frozen=True)
class EvaluationResult:
    """A finished evaluation: its metrics and the report folder with its files."""

    folder: Path
    metrics: dict[str, Any]

    @property
    def report_paths(self) -> dict[str, Path]:
        """The report's files by name (metrics.json, classification_report.txt, plots/...)."""
        return {path.relative_to(self.folder).as_posix(): path
                for path in sorted(self.folder.rglob("*")) if path.is_file()}


def evaluation_config(run_dir: Path, overrides: dict[str, Any]) -> Config:
    """The run's config.yaml with the reading and W&B keys of `overrides` applied."""
    config_file = run_dir / "config.yaml"
    if not config_file.is_file():
        raise TfbertError(f"{run_dir} is not a tfbert run directory (it has no config.yaml); give --model RUN_DIR")
    others = sorted(set(overrides) - set(EVALUATION_KEYS))
    if others:
        raise TfbertError(f"{', '.join(others)} cannot change when evaluating a trained model; "
                          f"the keys you can set are {', '.join(EVALUATION_KEYS)}")
    return load_config(config_file, **overrides)


def report_folder(run_dir: Path, source: DataSource, output: str | Path | None) -> Path:
    """Where the report goes: `output`, else RUN_DIR/evaluations/<file name>; never an existing folder."""
    default_name = DATAFRAME_FOLDER if isinstance(source, pd.DataFrame) else Path(str(source)).stem
    folder = Path(output) if output else run_dir / "evaluations" / default_name
    if folder.exists():
        raise TfbertError(f"{folder} already exists; choose another folder with --output")
    return folder


@contextlib.contextmanager
def staged_report(folder: Path) -> Iterator[RunDirectory]:
    """The report, written in a staging folder that is renamed to `folder` once complete
    and removed on an error (an evaluation has nothing to resume)."""
    report = RunDirectory(folder.parent, folder.name)
    try:
        yield report
        report.finish()
    except BaseException:
        shutil.rmtree(report.path, ignore_errors=True)
        raise


def evaluate(run_dir: str | Path, data_source: DataSource, /, output: str | Path | None = None,
             **overrides: Any) -> EvaluationResult:
    """Score a finished run (its folder, or a W&B model artifact reference such as
    "entity/project/name:latest", downloaded) on labelled data (a file or a DataFrame)
    through its serving export; `overrides` are reading and W&B keys such as text_column="review".

        >>> import tfbert
        >>> run = tfbert.train("configs/tiny.yaml", epochs=1, wandb_mode="disabled", output_dir=tmp)
        15/15 - ... - loss: ... - val_loss: ...
        >>> result = tfbert.evaluate(run.run_dir, "toy-sentiment", wandb_mode="disabled")
        >>> result.folder.name, result.metrics["num_examples"], "predictions.csv" in result.report_paths
        ('toy-sentiment', 600, True)
    """
    run_dir = export.local_or_artifact(run_dir)
    export.refuse_unfinished(run_dir)
    config = evaluation_config(run_dir, overrides)
    folder = report_folder(run_dir, data_source, output)
    serving = export.load_serving_model(run_dir)
    label_map = serving.label_map
    rows = read_labelled(data_source, Columns.from_config(config), config.on_bad_rows)
    split = make_split(REPORT_TITLE, rows, label_map)
    names, served = Predictor(serving, config.eval_batch_size).serve(split.texts, split.pairs)
    probabilities = scoring.model_probabilities(served, label_map)
    outputs = scoring.ModelOutputs(scoring.keras_results(label_map, split.labels, probabilities), probabilities)
    result = scoring.score(outputs, split.labels, label_map, serving.threshold)

    tracked = config.replace(run_name=f"{config.run_name}-evaluate-{folder.name}", output_dir=str(run_dir.parent))
    with tracking.tracked_job(tracked, job_type="evaluate") as (tracker, _), staged_report(folder) as report:
        stats = dataset_stats({REPORT_TITLE: split}, label_map)
        report.write_json("data_stats.json", stats)
        figures = scoring.write_report(report, {REPORT_TITLE: (result, split)}, label_map, serving.threshold)
        figures |= plots.save_data_plots(report.path / "plots", stats, {REPORT_TITLE: split.texts})
        export.with_predictions(rows.frame, names, served, label_map).to_csv(report.path / "predictions.csv", index=False)
        tracker.log_evaluation(REPORT_TITLE, result, split, label_map)
        tracker.log_images(figures)
    return EvaluationResult(folder, result.metrics)
