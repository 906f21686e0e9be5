"""A real two-node Ray cluster on this machine: jobs, crashed trials, a lost node, a killed
driver, damaged experiment state, token auth and unshared storage.

Everything cluster-side runs inside a private network namespace that has only loopback
(`unshare -n`, as root): the head, the worker node and every ganstudy call (`nsenter
--net`), so no socket can reach another address whatever Ray binds. Each node has its own
--temp-dir and one CPU; the nodes share this machine's filesystem, so study folders under
pytest's tmp dir are "shared storage". Teardown stops exactly what the fixture started: the
`ray start --block` processes by pid (SIGTERM: each stops its node's processes), then any
process still inside the private namespace (only ours can be there), then the namespace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from helpers import REPO
from study_files import tiny_study, write_study

from ganstudy.cli import main
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import from_dict
from ganstudy.engine.trainer import Trainer
from ganstudy.study.results import load_results

SMOKE = REPO / "studies" / "smoke.yaml"
GCS = "127.0.0.1:6379"  # inside the private namespace: no clash with anything on the host
DASHBOARD = "http://127.0.0.1:8265"
BIN = Path(sys.executable).parent  # ray, ganstudy (the job's entrypoint) live here


# ------------------------------------------------------------------------------- cluster
class Cluster:
    """Head + worker node in a private loopback-only network namespace."""

    def __init__(self, temp: Path):
        self.temp = temp  # short: Ray's socket paths live under each node's --temp-dir
        self.token = secrets.token_hex(16)
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RAY_", "GANSTUDY_FAULT"))  # nothing of an outer Ray
        }
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        base["RAY_USAGE_STATS_ENABLED"] = "0"
        # Clients get only the token: ganstudy must turn token auth on by itself.
        self.env = base | {"RAY_AUTH_TOKEN": self.token}
        self.node_env = self.env | {"RAY_AUTH_MODE": "token"}
        self.holder = subprocess.Popen(
            ["unshare", "-n", "--", "sh", "-c", "ip link set lo up && exec sleep infinity"]
        )
        self.ns = f"/proc/{self.holder.pid}/ns/net"
        deadline = time.monotonic() + 10
        while os.readlink(self.ns) == os.readlink("/proc/self/ns/net"):
            assert self.holder.poll() is None and time.monotonic() < deadline, "no namespace"
            time.sleep(0.05)
        self.ns_id = os.readlink(self.ns)
        self.nodes: dict[str, subprocess.Popen] = {}
        self.workers = 0

    def command(self, *args) -> list[str]:
        return ["nsenter", f"--net={self.ns}", "--", *map(str, args)]

    def ganstudy(self, *args, env: dict | None = None, timeout: float = 240):
        """`ganstudy ARGS` inside the namespace; a CompletedProcess with text output."""
        return subprocess.run(
            self.command(sys.executable, "-m", "ganstudy.cli", *args),
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def driver(self, *args) -> subprocess.Popen:
        """`ganstudy ARGS` in the background (nsenter execs: the pid is the driver's)."""
        return subprocess.Popen(
            self.command(sys.executable, "-m", "ganstudy.cli", *args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def start_node(self, name: str, *args) -> None:
        log = self.temp / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                self.command(
                    BIN / "ray", "start", "--block", "--temp-dir", self.temp / name,
                    "--num-cpus", 1, "--num-gpus", 0, "--object-store-memory", 100_000_000,
                    "--node-ip-address", "127.0.0.1", "--disable-usage-stats", *args,
                ),
                env=self.node_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.nodes[name] = process
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray node {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def start_head(self) -> None:
        self.start_node(
            "head", "--head", "--port", GCS.split(":")[1], "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", DASHBOARD.rsplit(":", 1)[1],
        )  # fmt: skip

    def start_worker(self) -> None:
        self.workers += 1
        self.start_node(f"worker{self.workers}", "--address", GCS)

    @property
    def worker(self) -> subprocess.Popen:
        return self.nodes[f"worker{self.workers}"]

    def ensure_worker(self) -> None:
        """A live worker node (a test may have killed the last one)."""
        if self.worker.poll() is not None:
            self.start_worker()

    def worker_raylet(self) -> int:
        """The pid of the worker node's raylet."""
        for pid in descendants(self.worker.pid):
            if _read(f"/proc/{pid}/comm").strip() == "raylet":
                return pid
        raise AssertionError("the worker node has no raylet")

    def lose_worker(self) -> None:
        """The worker node dies as with its machine: its raylet first, then every other
        process of the node (a trial process orphaned by its raylet alone can train on)."""
        node = [self.worker.pid, *descendants(self.worker.pid)]  # before the raylet dies
        raylet = self.worker_raylet()
        os.kill(raylet, signal.SIGKILL)
        for pid in node:
            try:
                if pid != raylet and os.readlink(f"/proc/{pid}/ns/net") == self.ns_id:
                    os.kill(pid, signal.SIGKILL)
            except OSError:  # gone meanwhile
                pass
        self.worker.wait(timeout=30)

    def worker_node_id(self) -> str:
        cmdline = _read(f"/proc/{self.worker_raylet()}/cmdline").split("\0")
        return next(a for a in cmdline if a.startswith("--node_id=")).split("=", 1)[1]

    def stop(self) -> None:
        for process in self.nodes.values():  # ray start --block: SIGTERM stops its node
            if process.poll() is None:
                process.terminate()
        for process in self.nodes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Anything left in the namespace was started by us (it is private): end it by pid.
        for pid in _pids():
            try:
                if pid != self.holder.pid and os.readlink(f"/proc/{pid}/ns/net") == self.ns_id:
                    os.kill(pid, signal.SIGKILL)
            except OSError:  # gone meanwhile
                continue
        self.holder.kill()
        self.holder.wait()


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    """Every process below `root` (from /proc: pid -> parent pid)."""
    parents = {}
    for pid in _pids():
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])  # after "(comm)": state ppid
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _namespaces_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a loopback-only network namespace (unshare -n)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"needs `{tool}` (util-linux / iproute2)"
    probe = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -n is not permitted here: {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = _namespaces_available()
    if reason:
        pytest.skip(reason)
    temp = Path(tempfile.mkdtemp(prefix="gs-", dir="/tmp"))
    cluster = Cluster(temp)
    try:
        cluster.start_head()
        cluster.start_worker()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)


# --------------------------------------------------------------------------------- helpers
def ray_results(out: Path) -> dict[str, list[dict]]:
    """Ray's own result log of each trial (trial id -> rows); it may lose rows on retries."""
    logs = {}
    for path in sorted((out / "ray").glob("trial_*/result.json")):
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line being written
                pass
        logs[path.parent.name.removeprefix("trial_")] = rows
    return logs


def experiment_state(out: Path) -> dict[str, tuple[str, int, int]]:
    """Trial id -> (status, last reported step, failures) in Ray's saved experiment state."""
    files = sorted((out / "ray").glob("experiment_state-*.json"))
    try:
        state = json.loads(files[-1].read_text())
    except (IndexError, ValueError, OSError):  # not written yet, or being written
        return {}
    trials = {}
    for trial_json, runtime_json in state["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        last = runtime.get("last_result") or {}
        trials[trial["trial_id"]] = (trial["status"], last.get("step", -1), runtime["num_failures"])
    return trials


def damaged_state_file(out: Path) -> str | None:
    """The newest experiment or search-algorithm state file that does not load, if any."""
    import ray.cloudpickle as cloudpickle

    for pattern, load in [
        ("experiment_state-*.json", json.loads),
        ("basic-variant-state-*.json", cloudpickle.loads),
    ]:
        files = sorted((out / "ray").glob(pattern))
        try:
            load(files[-1].read_bytes())
        except IndexError:
            continue
        except Exception:  # truncated: JSON, EOF or unpickling errors
            return files[-1].name
    return None


def assert_tables_exact(out: Path, trials: int, steps: int, every: int = 100) -> None:
    study = load_results(out)
    history = study.history
    assert not history.duplicated(["trial_id", "replica", "step"]).any()
    assert len(history) == trials * 2 * (steps // every + 1)
    assert len(study.trials) == trials * 2
    assert (study.trials["status"] == "finished").all(), study.trials[["trial_id", "status"]]


def assert_resumed_from_checkpoint(rows: list[dict]) -> None:
    """Ray's log of a trial shows a restore from a checkpoint (a first row after a restore
    past step 0) and no restart from scratch (step 0, reported only by a fresh trainer,
    appears once)."""
    assert any(r["iterations_since_restore"] == 1 and r["step"] > 0 for r in rows), rows
    assert [r["step"] for r in rows].count(0) == 1, rows


def assert_equals_fault_free(out: Path, trial_id: str) -> None:
    """The trial's history is exactly that of one uninterrupted run of its config."""
    config = json.loads((out / "ray" / f"trial_{trial_id}" / "params.json").read_text())
    torch.set_num_threads(1)  # as the trial (1 CPU): the same reductions, the same bits
    trainer = Trainer(from_dict(config))
    for _ in trainer.run():
        pass
    columns = ["replica", "step", *METRIC_COLUMNS, "outcome"]
    expected = pd.DataFrame(trainer.history)[columns]
    history = load_results(out).history
    got = history[history["trial_id"] == trial_id][columns]
    pd.testing.assert_frame_equal(
        got.sort_values(["replica", "step"], ignore_index=True),
        expected.sort_values(["replica", "step"], ignore_index=True),
        check_exact=True,
        check_dtype=False,
    )


def wait_for(condition, what: str, driver: subprocess.Popen | None = None, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if driver is not None and driver.poll() is not None:
            pytest.fail(f"the driver ended before {what}:\n{driver.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


# ----------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def smoke_job(cluster, tmp_path_factory):
    """studies/smoke.yaml submitted as a Ray job, waited for: (completed process, folder)."""
    out = tmp_path_factory.mktemp("jobs") / "smoke"
    done = cluster.ganstudy(
        "submit", SMOKE, "--address", DASHBOARD, "--results", out, "--wait", timeout=300
    )
    return done, out


@pytest.mark.slow
def test_submitted_study_runs_on_both_nodes(cluster, smoke_job):
    done, out = smoke_job
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Everything ran where only loopback exists, and listens there.
    links = subprocess.run(cluster.command("ip", "-o", "link"), capture_output=True, text=True)
    assert [line.split(":")[1].strip() for line in links.stdout.splitlines()] == ["lo"]
    sockets = subprocess.run(cluster.command("ss", "-tlnH"), capture_output=True, text=True)
    listening = {line.split()[3].rsplit(":", 1)[0] for line in sockets.stdout.splitlines()}
    assert listening and listening <= {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}, listening
    job = done.stdout.splitlines()[0]
    assert job.startswith("ganstudy-smoke-")
    assert "SUCCEEDED" in done.stderr
    assert "tables:" in done.stdout  # the job's logs were streamed
    # Tables complete: 4 trials x 2 replicas x 4 evals, each once.
    assert_tables_exact(out, trials=4, steps=600, every=200)
    assert json.loads((out / "environment.json").read_text())["nodes"] == 2
    nodes = {row["node_id"] for rows in ray_results(out).values() for row in rows}
    assert len(nodes) == 2, "the trials did not use both nodes"
    # The thin wrappers see the job.
    listed = cluster.ganstudy("jobs", "--address", DASHBOARD)
    assert listed.returncode == 0 and any(
        job in line and "SUCCEEDED" in line and "smoke" in line
        for line in listed.stdout.splitlines()
    ), listed.stdout
    logs = cluster.ganstudy("logs", job, "--address", DASHBOARD)
    assert logs.returncode == 0 and "4 trials started, 8 replica runs" in logs.stdout
    stop = cluster.ganstudy("stop", job, "--address", DASHBOARD)
    assert stop.returncode == 0 and "had already ended" in stop.stdout


@pytest.mark.slow
def test_bad_study_is_a_failed_job_with_the_validation_message(cluster, tmp_path):
    bad = write_study(tmp_path, tiny_study("bad", 200, ["hinge"], metric="js_d"))
    out = tmp_path / "out"
    # Checked before submitting: nothing reaches the cluster.
    local = cluster.ganstudy("submit", bad, "--address", DASHBOARD, "--results", out)
    assert local.returncode == 2
    assert "metric: js_d is undefined" in local.stderr and "nothing submitted" in local.stderr
    # The cluster's ganstudy checks it too: the job fails with the same message.
    remote = cluster.ganstudy(
        "submit", bad, "--address", DASHBOARD, "--results", out, "--no-validate", "--wait"
    )
    assert remote.returncode == 1, remote.stdout + remote.stderr
    assert "FAILED" in remote.stderr
    assert "metric: js_d is undefined (NaN) for loss hinge" in remote.stdout
    assert not out.exists()


@pytest.mark.slow
def test_wrong_token_or_address_is_a_clear_error(cluster, tmp_path):
    wrong = cluster.env | {"RAY_AUTH_TOKEN": "0" * 32}
    for args in (
        ["jobs", "--address", DASHBOARD],
        ["submit", SMOKE, "--address", DASHBOARD, "--results", tmp_path / "x"],
        ["run", SMOKE, "--address", GCS, "--results", tmp_path / "y", "--quiet"],
    ):
        done = cluster.ganstudy(*args, env=wrong, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        error = done.stderr.strip().splitlines()[-1]
        assert error.startswith("ganstudy: error:")
        assert "rejected the Ray auth token" in error and "RAY_AUTH_TOKEN" in error
    assert not (tmp_path / "y").exists()
    # Nothing listening: one line at once, not after a minute of Ray's retries.
    done = cluster.ganstudy("run", SMOKE, "--address", "127.0.0.1:1", "--results", tmp_path / "z")
    assert done.returncode == 2 and "Connection refused" in done.stderr, done.stderr
    # The token from a file (the user's Ray config) works.
    token_file = tmp_path / "auth_token"
    token_file.write_text(cluster.token)
    env = {k: v for k, v in cluster.env.items() if k != "RAY_AUTH_TOKEN"}
    done = cluster.ganstudy("jobs", "--address", DASHBOARD, env=env | {
        "RAY_AUTH_TOKEN_PATH": str(token_file)
    })  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_unshared_storage_fails_fast(cluster, tmp_path):
    """The driver's folder is on a tmpfs only it sees (its own mount namespace): every
    node's probe fails, before any trial runs."""
    study = write_study(tmp_path, tiny_study("unshared", 200, ["hinge"]))
    private = tmp_path / "private"
    private.mkdir()
    run = (
        f"mount -t tmpfs ganstudy-test {private} && exec {sys.executable} -m ganstudy.cli "
        f"run {study} --address {GCS} --results {private}/unshared --quiet"
    )
    done = subprocess.run(
        cluster.command("unshare", "-m", "--propagation", "private", "--", "sh", "-c", run),
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert "is not storage every node shares (2 of 2 nodes" in error, error
    assert "cannot see the driver's probe file" in error
    assert list(private.iterdir()) == []  # the tmpfs was the driver's alone


@pytest.mark.slow
def test_crashed_trials_resume_from_their_checkpoints(cluster, tmp_path):
    """Every trial raises after step 100 and dies hard (os._exit) after step 200, once each:
    both resume from their checkpoints and end exactly as an uninterrupted run."""
    cluster.ensure_worker()
    study = write_study(tmp_path, tiny_study("faults", 400, ["minimax", "hinge"]))
    out, markers = tmp_path / "faults", tmp_path / "markers"
    markers.mkdir()
    # The study folder as a URI (pyarrow's file://, standing in for s3:// or gs://).
    done = cluster.ganstudy(
        "submit", study, "--address", DASHBOARD, "--results", f"file://{out}", "--wait",
        "--env", "GANSTUDY_FAULT=raise@100,exit@200", "--env", f"GANSTUDY_FAULT_DIR={markers}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"tables: file://{out}/trials.parquet" in done.stdout
    assert "injected fault raise@100" in done.stdout  # the exception reached Tune
    fired = sorted(p.name.split(".", 1)[1] for p in markers.iterdir())
    assert fired == ["exit@200", "exit@200", "raise@100", "raise@100"]
    assert {f for (_, _, f) in experiment_state(out).values()} == {2}
    assert_tables_exact(out, trials=2, steps=400)
    for trial_id, rows in ray_results(out).items():
        assert_resumed_from_checkpoint(rows)
        assert_equals_fault_free(out, trial_id)


@pytest.mark.slow
def test_killed_driver_resumes(cluster, tmp_path):
    """SIGKILL the driver once a trial finished and another has checkpoints in the saved
    experiment state; --resume reruns nothing finished and continues the rest."""
    cluster.ensure_worker()
    steps = 1000
    study = write_study(
        tmp_path, tiny_study("killed", steps, ["minimax", "nonsaturating", "hinge"])
    )
    out = tmp_path / "killed"
    driver = cluster.driver("run", study, "--address", GCS, "--results", out, "--quiet")
    try:

        def finished_and_partial() -> bool:
            state = experiment_state(out).values()
            return any(s == "TERMINATED" for s, _, _ in state) and any(
                s == "RUNNING" and 0 < step < steps for s, step, _ in state
            )

        wait_for(finished_and_partial, "a finished and a checkpointed partial trial", driver)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    damaged = damaged_state_file(out)
    if damaged:
        # The kill landed while Ray copied this file to storage (seen once in CI):
        # Ray's own restore would start the study over, so --resume must refuse, clearly.
        done = cluster.ganstudy("run", study, "--address", GCS, "--results", out, "--resume")
        assert done.returncode == 2 and "damaged" in done.stderr, done.stderr[-2000:]
        pytest.skip(f"SIGKILL truncated {damaged}; resume refused as designed")
    saved = experiment_state(out)
    finished = [t for t, (s, _, _) in saved.items() if s == "TERMINATED"]
    partial = [t for t, (s, step, _) in saved.items() if s == "RUNNING" and step > 0]
    time.sleep(2)  # the cluster ends the dead driver's trials
    # Ray rewrites its logger files of every trial on restore; what a rerun would change
    # is the checkpoints and the rows reported.
    stamps = {
        path: path.stat().st_mtime_ns
        for trial_id in finished
        for path in (out / "ray" / f"trial_{trial_id}").glob("checkpoint_*/*")
    }
    reported = {trial_id: ray_results(out)[trial_id] for trial_id in finished}

    done = cluster.ganstudy("run", study, "--address", GCS, "--results", out, "--resume", "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert stamps and {p: p.stat().st_mtime_ns for p in stamps} == stamps, "a trial was rerun"
    assert {t: ray_results(out)[t] for t in finished} == reported, "a trial was rerun"
    assert_tables_exact(out, trials=3, steps=steps)
    logs = ray_results(out)
    for trial_id in partial:
        assert_resumed_from_checkpoint(logs[trial_id])
        assert_equals_fault_free(out, trial_id)


@pytest.mark.slow
def test_lost_worker_node(cluster, tmp_path):
    """Lose the worker node while it trains a trial: the trial finishes on the head from its
    last checkpoint, the tables stay exact."""
    cluster.ensure_worker()
    steps = 1500
    study = write_study(tmp_path, tiny_study("lost", steps, ["minimax", "hinge"]))
    out = tmp_path / "lost"
    worker_id = cluster.worker_node_id()
    driver = cluster.driver("run", study, "--address", GCS, "--results", out, "--quiet")
    try:

        def training_on_worker() -> bool:
            return any(
                r["node_id"] == worker_id and r["step"] >= 300
                for rows in ray_results(out).values()
                for r in rows
            )

        wait_for(training_on_worker, "a trial on the worker node", driver)
        cluster.lose_worker()
        output, _ = driver.communicate(timeout=180)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, output[-3000:]
    assert_tables_exact(out, trials=2, steps=steps)
    logs = ray_results(out)
    moved = [
        trial_id
        for trial_id, rows in logs.items()
        if rows[0]["node_id"] == worker_id and rows[-1]["node_id"] != worker_id
    ]
    nodes = {t: [(r["step"], r["node_id"][:6]) for r in rows] for t, rows in logs.items()}
    assert len(moved) == 1, f"no trial moved from the lost node {worker_id[:6]}: {nodes}"
    assert_resumed_from_checkpoint(ray_results(out)[moved[0]])
    assert_equals_fault_free(out, moved[0])
    cluster.ensure_worker()  # for any test after this one


@pytest.mark.slow
def test_damaged_experiment_state_is_refused(finished_study, tmp_path, capsys):
    """--resume refuses, in one line and before Ray starts, where Ray's restore would
    silently start the study over. (Any finished study will do: the session's, conftest.py,
    so this runs without the root-only cluster.)"""
    finished = finished_study
    assert (finished / "trials.parquet").exists()

    def resume(damage, file=SMOKE) -> str:
        folder = tmp_path / damage.__name__
        shutil.copytree(finished, folder)
        damage(folder / "ray")
        before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
        assert main(["run", str(file), "--results", str(folder), "--resume", "--quiet"]) == 2
        assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before  # untouched
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and "--fresh" in error, error
        return error

    def truncated_state(ray_dir: Path) -> None:
        state = next(ray_dir.glob("experiment_state-*.json"))
        state.write_bytes(state.read_bytes()[:1000])

    def missing_state(ray_dir: Path) -> None:
        next(ray_dir.glob("experiment_state-*.json")).unlink()

    def garbage_tuner(ray_dir: Path) -> None:
        (ray_dir / "tuner.pkl").write_bytes(b"\x80\x05not a pickle")

    def missing_tuner(ray_dir: Path) -> None:
        (ray_dir / "tuner.pkl").unlink()

    def truncated_search_state(ray_dir: Path) -> None:  # seen once: SIGKILL during Ray's copy
        state = next(ray_dir.glob("basic-variant-state-*.json"))
        state.write_bytes(state.read_bytes()[:100])

    assert "experiment state is damaged (JSONDecodeError" in resume(truncated_state)
    assert "experiment state (experiment_state-*.json) is missing" in resume(missing_state)
    assert "tuner.pkl: damaged" in resume(garbage_tuner)
    assert "no resumable Ray experiment state" in resume(missing_tuner)
    assert "search algorithm's state is damaged" in resume(truncated_search_state)
    # A changed study file is not the study being resumed.
    changed = yaml.safe_load(SMOKE.read_text())
    changed["params"]["lr_d"] = 0.002
    error = resume(lambda ray_dir: None, write_study(tmp_path, changed))
    assert "differs from the study being resumed" in error and "params.lr_d" in error


# ------------------------------------------------------------------ fast: no cluster needed
def test_submit_checks_its_input_before_contacting_a_cluster(tmp_path, capsys):
    nowhere = ["--address", "http://127.0.0.1:9"]  # never contacted: each fails first
    assert main(["submit", str(SMOKE), *nowhere]) == 2
    assert "give --results" in capsys.readouterr().err
    assert main(["submit", str(SMOKE), *nowhere, "--results", "relative/smoke"]) == 2
    assert "absolute path" in capsys.readouterr().err
    bad = write_study(tmp_path, tiny_study("bad", 200, ["hinge"], metric="js_d"))
    assert main(["submit", str(bad), *nowhere, "--results", str(tmp_path)]) == 2
    assert "nothing submitted" in capsys.readouterr().err
    args = ["submit", str(SMOKE), *nowhere, "--results", str(tmp_path), "--env", "NOVALUE"]
    assert main(args) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_storage_key_places_the_study_folder(tmp_path):
    from ganstudy.run.folder import study_location
    from ganstudy.study.spec import SpecError, spec_from_dict

    spec = spec_from_dict(tiny_study("s", 200, ["hinge"], storage="s3://bucket/studies/"))
    assert spec_from_dict(yaml.safe_load(spec.to_yaml())) == spec
    assert study_location(spec, None) == "s3://bucket/studies/s"
    assert study_location(spec, tmp_path / "here") == str(tmp_path / "here")
    shared = spec_from_dict(tiny_study("s", 200, ["hinge"], storage="/mnt/studies"))
    assert study_location(shared, None) == "/mnt/studies/s"
    with pytest.raises(SpecError, match="storage"):
        spec_from_dict(tiny_study("s", 200, ["hinge"], storage=" "))


def test_auth_failures_are_recognised_through_causes():
    from ganstudy.run.cluster import is_auth_failure

    try:
        try:
            raise RuntimeError("RPC error: InvalidAuthToken: token is missing or incorrect")
        except RuntimeError as inner:
            raise ConnectionError("Failed to connect to Ray cluster") from inner
    except ConnectionError as outer:
        assert is_auth_failure(outer)
    assert not is_auth_failure(ConnectionError("Connection refused"))


def test_a_password_in_an_address_is_never_echoed(capsys):
    from ganstudy.cli import main

    with pytest.raises(SystemExit) as exit:  # argparse refuses it
        main(["jobs", "--address", "http://user:hunter2@127.0.0.1:1"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "***@127.0.0.1:1" in err and "Ray token" in err


# What use_ray_token leaves in the environment Ray reads (and its subprocesses inherit),
# found in a fresh interpreter: Ray's token loader and config are process-wide caches.
_AUTH_MODE_AFTER = (
    "import os; from ganstudy.run.cluster import use_ray_token; use_ray_token(); "
    "print(os.environ.get('RAY_AUTH_MODE'))"
)


@pytest.mark.parametrize(
    "given, token, mode",
    [
        ({}, "variable", "token"),  # RAY_AUTH_TOKEN: turned on, as `ray start` would
        ({}, "file", "token"),  # ~/.ray/auth_token: the same
        ({}, None, "None"),  # no token anywhere: left off
        ({"RAY_AUTH_MODE": "disabled"}, "variable", "disabled"),  # the user's choice stands
    ],
    ids=["token-variable", "token-file", "no-token", "disabled-by-user"],
)
def test_a_configured_token_turns_token_auth_on(tmp_path, given, token, mode):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env |= given | {"HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    if token == "variable":
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    elif token == "file":
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text(secrets.token_hex(16))
    run = subprocess.run(
        [sys.executable, "-c", _AUTH_MODE_AFTER], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == mode
