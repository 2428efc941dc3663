"""The allocator setting the `asr` command applies: it takes effect on glibc and stops the page faults."""

import resource
import subprocess
import sys

import pytest

from asr.allocator import keep_freed_memory, keeping_freed_memory

PROBE = """
import resource, sys, torch
from asr.allocator import keep_freed_memory
on = sys.argv[1] == "on" and keep_freed_memory()
torch.set_num_threads(1)
for _ in range(10):  # warm up: the heap settles
    torch.ones(8 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.ones(8 << 20)  # 32 MiB, allocated and freed again
print(on, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    on, faults = out.split()
    return on == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    on, kept = _faults("on")
    assert on
    _, default = _faults("off")
    # 20 x 32 MiB of fresh pages: ~160,000 faults with glibc's defaults; none once the heap has settled.
    assert default > 50_000 and kept < default / 20, (default, kept)


def test_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("ASR_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt >= 0
    assert isinstance(keeping_freed_memory(), bool)
