"""fuse: auto end to end on an embedded local Ray (slow): the tables equal fuse: off's."""

from __future__ import annotations

import pandas as pd
import pytest
from study_files import tiny_study, write_study

from ganstudy.cli import main
from ganstudy.study.results import load_results

pytestmark = pytest.mark.slow
SWEPT = ["loss", "lr_d", "d_width"]
KEY = [*SWEPT, "replica", "step"]


def _study(name: str, fuse: str, **changes) -> dict:
    return tiny_study(
        name,
        40,
        ["minimax", "hinge"],
        eval_every=20,
        fuse=fuse,
        **changes,
        max_concurrent=2,
        params={
            "lr_d": {"grid": [1e-3, 2e-3]},
            "r1": 0.1,
            "d_width": {"grid": [8, 16]},
            "g_width": 8,
            "dtype": "float64",
            "device": "cpu",
            "eval_samples": 400,
        },
    )


def _run(tmp_path, study: dict):
    out = tmp_path / study["name"]
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    return load_results(out)


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("off"), _study("off", "off"))


def keyed(study):
    """History indexed by configuration, replica and step (trial_ids differ)."""
    params = study.trials[["trial_id", *SWEPT]].drop_duplicates()
    history = study.history.merge(params, on="trial_id").drop(columns="trial_id")
    return history.set_index(KEY).sort_index()


def _assert_same(auto, off):
    for name in ("trials", "history", "samples", "modes"):
        a, b = getattr(auto, name), getattr(off, name)
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
    assert auto.trials["trial_id"].nunique() == 8  # one per configuration
    assert auto.trials["trial_id"].str.contains(r"\.").all()
    for name in ("history", "samples", "modes"):  # trial_ids join across the tables
        table, ids = getattr(auto, name), set(auto.trials["trial_id"])
        assert set(table["trial_id"]) == (ids if len(getattr(off, name)) else set()), name
    a, b = keyed(auto), keyed(off)
    assert a.index.equals(b.index) and not a.index.duplicated().any()
    numeric = [c for c in a.columns if pd.api.types.is_float_dtype(a[c])]
    pd.testing.assert_frame_equal(a[numeric], b[numeric], rtol=0, atol=1e-10)
    # The rest exactly: each eval's outcome label, seed, n_modes.
    others = [c for c in a.columns if c not in numeric]
    assert "outcome" in others
    pd.testing.assert_frame_equal(a[others], b[others])
    # The trials tables: each run's final outcome, status, steps and collapse onset.
    runs = ["outcome", "status", "steps_done", "collapse_onset", "seed"]
    fused, unfused = (t.trials.set_index([*SWEPT, "replica"]).sort_index() for t in (auto, off))
    pd.testing.assert_frame_equal(fused[runs], unfused[runs])


def test_fused_tables_equal_unfused_through_a_crash_and_retry(tmp_path, monkeypatch, off):
    """Groups of 2 (fuse_max 3 splits each shape group of 4 evenly) with a crash after
    step 20 in every fused trial: the retry resumes from the checkpoint, every
    (configuration, replica, step) appears once, and the tables equal fuse: off's."""
    monkeypatch.setenv("GANSTUDY_FAULT", "raise@20")
    monkeypatch.setenv("GANSTUDY_FAULT_DIR", str(tmp_path))
    _assert_same(_run(tmp_path, _study("faulted", "auto", fuse_max=3)), off)
    assert len(list(tmp_path.glob("*.raise@20"))) == 4  # each of the 4 groups crashed once


def test_fused_study_stopped_by_a_full_disk_resumes_to_the_unfused_tables(
    tmp_path, monkeypatch, off
):
    """A full disk at step 20 stops the fused study (exit 1) with a row for every
    configuration and replica, none finished; `--resume` on a mended disk continues the
    groups from their checkpoints, and the tables equal fuse: off's, each (configuration,
    replica, step) once."""
    monkeypatch.setenv("GANSTUDY_FAULT", "enospc@20")
    monkeypatch.setenv("GANSTUDY_FAULT_DIR", str(tmp_path))
    study = _study("resumed", "auto", fuse_max=3)
    path, out = write_study(tmp_path, study), tmp_path / "resumed"
    assert main(["run", str(path), "--results", str(out), "--quiet"]) == 1
    partial = load_results(out).trials
    assert len(partial) == len(off.trials)  # a group never started has rows, no trial_id
    assert len(partial[SWEPT].drop_duplicates()) == 8
    assert not (partial["status"] == "finished").any(), partial["status"]
    monkeypatch.delenv("GANSTUDY_FAULT")  # the disk has space again
    assert main(["run", str(path), "--results", str(out), "--resume", "--quiet"]) == 0
    _assert_same(load_results(out), off)
