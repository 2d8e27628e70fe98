"""Measurements the variants share: wall and CPU clocks, peak memory, step and tokenization summaries."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

TOKENIZE_PASSES = 3  # (b) and (c): tokenization is the median of this many passes over the data


class Timer:
    """Seconds since construction, on the performance counter."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def peak_rss_mib() -> float:
    """This process's peak resident set size (VmHWM), MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process), for spotting contention."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    own = os.times()
    return busy / ticks, own.user + own.system


def step_summary(start: float, ends: Sequence[float], warmup: int, batch_size: int) -> dict:
    """Training figures from the time training began and the end time of every step; the first warmup steps untimed."""
    timed = np.diff(ends[warmup - 1:])
    return {
        "warmup_s": ends[warmup - 1] - start,
        "train_s": float(timed.sum()),
        "train_steps": int(len(timed)),
        "train_ex_per_s": batch_size * len(timed) / float(timed.sum()),
        "step_ms_median": 1000 * float(np.median(timed)),
        "step_ms_max": 1000 * float(timed.max()),
    }


def tokenize_summary(examples: int, seconds: Sequence[float]) -> dict:
    """Tokenization figures from one or more passes over the same examples: the median pass counts."""
    return {
        "tokenize_ex_per_s": examples / float(np.median(seconds)),
        "tokenize_passes_ex_per_s": [examples / s for s in seconds],
        "tokenize_examples": examples,
    }


def width_stats(widths: Sequence[int], real_tokens: float) -> dict:
    """Mean padded width of the training batches, and the fraction of it that is real tokens."""
    return {"mean_width": float(np.mean(widths)), "real_token_fraction": real_tokens / float(np.mean(widths)),
            "widths": sorted(set(widths))}


def keras_step_timer(warmup: int):
    """A Keras callback noting the time at the end of every training step; .summary(batch_size) gives the figures."""
    import tf_keras

    class StepTimer(tf_keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[float] = []
            self.start = 0.0

        def on_train_begin(self, logs=None) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None) -> None:  # logs arrive as NumPy: the step has finished
            self.ends.append(time.perf_counter())

        def summary(self, batch_size: int) -> dict:
            return step_summary(self.start, self.ends, warmup, batch_size)

    return StepTimer()


def keras_widths(dataset) -> tuple[int, float, list[int]]:
    """Iterate a Keras dataset once: (examples, seconds, padded width of each batch)."""
    timer = Timer()
    examples, widths = 0, []
    for feats, _ in dataset:
        shape = feats["input_word_ids"].shape
        examples += int(shape[0])
        widths.append(int(shape[1]))
    return examples, timer.seconds, widths


def keras_train(classifier, batches, spec: dict, batch_size: int) -> dict:
    """Fit a compiled classifier for spec's warm-up plus timed steps on repeated batches; the step figures."""
    timer = keras_step_timer(spec["warmup"])
    classifier.fit(batches.repeat(), steps_per_epoch=spec["warmup"] + spec["steps"], epochs=1, verbose=0,
                   callbacks=[timer])
    return timer.summary(batch_size)


def keras_inference(classifier, dataset, examples: int) -> dict:
    """Examples per second of classifier.predict over the dataset, after a one-batch warm-up that traces it."""
    classifier.predict(dataset.take(1), verbose=0)  # traces (and compiles) predict_function
    timer = Timer()
    outputs = classifier.predict(dataset, verbose=0)
    assert len(outputs) == examples, (len(outputs), examples)
    return {"infer_ex_per_s": examples / timer.seconds}
