"""Distribution strategies: names and refusals, each worker's share of the batches, and
real training runs mirrored over 2 logical CPUs and over 2 local worker processes, each
process started on its own with a hard timeout (logical devices and multi-worker
collectives need a fresh TensorFlow runtime; a collective can hang when a peer dies)."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from conftest import command_error, make_split, numbered_rows, raises_one_line, saved_weights, shared
from hooked_train import logged_batches, run_hooked_train, start_hooked_train, wait_all
from tfbert import input_pipeline, distribution, packers
from tfbert.errors import run_command
from tfbert.train import main

TIMEOUT = 300  # seconds any one training process may take before the test kills it
# 252 rows, train_split 0.8: 201 in batches of 16, the last of 9 (per-replica batches 8 and 1 over 2 replicas); 51 validation rows
ROWS, TRAINING_ROWS, STEPS_PER_EPOCH, EPOCHS = 252, 201, 13, 2


def _free_port() -> int:
    """A local port nothing listens on (for a worker to take, or to be refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("options, match", [
    ({"name": "mirorred"}, r"unknown distribution_strategy 'mirorred': use one of auto, off, one_device, mirrored, "),
    ({"name": "parameter_server"}, r"'parameter_server' is not supported: .*use multi_worker_mirrored"),
    ({"name": "tpu", "tokenizer": "py_function"}, r"tokenizer: py_function cannot feed a TPU .*set tokenizer: tf_text"),
    ({"name": "one_device", "cpu_replicas": 2}, r"cpu_replicas is for distribution_strategy: mirrored, not one_device"),
    ({"name": "tpu"}, r"distribution_strategy: tpu found no TPU on this machine \(.*\); choose a TPU runtime"),
    ({"name": "tpu", "tpu_address": "closed"}, r"tpu cannot reach tpu_address 'grpc://127.0.0.1:\d+' \(.*refused"),
])
def test_a_strategy_that_cannot_work_here_is_a_one_line_error(options, match):
    options = dict(options)
    if options.get("tpu_address") == "closed":
        options["tpu_address"] = f"grpc://127.0.0.1:{_free_port()}"
    name = options.pop("name")
    raises_one_line(functools.partial(distribution.make_strategy, **options), name, match=match)


def test_logical_cpus_need_a_runtime_not_yet_started():
    tf.constant(1.0) + 1  # this process's runtime is running
    raises_one_line(distribution.make_strategy, "mirrored", 3,
                    match=r"cpu_replicas: 3 needs a fresh process: TensorFlow already runs here with 1 CPU device")


@pytest.mark.parametrize("tf_config, match", [
    (None, r"multi_worker_mirrored needs TF_CONFIG, the cluster and this worker's place in it"),
    ('{"cluster": {"worker": ["a:1"]}', r"TF_CONFIG is not a cluster spec: .*; it needs"),
    ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', r"TF_CONFIG is not a cluster spec"),
])
def test_multi_worker_needs_a_cluster_spec(monkeypatch, tf_config, match):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    raises_one_line(distribution.make_strategy, "multi_worker_mirrored", match=match)


def test_the_training_command_refuses_a_multi_worker_run_without_a_run_name(capsys, tmp_path):
    argv = ["--config", "configs/tiny.yaml", "--distribution_strategy=multi_worker_mirrored",
            f"--output_dir={tmp_path}", "--wandb_mode=disabled"]
    message = command_error(run_command(main, argv), capsys.readouterr().err)
    assert message.startswith("multi_worker_mirrored needs run_name: every worker must name the same run")
    assert os.listdir(tmp_path) == []


def test_global_batch_sizes_must_split_over_the_replicas():
    four = types.SimpleNamespace(num_replicas_in_sync=4)
    distribution.check_batch_sizes(four, train_batch_size=32, eval_batch_size=64)
    raises_one_line(functools.partial(distribution.check_batch_sizes, train_batch_size=30), four,
                    match=r"train_batch_size 30 does not split evenly over 4 replicas: use a multiple of 4")


def test_one_machine_strategies_by_name():
    assert distribution.make_strategy("off") is tf.distribute.get_strategy()
    assert distribution.make_strategy("auto") is tf.distribute.get_strategy()  # no GPUs here: one device
    one = distribution.make_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy) and distribution.make_strategy("one_device") is one
    assert not distribution.is_distributed(one) and distribution.is_chief(one)


