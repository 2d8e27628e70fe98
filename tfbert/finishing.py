"""The end of a training run, after fit: the final evaluation of the best epoch (metrics,
report files and plots), model/ and the serving export/, timings.json, and the run
directory moved into place (see `tfbert.training`, whose `train` calls `evaluate_and_save`;
it needs a trained Job, so this module has no short example).

model/ and export/ are written in one background thread while the final evaluation runs:
the evaluation computes in TensorFlow's own threads, which leave Python free for the
saving's tracing. export/ starts once the validation split has given the decision
threshold it serves with. The run directory is moved into place only after both are
written, so a run that fails or is killed before then leaves its staging folder (an
unfinished run), never a finished-looking one. The report work that needs nothing from
training (`ReportsAhead`) is done earlier still, in a thread while fit's steps run.
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tf_keras

from tfbert import export, model, packers, plots, scoring
from tfbert.job import Job

SPLIT_TITLES = {"valid": "validation", "test": "test"}


def scored(job: Job, classifier: tf_keras.Model, name: str) -> scoring.ModelOutputs:
    """The final evaluation's pass over split `name` (fit's last epoch may make it: LastEpochValidation)."""
    return scoring.run_model_in_length_order(classifier, job.splits[name], job.evaluation_batches, job.label_map)


def _load_report_libraries() -> None:
    """sklearn.metrics and matplotlib, which the reports need, loaded ahead of them."""
    scoring.sklearn_metrics()
    plots.pyplot()


class ReportsAhead:
    """The report work that needs nothing from training, done in a background thread while
    fit's steps run: sklearn.metrics and matplotlib loaded (about a second on 2 cores) and
    the W&B article's data plots drawn into the run directory (unless a GUI backend must draw
    them on the main thread, plots.draws_off_main_thread, or not `draws`: the caller's callbacks
    may draw with pyplot during fit, which is not thread-safe). That work is Python's, and the
    steps leave a core partly idle while their kernels run; before the steps, tracing keeps
    Python busy, so `start` it once the first step is done (training.fit does). `data_plots`
    waits for it, or does it then when it never started (a run resumed after fit). Leaving
    it as a context manager waits for the thread, so a failed run leaves none writing."""

    def __init__(self, job: Job, draws: bool = True):
        self._job = job
        self._draws = draws
        self._started: Future | None = None

    def __enter__(self) -> ReportsAhead:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._started is not None:
            wait([self._started])  # no thread outlives a failed run

    def start(self) -> None:
        if self._started is None and self._job.is_chief:
            worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfbert-reports")
            draws = self._draws and plots.draws_off_main_thread()
            self._started = worker.submit(self._draw if draws else _load_report_libraries)
            worker.shutdown(wait=False)  # the thread ends with its one task

    def data_plots(self) -> dict[str, Path]:
        """The data plots' PNGs by name (what plots.save_data_plots returns)."""
        drawn = self._started.result() if self._started is not None else None
        return drawn if drawn is not None else self._draw()

    def _draw(self) -> dict[str, Path]:
        _load_report_libraries()
        texts = {name: split.texts for name, split in self._job.splits.items()}
        return plots.save_data_plots(self._job.run.path / "plots", self._job.stats, texts)


def _training_curves(run_dir: Path) -> dict[str, Path]:
    """Training curves from history.csv, as a PNG."""
    history = pd.read_csv(run_dir / "history.csv")
    return {"training_curves": plots.save(plots.training_curves(history, "accuracy"),
                                          run_dir / "plots" / "training_curves.png")}


