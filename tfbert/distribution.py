"""Distribution strategies: one config key takes a run from one device to several GPUs,
several machines or a TPU, on TensorFlow's own engine (tf.distribute).

`make_strategy` turns distribution_strategy's name into a tf.distribute.Strategy, as TF
Model Garden does (official.common.distribute_utils, whose names these are, plus auto).
`distribute` hands a strategy the input each worker builds for itself. The strategy
decides what runs where; tfbert's model is built in its scope and trained by model.fit.

>>> from tfbert import distribution
>>> strategy = distribution.make_strategy("off")
>>> strategy.num_replicas_in_sync, distribution.is_distributed(strategy), distribution.is_chief(strategy)
(1, False, True)
>>> distribution.make_strategy("parameter_server")
Traceback (most recent call last):
tfbert.errors.TfbertError: distribution_strategy 'parameter_server' is not supported: ...
"""

from __future__ import annotations

import json
import os
import socket
from typing import Callable, Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert.config import STRATEGIES, Config
from tfbert.input_pipeline import ReplicaShare
from tfbert.errors import TfbertError, first_line

_made: dict[tuple, tf.distribute.Strategy] = {}  # a process creates each strategy once


def make_strategy(name: str = "auto", cpu_replicas: int | None = None, tpu_address: str | None = None, *,
                  tokenizer: str = "tf_text") -> tf.distribute.Strategy:
    """The strategy `name` names (see the config key distribution_strategy), or a
    TfbertError saying why it cannot be had here. Those `starts_first` names must be
    made before any other TensorFlow work. The same arguments give the same strategy
    object for the rest of the process."""
    check_options(name, cpu_replicas, tokenizer)
    key = (name, cpu_replicas, tpu_address)
    if key not in _made:
        _made[key] = _create(name, cpu_replicas, tpu_address)
    return _made[key]


def starts_first(name: str, cpu_replicas: int | None) -> bool:
    """Whether the strategy must exist before any other TensorFlow work: multi-worker
    collectives, logical CPU devices and a TPU system are set up as the runtime starts.
    The others may wait until the data is read, so a bad file fails before TensorFlow loads."""
    return name in ("multi_worker_mirrored", "tpu") or cpu_replicas is not None


def check_options(name: str, cpu_replicas: int | None, tokenizer: str) -> None:
    """Refuse a strategy name tfbert does not know, or one the other options rule out."""
    if name == "parameter_server":
        raise TfbertError("distribution_strategy 'parameter_server' is not supported: its workers read input through "
                          "the coordinator, where tfbert's py_function tokenizer cannot run; use multi_worker_mirrored")
    if name not in STRATEGIES:
        raise TfbertError(f"unknown distribution_strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    if name == "tpu" and tokenizer == "py_function":
        raise TfbertError("tokenizer: py_function cannot feed a TPU (the TPU runs the graph, not Python); "
                          "set tokenizer: tf_text")
    if cpu_replicas is not None and name != "mirrored":
        raise TfbertError(f"cpu_replicas is for distribution_strategy: mirrored, not {name}; "
                          "set distribution_strategy: mirrored or cpu_replicas: null")


def _create(name: str, cpu_replicas: int | None, tpu_address: str | None) -> tf.distribute.Strategy:
    from official.common import distribute_utils

    gpus = len(tf.config.list_physical_devices("GPU"))
    if name == "auto":
        name = "mirrored" if gpus > 1 else "off"
    if name == "mirrored" and cpu_replicas is not None:
        return tf.distribute.MirroredStrategy(devices=_logical_cpus(cpu_replicas, gpus))
    if name == "multi_worker_mirrored":
        _check_tf_config()
        return _multi_worker(gpus)
    if name == "tpu":
        return _tpu(tpu_address, distribute_utils)
    return distribute_utils.get_distribution_strategy(name, num_gpus=gpus if name == "mirrored" else min(gpus, 1))


def _logical_cpus(count: int, gpus: int) -> list[str]:
    """The names of `count` logical CPU devices on CPU 0, configured now if they are not yet."""
    if gpus:
        raise TfbertError(f"cpu_replicas is for machines without GPUs, and this one has {gpus}: "
                          "set cpu_replicas: null and mirrored uses the GPUs")
    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu) or []
    if len(configured) != count:
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError:
            running = len(tf.config.list_logical_devices("CPU"))
            raise TfbertError(f"cpu_replicas: {count} needs a fresh process: TensorFlow already runs here with "
                              f"{running} CPU device(s), and devices are fixed when it starts; train first in a new "
                              "Python process (in a notebook: restart the runtime)") from None
    return [f"/cpu:{index}" for index in range(count)]


def _check_tf_config() -> None:
    """TF_CONFIG must describe the cluster and this task, in JSON."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise TfbertError("multi_worker_mirrored needs TF_CONFIG, the cluster and this worker's place in it, e.g. "
                          """TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, """
                          """"task": {"type": "worker", "index": 0}}' (see the docs' "Going past one machine")""")
    try:
        spec = json.loads(raw)
        workers, task = spec["cluster"]["worker"], spec["task"]
        ok = isinstance(workers, list) and task["type"] in ("worker", "chief") and int(task["index"]) >= 0
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise TfbertError(f"TF_CONFIG is not a cluster spec: {raw[:200]!r}; it needs "
                          """{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}""")


def _multi_worker(gpus: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy; on CPUs its collectives all-reduce in a ring."""
    implementation = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation.NCCL if gpus else implementation.RING)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise TfbertError(f"cannot start the multi-worker cluster TF_CONFIG describes: {first_line(err)}") from None


