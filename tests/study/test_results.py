"""The read side of results.py: load_results, its checks of damaged folders, lock_holder."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import write_study

from ganstudy.columns import FINISHED, STATUSES
from ganstudy.study.results import (
    LOCK_NAME,
    MESSAGE_CHARS,
    ResultsError,
    TrialRecord,
    clip,
    load_results,
    lock_holder,
    write_tables,
)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path, name="s", losses=("minimax",), ks=(1, 5), ratios=(1.0,))


def test_loads_every_table_as_written(study: Path) -> None:
    res = load_results(study)
    for name in ("trials", "history", "samples"):
        pd.testing.assert_frame_equal(
            getattr(res, name), pd.read_parquet(study / f"{name}.parquet")
        )
    assert res.spec["name"] == "s" and res.environment["device"] == "cpu"
    assert res.missing == () and res.notes == []


def test_a_missing_or_empty_table_is_listed_not_an_error(study: Path) -> None:
    (study / "samples.parquet").unlink()
    pd.DataFrame().to_parquet(study / "history.parquet")
    res = load_results(study)
    assert res.missing == ("history", "samples")
    assert res.history.empty and res.samples.empty and len(res.trials) == 4
    assert "history.parquet is empty." in res.notes


def test_ray_status_names_of_older_studies_read_as_ganstudys(study: Path) -> None:
    trials = pd.read_parquet(study / "trials.parquet")
    trials["status"] = ["TERMINATED", "STOPPED", "ERROR", "TERMINATED"]
    trials.to_parquet(study / "trials.parquet")
    assert list(load_results(study).trials["status"]) == [FINISHED, "stopped", "error", FINISHED]
    assert set(load_results(study).trials["status"]) <= set(STATUSES)


def damaged(folder: Path) -> str:
    with pytest.raises(ResultsError) as caught:
        load_results(folder)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 2 * MESSAGE_CHARS + 200
    return message


def test_truncated_parquet_is_damaged(study: Path) -> None:
    data = (study / "trials.parquet").read_bytes()
    (study / "trials.parquet").write_bytes(data[: len(data) // 2])
    message = damaged(study)
    assert "trials.parquet" in message and "damaged" in message


def test_history_in_trials_parquet_is_named(study: Path) -> None:
    (study / "trials.parquet").write_bytes((study / "history.parquet").read_bytes())
    message = damaged(study)
    assert "not a trials table (no status)" in message
    assert "looks like history.parquet" in message


def test_trials_in_history_parquet_is_named(study: Path) -> None:
    (study / "history.parquet").write_bytes((study / "trials.parquet").read_bytes())
    message = damaged(study)
    assert "history.parquet" in message and "not a history table (no step)" in message


def test_samples_in_history_parquet_is_damaged(study: Path) -> None:
    (study / "history.parquet").write_bytes((study / "samples.parquet").read_bytes())
    assert "not a history table (no metric columns)" in damaged(study)


SWAPPABLE = ("trials", "history", "samples", "modes", "exploits")


@pytest.mark.parametrize(
    ("table", "content"),
    list(itertools.permutations(SWAPPABLE, 2)),
    ids=[f"{c}-over-{t}" for t, c in itertools.permutations(SWAPPABLE, 2)],
)
def test_a_table_copied_over_another_is_named_by_its_content(study, table, content):
    """Each table's content, copied over another's file, is reported as not that table and
    as looking like the table it is (modes.parquet over samples.parquet: modes')."""
    exploits = {
        "trial_id": ["a"],
        "step": [100],
        "donor": ["b"],
        "order": [0],
        "lr_d_before": [1e-3],
    }
    pd.DataFrame(exploits).to_parquet(study / "exploits.parquet")
    for name in SWAPPABLE:
        assert not pd.read_parquet(study / f"{name}.parquet").empty, name  # empty: no check
    (study / f"{table}.parquet").write_bytes((study / f"{content}.parquet").read_bytes())
    message = damaged(study)
    assert f"{table}.parquet: damaged, not a {table} table (no " in message
    assert message.endswith(f"; it looks like {content}.parquet's content"), message


def test_unknown_status_is_damaged_and_not_echoed_whole(study: Path) -> None:
    trials = pd.read_parquet(study / "trials.parquet")
    trials["status"] = "RUNNING" + "x" * 5000
    trials.to_parquet(study / "trials.parquet")
    message = damaged(study)
    assert "unknown trial status (RUNNINGxxx" in message and "x" * 200 not in message
    assert all(status in message for status in STATUSES)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"- a\n- list\n", "holds a list, not a mapping"),
        (b"", "holds a NoneType, not a mapping"),
        ("name: caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
        (b"name: [unclosed\n", "not valid YAML (line 2"),
    ],
)
def test_bad_spec_yaml_is_damaged(study: Path, content: bytes, words: str) -> None:
    (study / "spec.yaml").write_bytes(content)
    message = damaged(study)
    assert "spec.yaml" in message and words in message


