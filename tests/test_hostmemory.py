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
# prints whether the thresholds were raised and the minor page faults per step.
FAULTS = """
import json, resource, torch
from ganstudy.bench.reference import bench_config
from ganstudy.engine.hostmemory import keep_freed_memory
from ganstudy.engine.trainer import Trainer
torch.set_num_threads(1)
trainer = Trainer(bench_config(128, 256, 8, device="cpu"))
trainer.train(10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
trainer.train(20)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"kept": keep_freed_memory(), "faults_per_step": (after - before) / 20}))
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
    from ganstudy import cli

    def work(*_: object) -> None:
        pytest.fail(f"{argv[0]} started its work despite {ENV}=bogus")

    for handler in ("_trial", "_validate", "_run", "_report", "_submit", "_jobs", "_logs", "_stop"):
        monkeypatch.setattr(cli, handler, work)
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
    # glibc's defaults hand each step's freed tensors back to the kernel: hundreds of faults.
    assert released["faults_per_step"] > 100
    assert kept["faults_per_step"] < 0.05 * released["faults_per_step"]


def test_an_unknown_choice_is_refused_naming_the_variable_and_the_choices():
    out = _run(
        "from ganstudy.engine.hostmemory import keep_freed_memory; keep_freed_memory()", "on"
    )
    assert out.returncode != 0
    assert f"{ENV}: 'on' is not keep (the default) or release" in out.stderr