def evaluate_splits(job: Job, classifier: tf_keras.Model, outputs_from_fit: Mapping[str, scoring.ModelOutputs] | None = None,
                    on_threshold: Callable[[float], None] = lambda threshold: None,
                    ahead: ReportsAhead | None = None) -> tuple[dict[str, dict[str, Any]], float]:
    """Metrics of the validation (and test) split, the report files and plots; returns
    the metrics by split title and the decision threshold. `outputs_from_fit`: outputs of
    `classifier` fit already computed, by split name, which are not computed again.
    `on_threshold` is called with the threshold as soon as the validation split gives it.
    `ahead`: the report work fit's steps may have done already (ReportsAhead)."""
    splits, label_map, outputs_from_fit = job.splits, job.label_map, outputs_from_fit or {}
    ahead = ahead or ReportsAhead(job)
    with job.timings.phase("final_evaluation"):
        outputs = {}
        for name in ("valid", "test"):
            if name in splits:
                outputs[name] = outputs_from_fit[name] if name in outputs_from_fit else scored(job, classifier, name)
            if name == "valid":
                threshold = scoring.decision_threshold(job.config.decision_threshold, splits["valid"].labels,
                                                       outputs["valid"], label_map)
                on_threshold(threshold)
        results = {SPLIT_TITLES[name]: (scoring.score(output, splits[name].labels, label_map, threshold),
                                        splits[name]) for name, output in outputs.items()}
    with job.timings.phase("reports_and_plots"):
        data_plots = ahead.data_plots()  # before anything else draws: pyplot is not thread-safe
        for title, (result, split) in results.items():
            job.tracker.log_evaluation(title, result, split, label_map)
        figures = scoring.write_report(job.run, results, label_map, threshold)
        figures |= _training_curves(job.run.path) | data_plots
        job.tracker.log_images(figures)
    return {title: result.metrics for title, (result, _) in results.items()}, threshold


def save_model(job: Job, classifier: tf_keras.Model) -> None:
    """model/: the classifier as a Keras SavedModel that reloads for training."""
    with job.timings.phase("model_save"):
        export.save_model(classifier, job.run.path / "model", job.label_map)


def save_export(job: Job, served: tf_keras.Model, served_precision: str, threshold: float) -> None:
    """export/: `served` (computing in `served_precision`) behind the tensorflow-text tokenizer, taking raw strings."""
    config = job.config
    with job.timings.phase("export"):
        serving_packer = packers.make_packer("tf_text", *job.tokenizer_assets, config.max_seq_length, job.packer.long_texts)
        export.save_serving_model(served, serving_packer, job.label_map, threshold, job.run.path / "export",
                                  with_pairs=job.splits["train"].pairs is not None, clean_text=config.clean_text,
                                  precision=served_precision)


def finish(job: Job) -> Path:
    """timings.json, the checkpoints and backup removed, then the run directory moved into place; its final path."""
    job.run.write_json("timings.json", job.timings.to_json())
    shutil.rmtree(job.run.path / "checkpoints", ignore_errors=True)
    shutil.rmtree(job.backup_dir)
    return job.run.finish()


def _unless_failed(earlier: list[Future], write: Callable[..., None], *args: Any) -> None:
    """`write(*args)`, unless one of the `earlier` writes (done: one thread runs them in turn) failed."""
    if not any(future.exception() for future in earlier):
        write(*args)


def evaluate_and_save(job: Job, classifier: tf_keras.Model, outputs_from_fit: Mapping[str, scoring.ModelOutputs],
                      served: tf_keras.Model, served_precision: str, ahead: ReportsAhead | None = None
                      ) -> tuple[dict[str, dict[str, Any]], Path]:
    """The final evaluation (see evaluate_splits) with what the `save` key keeps (all: model/
    and export/; model: export/ only; metrics: neither) written beside it in a background
    thread, then `finish`; returns the metrics by split title and the run's final path.
    `served`: the model export/ serves, computing in `served_precision`; `ahead`: the report
    work fit's steps may have done already."""
    save = job.config.save
    # While model/ is written, tf_keras sets `classifier`'s predict_function aside (Model._trackable_children),
    # so the evaluation then predicts with a second model object over the same layers. export/ does not
    # track the Keras model (export.ServingModel), so without model/ the classifier's own traced
    # predict_function (fit's last validation may have traced it) serves the evaluation.
    evaluated = model.layers_only(classifier) if save == "all" else classifier
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfbert-save") as saving:
        written: list[Future] = []
        try:
            saving.submit(_load_report_libraries)
            if save == "all":
                written.append(saving.submit(save_model, job, classifier))

            def export_with(threshold: float) -> None:
                if save in ("all", "model"):
                    written.append(saving.submit(_unless_failed, list(written), save_export, job, served,
                                                 served_precision, threshold))

            metrics, _ = evaluate_splits(job, evaluated, outputs_from_fit, export_with, ahead)
            for future in written:
                future.result()  # raises what the saving raised
        except BaseException:
            saving.shutdown(wait=True, cancel_futures=True)  # no write outlives the run; the staging folder stays
            raise
    return metrics, finish(job)
