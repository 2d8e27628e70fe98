"""Long documents: truncate, head_tail and windows against truncate at 512 (issue 24).

    python benchmarks/long_documents.py [--datasets movie-reviews,bbc-news] [--seeds 1,2,3] [--out long_documents.jsonl]
    python benchmarks/long_documents.py --rows windows_128,windows_128_x8,windows_128_even,windows_128_mean --seeds 1
    python benchmarks/long_documents.py --summarize long_documents.jsonl    # the table from a file, nothing run
    python benchmarks/long_documents.py --smoke --out /tmp/smoke.jsonl      # seconds: is the pipeline sound?

Data: two named corpora, read with tfbert.data.tables.read_table: movie-reviews (Pang & Lee's
1,500 full-length reviews, binary, a mean of 848 word pieces) and bbc-news (2,225 articles,
5 topics). A fixed, stratified 20% of each (random_state=0) is the held-out test file; the
rest is the training file, which tfbert splits itself (train_split 0.9, seeded by the run's
seed): 1,080 / 120 / 300 reviews, 1,602 / 178 / 445 articles.

Rows, each its own `python -m tfbert.train --config <generated yaml>` process, on the same
files, encoder (all-MiniLM-L6-v2) and hyperparameters (2 epochs, train_batch_size 16
documents, AdamW 5e-5 with 10% warm-up, weight decay 0.01, dropout 0.1, W&B disabled,
everything else tfbert's defaults, mixed_precision auto included):

truncate_128            long_texts: truncate, max_seq_length 128 (the first 126 word pieces)
head_tail_128           long_texts: head_tail, max_seq_length 128 (the text's head and tail)
windows_128             long_texts: windows, max_seq_length 128 (max_windows, window_stride,
                        window_selection and window_pooling at their defaults)
truncate_512            long_texts: truncate, max_seq_length 512
Ablations (not run by default; --rows selects them):
windows_128_x8          windows_128 with max_windows 8
windows_128_even        windows_128 with window_selection: even
windows_128_mean        windows_128 with window_pooling: mean
windows_128_even_mean   windows_128 with both (the defaults before the ablations chose ends and attention)
head_tail_128_half      head_tail_128 keeping half head, half tail (long_texts.HEAD_FRACTION set
                        to 1/2 in the process: not a config key), for the proportion's choice

The loop is for seed: for dataset: for row, so a partial run has every row of its first
seeds. Each finished run is appended at once as one JSON line to --out (a later kill keeps
it; a rerun with the same --out skips the runs already there). Per run: held-out accuracy
and macro F1 (from the run's confusion_matrix.json: metrics.json's binary f1 is the
positive class's), whole-process wall time and peak RSS (sampled every 0.1 s, whole_job's
measure), the resolved long-text keys from config.yaml, and any window statistics the run
records in data_stats.json. The table: accuracy and macro F1 mean ± sd, wall time median
(min–max), peak RSS median, and windows_128 / truncate_512 wall time per data set, with the
CPU, its bfloat16 flags, Python, TensorFlow and the date. Runs' model/ and export/ folders
are deleted once read (--keep-models keeps them). truncate_512 takes long on a small CPU:
hours for 3 seeds; run it under nice in the background.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_job import REPO, cpu_model, measure, spread  # noqa: E402  (benchmarks/ is not a package)

DATASETS = ("movie-reviews", "bbc-news")
HELD_OUT_FRACTION, SPLIT_STATE = 0.2, 0
BASE = {"text_column": "text", "label_column": "label", "encoder": "all-minilm-l6-v2", "train_split": 0.9,
        "valid_split": 1.0, "optimizer": "adamw", "learning_rate": 5e-5, "warmup_fraction": 0.1,
        "weight_decay": 0.01, "dropout": 0.1, "epochs": 2, "train_batch_size": 16, "early_stopping_patience": 0,
        "wandb_mode": "disabled"}
WINDOWS_128 = {"long_texts": "windows", "max_seq_length": 128}
ROWS = {
    "truncate_128": {"long_texts": "truncate", "max_seq_length": 128},
    "head_tail_128": {"long_texts": "head_tail", "max_seq_length": 128},
    "windows_128": WINDOWS_128,
    "truncate_512": {"long_texts": "truncate", "max_seq_length": 512},
    "windows_128_x8": {**WINDOWS_128, "max_windows": 8},
    "windows_128_even": {**WINDOWS_128, "window_selection": "even"},
    "windows_128_mean": {**WINDOWS_128, "window_pooling": "mean"},
    "windows_128_even_mean": {**WINDOWS_128, "window_selection": "even", "window_pooling": "mean"},
    "head_tail_128_half": {"long_texts": "head_tail", "max_seq_length": 128},
}
# Rows that change a constant rather than a key: run through `python -c` with it set first.
HEAD_FRACTIONS = {"head_tail_128_half": (1, 2)}
DEFAULT_ROWS = ("truncate_128", "head_tail_128", "windows_128", "truncate_512")
# --smoke: a seconds-long check of the whole pipeline, not a measurement.
SMOKE = {"train_docs": 60, "test_docs": 20, "overrides": {"epochs": 1, "max_seq_length": 32}}
LONG_KEYS = ("long_texts", "max_seq_length", "window_stride", "max_windows", "window_selection", "window_pooling")


def write_splits(dataset: str, folder: Path, smoke: bool) -> dict:
    """The fixed held-out test file and the training file of `dataset` (CSV: text, label)."""
    from tfbert.data.tables import read_table

    frame = read_table(dataset)[["text", "label"]]
    train, test = train_test_split(frame, test_size=HELD_OUT_FRACTION, stratify=frame["label"],
                                   random_state=SPLIT_STATE)
    if smoke:
        train = train_test_split(train, train_size=SMOKE["train_docs"], stratify=train["label"],
                                 random_state=SPLIT_STATE)[0]
        test = train_test_split(test, train_size=SMOKE["test_docs"], stratify=test["label"],
                                random_state=SPLIT_STATE)[0]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "train.csv", "test": folder / "test.csv"}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["test"], index=False)
    return {"train": str(paths["train"]), "test": str(paths["test"]), "train_docs": len(train),
            "test_docs": len(test), "classes": int(frame["label"].nunique())}


def scores(confusion: dict) -> dict[str, float]:
    """Accuracy and macro F1 from a confusion matrix (rows true labels, columns predictions)."""
    matrix = confusion["matrix"]
    size = len(matrix)
    total = sum(map(sum, matrix))
    f1s = []
    for k in range(size):
        true_positive = matrix[k][k]
        false_negative = sum(matrix[k]) - true_positive
        false_positive = sum(matrix[i][k] for i in range(size)) - true_positive
        denominator = 2 * true_positive + false_positive + false_negative
        f1s.append(2 * true_positive / denominator if denominator else 0.0)  # sklearn's zero_division=0
    return {"accuracy": sum(matrix[k][k] for k in range(size)) / total, "macro_f1": sum(f1s) / size}


def window_stats(stats: object, prefix: str = "") -> dict[str, float]:
    """Every number data_stats.json records under a key naming windows (e.g. windows per document)."""
    found = {}
    if isinstance(stats, dict):
        for key, value in stats.items():
            name = f"{prefix}{key}"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and "window" in name.lower():
                found[name] = value
            else:
                found |= window_stats(value, name + ".")
    return found


def read_run(run_dir: Path) -> dict:
    """What a finished run's files say: held-out scores, the long-text keys it ran with, window statistics."""
    confusion = json.loads((run_dir / "confusion_matrix.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    data_stats = json.loads((run_dir / "data_stats.json").read_text())
    test_stats = {key: value for key, value in data_stats.items() if "test" in key.lower()}
    timings = json.loads((run_dir / "timings.json").read_text())
    test_title = next(title for title in confusion if "test" in title.lower())
    scored = json.loads((run_dir / "metrics.json").read_text())[test_title].get("num_examples")
    return {**scores(confusion[test_title]), "scored_docs": scored,
            "keys": {key: config.get(key) for key in LONG_KEYS if key in config},
            "windows": window_stats(test_stats or data_stats), "fit_s": timings["seconds"].get("fit"),
            "precision": timings.get("compute_precision")}


def train_command(row: str, config_file: Path) -> list[str]:
    """`python -m tfbert.train --config FILE`, or for a HEAD_FRACTIONS row the same with
    long_texts.HEAD_FRACTION set first."""
    if row not in HEAD_FRACTIONS:
        return [sys.executable, "-m", "tfbert.train", "--config", str(config_file)]
    code = (f"import sys; import tfbert.long_texts as lt; lt.HEAD_FRACTION = {HEAD_FRACTIONS[row]}; "
            "from tfbert.errors import run_command; from tfbert.train import main; sys.exit(run_command(main))")
    return [sys.executable, "-c", code, "--config", str(config_file)]


def run_one(dataset: str, row: str, seed: int, split: dict, work: Path, env: dict[str, str],
            args: argparse.Namespace) -> dict:
    """One `python -m tfbert.train` process: its record for the JSON Lines file."""
    run_name = f"{dataset}-{row}-{seed}" + ("-smoke" if args.smoke else "")
    runs = work / "runs"
    for stale in (runs / run_name, runs / f".{run_name}.incomplete"):  # never resume or collide with an old try
        shutil.rmtree(stale, ignore_errors=True)
    config = {**BASE, **ROWS[row], **(SMOKE["overrides"] if args.smoke else {}), "data_path": split["train"],
              "test_path": split["test"], "seed": seed, "output_dir": str(runs), "run_name": run_name}
    config_file = work / f"{run_name}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    wall, peak, done = measure(train_command(row, config_file), env, args.timeout)
    record = {"dataset": dataset, "row": row, "seed": seed, "smoke": args.smoke, "train_docs": split["train_docs"],
              "test_docs": split["test_docs"], "wall_s": round(wall, 2), "peak_mib": round(peak, 1),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {**record, "error": lines[-1] if lines else f"exit {done.returncode}"}
    try:
        record |= read_run(runs / run_name)
    except (OSError, ValueError, KeyError, StopIteration) as err:
        return {**record, "error": f"run finished but its files could not be read: {err!r}"}
    if not args.keep_models:
        for folder in ("model", "export"):
            shutil.rmtree(runs / run_name / folder, ignore_errors=True)
    return record


def machine() -> dict:
    """Where and with what the runs ran (the figures depend on it)."""
    from tfbert import precision

    flags = sorted(set(precision.BFLOAT16_CPU_FLAGS) & precision.cpu_flags())
    return {"kind": "machine", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu_model(),
            "arch": platform.machine(), "cores": os.cpu_count(), "bfloat16_flags": flags,
            "python": platform.python_version(), "tensorflow": importlib.metadata.version("tensorflow")}


def append(out: Path, record: dict) -> None:
    with out.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())


def load(out: Path) -> tuple[list[dict], list[dict]]:
    """The machine records and the run records of a JSON Lines file (a half-written last line skipped,
    a failure dropped once the same run succeeded)."""
    machines, runs = [], []
    if not out.is_file():
        return machines, runs
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        (machines if record.get("kind") == "machine" else runs).append(record)
    key = lambda run: (run["dataset"], run["row"], run["seed"], run.get("smoke", False))  # noqa: E731
    redone = {key(run) for run in runs if "error" not in run}
    return machines, [run for run in runs if "error" not in run or key(run) not in redone]  # failures later redone


def mean_sd(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def windows_text(runs: list[dict]) -> str:
    """Window statistics the runs recorded (medians over seeds), or a dash."""
    names = sorted({name for run in runs for name in run.get("windows", {})})
    parts = [f"{name} {statistics.median(run['windows'][name] for run in runs if name in run['windows']):.2f}"
             for name in names]
    return "; ".join(parts) or "—"


def table(runs: list[dict]) -> dict[tuple[str, str], dict]:
    """Prints the markdown table; returns per (dataset, row) the mean accuracy and median wall time."""
    print("| data set | row | runs | held-out accuracy | macro F1 | wall s, median (min–max) | peak RSS MiB | windows |")
    print("|---|---|---|---|---|---|---|---|")
    found = {}
    groups = sorted({(run["dataset"], run["row"], run.get("smoke", False)) for run in runs},
                    key=lambda g: (g[2], g[0], list(ROWS).index(g[1]) if g[1] in ROWS else len(ROWS), g[1]))
    for dataset, row, smoke in groups:
        group = [run for run in runs if (run["dataset"], run["row"], run.get("smoke", False)) == (dataset, row, smoke)]
        ok = [run for run in group if "error" not in run]
        label = f"{row} (smoke)" if smoke else row
        failed = f" + {len(group) - len(ok)} failed" if len(ok) < len(group) else ""
        if not ok:
            print(f"| {dataset} | {label} | 0{failed} | — | — | — | — | — |")
            continue
        accuracy, wall = [run["accuracy"] for run in ok], [run["wall_s"] for run in ok]
        print(f"| {dataset} | {label} | {len(ok)}{failed} | {mean_sd(accuracy)} | "
              f"{mean_sd([run['macro_f1'] for run in ok])} | {spread(wall)} | "
              f"{spread([run['peak_mib'] for run in ok], '.0f')} | {windows_text(ok)} |")
        if not smoke:
            found[dataset, row] = {"accuracy": statistics.mean(accuracy), "wall_s": statistics.median(wall),
                                   "seeds": sorted(run["seed"] for run in ok)}
    return found


def targets(found: dict[tuple[str, str], dict]) -> None:
    """windows_128 / truncate_512 wall time, and issue 24's targets, per data set (means and medians)."""
    for dataset in sorted({dataset for dataset, _ in found}):
        windows, long, short = (found.get((dataset, row)) for row in ("windows_128", "truncate_512", "truncate_128"))
        if not windows or not long:
            continue
        print(f"\n{dataset}: windows_128 / truncate_512 wall time (medians) {windows['wall_s'] / long['wall_s']:.2f}x; "
              f"accuracy windows_128 - truncate_512 (means) {100 * (windows['accuracy'] - long['accuracy']):+.2f} points")
        if windows["seeds"] != long["seeds"]:
            print(f"  (seeds differ: windows_128 {windows['seeds']}, truncate_512 {long['seeds']})")
        if short:
            met = (windows["accuracy"] >= long["accuracy"] and windows["wall_s"] < long["wall_s"]
                   and min(windows["accuracy"], long["accuracy"]) > short["accuracy"])
            print(f"  target (windows_128 >= truncate_512 in accuracy, in less time, both > truncate_128 "
                  f"{short['accuracy']:.4f}): {'met' if met else 'missed'}")


def summarize(out: Path) -> None:
    machines, runs = load(out)
    print(f"\n{len(runs)} runs in {out}")
    seen = []
    for record in machines:
        shown = {key: value for key, value in record.items() if key not in ("kind", "date")}
        if shown not in seen:
            seen.append(shown)
            flags = ", ".join(record["bfloat16_flags"]) or "none"
            print(f"- {record['date']}: {record['cpu']} ({record['arch']}, {record['cores']} cores, bfloat16 flags: "
                  f"{flags}), Python {record['python']}, TensorFlow {record['tensorflow']}")
    print()
    targets(table(runs))
    for run in runs:
        if "error" in run:
            print(f"failed: {run['dataset']} {run['row']} seed {run['seed']}: {run['error']}")
        elif run.get("scored_docs") not in (None, run["test_docs"]):  # evaluation must be per document
            print(f"warning: {run['dataset']} {run['row']} seed {run['seed']} scored {run['scored_docs']} "
                  f"held-out rows for {run['test_docs']} documents")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--rows", default=None, help=f"default {','.join(DEFAULT_ROWS)} (smoke: truncate_128); "
                        f"of {', '.join(ROWS)}")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", default="long_documents.jsonl", help="JSON Lines file the runs are appended to")
    parser.add_argument("--summarize", default=None, metavar="FILE.jsonl", help="print FILE's table; run nothing")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE['train_docs']} training and "
                        f"{SMOKE['test_docs']} test documents, {SMOKE['overrides']}: checks the pipeline only")
    parser.add_argument("--work", default=None, help="folder for the data files and runs (default: a new temp folder)")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds before a run is killed")
    parser.add_argument("--keep-models", action="store_true", help="keep each run's model/ and export/")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.summarize:
        summarize(Path(args.summarize))
        return
    rows = [row for row in (args.rows or ("truncate_128" if args.smoke else ",".join(DEFAULT_ROWS))).split(",") if row]
    datasets = [dataset for dataset in args.datasets.split(",") if dataset]
    unknown = sorted(set(rows) - set(ROWS)) + sorted(set(datasets) - set(DATASETS))
    if unknown:
        sys.exit(f"unknown rows or data sets: {', '.join(unknown)} (rows: {', '.join(ROWS)}; "
                 f"data sets: {', '.join(DATASETS)})")
    sys.path.insert(0, str(REPO))
    from tfbert.config import KEYS_BY_NAME

    missing = sorted({key for row in rows for key in ROWS[row]} - set(KEYS_BY_NAME))
    if missing:
        sys.exit(f"this tfbert has no key {', '.join(missing)}: the rows {', '.join(rows)} need issue 24's keys")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    out, work = Path(args.out).resolve(), Path(args.work or tempfile.mkdtemp(prefix="tfbert-long-documents-"))
    done = {(run["dataset"], run["row"], run["seed"], run.get("smoke", False))
            for run in load(out)[1] if "error" not in run}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TOKENIZERS_PARALLELISM": "true", "WANDB_MODE": "disabled"}
    record = machine()
    append(out, record)
    print(f"{record['date']} on {record['cpu']} ({record['cores']} cores, bfloat16 flags: "
          f"{', '.join(record['bfloat16_flags']) or 'none'}), Python {record['python']}, TensorFlow "
          f"{record['tensorflow']}; rows {rows}, seeds {seeds}; work in {work}; results to {out}", flush=True)
    splits = {dataset: write_splits(dataset, work / ("data-smoke" if args.smoke else "data") / dataset, args.smoke)
              for dataset in datasets}
    for seed in seeds:
        for dataset in datasets:
            for row in rows:
                if (dataset, row, seed, args.smoke) in done:
                    print(f"seed {seed} {dataset} {row}: already in {out}, skipped", flush=True)
                    continue
                result = run_one(dataset, row, seed, splits[dataset], work, env, args)
                append(out, result)
                shown = {key: round(value, 4) if isinstance(value, float) else value for key, value in result.items()
                         if key not in ("dataset", "row", "seed", "smoke", "finished")}
                print(f"seed {seed} {dataset} {row}: {json.dumps(shown)}", flush=True)
    summarize(out)


if __name__ == "__main__":
    main()
