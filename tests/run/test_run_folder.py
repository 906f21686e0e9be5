"""Study folders: --fresh deletes only what ganstudy wrote, the lock refuses a second run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from ganstudy.cli import main
from ganstudy.run.folder import StudyError, StudyFolder
from ganstudy.study.results import LOCK_NAME, lock_holder

SMOKE = REPO / "studies" / "smoke.yaml"


def fake_study(folder: Path) -> None:
    """What a finished run leaves (contents do not matter to the folder rules)."""
    folder.mkdir(parents=True)
    for name in ("spec.yaml", "environment.json", "trials.parquet", "history.parquet"):
        (folder / name).write_text("x")
    (folder / "ray").mkdir()
    (folder / "ray" / "tuner.pkl").write_text("x")
    (folder / "report").mkdir()


def test_fresh_refuses_a_folder_that_is_not_a_study(tmp_path, capsys):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("months of work")
    (thesis / "figures").mkdir()
    assert main(["run", str(SMOKE), "--results", str(thesis), "--fresh", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganstudy: error:") and err.count("\n") == 1
    assert "not a ganstudy study folder" in err and "chapter1.tex" in err and "figures" in err
    assert "already holds a study" not in err  # that wording leads users to --fresh
    assert sorted(p.name for p in thesis.iterdir()) == ["chapter1.tex", "figures"]
    assert (thesis / "chapter1.tex").read_text() == "months of work"


def test_fresh_refuses_a_study_folder_holding_a_users_file(tmp_path, capsys):
    study = tmp_path / "smoke"
    fake_study(study)
    (study / "notes.md").write_text("mine")
    assert main(["run", str(SMOKE), "--results", str(study), "--fresh", "--quiet"]) == 2
    assert "notes.md" in capsys.readouterr().err
    assert (study / "notes.md").read_text() == "mine" and (study / "spec.yaml").exists()
    assert not (study / LOCK_NAME).exists()


@pytest.mark.parametrize(
    "users",
    [
        {"my_notes.tmp": "file"},  # named like an atomic write's leftover, but not one of ours
        {".report-2025-thesis": "folder"},  # named like a report's staging, but not its shape
        {".report.tmp-thesis01": "folder"},  # not 8 hex digits
        {".notes.tmp-0123abcd": "folder"},  # the staging shape beside something not `report`
        {"spec.yaml.tmp": "folder"},  # our name, the wrong kind
        {"ray": "file"},
        {"report/index.html": "file"},  # a report folder ganstudy never marked
    ],
    ids=lambda users: next(iter(users)),
)
def test_fresh_refuses_a_users_entry_named_like_ganstudys(tmp_path, capsys, users):
    study = tmp_path / "smoke"
    fake_study(study)
    if "ray" in users:
        shutil.rmtree(study / "ray")
    for name, kind in users.items():
        path = study / name
        path.parent.mkdir(exist_ok=True)
        path.mkdir() if kind == "folder" else path.write_text("mine")
    before = sorted(p.relative_to(study) for p in study.rglob("*"))
    assert main(["run", str(SMOKE), "--results", str(study), "--fresh", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not a ganstudy study folder" in err and err.count("\n") == 1
    assert next(iter(users)).split("/")[0] in err
    assert sorted(p.relative_to(study) for p in study.rglob("*")) == before


@pytest.mark.parametrize(
    "name, kind", [(".DS_Store", "file"), (".notes", "file"), (".git", "folder")]
)
def test_fresh_refuses_a_study_folder_holding_a_dot_file(tmp_path, name, kind):
    """ganstudy's one dot-file is its lock (.ganstudy.lock): any other, a user's notes or
    the OS's .DS_Store, makes the folder a user's. Checked on StudyFolder itself, so that
    a wrong answer deletes nothing and starts no study."""
    study = tmp_path / "smoke"
    fake_study(study)
    (study / LOCK_NAME).write_text("{}")
    path = study / name
    path.mkdir() if kind == "folder" else path.write_text("mine")
    folder = StudyFolder(str(study))
    assert name not in folder.ganstudy_entries() and LOCK_NAME in folder.ganstudy_entries()
    with pytest.raises(
        StudyError, match=f"not a ganstudy study folder: it holds 1 entries .*{name}"
    ):
        folder.check_replaceable(fresh=True)
    assert path.exists()


def test_clear_deletes_exactly_the_transient_names_ganstudy_writes(tmp_path):
    study = tmp_path / "smoke"
    fake_study(study)
    (study / "report" / ".ganstudy-report").write_text("")
    (study / "report" / "index.html").write_text("ours")
    for name in ("spec.yaml.tmp", "trials.parquet.tmp", "optuna.db-journal"):
        (study / name).write_text("half")
    (study / ".report.tmp-0123abcd").mkdir()
    (study / ".report.old-89abcdef").mkdir()
    folder = StudyFolder(str(study))
    folder.check_replaceable(fresh=True)
    folder.clear()
    assert list(study.iterdir()) == []


def test_results_path_that_is_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "results.txt"
    path.write_text("keep")
    assert main(["run", str(SMOKE), "--results", str(path), "--fresh", "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err and path.read_text() == "keep"


def test_results_path_through_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("keep")
    assert main(["run", str(SMOKE), "--results", str(tmp_path / "f.txt" / "sub")]) == 2
    assert "runs through a file" in capsys.readouterr().err


def test_existing_study_without_fresh_names_both_choices(tmp_path):
    study = tmp_path / "smoke"
    fake_study(study)
    folder = StudyFolder(str(study))
    with pytest.raises(StudyError, match="already holds a study; use --resume .* or --fresh"):
        folder.check_replaceable(fresh=False)
    folder.check_replaceable(fresh=True)  # a study: replaceable


def test_clear_deletes_only_ganstudy_entries_and_keeps_the_lock(tmp_path):
    study = tmp_path / "smoke"
    fake_study(study)
    (study / "spec.yaml.tmp").write_text("half")
    folder = StudyFolder(str(study))
    folder.lock()
    (study / "later.txt").write_text("a user's file that arrived after the check")
    folder.clear()
    assert sorted(p.name for p in study.iterdir()) == [LOCK_NAME, "later.txt"]
    folder.unlock()
    assert sorted(p.name for p in study.iterdir()) == ["later.txt"]


def test_a_second_run_is_refused_naming_the_first(tmp_path, capsys):
    study = tmp_path / "smoke"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        study.mkdir()
        (study / LOCK_NAME).write_text(
            json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "then"})
        )
        assert main(["run", str(SMOKE), "--results", str(study), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on {socket.gethostname()}" in err and err.count("\n") == 1
        assert lock_holder(study) is not None  # the first run's lock is untouched
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(study) is None  # its process is gone: a stale lock


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    study = tmp_path / "smoke"
    study.mkdir()
    (study / LOCK_NAME).write_text(
        json.dumps({"pid": int(gone.stdout), "host": socket.gethostname(), "started": "then"})
    )
    folder = StudyFolder(str(study))
    folder.lock()
    assert json.loads((study / LOCK_NAME).read_text())["pid"] != int(gone.stdout)
    assert lock_holder(study) is not None  # this process holds it now
    folder.unlock()
    assert not (study / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_respected(tmp_path):
    study = tmp_path / "smoke"
    study.mkdir()
    (study / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "t"}))
    with pytest.raises(StudyError, match="pid 1 on elsewhere .*delete .*lock"):
        StudyFolder(str(study)).lock()


# --- issue 13: folders that are not what they claim ----------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_results_that_is_a_pipe_or_device_is_refused(tmp_path, capsys, kind):
    import os

    target = tmp_path / "pipe"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target = Path("/dev/null")
    assert main(["run", str(SMOKE), "--results", str(target), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder (a named pipe, device or socket)" in err
    assert "Cannot list directory" not in err  # pyarrow's words, exit 1, before the fix


def test_a_failed_run_keeps_the_empty_folder_the_user_made(tmp_path, capsys):
    empty = tmp_path / "mine"
    empty.mkdir()
    assert main(["run", str(SMOKE), "--results", str(empty), "--resume", "--quiet"]) == 2
    assert "no resumable Ray experiment state" in capsys.readouterr().err
    assert empty.is_dir() and list(empty.iterdir()) == []  # there before: still there


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("binary", "spec.yaml: damaged, not UTF-8 text"),
        ("fifo", "spec.yaml: damaged, a named pipe"),
    ],
)
def test_resume_with_a_damaged_spec_yaml_is_one_line(tmp_path, damage, words):
    import os

    from ray import cloudpickle

    from ganstudy.run.resume import check_resumable
    from ganstudy.study.spec import load_spec

    folder = tmp_path / "study"
    (folder / "ray").mkdir(parents=True)
    (folder / "ray" / "tuner.pkl").write_bytes(cloudpickle.dumps({}))
    (folder / "ray" / "experiment_state-2026.json").write_text('{"trial_data": []}')
    if damage == "binary":
        (folder / "spec.yaml").write_bytes(b"\xc6\x00\xff binary")
    else:
        os.mkfifo(folder / "spec.yaml")  # read through pyarrow, it blocked for ever
    with pytest.raises(StudyError, match=words):
        check_resumable(StudyFolder(str(folder)), load_spec(SMOKE))


def test_a_broken_symlink_as_results_is_refused_not_followed(tmp_path):
    from ganstudy.run.folder import StudyError, study_location

    target = tmp_path / "nowhere" / "deep"
    (tmp_path / "link").symlink_to(target)

    class Spec:
        storage, name = None, "x"

    with pytest.raises(StudyError, match="broken symbolic link"):
        study_location(Spec(), tmp_path / "link" / "study")
    assert not (tmp_path / "nowhere").exists()