def _rows_of(batches) -> list[list[str]]:
    return [[" ".join(str(i) for i in row if i > 0) for row in feats["input_word_ids"].numpy().tolist()]
            for feats, _ in batches]


@pytest.mark.slow
@pytest.mark.parametrize("replicas, pipelines", [(2, 1), (2, 2), (4, 2)])
def test_workers_share_each_global_batch_and_see_each_example_once_per_epoch(tiny_vocab_file, replicas, pipelines):
    texts = [" ".join(str(i)) for i in range(100)]
    split = make_split(texts, labels=np.arange(100) % 2)
    packer = packers.make_packer("tf_text", tiny_vocab_file, True, 16)
    one_device = _rows_of(input_pipeline.training_batches(split, packer, 32, seed=3, padding="batch", epochs=2))
    assert len(one_device) == 2 * 4  # 100 rows: batches of 32, 32, 32, 4
    shares = [input_pipeline.ReplicaShare(replicas, pipelines, index) for index in range(pipelines)]
    per_worker = [_rows_of(input_pipeline.training_batches(split, packer, 32, 3, "batch", 2, share=share))
                  for share in shares]
    local = replicas // pipelines
    for worker in per_worker:
        assert len(worker) == 2 * 4 * local  # each worker: its local replicas' batches of every step
    for step in range(2 * 4):
        global_batch = [row for worker in per_worker for batch in worker[step * local:(step + 1) * local]
                        for row in batch]
        assert sorted(global_batch) == sorted(one_device[step])  # a step trains on one global batch
    resumed = _rows_of(input_pipeline.training_batches(split, packer, 32, 3, "batch", 2, 0, 3, share=shares[-1]))
    assert resumed == per_worker[-1][3 * local:]  # resuming skips the steps already trained


def _common(data: Path, encoder: Path) -> list[str]:
    return ["--config", "configs/tiny.yaml", f"--data_path={data}", f"--encoder={encoder}", f"--epochs={EPOCHS}",
            "--dropout=0", "--padding=batch", "--train_batch_size=16", "--eval_batch_size=16",
            "--backup_every_steps=4", "--wandb_mode=disabled", "--run_name=r",
            "--mixed_precision=float32"]  # losses compared across strategies within 1e-4: bfloat16 rounds coarser


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_encoder_without_dropout):
    """The labelled rows, the dropout-free tiny encoder, and a one-device run of them."""
    folder = tmp_path_factory.mktemp("distribution")
    data = numbered_rows(folder / "rows.csv", rows=ROWS)
    args = _common(data, tiny_encoder_without_dropout)
    one = run_hooked_train(args + [f"--output_dir={folder / 'one'}"], folder / "one.log", TIMEOUT,
                           FIT_LOG=str(folder / "one.fit"))
    assert one.returncode == 0, one.stderr[-3000:]
    return types.SimpleNamespace(folder=folder, args=args, one=shared(folder / "one" / "r"))


def _history(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "history.csv")


