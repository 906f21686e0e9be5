"""hostmemory.keep_freed_memory: a CPU trainer's steps stop page-faulting (each case in a
fresh process, as the setting is process-wide)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import pytest

from ganstudy.engine.hostmemory import ENV

# Trains width 128, batch 256, R = 8 (about 900 faults a step with glibc's defaults) and
# prints whether the thresholds were raised and the fewest minor page faults a step over
# 4 windows of 5 steps: on a loaded machine a window can catch faults that are not the
# allocator's (the kernel reclaiming pages), which a quiet window does not show.
FAULTS = """
import json, resource, torch
from ganstudy.bench.reference import bench_config
from ganstudy.engine.hostmemory import keep_freed_memory
from ganstudy.engine.trainer import Trainer
torch.set_num_threads(1)
trainer = Trainer(bench_config(128, 256, 8, device="cpu"))
trainer.train(10)
windows = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trainer.train(5)
    windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
windows.sort()  # the quietest window, and the typical one (glibc may settle for a window)
print(json.dumps({"kept": keep_freed_memory(), "faults_per_step": windows[0],
                  "typical_faults_per_step": (windows[1] + windows[2]) / 2}))
"""

# Where glibc puts a 16 MiB block, and what it keeps after freeing it (mallinfo2): the
# allocator's own account, the same on an idle and a loaded machine.
HEAP = """
import ctypes, json
from ganstudy.engine.hostmemory import keep_freed_memory
kept = keep_freed_memory()
libc = ctypes.CDLL(None)
class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2()
block = libc.malloc(16 * 2**20)
during = libc.mallinfo2()
libc.free(block)
after = libc.mallinfo2()
print(json.dumps({"kept": kept, "mmapped": during.hblkhd - before.hblkhd,
                  "heap_kept": after.arena - before.arena}))
"""


def _run(code: str, choice: str) -> subprocess.CompletedProcess:
    env = {**os.environ, ENV: choice}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


COMMANDS = [
    ["trial", "--set", "steps=1"],
    ["validate", "studies/smoke.yaml"],
    ["run", "studies/smoke.yaml", "--dry-run"],
    ["report", "results/smoke"],
    ["bench", "--quick"],
    ["submit", "studies/smoke.yaml"],
    ["jobs"],
    ["logs", "job"],
    ["stop", "job"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[argv[0] for argv in COMMANDS])
def test_a_bad_choice_is_one_line_and_exit_2_before_any_command_works(argv, monkeypatch, capsys):
    from ganstudy import cli, job_commands

    def work(*_: object) -> None:
        pytest.fail(f"{argv[0]} started its work despite {ENV}=bogus")

    for handler in ("_trial", "_validate", "_run", "_report"):
        monkeypatch.setattr(cli, handler, work)
    for handler in ("submit_command", "jobs_command", "logs_command", "stop_command"):
        monkeypatch.setattr(job_commands, handler, work)
    monkeypatch.setattr(cli, "_lazy", lambda *_: work)  # bench's handler
    monkeypatch.setenv(ENV, "bogus")
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err == f"ganstudy: error: {ENV}: 'bogus' is not keep (the default) or release; " + (
        "set one, or unset it\n"
    )


def test_a_bad_choice_is_refused_at_every_call(monkeypatch):
    from ganstudy.engine import hostmemory

    monkeypatch.setattr(hostmemory, "_applied", None)  # as in a fresh process
    monkeypatch.setenv(ENV, "bogus")
    for _ in range(2):  # not only the first: no trainer goes on with an unchecked value
        with pytest.raises(ValueError, match="'bogus' is not keep"):
            hostmemory.keep_freed_memory()


@pytest.mark.skipif(
    getattr(ctypes.CDLL(None), "mallopt", None) is None, reason="no glibc mallopt here"
)
def test_a_cpu_trainer_keeps_freed_memory_and_its_steps_stop_page_faulting():
    kept, released = (json.loads(_run(FAULTS, c).stdout) for c in ("keep", "release"))
    assert kept["kept"] and not released["kept"]
    # glibc's defaults hand each step's freed tensors back to the kernel: hundreds of faults
    # in a typical window (one 5-step window can settle on the heap: CI once read 0 there).
    assert released["typical_faults_per_step"] > 100, released
    assert kept["faults_per_step"] < 0.05 * released["typical_faults_per_step"], (kept, released)


@pytest.mark.skipif(
    getattr(ctypes.CDLL(None), "mallinfo2", None) is None, reason="no glibc mallinfo2 here"
)
def test_a_freed_block_stays_in_the_heap_when_kept_and_goes_back_when_released():
    """The thresholds took effect: kept, a 16 MiB block comes from the heap (nothing
    mmapped) and the heap keeps its pages after the free; released (glibc's defaults), it
    is mmapped and unmapped again, the heap unchanged."""
    kept, released = (json.loads(_run(HEAP, c).stdout) for c in ("keep", "release"))
    # (The heap grows by the block less whatever was free at its top already.)
    assert kept["kept"] and kept["mmapped"] == 0 and kept["heap_kept"] > 15 * 2**20
    assert not released["kept"] and released["mmapped"] >= 16 * 2**20
    assert released["heap_kept"] < 2**20


def test_an_unknown_choice_is_refused_naming_the_variable_and_the_choices():
    out = _run(
        "from ganstudy.engine.hostmemory import keep_freed_memory; keep_freed_memory()", "on"
    )
    assert out.returncode != 0
    assert f"{ENV}: 'on' is not keep (the default) or release" in out.stderr
