"""tfbert.devices: the one line saying what a run computes on and in which precision, and
the warning before a large encoder trains on a CPU."""

from __future__ import annotations

import types

import pytest

import tfbert  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from tfbert import devices, precision, progress
from tfbert.config import load_config

from conftest import ROOT


@pytest.fixture(autouse=True)
def normal_verbosity():
    progress.set_verbosity(progress.NORMAL)
    yield
    progress.set_verbosity(progress.NORMAL)


def test_the_cpu_is_named_from_proc_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.20GHz\nflags\t\t: avx2\n")
    assert devices.cpu_name(cpuinfo) == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert devices.cpu_name(tmp_path / "missing")  # some name, from the platform
    assert devices.cpu_cores() >= 1


@pytest.mark.parametrize("kind, names, replicas, workers, expected", [
    ("CPU", ["Intel Xeon"], 1, 1, "1 replica on CPU (Intel Xeon, 2 cores)"),
    ("CPU", ["Intel Xeon"], 2, 1, "2 replicas on CPU (Intel Xeon, 2 cores)"),
    ("GPU", ["Tesla T4"], 1, 1, "1 replica on 1 GPU (Tesla T4)"),
    ("GPU", ["NVIDIA A100", "NVIDIA A100"], 4, 2, "4 replicas over 2 workers, on each 2 GPUs (NVIDIA A100, NVIDIA A100)"),
    ("TPU", ["TPU:0"] * 8, 8, 1, "8 replicas on TPU (8 cores)"),
])
def test_the_devices_line_names_the_hardware_and_the_replicas(kind, names, replicas, workers, expected):
    line = devices.devices_line(devices.hardware(kind, names, cores=2), replicas, workers, "float32", "why")
    assert line == f"devices: {expected}; precision: float32 (why)"


def test_this_machine_is_described_as_it_is():
    import tensorflow as tf

    kind, words = devices.strategy_hardware(tf.distribute.get_strategy(), on_tpu=False)
    assert kind == ("GPU" if tf.config.list_physical_devices("GPU") else "CPU")
    assert words.startswith("CPU (") if kind == "CPU" else "GPU" in words


def test_the_cpu_estimate_scales_with_parameters_rows_tokens_and_epochs_over_cores():
    assert devices.slow_cpu_warning(devices.LARGE_ENCODER, 1000, 128, 3, cores=2) is None  # not over the line
    rows, tokens, cores = 10_000, 128, 4
    seconds = 6 * 110_000_000 * rows * tokens / (devices.CPU_FLOPS_PER_CORE["float32"] * cores)
    warning = devices.slow_cpu_warning(110_000_000, rows, tokens, epochs=3, cores=cores)
    assert warning.startswith(f"training a 110M-parameter encoder on a CPU is slow: roughly {progress.duration(seconds)} "
                              f"per epoch, {progress.duration(3 * seconds)} for 3 epochs (a rough estimate")
    assert "10,000 rows of up to 128 tokens" in warning and "on 4 cores" in warning
    assert warning.endswith("use a GPU runtime (in Colab: Runtime > Change runtime type > T4 GPU)") and "\n" not in warning
    faster = devices.slow_cpu_warning(110_000_000, rows, tokens, epochs=3, cores=cores, policy="mixed_bfloat16")
    bf16_seconds = seconds * devices.CPU_FLOPS_PER_CORE["float32"] / devices.CPU_FLOPS_PER_CORE["mixed_bfloat16"]
    assert f"roughly {progress.duration(bf16_seconds)} per epoch" in faster and "in mixed_bfloat16 on 4 cores" in faster


class FakeStrategy:
    num_replicas_in_sync = 1

    class extended:  # noqa: N801  (as tf.distribute's strategies spell it)
        worker_devices = ("/job:localhost/replica:0/task:0/device:CPU:0",)


def big_encoder(parameters: int) -> types.SimpleNamespace:
    """A stand-in for a hub.KerasLayer with `parameters` values in its weights (no memory)."""
    return types.SimpleNamespace(weights=[types.SimpleNamespace(shape=(parameters - 10, 1)),
                                          types.SimpleNamespace(shape=(10,))])


def test_a_large_encoder_on_a_cpu_gets_the_line_then_the_warning(capsys, monkeypatch):
    config = load_config(ROOT / "configs" / "tiny.yaml", mixed_precision="float32", epochs=2)
    monkeypatch.setattr(devices, "cpu_cores", lambda: 2)
    devices.announce_devices(config, FakeStrategy(), *precision.resolve("float32"), big_encoder(110_000_000), rows=8000)
    line, warning = capsys.readouterr().err.splitlines()
    assert line == f"tfbert: devices: 1 replica on CPU ({devices.cpu_name()}, 2 cores); precision: float32 " \
                   "(mixed_precision: float32)"
    assert warning == "tfbert: warning: " + devices.slow_cpu_warning(110_000_000, 8000, 32, 2, cores=2)

    devices.announce_devices(config, FakeStrategy(), *precision.resolve("float32"), big_encoder(4_000_000), rows=8000)
    assert len(capsys.readouterr().err.splitlines()) == 1  # a small encoder: the line only

    progress.set_verbosity("quiet")  # the line is a note, the warning is a warning
    devices.announce_devices(config, FakeStrategy(), *precision.resolve("float32"), big_encoder(110_000_000), rows=8000)
    assert capsys.readouterr().err.startswith("tfbert: warning: training a 110M-parameter encoder on a CPU")


def test_the_docstring_examples_run():
    import doctest

    failures, tries = doctest.testmod(devices, optionflags=doctest.ELLIPSIS)
    assert (failures, tries > 0) == (0, True)
