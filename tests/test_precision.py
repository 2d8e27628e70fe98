"""What mixed_precision: auto picks, from the CPU's flags and the GPUs' compute capabilities."""

from __future__ import annotations

import pytest

from tfbert import precision

CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
model name\t: {model}
flags\t\t: fpu vme sse sse2 avx avx2 avx512f {extra}
bogomips\t: 4800.00

processor\t: 1
flags\t\t: fpu vme sse sse2 avx avx2 avx512f {extra}
"""


@pytest.mark.parametrize("extra, expected", [
    ("avx512_bf16", ("mixed_bfloat16", "this CPU has avx512_bf16")),  # AMD EPYC (Zen 4), Intel Cooper Lake
    ("amx_bf16 amx_tile avx512_bf16", ("mixed_bfloat16", "this CPU has amx_bf16 and avx512_bf16")),  # Sapphire Rapids
    ("avx512_vnni", ("float32", "no GPU, and this CPU has no bfloat16 units (avx512_bf16, amx_bf16)")),
])
def test_auto_on_a_cpu_follows_its_bfloat16_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(vendor="x", model="y", extra=extra))
    flags = precision.cpu_flags(cpuinfo)
    assert "avx2" in flags and "bogomips" not in flags
    assert precision.choose([], flags) == expected


@pytest.mark.parametrize("capabilities, expected", [
    ([(7, 5)], "mixed_float16"),  # T4
    ([(7, 0)], "mixed_float16"),  # V100
    ([(8, 0)], "mixed_bfloat16"),  # A100
    ([(8, 9)], "mixed_bfloat16"),  # L4
    ([(9, 0), (7, 5)], "mixed_float16"),  # the oldest GPU decides
])
def test_auto_on_gpus_picks_bfloat16_from_compute_capability_8(capabilities, expected):
    assert precision.choose(capabilities, {"avx512_bf16"})[0] == expected


def test_auto_on_a_tpu_is_bfloat16_and_explicit_settings_stay():
    assert precision.choose([], set(), on_tpu=True) == ("mixed_bfloat16", "a TPU")
    assert precision.resolve("mixed_float16")[0] == "mixed_float16"
    assert precision.resolve(None)[0] == "float32"  # configs from before auto
    assert precision.resolve("auto", on_tpu=True)[0] == "mixed_bfloat16"


def test_a_machine_without_proc_cpuinfo_has_no_flags(tmp_path):
    assert precision.cpu_flags(tmp_path / "missing") == set()


def test_the_reason_for_a_policy_names_the_setting_and_what_auto_found(monkeypatch):
    assert precision.resolve("mixed_bfloat16") == ("mixed_bfloat16", "mixed_precision: mixed_bfloat16")
    assert precision.resolve(None) == ("float32", "mixed_precision: null")
    assert precision.resolve("auto", on_tpu=True) == ("mixed_bfloat16", "mixed_precision: auto; a TPU")
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [(7, 5)])
    auto = precision.resolve("auto")
    assert auto == ("mixed_float16", "mixed_precision: auto; a GPU of compute capability 7.5")
    as_saved = precision.for_encoder("auto", auto, encoder_rebuilt=False)
    assert as_saved[0] == "float32" and as_saved[1].endswith("the encoder runs as saved, so nothing to gain from "
                                                              "mixed precision")
    assert precision.for_encoder("auto", auto, encoder_rebuilt=True) == auto
    assert precision.for_encoder("mixed_float16", precision.resolve("mixed_float16"), encoder_rebuilt=False) == \
        ("mixed_float16", "mixed_precision: mixed_float16")  # a setting the config names stays


def test_cpuinfo_values_are_read_by_key(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(vendor="AuthenticAMD", model="AMD EPYC 9B14", extra=""))
    assert precision.cpuinfo_value(("model name",), cpuinfo) == "AMD EPYC 9B14"
    assert precision.cpuinfo_value(("Hardware",), cpuinfo) is None
    assert precision.cpuinfo_value(("model name",), tmp_path / "missing") is None