def _trains_like_one_device(run_dir: Path, one: Path, columns: tuple[str, ...] = ("loss", "val_loss")) -> None:
    """Every epoch's `columns` and the final weights of run_dir equal the one-device run's within
    1e-5, the short last batch included (metric states left out: only a model fit itself has them)."""
    run, base = _history(run_dir), _history(one)
    assert len(run) == len(base) == EPOCHS
    for column in columns:
        np.testing.assert_allclose(run[column], base[column], atol=1e-5, rtol=0, err_msg=column)
    want, got = saved_weights(one), saved_weights(run_dir)
    names = [name for name in want if "/metrics/" not in name]
    assert len(names) > 10 and set(names) <= got.keys()
    for name in names:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=0, err_msg=name)


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_trains_like_one_device_and_resumes(setup, tmp_path):
    """Killed after its backup at step 4 of epoch 2, then the same command again: the resumed
    run ends with the one-device run's weights and validation losses, and epoch 1's loss
    (over its short last batch too); epoch 2's loss is the mean over the steps it trained."""
    args = setup.args + ["--distribution_strategy=mirrored", "--cpu_replicas=2", f"--output_dir={tmp_path}"]
    killed = run_hooked_train(args, tmp_path / "killed.log", TIMEOUT, KILL_AT="1,5", FIT_LOG=str(tmp_path / "killed.fit"))
    assert killed.returncode == -signal.SIGKILL
    resumed = run_hooked_train(args, tmp_path / "resumed.log", TIMEOUT, FIT_LOG=str(tmp_path / "resumed.fit"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming training at epoch 2, step 5" in resumed.stderr
    assert (tmp_path / "killed.fit").read_text() == (tmp_path / "resumed.fit").read_text() == "2"  # num_replicas_in_sync
    assert (setup.folder / "one.fit").read_text() == "1"
    _trains_like_one_device(tmp_path / "r", setup.one, ("val_loss",))
    np.testing.assert_allclose(_history(tmp_path / "r")["loss"][0], _history(setup.one)["loss"][0], atol=1e-5, rtol=0)
    # Steps 5 to 13 of epoch 2, each as 2 per-replica batches (of 8 rows; the epoch's last, 9 rows, as 8 and 1)
    assert len(logged_batches(tmp_path / "resumed.log")) == (STEPS_PER_EPOCH - 4) * 2


def _start_workers(args: list[str], folder: Path, kill_worker_1_at: str | None = None,
                   worker_1_args: tuple[str, ...] = ()) -> list:
    """Two worker processes of one multi-worker run on free local ports, each with its own
    TMPDIR (to see that it is left empty) and its own logs (folder/worker-N.*)."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        (folder / f"tmp{index}").mkdir(exist_ok=True)
        env = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "TMPDIR": str(folder / f"tmp{index}"), "FIT_LOG": str(folder / f"worker-{index}.fit")}
        if kill_worker_1_at and index == 1:
            env["KILL_AT"] = kill_worker_1_at
        own = list(worker_1_args) if index == 1 else []
        processes.append(start_hooked_train(args + own, folder / f"worker-{index}.log", **env))
    return processes


def _leftovers(output_dir: Path, *tmp_dirs: Path) -> list[str]:
    """What a run leaves besides its finished directory: staging folders, tf_keras'
    workertemp_N, tfbert's temporary worker folders. (TensorFlow's autograph also writes
    to TMPDIR: generated files a SIGKILL leaves, and a __pycache__ when Python writes bytecode.)"""
    found = [path for path in output_dir.rglob("*") if "workertemp" in path.name or path.name.endswith(".incomplete")]
    return [str(path) for path in found + [path for folder in tmp_dirs for path in folder.glob("tfbert-worker-*")]]


@pytest.mark.slow
def test_two_workers_train_one_run_that_only_the_chief_writes(setup, tmp_path):
    args = setup.args + ["--distribution_strategy=multi_worker_mirrored", f"--output_dir={tmp_path / 'out'}"]
    chief, other = wait_all(_start_workers(args, tmp_path), TIMEOUT)
    assert chief.returncode == 0, chief.stderr[-3000:]
    assert other.returncode == 0, other.stderr[-3000:]
    assert "the chief writes the run directory" in other.stdout and "run directory: " in chief.stdout

    assert os.listdir(tmp_path / "out") == ["r"] and (tmp_path / "out" / "r" / "export").is_dir()
    assert _leftovers(tmp_path / "out", tmp_path / "tmp0", tmp_path / "tmp1") == []
    assert (tmp_path / "worker-0.fit").read_text() == (tmp_path / "worker-1.fit").read_text() == "2"
    weights = [np.load(tmp_path / f"worker-{index}.fit.npz") for index in range(2)]
    assert len(weights[0].files) > 10
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    _trains_like_one_device(tmp_path / "out" / "r", setup.one)

    one_device = logged_batches(setup.folder / "one.log")
    batches = [logged_batches(tmp_path / f"worker-{index}.log") for index in range(2)]
    for epoch in range(EPOCHS):  # each worker feeds one replica: one per-replica batch per step
        steps = slice(epoch * STEPS_PER_EPOCH, (epoch + 1) * STEPS_PER_EPOCH)
        rows = [row for worker in batches for batch in worker[steps] for row in batch]
        assert len(rows) == len(set(rows)) == TRAINING_ROWS  # each example once, across the workers
        assert set(rows) == {row for batch in one_device[steps] for row in batch}  # the training split


@pytest.mark.slow
def test_a_dead_worker_stops_the_other_and_both_resume_from_the_last_backup(setup, tmp_path):
    args = setup.args + ["--distribution_strategy=multi_worker_mirrored", f"--output_dir={tmp_path / 'out'}"]
    chief, other = wait_all(_start_workers(args, tmp_path, kill_worker_1_at="1,5"), TIMEOUT)
    assert other.returncode == -signal.SIGKILL
    assert chief.returncode == 2, chief.stderr[-3000:]  # an error, not a hang: wait_all fails a hang
    last_line = chief.stderr.rstrip().splitlines()[-1]  # after TensorFlow's own logs of the lost peer
    assert last_line.startswith("tfbert: error: a worker of the multi-worker run stopped (lost: /job:worker/")
    assert os.listdir(tmp_path / "out") == [".r.incomplete"]

    killed_leftovers = _leftovers(tmp_path / "out", tmp_path / "tmp0", tmp_path / "tmp1")  # SIGKILL cleans nothing

    # Worker 1 without the chief's backup (an output_dir that is not shared): refused, not trained apart.
    apart = wait_all(_start_workers(args, tmp_path, worker_1_args=(f"--output_dir={tmp_path / 'apart'}",)), TIMEOUT)
    for worker in apart:
        assert worker.returncode == 2, worker.stderr[-3000:]
        assert worker.stderr.rstrip().splitlines()[-1].startswith(
            "tfbert: error: the workers of this multi-worker run disagree on where to start or on the data (worker ")
    assert "worker 1: at epoch 1, step 1" in apart[1].stderr and "worker 0: at epoch 2, step 5" in apart[0].stderr

    chief, other = wait_all(_start_workers(args, tmp_path), TIMEOUT)  # the same commands again
    assert chief.returncode == 0 and other.returncode == 0, chief.stderr[-3000:] + other.stderr[-3000:]
    assert "resuming training at epoch 2, step 5" in chief.stderr and "resuming training at epoch 2, step 5" in other.stderr
    assert os.listdir(tmp_path / "out") == ["r"]
    assert set(_leftovers(tmp_path / "out", tmp_path / "tmp0", tmp_path / "tmp1")) <= set(killed_leftovers)
    assert _history(tmp_path / "out" / "r")["epoch"].tolist() == list(range(EPOCHS))


def test_gradient_accumulation_needs_each_replicas_batch_to_split_into_equal_micro_batches():
    one, two = types.SimpleNamespace(num_replicas_in_sync=1), types.SimpleNamespace(num_replicas_in_sync=2)
    distribution.check_accumulation(two, 32, 4)
    raises_one_line(distribution.check_accumulation, one, 30, 4, match=r"^train_batch_size 30 does not split into "
                    r"gradient_accumulation_steps 4 equal micro-batches: use a multiple of 4$")
    raises_one_line(distribution.check_accumulation, two, 36, 4, match=r"^train_batch_size 36 \(18 per replica over 2 "
                    r"replicas\) does not split into gradient_accumulation_steps 4 equal micro-batches: use a multiple of 8$")


@pytest.mark.slow
def test_mirrored_with_gradient_accumulation_trains_like_one_device(setup, tmp_path):
    """Each replica's 8 rows as 2 micro-batches of 4 (an epoch's last step: 8 rows and 1); their summed
    gradients all-reduced once a step."""
    args = setup.args + ["--distribution_strategy=mirrored", "--cpu_replicas=2", "--gradient_accumulation_steps=2",
                         f"--output_dir={tmp_path}"]
    run = run_hooked_train(args, tmp_path / "run.log", TIMEOUT, FIT_LOG=str(tmp_path / "run.fit"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "run.fit").read_text() == "2"
    _trains_like_one_device(tmp_path / "r", setup.one, ("loss", "val_loss", "accuracy"))
