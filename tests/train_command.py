"""The train command in-process (`run_main`), and the labelled texts the training tests train on.

Usage: `run = run_main(["--config", "configs/tiny.yaml"])`, then `run.status`, `run.stderr`, `run.result`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import types

import numpy as np
import pandas as pd
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import training
from tfbert.train import main as train_main
from tfbert.errors import run_command

from conftest import reviews

MACRO_METRICS = {"accuracy", "precision", "recall", "f1", "loss", "num_examples"}

# Words of the tiny encoder's vocabulary: the label is which topic's words a text holds.
NEUTRAL = "the this film movie story plot cast script was is a very with and".split()
TOPICS = {"music": "music love fun".split(), "crime": "bad wrong worst".split(), "nature": "world life day".split()}
# conftest's synthetic reviews, named as a user's file might name them.
sentiment_frame = functools.partial(reviews, columns=("review", "sentiment"), labels=("negative", "positive"))


def run_main(argv: list[str]) -> types.SimpleNamespace:
    """The train command as the CLI runs it, in-process: exit status, stdout, stderr, RunResult."""
    results = []
    real_train = training.train

    def spy(config, **options):
        result = real_train(config, **options)
        results.append(result)
        return result

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        patch.setattr(training, "train", spy)
        status = run_command(train_main, argv)
    return types.SimpleNamespace(status=status, stdout=out.getvalue(), stderr=err.getvalue(),
                                 result=results[0] if results else None)


def topic_frame(num_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    rows = []
    for i in range(num_rows):
        topic = names[i % 3]
        words = list(rng.choice(NEUTRAL, size=3)) + list(rng.choice(TOPICS[topic], size=2))
        rows.append((" ".join(words), topic))
    return pd.DataFrame(rows, columns=["text", "topic"])


def macro_row(report: str) -> list[float]:
    line = next(line for line in report.splitlines() if line.strip().startswith("macro avg"))
    return [float(x) for x in line.split()[2:5]]
