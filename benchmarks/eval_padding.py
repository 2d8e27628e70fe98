"""Evaluation throughput in the file's order (padding="batch") against length buckets.

    python benchmarks/eval_padding.py [--examples 4096] [--repeats 3] [--encoder all-minilm-l6-v2]

tfbert validates every epoch with bucketed batches (only loss and metrics are needed)
and keeps the file's order for the final evaluation (predictions must line up with the
rows). This measures model.evaluate over the same texts both ways, alternating, and
prints the median examples/s of each, their ratio, and the two losses (which must agree).
Data: ../shared/data/sst2/train.tsv beside the project; --data FILE (sentence and label
columns) otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tfbert  # noqa: E402,F401  (Keras 2 before TensorFlow)
from tfbert import data, input_pipeline, encoders, model, packers, training  # noqa: E402
from tfbert.config import build_config  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sst2" / "train.tsv"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--encoder", default="all-minilm-l6-v2")
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found: give --data FILE with sentence and label columns")

    config = build_config({"encoder": args.encoder})
    frame = pd.read_csv(args.data, sep="\t" if args.data.endswith(".tsv") else ",", quoting=3)
    frame = frame.sample(min(args.examples, len(frame)), random_state=0)
    label_map = data.build_label_map([0, 1], None, False)
    split = data.Split("valid", frame["sentence"].astype(str).to_numpy(dtype=object), None,
                       frame["label"].to_numpy(np.int32))
    encoder = encoders.load_encoder(config.encoder)
    packer = packers.make_packer(config.tokenizer, *encoders.tokenizer_assets(encoder), config.max_seq_length)
    classifier = model.build_classifier(encoder, label_map, config.dropout)
    training.compile_for(config, classifier, label_map, num_train_steps=1)

    speeds, losses = {"batch": [], "bucket": []}, {}
    for _ in range(args.repeats):
        for padding in speeds:
            dataset = input_pipeline.make_dataset(split, packer, config.eval_batch_size, padding=padding)
            classifier.evaluate(dataset.take(2), verbose=0)  # traces the shapes' functions
            start = time.perf_counter()
            losses[padding] = classifier.evaluate(dataset, verbose=0, return_dict=True)["loss"]
            speeds[padding].append(len(split) / (time.perf_counter() - start))
    print(f"{len(split):,} texts, {args.encoder}, batch {config.eval_batch_size}, {args.repeats} repeats, median:")
    for padding, values in speeds.items():
        print(f"  padding={padding:6} {statistics.median(values):8.1f} ex/s   loss {losses[padding]:.6f}   "
              f"(runs: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"  bucket / batch = {statistics.median(speeds['bucket']) / statistics.median(speeds['batch']):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
