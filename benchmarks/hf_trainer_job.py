"""The peer's whole job: Hugging Face's Trainer fine-tuning the same encoder on the same files.

    python benchmarks/hf_trainer_job.py --checkpoint DIR --train train.csv --valid valid.csv \
        --test heldout.csv --output DIR --seed 1 [--group-by-length] [--bf16] [--out result.json]

Configured as Trainer's users configure it: AutoModelForSequenceClassification (two
labels, softmax cross-entropy), the fast tokenizer, DataCollatorWithPadding (each batch
padded to its longest), AdamW with linear warm-up over 10% of the steps, validation at
the end of the epoch, and `group_by_length=True` (Trainer's LengthGroupedSampler:
shuffled mega-batches of 50 batches, each sorted by length), or without it for the naive
row; `--bf16` is Trainer's `bf16=True` (autocast to bfloat16, on the CPU too). Then the
held-out file is scored and the model saved, as tfbert's job does. The process prints (and
writes with --out) one JSON object: phase seconds and accuracy.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,  # noqa: E402
                          Trainer, TrainingArguments)


class TextDataset(torch.utils.data.Dataset):
    """Tokenized rows, unpadded (the collator pads each batch)."""

    def __init__(self, encodings: dict, labels: np.ndarray):
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{key: values[i] for key, values in self.encodings.items()}, "labels": int(self.labels[i])}


def load(path: str, tokenizer, max_length: int) -> TextDataset:
    frame = pd.read_csv(path)
    encodings = tokenizer(frame["sentence"].tolist(), truncation=True, max_length=max_length)
    return TextDataset(dict(encodings), frame["label"].to_numpy())


def version_specific(group_by_length: bool) -> dict:
    """Length grouping and 10% warm-up in the spelling of the installed transformers: 5.x
    has train_sampling_strategy and a float warmup_steps; 4.x group_by_length and warmup_ratio."""
    parameters = inspect.signature(TrainingArguments.__init__).parameters
    if "train_sampling_strategy" in parameters:
        return {"train_sampling_strategy": "group_by_length" if group_by_length else "random", "warmup_steps": 0.1}
    return {"group_by_length": group_by_length, "warmup_ratio": 0.1}


def accuracy(prediction) -> dict:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("--checkpoint", "--train", "--valid", "--test", "--output"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--group-by-length", action="store_true")
    parser.add_argument("--bf16", action="store_true", help="Trainer's bf16=True (mixed precision)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    phases = {"start_up": time.perf_counter() - STARTED}

    mark = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    train, valid, test = (load(path, tokenizer, args.max_length) for path in (args.train, args.valid, args.test))
    phases["data_and_tokenizer"] = time.perf_counter() - mark

    mark = time.perf_counter()
    model = AutoModelForSequenceClassification.from_pretrained(args.checkpoint, num_labels=2)
    training_args = TrainingArguments(
        output_dir=args.output, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128,
        learning_rate=args.learning_rate, weight_decay=0.01, num_train_epochs=1, eval_strategy="epoch",
        save_strategy="no", logging_strategy="no", report_to="none", seed=args.seed, use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, bf16=args.bf16, **version_specific(args.group_by_length))
    trainer = Trainer(model=model, args=training_args, train_dataset=train, eval_dataset=valid,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)
    phases["model_load"] = time.perf_counter() - mark

    mark = time.perf_counter()
    trainer.train()  # includes the end-of-epoch validation
    phases["train_and_validation"] = time.perf_counter() - mark

    mark = time.perf_counter()
    held_out = trainer.evaluate(test, metric_key_prefix="test")
    phases["final_evaluation"] = time.perf_counter() - mark

    mark = time.perf_counter()
    trainer.save_model(str(Path(args.output) / "model"))
    tokenizer.save_pretrained(str(Path(args.output) / "model"))
    phases["model_save"] = time.perf_counter() - mark

    validation_runtime = next((row["eval_runtime"] for row in trainer.state.log_history if "eval_runtime" in row), 0.0)
    result = {"phases": phases, "validation_s": validation_runtime,
              "train_s": phases["train_and_validation"] - validation_runtime,
              "test_accuracy": held_out["test_accuracy"], "train_examples": len(train),
              "torch_threads": torch.get_num_threads(), "total_s": time.perf_counter() - STARTED}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
