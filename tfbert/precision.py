"""The precision a run computes in: Keras' dtype policy, and what `mixed_precision: auto`
picks for this machine.

auto picks mixed_bfloat16 on a CPU with bfloat16 units (the `avx512_bf16` or `amx_bf16`
flag), a GPU of compute capability 8.0 or more (A100, L4, H100) or a TPU, mixed_float16
on an older GPU (T4, V100: float16 tensor cores, with loss scaling) and float32 otherwise.

>>> from tfbert.precision import choose
>>> choose(gpu_capabilities=[], cpu_flags={"avx512f", "amx_bf16"})
('mixed_bfloat16', 'this CPU has amx_bf16')
>>> choose(gpu_capabilities=[(7, 5)], cpu_flags=set())
('mixed_float16', 'a GPU of compute capability 7.5')
>>> choose(gpu_capabilities=[], cpu_flags={"avx2"})[0]
'float32'
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo's names for x86 bfloat16 units
CPUINFO = "/proc/cpuinfo"
AS_SAVED = "mixed_precision: auto; the encoder runs as saved, so nothing to gain from mixed precision"


def cpuinfo_value(keys: Iterable[str], cpuinfo: str | Path = CPUINFO) -> str | None:
    """The first non-empty value Linux's /proc/cpuinfo gives one of `keys` (None where
    there is none, or no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    keys = set(keys)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys and value.strip():
            return value.strip()
    return None


def cpu_flags(cpuinfo: str | Path = CPUINFO) -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    return set((cpuinfo_value(("flags", "Features"), cpuinfo) or "").split())


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each visible GPU (starts TensorFlow's runtime)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability:
            capabilities.append(tuple(capability))
    return capabilities


def choose(gpu_capabilities: Iterable[tuple[int, int]], cpu_flags: set[str], on_tpu: bool = False) -> tuple[str, str]:
    """(policy, why) for `auto`, from the GPUs' compute capabilities and the CPU's flags
    (on a TPU: mixed_bfloat16, the TPU's own format)."""
    if on_tpu:
        return "mixed_bfloat16", "a TPU"
    gpus = list(gpu_capabilities)
    if gpus:
        oldest = min(gpus)
        policy = "mixed_bfloat16" if oldest >= (8, 0) else "mixed_float16"
        return policy, f"a GPU of compute capability {oldest[0]}.{oldest[1]}"
    found = [flag for flag in BFLOAT16_CPU_FLAGS if flag in cpu_flags]
    if found:
        return "mixed_bfloat16", f"this CPU has {' and '.join(found)}"
    return "float32", "no GPU, and this CPU has no bfloat16 units (avx512_bf16, amx_bf16)"


def resolve(setting: str | None, on_tpu: bool = False) -> tuple[str, str]:
    """(policy, why) for a config's mixed_precision: auto chooses for this machine and says
    what it found; null is float32 (configs written before auto existed).

    >>> from tfbert.precision import resolve
    >>> resolve("mixed_float16"), resolve(None)
    (('mixed_float16', 'mixed_precision: mixed_float16'), ('float32', 'mixed_precision: null'))
    >>> resolve("auto", on_tpu=True)
    ('mixed_bfloat16', 'mixed_precision: auto; a TPU')
    """
    if setting == "auto":
        policy, why = choose([] if on_tpu else gpu_capabilities(), cpu_flags(), on_tpu)
        return policy, f"mixed_precision: auto; {why}"
    return setting or "float32", f"mixed_precision: {setting if setting else 'null'}"


def for_encoder(setting: str | None, resolved: tuple[str, str], encoder_rebuilt: bool) -> tuple[str, str]:
    """(policy, why) a run computes in once its encoder is loaded: what `resolve` gave,
    except that auto keeps float32 when the encoder runs as saved (nothing to gain).

    >>> from tfbert.precision import for_encoder
    >>> for_encoder("auto", ("mixed_bfloat16", "mixed_precision: auto; a TPU"), encoder_rebuilt=False)[0]
    'float32'
    """
    if setting == "auto" and not encoder_rebuilt:
        return "float32", AS_SAVED
    return resolved


def for_export(setting: str, run_precision: str, encoder_rebuilt: bool) -> str:
    """The policy the serving export computes in: float32, or with export_precision: auto the
    run's (its probabilities stay float32: the head's output layer is float32 under every policy),
    except that an encoder trained as saved keeps float32 (its graph computes in float32 anyway).

    >>> from tfbert.precision import for_export
    >>> for_export("auto", "mixed_bfloat16", True), for_export("float32", "mixed_bfloat16", True)
    ('mixed_bfloat16', 'float32')
    >>> for_export("auto", "mixed_bfloat16", encoder_rebuilt=False), for_export("auto", "float32", True)
    ('float32', 'float32')
    """
    return run_precision if setting == "auto" and encoder_rebuilt else "float32"
