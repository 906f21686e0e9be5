"""End-to-end studies on an embedded local Ray (slow: each starts Ray)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from helpers import REPO
from study_files import tiny_study, write_study

from ganstudy.cli import main
from ganstudy.columns import OUTCOMES
from ganstudy.study.results import LOCK_NAME, load_results
from ganstudy.study.spec import load_spec, spec_from_dict

SMOKE = REPO / "studies" / "smoke.yaml"


@pytest.fixture
def smoke(finished_study: Path) -> Path:
    """The session's finished smoke study (conftest.py): these tests only read it."""
    return finished_study


@pytest.mark.slow
def test_smoke_tables_are_complete_and_exact(smoke: Path):
    spec = load_spec(SMOKE)
    study = load_results(smoke)
    trials, history, samples = study.trials, study.history, study.samples
    replicas, steps, every = spec.fixed["replicas"], spec.fixed["steps"], spec.fixed["eval_every"]
    evals = steps // every + 1  # step 0 included
    assert len(trials) == spec.num_trials() * replicas
    assert len(history) == spec.num_trials() * replicas * evals
    assert not history.duplicated(["trial_id", "replica", "step"]).any()
    assert sorted(history["step"].unique()) == list(range(0, steps + 1, every))
    # Every parameter is its own column under its YAML name, swept ones take each value.
    for key in ("loss", "k", "lr_d", "lr_g", "d_width", "g_width", "target", "steps"):
        assert key in trials.columns
    assert set(trials["loss"]) == {"minimax", "nonsaturating"} and set(trials["k"]) == {1, 2}
    assert (trials["status"] == "finished").all() and (trials["steps_done"] == steps).all()
    assert set(trials["seed"]) == {0, 1}  # replica r trains with seed + r
    # Final metrics in trials equal the last history row of each (trial, replica).
    last = history[history["step"] == steps].set_index(["trial_id", "replica"])
    final = trials.set_index(["trial_id", "replica"]).loc[last.index]
    pd.testing.assert_series_equal(final["js_binned"], last["js_binned"], check_names=False)
    assert set(trials["outcome"]) <= set(OUTCOMES)
    # Samples: 2-D points for each (trial, replica, eval step).
    assert {"x0", "x1"} <= set(samples.columns)
    assert samples.groupby(["trial_id", "replica", "step"]).ngroups == len(history)
    # The resolved spec and the environment are saved beside the tables.
    assert load_spec(smoke / "spec.yaml") == spec
    env = json.loads((smoke / "environment.json").read_text())
    assert env["nodes"] == 1 and env["driver_device"] == "cpu"
    assert (trials["ran_on"] == "cpu").all() and trials["cuda_version"].isna().all()


