"""Scoring a corpus on one machine, two ways side by side: `python -m tfbert.predict` over one
CSV, and `python -m tfbert.beam_predict` on Beam's DirectRunner with 2 worker processes over
the same rows in shards (issue 33). Beam's worth is past one machine (Dataflow, Flink, Spark);
this measures what its start-up and its workers cost where both run.

    python benchmarks/beam_scoring.py [--rows 400000] [--shards 8] [--runs 3] [--model RUN]

The model is --model, or a run of configs/tiny.yaml (1 epoch, W&B disabled) trained first.
The texts are predict_memory.py's (4-12 words, seeded). Each figure is one whole process
(start-up, the model's load and the output's writing included), the two commands taking
turns: median (min-max) wall seconds over --runs, texts/s at the median, and peak RSS (the
process and its children). The CPU, its bfloat16 flags, Python, TensorFlow, Beam and the
date are printed with the table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from predict_memory import trained_model, write_texts  # noqa: E402  (benchmarks/ is not a package)
from whole_job import REPO, cpu_model, measure  # noqa: E402


def commands(model: Path, folder: Path) -> dict[str, list[str]]:
    beam = [sys.executable, "-m", "tfbert.beam_predict", "--model", str(model), "--input", str(folder / "shards" / "part-*.csv"),
            "--output", str(folder / "out" / "scored"), "--quiet", "--direct_running_mode=multi_processing",
            "--direct_num_workers=2"]
    return {"tfbert.predict, one CSV": [sys.executable, "-m", "tfbert.predict", "--model", str(model), "--input",
                                        str(folder / "texts.csv"), "--output", str(folder / "out" / "scored.parquet"), "--quiet"],
            "tfbert.beam_predict, DirectRunner, 2 workers": beam}


def run(command: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one command, its output folder removed afterwards."""
    wall, peak, done = measure(command, env, 7200)
    if done.returncode != 0:
        sys.exit(f"{command[2]} failed: {done.stderr.strip().splitlines()[-1]}")
    shutil.rmtree(folder / "out")
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="a run directory; default: train configs/tiny.yaml first")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = Path(args.model) if args.model else trained_model(folder / "runs", env)
        texts = pd.read_csv(write_texts(folder / "texts.csv", args.rows))
        (folder / "shards").mkdir()
        for index, start in enumerate(range(0, args.rows, -(-args.rows // args.shards))):
            texts[start:start + -(-args.rows // args.shards)].to_csv(folder / "shards" / f"part-{index}.csv", index=False)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands(model, folder)}
        for _ in range(args.runs):
            for name, command in commands(model, folder).items():
                figures[name].append(run(command, folder, env))
    print(f"{args.rows:,} texts ({args.shards} shards for Beam), {args.runs} runs each")
    print(f"{'command':<46} {'wall s, median (min-max)':>26} {'texts/s':>9} {'peak RSS MiB':>13}")
    for name, runs in figures.items():
        walls = [wall for wall, _ in runs]
        middle = statistics.median(walls)
        print(f"{name:<46} {f'{middle:.1f} ({min(walls):.1f}-{max(walls):.1f})':>26} {args.rows / middle:>9,.0f} "
              f"{max(peak for _, peak in runs):>13,.0f}")
    from tfbert import precision

    flags = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in precision.cpu_flags()] or ["no bfloat16 flags"]
    print(f"\n{cpu_model()} ({', '.join(flags)}), {os.cpu_count()} cores; Python {platform.python_version()}, "
          f"TensorFlow {importlib.metadata.version('tensorflow')}, Beam {importlib.metadata.version('apache-beam')}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
