"""`python -m tfbert.train` with test hooks, in a process of its own (see HOOKED_TRAIN).

Usage: `finished = run_hooked_train(["--config", "configs/tiny.yaml", ...], tmp_path / "examples.log")`,
then `logged_batches(tmp_path / "examples.log")`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# `python -m tfbert.train` with test hooks: every training batch's rows are appended to
# $EXAMPLE_LOG as the pipeline hands them to fit (a distributed run's: each per-replica
# batch its worker feeds); $KILL_AT=epoch,step sends the process SIGKILL at the end of that
# step (no cleanup of any kind); $FIT_LOG receives the strategy's replica count when fit
# begins and the model's weights (.npz) when it ends.
HOOKED_TRAIN = """
import json, os, signal, sys
import numpy as np
import tfbert
import tensorflow as tf, tf_keras
from tfbert import callbacks, input_pipeline
from tfbert.errors import exit_process, run_command
from tfbert.train import main

def write(ids):
    rows = [" ".join(str(i) for i in row if i > 0) for row in ids.numpy().tolist()]
    with open(os.environ["EXAMPLE_LOG"], "a") as log:
        log.write(json.dumps(rows) + "\\n")
    return 0

def tap(feats, labels):
    done = tf.py_function(write, [feats["input_word_ids"]], tf.int32)
    with tf.control_dependencies([done]):
        return feats, tf.identity(labels)

training_batches = input_pipeline.training_batches
input_pipeline.training_batches = lambda *args, **kwargs: training_batches(*args, **kwargs).map(tap)

class Hooks(tf_keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        if os.environ.get("FIT_LOG"):
            with open(os.environ["FIT_LOG"], "w") as log:
                log.write(str(self.model.distribute_strategy.num_replicas_in_sync))
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if os.environ.get("KILL_AT") == f"{self.epoch},{batch}":
            os.kill(os.getpid(), signal.SIGKILL)
    def on_train_end(self, logs=None):
        if os.environ.get("FIT_LOG"):
            np.savez(os.environ["FIT_LOG"] + ".npz", *self.model.get_weights())

training_callbacks = callbacks.training_callbacks
callbacks.training_callbacks = lambda *args: training_callbacks(*args) + [Hooks()]
exit_process(run_command(main))  # as the command ends
"""


@dataclasses.dataclass
class Finished:
    """A hooked training process that ended (killed: returncode -9)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def start_hooked_train(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    """HOOKED_TRAIN with `args`, logging examples to `log`, in its own process group (so
    a hung run and all it started can be killed); its output goes to log.out and log.err."""
    script = log.parent / "train_with_hooks.py"
    script.write_text(HOOKED_TRAIN)
    environ = {key: value for key, value in os.environ.items() if key not in ("KILL_AT", "FIT_LOG", "TF_CONFIG")}
    environ |= {"EXAMPLE_LOG": str(log), "PYTHONPATH": str(ROOT), **env}
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        process = subprocess.Popen([sys.executable, str(script), *args], env=environ, cwd=ROOT, stdout=out,
                                   stderr=err, start_new_session=True)
    process.log = log
    process.started = time.monotonic()
    return process


def wait_all(processes: list[subprocess.Popen], timeout: float) -> list[Finished]:
    """Wait for every process; past `timeout` seconds kill all their process groups and fail."""
    deadline = time.monotonic() + timeout
    ended = []
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            ended.append(time.monotonic())
    except subprocess.TimeoutExpired:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"a training process was still running after {timeout} s: killed")
    return [Finished(process.returncode, Path(f"{process.log}.out").read_text(), Path(f"{process.log}.err").read_text(),
                     end - process.started) for process, end in zip(processes, ended)]


def run_hooked_train(args: list[str], log: Path, timeout: float = 600, **env: str) -> Finished:
    return wait_all([start_hooked_train(args, log, **env)], timeout)[0]


def logged_batches(log: Path) -> list[list[str]]:
    """The batches HOOKED_TRAIN logged, each a list of its rows' token ids."""
    return [json.loads(line) for line in log.read_text().splitlines()]