def test_not_a_study_folder(tmp_path: Path) -> None:
    assert "does not exist" in damaged(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    message = damaged(tmp_path / "empty")
    assert "no spec.yaml, trials.parquet or history.parquet" in message


def write_lock(folder: Path, pid: int, host: str) -> None:
    lock = {"pid": pid, "host": host, "started": "2026-01-01T00:00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(lock))


def test_lock_of_a_live_process_on_this_host(study: Path) -> None:
    assert lock_holder(study) is None  # no lock file
    write_lock(study, os.getpid(), socket.gethostname())
    who = f"pid {os.getpid()} on {socket.gethostname()} since 2026-01-01T00:00:00"
    assert lock_holder(study) == who


def test_lock_of_a_dead_process_is_stale(study: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    write_lock(study, child.pid, socket.gethostname())
    assert lock_holder(study) is None


def test_lock_from_another_host_or_unreadable_counts_as_held(study: Path) -> None:
    """Another machine's pid cannot be checked, and a half-written lock may be a run's."""
    write_lock(study, 1, "elsewhere")
    assert "if that run is gone, delete" in lock_holder(study)
    (study / LOCK_NAME).write_text("not json")
    assert lock_holder(study) == f"see {study / LOCK_NAME}"


def test_clip_folds_lines_and_bounds_length() -> None:
    assert clip("a\nb   c") == "a b c"
    long = clip("y" * 1000)
    assert len(long) == MESSAGE_CHARS and long.endswith("…")


def test_a_fault_while_writing_tables_leaves_the_old_ones_whole(study: Path, monkeypatch) -> None:
    """write_tables writes every table before renaming any: a full disk on the second table
    leaves the old set as it was and no temporary file."""
    from ganstudy.study.results import TrialRecord, write_tables

    before = {p.name: p.read_bytes() for p in study.glob("*.parquet")}
    calls = []

    def full_disk(self, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        Path(path).write_bytes(b"new")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    record = TrialRecord("t", {"loss": "minimax"}, "finished", None, 1.0, history=[])
    with pytest.raises(OSError, match="No space"):
        write_tables([record], None, study)
    assert {p.name: p.read_bytes() for p in study.glob("*.parquet")} == before
    assert not list(study.glob("*.tmp"))


# --- files that are not what they claim (issue 13) ----------------------------------------


def test_a_file_given_as_the_study_is_not_a_study_folder(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# not a study\n")
    # No lock can live under a file: not "still running" (lock_holder used to say so).
    assert lock_holder(readme) is None
    message = damaged(readme)
    assert "not a study folder (it is a file)" in message and "does not exist" not in message


@pytest.mark.parametrize("name", ["spec.yaml", "trials.parquet", "environment.json", LOCK_NAME])
def test_a_named_pipe_in_a_study_folder_is_refused_at_once(study: Path, name: str) -> None:
    # Reading a FIFO blocks until a writer comes: each would hang the report for ever.
    (study / name).unlink(missing_ok=True)
    os.mkfifo(study / name)
    if name == LOCK_NAME:
        assert lock_holder(study) is not None  # foreign: assume a run, say where it is
        return
    assert f"{name}: damaged, a named pipe (FIFO)" in damaged(study)


def test_a_spec_yaml_alias_bomb_is_refused_not_expanded(study: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (study / "spec.yaml").write_text("\n".join(lines) + "\n")
    assert "spec.yaml: damaged, not valid YAML (line" in damaged(study)


def test_a_table_that_is_a_folder_is_damaged_except_samples(study: Path) -> None:
    (study / "trials.parquet").unlink()
    (study / "trials.parquet").mkdir()  # pyarrow would read it as an empty dataset
    assert "trials.parquet: damaged, a folder, not a file" in damaged(study)


def _record(trial_id: str, config: dict, steps: range, replicas: int = 2, **more):
    """A TrialRecord whose rows say which (trial, replica, step) they are."""
    history = [
        {"step": s, "replica": r, "seed": config["seed"] + r, "js_binned": s + r / 10}
        | {"outcome": "converged"}
        for s in steps
        for r in range(replicas)
    ]
    return TrialRecord(trial_id, config, FINISHED, None, 1.0, history, **more)


def test_history_with_settings_is_the_hand_made_merge(tmp_path: Path) -> None:
    configs = {
        "a": {"loss": "minimax", "k": 1, "lr_d": 1e-3, "seed": 0, "replicas": 2},
        "b": {"loss": "hinge", "k": 5, "lr_d": 2e-4, "seed": 7, "replicas": 2},
    }
    records = [_record(t, c, range(0, 300, 100)) for t, c in configs.items()]
    records.append(TrialRecord(None, configs["a"], "pending", None, float("nan"), []))
    write_tables(records, None, tmp_path)
    res = load_results(tmp_path)
    merged = res.history_with_settings()
    # By hand: each history row with its trial's config (the records', not the tables').
    expected = res.history.copy()
    for key in ("loss", "k", "lr_d", "replicas"):
        expected[key] = [configs[t][key] for t in expected["trial_id"]]
    expected["status"] = FINISHED
    pd.testing.assert_frame_equal(merged, expected, check_like=True)
    assert "optuna_trial" not in res.trials  # a grid study has no Optuna trials
    assert (
        merged["seed"] == [configs[t]["seed"] for t in merged["trial_id"]] + merged["replica"]
    ).all()


def test_history_with_settings_follows_pbts_exploits(tmp_path: Path) -> None:
    # lr_d 1e-3 until the exploit of step 100 (-> 2e-3) and that of step 300 (-> 4e-3);
    # k never changed: the trial's own value throughout.
    exploits = [
        {"step": 100, "donor": "y", "before": {"lr_d": 1e-3}, "after": {"lr_d": 2e-3}},
        {"step": 300, "donor": "y", "before": {"lr_d": 2e-3}, "after": {"lr_d": 4e-3}},
    ]
    config = {"loss": "minimax", "k": 3, "lr_d": 4e-3, "seed": 0, "replicas": 1}
    plain = {"loss": "minimax", "k": 1, "lr_d": 5e-4, "seed": 0, "replicas": 1}
    records = [
        _record("x", config, range(0, 500, 100), replicas=1, exploits=exploits),
        _record("y", plain, range(0, 500, 100), replicas=1),
    ]
    write_tables(records, None, tmp_path)
    merged = load_results(tmp_path).history_with_settings().set_index(["trial_id", "step"])
    assert list(merged.loc["x", "lr_d"]) == [1e-3, 1e-3, 2e-3, 2e-3, 4e-3]
    assert list(merged.loc["x", "k"]) == [3] * 5
    assert list(merged.loc["y", "lr_d"]) == [5e-4] * 5
