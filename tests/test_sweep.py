"""configs/sweep.yaml's command, run as a W&B sweep agent runs it (the W&B tracking: test_tracking.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import tfbert  # noqa: F401

from tfbert import evaluation
from tfbert.predict import main as predict_main
from tfbert.errors import run_command

from conftest import RUN_FILES, command_error, raises_one_line
from wandb_logs import LoggedRun, sentiment_csv

REPO = Path(__file__).parents[1]


def _agent_command(sweep: dict, args: list[str]) -> list[str]:
    """The command line a W&B agent runs for `sweep` with these parameter values."""
    expanded = []
    for part in sweep["command"]:
        if part == "${args}":
            expanded += args
        else:
            expanded.append({"${env}": "/usr/bin/env", "${interpreter}": sys.executable}.get(part, part))
    return expanded


def read_sweep() -> dict:
    return yaml.safe_load((REPO / "configs" / "sweep.yaml").read_text())


def test_the_sweep_searches_the_documented_keys_by_validation_loss_under_hyperband():
    sweep = read_sweep()
    assert set(sweep["parameters"]) == {"learning_rate", "train_batch_size", "dropout", "epochs", "max_seq_length",
                                        "save"}
    assert sweep["metric"]["name"] == "validation/loss" and sweep["early_terminate"]["type"] == "hyperband"
    assert sweep["command"][:2] == ["${env}", "${interpreter}"]


@pytest.mark.slow
def test_the_sweep_agents_command_line_reaches_the_model(tmp_path, hf_checkpoint, capsys):
    """configs/sweep.yaml's command, run as an agent would, over small stand-ins of the demo's assets."""
    cache = tmp_path / "cache"
    hf_checkpoint(cache / "assets" / "all-minilm-l6-v2" / "model")
    polarity = cache / "assets" / "movie-review-polarity" / "polarity-en-pang&lee2.csv"
    polarity.parent.mkdir(parents=True)
    frame = pd.read_csv(sentiment_csv(tmp_path / "data.csv", rows=80))
    polarity.write_text("\ufeff" + "".join(f'"{1 if y else -1}","{t}"\n' for t, y in zip(frame.text, frame.label)))
    shutil.copytree(REPO / "configs", tmp_path / "configs")

    sweep = read_sweep()  # its keys, metric and command: the test above
    args = ["--dropout=0.2", "--epochs=1", "--learning_rate=0.0003", "--max_seq_length=32", "--train_batch_size=8",
            f"--save={sweep['parameters']['save']['value']}"]
    env = {**os.environ, "TFBERT_CACHE": str(cache), "WANDB_MODE": "offline"}
    done = subprocess.run(_agent_command(sweep, args), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    (run_dir,) = (tmp_path / "runs").glob("demo-*")
    written = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (written["dropout"], written["epochs"], written["learning_rate"], written["max_seq_length"],
            written["train_batch_size"], written["save"]) == (0.2, 1, 0.0003, 32, 8, "metrics")
    # save: metrics: a trial keeps its reports, no model.
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(set(RUN_FILES) - {"model", "export"})
    history = pd.read_csv(run_dir / "history.csv")
    assert len(history) == 1  # epochs=1 reached model.fit
    (logged_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    logged = LoggedRun(logged_dir)
    assert logged.config["learning_rate"] == pytest.approx(0.0003)
    # The sweep's metric, every epoch (what Hyperband compares), and no model artifact.
    assert [row[sweep["metric"]["name"]] for row in logged.history if sweep["metric"]["name"] in row] == \
        pytest.approx(history["val_loss"].tolist())
    assert "model" not in {artifact.type for artifact in logged.artifacts}
    # Predicting or evaluating with a trial's run says why it cannot.
    status = run_command(predict_main, ["--model", str(run_dir), "--input", str(tmp_path / "data.csv")])
    out, err = capsys.readouterr()
    assert "was saved with `save: metrics`, which keeps no model" in command_error(status, err, out)
    raises_one_line(evaluation.evaluate, run_dir, str(tmp_path / "data.csv"), match="saved with `save: metrics`")