def _tpu(tpu_address: str | None, distribute_utils) -> tf.distribute.Strategy:
    address = tpu_address or ""  # "": the local TPU (a TPU VM or Colab's TPU runtime)
    _check_reachable(address)
    try:
        return distribute_utils.get_distribution_strategy("tpu", tpu_address=address)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        where = f"at {address!r}" if address else "on this machine"
        raise TfbertError(f"distribution_strategy: tpu found no TPU {where} ({first_line(err)}); "
                          "choose a TPU runtime (Colab: Runtime > Change runtime type) or set tpu_address") from None


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """A grpc://host:port TPU address must accept a connection: TensorFlow's own connect
    waits for it forever."""
    if not address.startswith("grpc://"):
        return  # a TPU name: the resolver asks the cloud for its address
    host, _, port = address[len("grpc://"):].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise TfbertError(f"distribution_strategy: tpu cannot reach tpu_address {address!r} ({err}); "
                          "check the TPU's address and that it is running") from None


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
    """Whether the strategy trains on more than one replica or worker (its input is then split)."""
    return strategy.num_replicas_in_sync > 1 or workers(strategy) > 1


def workers(strategy: tf.distribute.Strategy) -> int:
    """How many workers (machines or processes) train: those of the cluster for multi-worker, else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes the run's outputs (in a one-machine run, always)."""
    return bool(strategy.extended.should_checkpoint)


def worker_name(strategy: tf.distribute.Strategy) -> str:
    """This worker as TF_CONFIG names it ("worker 1"); "worker 0" on one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if workers(strategy) == 1 or resolver is None:
        return "worker 0"
    return f"{resolver.task_type} {resolver.task_id}"


def agree(strategy: tf.distribute.Strategy, values: Sequence[int]) -> bool:
    """Whether every replica of every worker holds the same `values`. A collective: every
    worker must call it (with values of the same length)."""
    local = tf.constant(values, tf.float64)

    @tf.function
    def sums() -> tf.Tensor:  # of the values and of their squares: all equal iff the variance is 0
        per_replica = strategy.run(lambda: tf.stack([local, local * local]))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    total, squares = sums().numpy() / strategy.num_replicas_in_sync
    return bool(np.allclose(squares, total * total, rtol=0, atol=1e-9))


def check_batch_sizes(strategy: tf.distribute.Strategy, **batch_sizes: int) -> None:
    """Each global batch size must split evenly over the replicas (ReplicaShare.batch_size's rule)."""
    share = ReplicaShare(strategy.num_replicas_in_sync)
    for name, size in batch_sizes.items():
        share.batch_size(size, name)


def check_accumulation(strategy: tf.distribute.Strategy, train_batch_size: int, accumulation_steps: int) -> None:
    """Each replica's share of train_batch_size must split into accumulation_steps equal micro-batches."""
    replicas = strategy.num_replicas_in_sync
    per_replica = ReplicaShare(replicas).batch_size(train_batch_size, "train_batch_size")
    if per_replica % accumulation_steps:
        over = f" ({per_replica} per replica over {replicas} replicas)" if replicas > 1 else ""
        raise TfbertError(f"train_batch_size {train_batch_size}{over} does not split into gradient_accumulation_steps "
                          f"{accumulation_steps} equal micro-batches: use a multiple of {replicas * accumulation_steps}")


def strategy_for(config: Config) -> tf.distribute.Strategy:
    """`config`'s distribution strategy (see make_strategy), checked against its batch sizes."""
    strategy = make_strategy(config.distribution_strategy, config.cpu_replicas, config.tpu_address,
                             tokenizer=config.tokenizer)
    check_batch_sizes(strategy, train_batch_size=config.train_batch_size, eval_batch_size=config.eval_batch_size)
    check_accumulation(strategy, config.train_batch_size, config.gradient_accumulation_steps)
    return strategy


def early_strategy(config: Config, named: bool) -> tf.distribute.Strategy | None:
    """`config`'s strategy when it must start before anything else runs (see starts_first),
    else None; make_strategy refuses options that rule a strategy out, so every such strategy starts first.
    A multi-worker run must be `named` (run_name set, or a run to resume given): every worker names the same run."""
    if config.distribution_strategy == "multi_worker_mirrored" and not named:
        raise TfbertError("multi_worker_mirrored needs run_name: every worker must name the same run, "
                          "e.g. --run_name=sst2-2workers")
    return strategy_for(config) if starts_first(config.distribution_strategy, config.cpu_replicas) else None


class AnyWorker:
    """`AnyWorker(strategy)(flag)`: whether `flag` is true on any worker, the same answer
    on all (a collective that every worker must call at the same point; one worker's
    own answer when there is only one)."""

    def __init__(self, strategy: tf.distribute.Strategy):
        self._strategy = strategy
        self._many = workers(strategy) > 1

    def __call__(self, flag: bool) -> bool:
        if not self._many:
            return flag
        return bool(self._any(tf.constant(float(flag))) > 0)

    @tf.function
    def _any(self, flag: tf.Tensor) -> tf.Tensor:
        per_replica = self._strategy.run(lambda: tf.identity(flag))
        return self._strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)


def distribute(strategy: tf.distribute.Strategy,
               make_batches: Callable[[ReplicaShare], tf.data.Dataset]) -> tf.distribute.DistributedDataset:
    """The strategy's distributed input: each worker builds, with `make_batches`, the
    per-replica batches that are its share of every global step (see ReplicaShare)."""
    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_batches(ReplicaShare(context.num_replicas_in_sync, context.num_input_pipelines,
                                         context.input_pipeline_id))
    return strategy.distribute_datasets_from_function(dataset_fn)
