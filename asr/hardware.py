"""What the CPU can do, for benchmark records, for warnings about slow settings and for thread defaults. Linux
reads /proc/cpuinfo; elsewhere the answers are empty/False."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

# CPU flags (as /proc/cpuinfo spells them) with bfloat16 matrix instructions: AVX512-BF16 (Zen 4, Cooper
# Lake and later Xeons) and AMX (Sapphire Rapids and later). Without them oneDNN emulates bf16, slower than fp32.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def _first_cpu() -> dict[str, str]:
    """The first processor's `key: value` lines of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC ..."), else what `platform` knows."""
    return _first_cpu().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    return frozenset(_first_cpu().get("flags", "").split())


def native_bf16_cpu() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (so `--precision bf16` pays off on it)."""
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def serve_threads() -> int:
    """torch threads of each model process of `asr serve` without --threads: one core fewer than the machine has
    (at least 1), leaving a core to the HTTP side (event loop, uploads, cutting): on 2 cores a lone request took
    34 ms with 1 torch thread and 58 ms with 2 (asr bench serve, demo model, FSDD clips, both in one process).
    It lives here, a layer below both `asr serve` and `asr bench serve` (asr/__init__.py)."""
    return max(1, (os.cpu_count() or 1) - 1)