@pytest.mark.slow
def test_existing_study_folder_is_not_overwritten(smoke: Path, capsys):
    before = (smoke / "history.parquet").stat().st_mtime_ns
    assert main(["run", str(SMOKE), "--results", str(smoke), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (smoke / "history.parquet").stat().st_mtime_ns == before


def test_resume_without_state_is_refused(tmp_path, capsys):
    assert main(["run", str(SMOKE), "--results", str(tmp_path / "none"), "--resume"]) == 2
    assert "no resumable" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_bad_study_writes_nothing(tmp_path, capsys):
    path = write_study(
        tmp_path, tiny_study("bad", metric="js_d", params={"loss": {"grid": ["hinge"]}})
    )
    assert main(["run", str(path), "--results", str(tmp_path / "out")]) == 2
    assert "js_d" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_embedded_ray_listens_on_loopback_only():
    import psutil

    from ganstudy.run import session

    assert session.start()
    try:
        me = psutil.Process()
        processes = [me, *me.children(recursive=True)]
        addresses = set()
        for process in processes:
            try:
                addresses |= {c.laddr.ip for c in process.net_connections(kind="inet")}
            except psutil.NoSuchProcess:
                continue
        assert addresses, "found no Ray sockets to check"
        assert addresses <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, addresses
    finally:
        session.stop()


def test_failure_while_setting_up_the_tuner_leaves_nothing(tmp_path, monkeypatch):
    """The Optuna storage (optuna.db) is created while the Tuner is built; a failure after
    it must not leave that, spec.yaml or environment.json behind."""
    from ganstudy.run import study as run_layer
    from ganstudy.run import tuner

    study = tiny_study(
        "setup",
        search={"algorithm": "optuna", "num_samples": 2},
        params={"loss": "minimax", "lr_d": {"loguniform": [1e-4, 1e-2]}},
    )
    spec = spec_from_dict(study, source="<test>")
    created = []

    def failing_run_config(*args, **kwargs):
        created.extend(p.name for p in out.iterdir())  # what existed when it failed
        raise RuntimeError("cannot reach storage")

    monkeypatch.setattr(run_layer.session, "start", lambda address: False)  # no Ray needed
    monkeypatch.setattr(tuner, "_run_config", failing_run_config)
    out = tmp_path / "setup"
    with pytest.raises(RuntimeError, match="cannot reach storage"):
        run_layer.run_study(spec, results_dir=out, progress=False)
    assert set(created) == {"optuna.db", LOCK_NAME}  # it failed after the storage was made ...
    assert not out.exists()  # ... and nothing is left


@pytest.mark.slow
def test_optuna_search_is_stored_in_sqlite(tmp_path):
    study = tiny_study(
        "tpe",
        search={"algorithm": "optuna", "num_samples": 3},
        params={
            "loss": {"choice": ["minimax", "nonsaturating"]},
            "lr_d": {"loguniform": [1e-4, 1e-2]},
        },
    )
    out = tmp_path / "tpe"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    loaded = optuna.load_study(study_name="tpe", storage=f"sqlite:///{out / 'optuna.db'}")
    complete = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    trials = load_results(out).trials
    # Optuna's best value is the study metric of one of our trials (the mean over replicas).
    means = trials.groupby("trial_id")["js_binned"].mean()
    assert min(abs(means - loaded.best_value)) < 1e-9
    assert sorted(t.params["lr_d"] for t in complete) == pytest.approx(
        sorted(trials.groupby("trial_id")["lr_d"].first())
    )


@pytest.mark.slow
# Ray warns when a PBT study keeps too few checkpoints for clones to restore from.
@pytest.mark.filterwarnings("error:Using `CheckpointConfig.num_to_keep")
def test_pbt_learning_rates_reach_the_optimizers(tmp_path):
    from ray import tune

    from ganstudy.run.trainable import STATE_FILE, train_trial
    from ganstudy.study.results import EXPERIMENT

    # Ray's random search and PBT's choices draw from the driver's global generators.
    random.seed(0)
    np.random.seed(0)
    study = tiny_study(
        "pbt",
        steps=600,
        search={"algorithm": "random", "num_samples": 4},
        scheduler={"name": "pbt", "perturbation_interval": 100, "mutable": ["lr_d", "lr_g"]},
        params={
            "loss": "nonsaturating",
            "lr_d": {"loguniform": [1e-4, 1e-2]},
            "lr_g": {"loguniform": [1e-4, 1e-2]},
        },
    )
    out = tmp_path / "pbt"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    grid = tune.Tuner.restore(str(out / EXPERIMENT), trainable=train_trial).get_results()
    perturbed = 0
    for result in grid:
        with result.checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, weights_only=True)["trainer"]
        # The optimizers of the final checkpoint use the trial's final (perturbed) config.
        assert state["opt_d"]["param_groups"][0]["lr"] == pytest.approx(result.config["lr_d"])
        assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(result.config["lr_g"])
        assert state["config"]["lr_d"] == pytest.approx(result.config["lr_d"])
        # Ray's log of the trial has the config at every report (params.json is rewritten
        # when PBT restarts a trial, so it cannot tell what the trial started with).
        lines = (Path(result.path) / "result.json").read_text().splitlines()
        perturbed += len({json.loads(line)["config"]["lr_d"] for line in lines}) > 1
    # Ray's log can lose lines when PBT restarts a trial; ganstudy's own record of the
    # exploits (exploits.parquet) says what changed too.
    exploits = load_results(out).exploits
    if "lr_d_after" in exploits:
        perturbed += int(exploits["lr_d_after"].notna().any())
    assert perturbed >= 1, "PBT never changed a learning rate; the test shows nothing"


def _finished_trials(experiment: Path, steps: int) -> set[str]:
    """Trials whose last reported result is the final step (read from Ray's own logs)."""
    done = set()
    for result_file in experiment.glob("trial_*/result.json"):
        lines = result_file.read_text().splitlines()
        try:
            if lines and json.loads(lines[-1])["step"] == steps:
                done.add(result_file.parent.name)
        except (ValueError, KeyError):  # a line being written
            continue
    return done


@pytest.mark.slow
def test_interrupted_study_resumes_without_rerunning_finished_trials(tmp_path):
    steps = 3000
    study = tiny_study("resume", steps=steps, eval_every=100, max_concurrent=1)
    path = write_study(tmp_path, study)
    out = tmp_path / "resume"
    command = [
        sys.executable,
        "-m",
        "ganstudy.cli",
        "run",
        str(path),
        "--results",
        str(out),
        "--quiet",
    ]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while not _finished_trials(out / "ray", steps) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _finished_trials(out / "ray", steps), "no trial finished in time"
        driver.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops
        output, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, output  # interrupted, as a shell reports Ctrl-C
    assert "Token authentication is enabled" not in output  # Ray's banner is filtered
    assert "--resume" in output
    finished = _finished_trials(out / "ray", steps)
    assert len(finished) < 2, "the study finished before the interrupt; nothing to resume"
    # The tables are complete for what finished and honest about the rest: a row for every
    # configuration and replica, parameters from the spec, metrics only where measured.
    partial = load_results(out).trials
    assert len(partial) == 2 * 2 and set(partial["loss"]) == {"minimax", "hinge"}
    done = partial[partial["status"] == "finished"]
    assert len(done) == 2 and (done["steps_done"] == steps).all()
    rest = partial[partial["status"] != "finished"]
    assert set(rest["status"]) <= {"interrupted", "pending"} and len(rest) == 2
    assert (rest["steps_done"].fillna(0) < steps).all()
    stamps = {p: p.stat().st_mtime_ns for name in finished for p in (out / "ray" / name).rglob("*")}

    assert main(["run", str(path), "--results", str(out), "--resume", "--quiet"]) == 0
    # Finished trials were not run again: none of their files changed.
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    history = load_results(out).history
    assert not history.duplicated(["trial_id", "replica", "step"]).any()
    assert len(history) == 2 * 2 * (steps // 100 + 1)
    assert (load_results(out).trials["status"] == "finished").all()
    # The interrupted trial continued from its checkpoint: Ray's own log of every trial
    # shows step 0 once (a restart from scratch would report it again).
    for result_file in (out / "ray").glob("trial_*/result.json"):
        steps_logged = [json.loads(line)["step"] for line in result_file.read_text().splitlines()]
        assert steps_logged.count(0) == 1, result_file


def test_spec_from_dict_round_trips_through_yaml(tmp_path):
    spec = spec_from_dict(tiny_study("rt"))
    assert spec_from_dict(yaml.safe_load(spec.to_yaml())) == spec


def test_interrupted_grid_lists_the_cells_never_created():
    from ganstudy.run.study import _never_created
    from ganstudy.study.results import TrialRecord

    study = tiny_study("grid", params={"k": {"grid": [1, 2, 3]}})  # 2 losses x 3 k
    spec = spec_from_dict(study)
    started = [
        TrialRecord(
            trial_id=f"t{i}",
            config={**spec.fixed, "loss": loss, "k": k},
            status=status,
            error=None,
            wall_s=1.0,
            history=[],
        )
        for i, (loss, k, status) in enumerate(
            [("minimax", 1, "finished"), ("hinge", 2, "interrupted"), ("minimax", 3, "pending")]
        )
    ]
    missing = _never_created(spec, started)
    assert sorted((r.config["loss"], r.config["k"]) for r in missing) == [
        ("hinge", 1),
        ("hinge", 3),
        ("minimax", 2),
    ]
    assert all(r.status == "pending" and r.trial_id is None for r in missing)
    assert all(r.config["steps"] == spec.fixed["steps"] for r in missing)  # from the spec


@pytest.mark.slow
def test_asha_stops_are_reported_as_stops_and_pruned_in_optuna(tmp_path, capsys):
    study = tiny_study(
        "asha",
        steps=800,
        search={"algorithm": "optuna", "num_samples": 6},
        scheduler={"name": "asha", "grace_period": 100, "reduction_factor": 2},
        max_concurrent=2,
        params={"loss": "minimax", "lr_d": {"loguniform": [1e-5, 1e-1]}},
    )
    out = tmp_path / "asha"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    trials = load_results(out).trials
    stopped = trials[trials["status"] == "stopped"]
    assert not stopped.empty, "ASHA stopped nothing; the test shows nothing"
    assert set(trials["status"]) <= {"finished", "stopped"}
    assert (stopped["steps_done"] < 800).all()
    assert "stopped on purpose by the scheduler" in printed and "--resume" not in printed
    loaded = optuna.load_study(study_name="asha", storage=f"sqlite:///{out / 'optuna.db'}")
    states = {t.state for t in loaded.trials}
    assert optuna.trial.TrialState.PRUNED in states
    for t in loaded.trials:  # intermediate values keyed by the G step
        assert set(t.intermediate_values) <= set(range(0, 801, 100))
        if t.state == optuna.trial.TrialState.COMPLETE:
            assert max(t.intermediate_values) == 800
        if t.state == optuna.trial.TrialState.PRUNED:
            assert max(t.intermediate_values) < 800
    assert (trials["status"] == "stopped").sum() == 2 * sum(
        t.state == optuna.trial.TrialState.PRUNED for t in loaded.trials
    )


@pytest.mark.slow
def test_a_full_disk_stops_the_study_at_once(tmp_path, monkeypatch, capsys):
    """Every trial's checkpoint write fails with ENOSPC after step 100: the first failure
    stops the study (no retries of every trial into the same fault), exit 1, one line."""
    monkeypatch.setenv("GANSTUDY_FAULT", "enospc@100")
    monkeypatch.setenv("GANSTUDY_FAULT_DIR", str(tmp_path))
    study = tiny_study("full", steps=400, max_concurrent=1, max_failures=5)
    out = tmp_path / "full"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 1
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ganstudy:")]
    assert len(ours) == 1 and ours[0].startswith("ganstudy: error:"), ours
    assert "No space left on device" in ours[0] and "--resume" in ours[0]
    trials = load_results(out).trials  # the tables are written, honest about the rest
    assert len(trials) == 2 * 2 and not (trials["status"] == "finished").any()
    assert set(trials["status"]) <= {"interrupted", "pending"}, trials["status"]
    # Ray's log of the first trial: step 100 reported at most twice (the attempt that hit
    # the fault, and at most one retry under way when the stop came), never 5 retries.
    logs = [p.read_text().splitlines() for p in (out / "ray").glob("trial_*/result.json")]
    reported_100 = sum(json.loads(line)["step"] == 100 for lines in logs for line in lines)
    assert reported_100 == 1, reported_100


def test_interrupted_grid_trials_that_never_reported_get_their_cells():
    """A trial Ray created but that never reported has no config of its own: it takes a
    grid cell no other trial holds, and the spec's fixed values (steps, replicas)."""
    from ganstudy.run.study import _fill_cells, _never_created
    from ganstudy.study.results import TrialRecord

    spec = spec_from_dict(tiny_study("grid", params={"k": {"grid": [1, 2]}}))  # 2 losses x 2 k

    def record(config, status):
        return TrialRecord(None, config, status, None, 1.0, history=[])

    records = [
        record({**spec.fixed, "loss": "minimax", "k": 1}, "finished"),
        record({**spec.fixed, "loss": "hinge", "k": 2}, "interrupted"),
        record(dict(spec.fixed), "interrupted"),  # created, never reported
    ]
    _fill_cells(spec, records)
    missing = _never_created(spec, records)
    cells = sorted((r.config["loss"], r.config["k"]) for r in records + missing)
    assert cells == [("hinge", 1), ("hinge", 2), ("minimax", 1), ("minimax", 2)]
    assert records[2].config["replicas"] == spec.fixed["replicas"]


@pytest.mark.slow
def test_a_dcgan_digits_study_runs_through_tables_and_report(tmp_path):
    """model: dcgan on target: digits, end to end on Ray: a row per (trial, replica, eval),
    snapshots of 8x8 images (64 pixel columns), every report figure drawn."""
    study = tiny_study(
        "digits", steps=100, eval_every=50, target="digits", model="dcgan", losses=("hinge",)
    )
    study["params"].update({"d_width": 8, "g_width": 8, "batch_size": 32})
    out = tmp_path / "digits"
    assert main(["run", str(write_study(tmp_path, study)), "--results", str(out), "--quiet"]) == 0
    tables = load_results(out)
    assert len(tables.history) == 2 * 3 and tables.history["js_binned"].notna().all()
    assert tables.history["modes_captured"].between(0, 10).all()
    assert (tables.history["n_modes"] == 10).all()
    assert {f"x{i}" for i in range(64)} <= set(tables.samples.columns)
    assert main(["report", str(out)]) == 0
    assert (out / "report" / "07_sample_snapshots.png").stat().st_size > 10_000
