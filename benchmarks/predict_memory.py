"""Scoring a file larger than memory: `python -m tfbert.predict`'s peak RSS and texts/s on
CSVs of 100k, 500k and 2M short texts (issue 33).

    python benchmarks/predict_memory.py [--rows 100000,500000,2000000] [--model RUN] [--chunk-rows 50000]

The model is --model, or a run of configs/tiny.yaml (1 epoch, W&B disabled) trained first.
The inputs are generated CSVs (id, text: 4-12 words drawn from the tiny vocabulary's
words, seeded), written to a temporary folder and deleted afterwards. Each row of the
table is one whole `python -m tfbert.predict --model RUN --input FILE --output out.parquet
--chunk-rows N` process: wall time, texts/s (rows / wall time, start-up and the model's
load included) and peak RSS (whole_job's measure: the process and its children, sampled
every 0.1 s). The last row is the largest file in one chunk (--chunk-rows its size): the
whole file in memory, as the command read it before it read in chunks. The CPU, its bfloat16 flags,
Python, TensorFlow and the date are printed with the table.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from whole_job import REPO, cpu_model, measure  # noqa: E402  (benchmarks/ is not a package)


def write_texts(path: Path, rows: int, seed: int = 0) -> Path:
    """`rows` short texts, written a million rows at a time (the generator's memory stays small)."""
    sys.path.insert(0, str(REPO))
    from tfbert import hub_format

    words = np.array([word for word in hub_format.tiny_vocabulary() if word.isalpha() and len(word) > 2])
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for start in range(0, rows, 1_000_000):
            count = min(1_000_000, rows - start)
            lengths = rng.integers(4, 13, count)
            picks = rng.integers(0, len(words), lengths.sum())
            texts = [" ".join(chunk) for chunk in np.split(words[picks], np.cumsum(lengths)[:-1])]
            pd.DataFrame({"id": np.arange(start, start + count), "text": texts}).to_csv(handle, index=False,
                                                                                     header=False)
    return path


def trained_model(folder: Path, env: dict[str, str]) -> Path:
    _, _, done = measure([sys.executable, "-m", "tfbert.train", "--config", "configs/tiny.yaml", "--epochs=1",
                          f"--output_dir={folder}", "--run_name=model", "--wandb_mode=disabled"], env, 1800)
    if done.returncode != 0:
        sys.exit(f"training the model failed: {done.stderr.strip().splitlines()[-1]}")
    return folder / "model"


def score(model: Path, data: Path, out: Path, chunk_rows: int, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one predict command; its output is checked, then deleted."""
    wall, peak, done = measure([sys.executable, "-m", "tfbert.predict", "--model", str(model), "--input", str(data),
                                "--output", str(out), "--chunk-rows", str(chunk_rows), "--quiet"], env, 7200)
    if done.returncode != 0:
        sys.exit(f"predicting failed: {done.stderr.strip().splitlines()[-1]}")
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(out).metadata.num_rows
    out.unlink()
    return wall, peak if rows else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="100000,500000,2000000")
    parser.add_argument("--model", default=None, help="a run directory; default: train configs/tiny.yaml first")
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    sizes = [int(size) for size in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = Path(args.model) if args.model else trained_model(folder / "runs", env)
        rows = [(size, args.chunk_rows) for size in sizes] + [(max(sizes), max(sizes))]
        print(f"{'rows':>10} {'chunk rows':>11} {'wall s':>9} {'texts/s':>9} {'peak RSS MiB':>13}", flush=True)
        for size, chunk_rows in rows:
            data = write_texts(folder / f"texts-{size}.csv", size)
            wall, peak = score(model, data, folder / "out.parquet", chunk_rows, env)
            print(f"{size:>10,} {chunk_rows:>11,} {wall:>9.1f} {size / wall:>9,.0f} {peak:>13,.0f}", flush=True)
    from tfbert import precision

    flags = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in precision.cpu_flags()] or ["no bfloat16 flags"]
    print(f"\n{cpu_model()} ({', '.join(flags)}), {os.cpu_count()} cores; Python {platform.python_version()}, "
          f"TensorFlow {importlib.metadata.version('tensorflow')}; {time.strftime('%Y-%m-%d %H:%M')}")


if __name__ == "__main__":
    main()
