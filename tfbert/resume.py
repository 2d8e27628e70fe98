"""Resuming a training run that was killed: which run, where it stopped, and what it already did.

A run trains in its staging folder (see run_directory). Its `backup/` folder holds
tf_keras' BackupAndRestore checkpoint (weights, optimizer, epoch, step), the W&B run id
and, once fit has ended, a marker saying so; the folder is deleted when the run finishes.

>>> import tempfile, pathlib
>>> from tfbert import resume
>>> backup = pathlib.Path(tempfile.mkdtemp())
>>> resume.resume_point(backup, steps_per_epoch=10)  # no backup yet: from the start
(0, 0)
>>> resume.next_step(epoch=2, batch=4, steps_per_epoch=10), resume.next_step(2, 9, 10)
((2, 5), (3, 0))
"""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from tfbert import atomic
from tfbert.config import Config, dump_config
from tfbert.errors import TfbertError
from tfbert.run_directory import (final_path_of, is_staging_folder, is_unfinished, staging_for, staging_path,
                                  unfinished_runs)

BACKUP = "backup"  # in the staging folder
FIT_ENDED = "fit_ended"  # marker in BACKUP: fit is done, resume at the final evaluation
WANDB_RUN_ID = "wandb_run_id"  # file in BACKUP: the W&B run this run logs to
# Keys that may differ between a killed run and the command that resumes it: where
# outputs go, W&B's record, how often to back up, and learning_rate (lowered after a NaN).
MAY_CHANGE_ON_RESUME = ("output_dir", "run_name", "backup_every_steps", "backup_every_minutes", "learning_rate", "save",
                        "tensorboard")


def next_step(epoch: int, batch: int, steps_per_epoch: int) -> tuple[int, int]:
    """The (epoch, step) after a backup taken at the end of step `batch` of `epoch`."""
    return (epoch + 1, 0) if batch >= steps_per_epoch - 1 else (epoch, batch + 1)


def resume_point(backup_dir: Path, steps_per_epoch: int) -> tuple[int, int] | None:
    """(epoch, step) where training resumes, as tf_keras' BackupAndRestore will: (0, 0)
    without a backup; None once fit has ended (nothing left to train)."""
    if (backup_dir / FIT_ENDED).exists():
        return None
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(backup_dir / "chief"))
    if latest is None:
        return 0, 0
    reader = tf.train.load_checkpoint(latest)
    epoch = int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    batch = int(reader.get_tensor("ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    if batch >= 0:
        return next_step(epoch, batch, steps_per_epoch)
    return (epoch + 1, 0) if epoch >= 0 else (0, 0)


def mark_fit_ended(backup_dir: Path) -> None:
    atomic.write_text(backup_dir / FIT_ENDED, "")


def earlier_val_losses(history_csv: Path, start_epoch: int, trim: bool = True) -> list[float]:
    """The validation losses of the epochs before `start_epoch`; with `trim`, history.csv
    is cut back to those epochs (a row written after the last backup would otherwise
    appear twice). The chief of a multi-worker run trims; the other workers only read."""
    if start_epoch == 0 or not history_csv.is_file():
        return []
    history = pd.read_csv(history_csv)
    kept = history[history["epoch"] < start_epoch]
    if trim:
        buffer = io.StringIO()
        kept.to_csv(buffer, index=False)
        atomic.write_text(history_csv, buffer.getvalue())
    return [float(value) for value in kept["val_loss"]] if "val_loss" in kept else []


def wandb_run_id(backup_dir: Path) -> str:
    """The W&B run id this run logs to: the killed run's, else a sweep agent's, else a new one."""
    saved = backup_dir / WANDB_RUN_ID
    if saved.is_file():
        return saved.read_text(encoding="utf-8").strip()
    return os.environ.get("WANDB_RUN_ID") or uuid.uuid4().hex[:12]


def save_wandb_run_id(backup_dir: Path, run_id: str) -> None:
    atomic.write_text(backup_dir / WANDB_RUN_ID, run_id + "\n")


def changed_keys(saved_config_yaml: str, config: Config) -> list[str]:
    """The keys whose value differs between a killed run's config.yaml and `config`,
    other than MAY_CHANGE_ON_RESUME and the W&B keys."""
    import yaml

    saved: dict[str, Any] = yaml.safe_load(saved_config_yaml) or {}
    current = yaml.safe_load(dump_config(config))
    return [name for name, value in current.items()
            if not name.startswith("wandb_") and name not in MAY_CHANGE_ON_RESUME and saved.get(name) != value]


def _check_same_config(staging: Path, config: Config) -> None:
    saved = staging / "config.yaml"
    if not saved.is_file():
        return  # killed before it wrote its config: nothing trained yet
    changed = changed_keys(saved.read_text(encoding="utf-8"), config)
    if changed:
        raise TfbertError(f"the unfinished run in {staging} was started with other values of {', '.join(changed)}; "
                          "resume it with its own config, or set another run_name to start a new run")


def _run_to_resume(config: Config, resume: bool | str | Path) -> tuple[Path, str]:
    """(output_dir, run_name) of the unfinished run `resume` names."""
    if resume is True:
        runs = unfinished_runs(config.output_dir, prefix=f"{config.name}-") if config.run_name is None else \
            [staging_for(config)]
        runs = [run for run in runs if run.is_dir()]
        if not runs:
            raise TfbertError(f"--resume: no unfinished run of config '{config.name}' in {config.output_dir}; "
                              "run without --resume to start one, or give the run's folder: --resume PATH")
        staging = runs[-1]
    else:
        path = Path(resume)
        staging = path if is_staging_folder(path) else staging_path(path)
        if not is_unfinished(staging) or not staging.is_dir():
            finished = final_path_of(staging)
            state = "has finished" if finished.is_dir() else "does not exist"
            raise TfbertError(f"--resume {resume}: the run {finished} {state}; give an unfinished run's folder")
    final = final_path_of(staging)
    return final.parent, final.name


def resolve_run(config: Config, resume: bool | str | Path | None, default_name: str) -> Config:
    """`config` with the run to write: the one `resume` names, else its run_name (an
    unfinished run of that name is resumed), else `default_name`. Refuses an unfinished
    run whose config differs in keys other than MAY_CHANGE_ON_RESUME and W&B's."""
    if resume:
        output_dir, run_name = _run_to_resume(config, resume)
        config = config.replace(output_dir=str(output_dir), run_name=run_name)
    elif config.run_name is None:
        return config.replace(run_name=default_name)
    staging = staging_for(config)
    if staging.is_dir():
        _check_same_config(staging, config)
        print(f"tfbert: resuming the unfinished run in {staging}", file=sys.stderr)
    return config
