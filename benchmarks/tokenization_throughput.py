"""Tokenization throughput: the per-example py_function pipeline against tfbert's packers, no model.

    python benchmarks/tokenization_throughput.py [VOCAB_FILE] [--count 20000] [--batch-size 32]

Generated sentences with SST-2's length profile (step_diagnostic.corpus) go through the
per-example pipeline (one tf.py_function per example, padded to 128: the step diagnostic's
variant (a)) and through input_pipeline.make_dataset with each packer and padding mode. Each is
consumed twice: inside TensorFlow (Dataset.reduce, as Keras' fit does) and iterated in
Python; the best of --repeats passes counts. Without VOCAB_FILE it uses the tiny encoder's
vocabulary (hub_format.tiny_vocabulary), written to a temporary file.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)

# isort: split
import tensorflow as tf
from step_diagnostic.corpus import MAX_SEQ_LENGTH, generated_sentences
from step_diagnostic.per_example_pipeline import per_example_dataset

from tfbert import data, input_pipeline, hub_format, packers

PER_EXAMPLE = f"per-example py_function, padded to {MAX_SEQ_LENGTH}"
PER_EXAMPLE_LIMIT = 4000  # the per-example pipeline is slow: it gets at most this many sentences


def in_graph(dataset: tf.data.Dataset) -> float:
    """Examples per second consumed inside TensorFlow, as Keras' fit does."""
    start = time.perf_counter()
    total = dataset.reduce(np.int64(0), lambda n, batch: n + tf.cast(tf.shape(batch[1])[0], tf.int64))
    return float(total) / (time.perf_counter() - start)


def in_python(dataset: tf.data.Dataset) -> float:
    """Examples per second iterated batch by batch in Python."""
    start, total = time.perf_counter(), 0
    for _, labels in dataset:
        total += int(labels.shape[0])
    return total / (time.perf_counter() - start)


def pipelines(texts: list[str], vocab_file: str, batch_size: int) -> dict[str, Callable[[], tf.data.Dataset]]:
    """Name -> a function making a fresh dataset: the per-example pipeline, then each packer and padding mode."""
    labels = np.zeros(len(texts), dtype=np.int32)
    split = data.Split("tokenize", np.array(texts, dtype=object), None, labels)
    tokenizer = packers.load_tokenizer(vocab_file, True)
    subset = min(len(texts), PER_EXAMPLE_LIMIT)
    runs = {PER_EXAMPLE: lambda: per_example_dataset(texts[:subset], labels[:subset], tokenizer, batch_size)}
    for kind in ("py_function", "tf_text"):
        packer = packers.make_packer(kind, vocab_file, True, MAX_SEQ_LENGTH)
        for padding in (("bucket", "batch", "max") if kind == "tf_text" else ("batch",)):
            runs[f"{kind}, padding={padding}"] = partial(input_pipeline.make_dataset, split, packer, batch_size,
                                                         padding=padding)
    return runs


def measure_tokenization(vocab_file: str, count: int = 20000, batch_size: int = 32, repeats: int = 3) -> None:
    """Print examples/s of the per-example pipeline and of both packers, with the ratio to the per-example one."""
    texts = generated_sentences(count, np.random.default_rng(0))
    print(f"{count} sentences (mean {np.mean([len(t.split()) for t in texts]):.1f} words), batch {batch_size}, "
          f"{len(tf.config.list_physical_devices('CPU'))} CPU device, os.cpu_count()={os.cpu_count()}")
    results = {}
    for name, make in pipelines(texts, vocab_file, batch_size).items():
        make().take(2).reduce(np.int64(0), lambda n, _: n)  # warm up
        results[name] = (max(in_graph(make()) for _ in range(repeats)), max(in_python(make()) for _ in range(repeats)))
    base = results[PER_EXAMPLE][0]
    for name, (graph, python) in results.items():
        print(f"{name:50s} {graph:10,.0f} ex/s in graph ({graph / base:5.1f}x)   "
              f"{python:10,.0f} ex/s iterated in Python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("vocab_file", nargs="?", default=None, help="WordPiece vocab.txt (default: the tiny encoder's)")
    parser.add_argument("--count", type=int, default=20000, help="sentences to tokenize")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3,
                        help="passes per pipeline and way of consuming it; the best counts")
    args = parser.parse_args(argv)
    if args.vocab_file:
        measure_tokenization(args.vocab_file, args.count, args.batch_size, args.repeats)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "vocab.txt"
        path.write_text("\n".join(hub_format.tiny_vocabulary()) + "\n", encoding="utf-8")
        measure_tokenization(str(path), args.count, args.batch_size, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
