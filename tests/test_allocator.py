"""The allocator setting the `asr` command applies: it takes effect on glibc and stops the page faults;
ASR_KEEP_FREED_MEMORY=0 and a plain `import asr` leave glibc's defaults, and the faults, as they were."""

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
import asr, asr.cli  # importing the library and the command line must not change the allocator
from asr.allocator import keep_freed_memory, keeping_freed_memory
returned = keep_freed_memory() if sys.argv[1] == "on" else None
torch.set_num_threads(1)
for _ in range(10):  # warm up: the heap settles
    torch.ones(8 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.ones(8 << 20)  # 32 MiB, allocated and freed again
print(returned, keeping_freed_memory(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
# 20 x 32 MiB of fresh pages: ~160,000 faults with glibc's defaults; none once the heap has settled.
FRESH_PAGES = 50_000

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def _faults(mode: str, **env: str) -> tuple[str, bool, int]:
    """(what keep_freed_memory() returned, or "None" when not called; keeping_freed_memory(); page faults)."""
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, "ASR_KEEP_FREED_MEMORY": "1", **env}).stdout
    returned, active, faults = out.split()
    return returned, active == "True", int(faults)


def test_freed_memory_is_reused_instead_of_faulted_in_again():
    returned, active, kept = _faults("on")
    assert returned == "True" and active
    returned, active, default = _faults("off")  # `import asr` alone: glibc's defaults
    assert returned == "None" and not active
    assert default > FRESH_PAGES and kept < default / 20, (default, kept)


def test_can_be_turned_off():
    returned, active, faults = _faults("on", ASR_KEEP_FREED_MEMORY="0")
    assert returned == "False" and not active  # said so, and benchmark records (keeping_freed_memory) say so
    assert faults > FRESH_PAGES, faults  # and it really is off: every step faults its pages in again
