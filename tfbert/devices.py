"""What a run computes on, said up front: one `tfbert: devices: ...` note with the devices,
the strategy's replicas and the precision (and why), and a warning when a large encoder
is about to train on a CPU, with a rough estimate of how long that takes.

>>> from tfbert import devices
>>> devices.devices_line(devices.hardware("CPU", ["Intel Xeon"], cores=8), replicas=1, workers=1,
...                      policy="float32", reason="mixed_precision: null")
'devices: 1 replica on CPU (Intel Xeon, 8 cores); precision: float32 (mixed_precision: null)'
>>> devices.hardware("GPU", ["Tesla T4", "Tesla T4"], cores=8)
'2 GPUs (Tesla T4, Tesla T4)'
>>> devices.slow_cpu_warning(parameters=4_400_000, rows=1000, max_seq_length=128, epochs=3, cores=2) is None
True
>>> print(devices.slow_cpu_warning(parameters=110_000_000, rows=8000, max_seq_length=128, epochs=3, cores=2))
training a 110M-parameter encoder on a CPU is slow: roughly 56m 19s per epoch, 2h 49m for 3 epochs (a rough ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf

from tfbert import distribution, precision, progress
from tfbert.config import Config
from tfbert.errors import warn

LARGE_ENCODER = 100_000_000  # parameters: above this, training on a CPU takes hours
# What a CPU core sustains while training a BERT encoder, in FLOP/s counted as 6 per
# parameter per token, by the policy it computes in. Measured on 2026-12-02 on a 2-core AMD
# EPYC with avx512_bf16 (no amx_bf16): a BERT-base-sized BertEncoder (109M parameters),
# batch 32 x 128 tokens, 8.1 s a step in mixed_bfloat16 and 12.4 s in float32 while another
# job shared the machine, so about 1.7e11 and 1.1e11 a core; rounded down. Cores without
# avx512_bf16 or amx_bf16 train in float32. The step time fit measures replaces the estimate.
CPU_FLOPS_PER_CORE = {"float32": 100e9, "mixed_bfloat16": 150e9}
GPU_HINT = "use a GPU runtime (in Colab: Runtime > Change runtime type > T4 GPU)"


def cpu_name(cpuinfo: str | Path = precision.CPUINFO) -> str:
    """The CPU's model name as Linux gives it, or the machine type where there is no /proc/cpuinfo."""
    name = precision.cpuinfo_value(("model name", "Model", "Hardware"), cpuinfo)
    if name:
        return " ".join(name.split())
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def hardware(kind: str, names: Sequence[str], cores: int) -> str:
    """What the replicas run on, in words: the CPU's model and cores, the GPUs' names or the TPU's cores."""
    if kind == "CPU":
        return f"CPU ({names[0] if names else 'unknown CPU'}, {cores} cores)"
    plural = "s" if len(names) != 1 else ""
    if kind == "TPU":
        return f"TPU ({len(names)} core{plural})"
    return f"{len(names)} GPU{plural} ({', '.join(names)})"


def devices_line(hardware: str, replicas: int, workers: int, policy: str, reason: str) -> str:
    """The devices note's message."""
    where = f"{replicas} replica{'s' if replicas != 1 else ''}"
    where += f" over {workers} workers, on each" if workers > 1 else " on"
    return f"devices: {where} {hardware}; precision: {policy} ({reason})"


def slow_cpu_warning(parameters: int, rows: int, max_seq_length: int, epochs: int, cores: int,
                     policy: str = "float32") -> str | None:
    """None for an encoder of at most LARGE_ENCODER parameters, else the warning that
    training it on a CPU is slow, with a rough time: about 6 FLOPs per parameter per token
    (forward and backward), every row taken as max_seq_length tokens (so an upper bound
    when batches are padded to their longest text), at CPU_FLOPS_PER_CORE[policy] a core."""
    if parameters <= LARGE_ENCODER:
        return None
    flops = CPU_FLOPS_PER_CORE.get(policy, CPU_FLOPS_PER_CORE["float32"])
    per_epoch = 6 * parameters * rows * max_seq_length / (flops * max(cores, 1))
    return (f"training a {parameters / 1e6:.0f}M-parameter encoder on a CPU is slow: roughly "
            f"{progress.duration(per_epoch)} per epoch, {progress.duration(per_epoch * epochs)} for {epochs} epochs "
            f"(a rough estimate: 6 FLOPs per parameter per token, {rows:,} rows of up to {max_seq_length} tokens, "
            f"{flops / 1e9:.0f} GFLOP/s per core in {policy} on {cores} cores); {GPU_HINT}")


def parameter_count(layer: tf.Module) -> int:
    """The number of values in `layer`'s weights (a hub.KerasLayer has them before it is built)."""
    return sum(int(np.prod(weight.shape)) for weight in layer.weights)


def strategy_hardware(strategy: tf.distribute.Strategy, on_tpu: bool) -> tuple[str, str]:
    """(kind, words) for what `strategy`'s replicas on this worker run on: CPU, GPU or TPU."""
    try:
        used = [device.upper() for device in strategy.extended.worker_devices]
    except RuntimeError:  # the default strategy: TensorFlow places ops on the first GPU, if any
        used = ["GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"]
    kind = "TPU" if on_tpu else "GPU" if any("GPU:" in device for device in used) else "CPU"
    if kind == "CPU":
        names = [cpu_name()]
    elif kind == "GPU":
        found = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in tf.config.list_physical_devices("GPU")]
        names = found[:len(used)] or ["GPU"] * len(used)
    else:
        names = used
    return kind, hardware(kind, names, cpu_cores())


def announce_devices(config: Config, strategy: tf.distribute.Strategy, policy: str, reason: str, encoder: tf.Module,
                     rows: int) -> None:
    """The devices note for `config`'s run about to train `encoder` in `policy` (chosen for
    `reason`: see precision.resolve) on `rows` rows, and the slow-CPU warning when it
    applies (see devices_line and slow_cpu_warning)."""
    kind, words = strategy_hardware(strategy, on_tpu=config.distribution_strategy == "tpu")
    progress.note(devices_line(words, strategy.num_replicas_in_sync, distribution.workers(strategy), policy, reason))
    if kind == "CPU":
        tokens = config.max_seq_length * (config.max_windows if config.long_texts == "windows" else 1)  # a row's bound
        message = slow_cpu_warning(parameter_count(encoder), rows, tokens, config.epochs, cpu_cores(), policy)
        if message:
            warn(message)
