"""A full disk during a run: Ray's own files cut short, and what ganstudy does about them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from ganstudy.run.faults import SET_ASIDE, _set_aside_state, is_disk_fault, restore_saved_state
from ganstudy.run.folder import StudyFolder
from ganstudy.run.resume import drop_unreadable_errors

STATE = "experiment_state-2026-12-01_00-00-00.json"


def _experiment(tmp_path: Path, content: str) -> Path:
    experiment = tmp_path / "study" / "ray"
    experiment.mkdir(parents=True)
    (experiment / STATE).write_text(content)
    return experiment


@pytest.mark.parametrize("final", ['{"trial_data": [], "cut', ""])
def test_a_state_cut_short_after_the_fault_is_put_back(tmp_path, final):
    whole = json.dumps({"trial_data": [["a", "b"]]})
    experiment = _experiment(tmp_path, whole)
    _set_aside_state(*_local(experiment))
    (experiment / STATE).write_text(final)  # Ray's final save on the full disk
    assert restore_saved_state(str(experiment)) is True
    assert (experiment / STATE).read_text() == whole
    assert not list(experiment.glob(f"*{SET_ASIDE}"))


def test_a_whole_final_state_is_kept(tmp_path):
    experiment = _experiment(tmp_path, json.dumps({"trial_data": []}))
    _set_aside_state(*_local(experiment))
    newer = json.dumps({"trial_data": [["newer", "state"]]})
    (experiment / STATE).write_text(newer)
    assert restore_saved_state(str(experiment)) is True
    assert (experiment / STATE).read_text() == newer
    assert not list(experiment.glob(f"*{SET_ASIDE}"))


def test_a_state_cut_short_before_the_fault_is_reported(tmp_path):
    experiment = _experiment(tmp_path, '{"trial_data": [["cut')
    assert restore_saved_state(str(experiment)) is False


def test_a_disk_that_fills_outside_a_trial_offers_resume_only_over_a_whole_state(
    tmp_path, monkeypatch
):
    """No trial failed, but Ray's final save of its state was cut short (Ray only logs that)
    and the tables then cannot be written: the line offers --fresh, not a --resume that
    would refuse the damaged state. With the state whole, --resume is offered."""
    from study_files import tiny_study

    from ganstudy.run import study as run_layer
    from ganstudy.study.spec import spec_from_dict

    spec = spec_from_dict(tiny_study("full"), source="<test>")
    final_states = {"cut short": '{"trial_data": [["cut', "whole": '{"trial_data": []}'}
    lines = {}
    for what, final in final_states.items():

        def fit_on_a_filling_disk(tuner, folder, final=final):
            Path(folder.experiment, STATE).write_text(final)  # Ray's final save
            return []

        def tables_on_a_full_disk(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(run_layer.session, "start", lambda address: False)  # no Ray
        monkeypatch.setattr(run_layer, "environment", lambda: {})  # it asks Ray for nodes
        monkeypatch.setattr(run_layer, "_fit", fit_on_a_filling_disk)
        monkeypatch.setattr(run_layer.results, "write_tables", tables_on_a_full_disk)
        with pytest.raises(run_layer.StudyIOError) as raised:
            run_layer.run_study(spec, results_dir=tmp_path / what, progress=False)
        lines[what] = str(raised.value)
    assert "cannot write the tables (No space left on device)" in lines["cut short"]
    offers = {
        what: ("continue with --resume" in line, "again with --fresh" in line)
        for what, line in lines.items()
    }
    assert offers == {"cut short": (False, True), "whole": (True, False)}, lines


def test_only_unreadable_error_pickles_are_dropped(tmp_path):
    import pickle

    experiment = tmp_path / "study" / "ray"
    for name, data in [("trial_a", b""), ("trial_b", pickle.dumps(ValueError("x"))[:5])]:
        (experiment / name).mkdir(parents=True)
        (experiment / name / "error.pkl").write_bytes(data)
        (experiment / name / "error.txt").write_text("the error")
    (experiment / "trial_c").mkdir()
    (experiment / "trial_c" / "error.pkl").write_bytes(pickle.dumps(ValueError("kept")))
    folder = StudyFolder(str(tmp_path / "study"))
    assert sorted(drop_unreadable_errors(folder)) == ["trial_a", "trial_b"]
    assert [p.parent.name for p in experiment.glob("*/error.pkl")] == ["trial_c"]
    assert len(list(experiment.glob("*/error.txt"))) == 2  # the text of each stays


@pytest.mark.parametrize(
    "text, fault",
    [
        ("OSError: [Errno 28] No space left on device: '/results/ray/trial_x'", True),
        ("OSError: [Errno 30] Read-only file system: '/results/ray/trial_x'", True),
        ("OSError: [Errno 122] Disk quota exceeded", True),
        ("PermissionError: [Errno 13] Permission denied: '/results'", False),
        ("RuntimeError: CUDA out of memory", False),
    ],
)
def test_full_read_only_and_over_quota_disks_are_disk_faults(text, fault):
    """What stops a study at once (no retries) instead of failing every trial in turn: the
    errno texts of a full disk, a read-only one and a used-up quota; nothing else."""
    assert is_disk_fault(f"Traceback (most recent call last):\n  ...\n{text}\n") is fault


def _local(experiment: Path):
    import pyarrow.fs

    return pyarrow.fs.LocalFileSystem(), str(experiment)


def _can_mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)]).returncode
    return ok == 0


@pytest.mark.slow
def test_a_real_full_disk_ends_in_one_line_and_nothing_half_written(tmp_path):
    """The smoke study on a 1 MiB tmpfs: the disk fills while trials checkpoint and while
    Ray saves its own files. One ganstudy line ends the run (exit 1), no temporary file is left,
    and where the line offers --resume, --resume finishes the study once there is space."""
    disk = tmp_path / "disk"
    if not _can_mount_tmpfs(disk):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        path = REPO / "studies" / "smoke.yaml"
        out = disk / "smoke"
        command = [sys.executable, "-m", "ganstudy.cli", "run", str(path), "--results", str(out)]
        run = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=600)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 1, run.stderr[-3000:]
        assert lines[-1].startswith("ganstudy: error: "), lines[-5:]
        assert "No space left on device" in lines[-1]
        # Ray's own tracebacks of the fault (a trial's, its failed save) are not shown.
        assert "Traceback" not in run.stderr and "Stop signal received" not in run.stderr
        assert not [p for p in disk.rglob("*") if p.name.endswith((".tmp", SET_ASIDE))]
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        if "--resume" not in lines[-1]:
            assert "--fresh" in lines[-1]  # Ray's state was cut short before the fault
            pytest.skip(
                "the disk filled while Ray saved its state before any trial failed (the line "
                "offers --fresh, checked); the --resume half did not run this time"
            )
        again = subprocess.run(
            [*command, "--resume", "--quiet"], capture_output=True, text=True, timeout=600
        )
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stderr == "", again.stderr[-3000:]  # no "Failed to fetch metrics"
        from ganstudy.study.results import load_results
        from ganstudy.study.spec import load_spec

        spec, tables = load_spec(path), load_results(out)
        assert (tables.trials["status"] == "finished").all()
        assert len(tables.trials) == spec.num_trials() * spec.fixed["replicas"]
        assert not tables.history.duplicated(["trial_id", "replica", "step"]).any()
        steps, every = (spec.fixed[k] for k in ("steps", "eval_every"))
        assert len(tables.history) == len(tables.trials) * (steps // every + 1)
    finally:
        subprocess.run(["umount", "-l", str(disk)])
