"""Run a study on Ray Tune: the trainable, the Tuner, the embedded local Ray.

Part of the run layer (ganstudy/run/), the only code that imports Ray.
Flow: StudySpec -> param_space -> `train_trial` (one Trainer per trial, reporting every eval
step with a checkpoint of its full state) -> ResultGrid -> `results.write_tables`.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import json
import math
import os
import pickle
import platform
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
import torch
import yaml
from ray import cloudpickle, tune
from ray.tune import Checkpoint, ProgressReporter

from ganstudy import results
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import from_dict
from ganstudy.run import cluster, session
from ganstudy.spec import (
    AshaScheduler,
    PbtScheduler,
    SpecError,
    StudySpec,
    load_spec,
    spec_from_dict,
)
from ganstudy.trainer import Trainer

EXPERIMENT = "ray"  # Ray's experiment folder inside results/<name>/, kept for Tuner.restore
STATE_FILE = "state.pt"  # inside each checkpoint: trainer state + sample snapshots


class StudyError(RuntimeError):
    """The study cannot run as asked (folder exists, nothing to resume ...); one line."""


# ------------------------------------------------------------------------------ trainable
def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one TrialConfig, all its replicas, every eval reported."""
    trial_config = from_dict(config)  # param_space keys are TrialConfig fields, one name each
    # Concurrent trials share the cores: each uses exactly the CPUs it reserved.
    torch.set_num_threads(
        max(1, int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1)))
    )
    trainer = Trainer(trial_config)
    snapshots: dict[int, torch.Tensor] = {}
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, weights_only=True)
        trainer.load_state_dict(state["trainer"])
        snapshots = state["samples"]
    for evaluation in trainer.run():
        snapshots[evaluation.step] = torch.from_numpy(evaluation.samples)
        with tempfile.TemporaryDirectory() as folder:
            torch.save(
                {"trainer": trainer.state_dict(), "samples": snapshots}, Path(folder) / STATE_FILE
            )
            report = summarize(evaluation.rows) | {
                "node_id": ray.get_runtime_context().get_node_id()
            }
            tune.report(report, checkpoint=Checkpoint.from_directory(folder))
        _inject_fault(evaluation.step)


FAULT_ENV, FAULT_DIR_ENV = "GANSTUDY_FAULT", "GANSTUDY_FAULT_DIR"


def _inject_fault(step: int) -> None:
    """Test-only crash after the eval at `step` was reported, once per trial and fault.

    GANSTUDY_FAULT=raise@200,exit@400 makes every trial raise an exception after reporting
    step 200 and end its process hard (os._exit, no clean-up) after step 400; the marker
    file GANSTUDY_FAULT_DIR/<trial_id>.<kind>@<step> (created atomically) makes each fire
    only once, so the retry resumes from the checkpoint and trains on. Unset: nothing.
    """
    faults = os.environ.get(FAULT_ENV)
    if not faults:
        return
    for fault in faults.split(","):
        kind, _, at = fault.partition("@")
        if int(at) != step:
            continue
        marker = Path(os.environ[FAULT_DIR_ENV]) / f"{tune.get_context().get_trial_id()}.{fault}"
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:  # fired before: this is the retry
            continue
        if kind == "exit":
            os._exit(1)
        raise RuntimeError(f"injected fault {fault} ({FAULT_ENV})")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One scalar per metric for Tune: the mean over replicas that have not diverged."""
    report: dict[str, Any] = {"step": rows[0]["step"]}
    for name in METRIC_COLUMNS:
        finite = [row[name] for row in rows if math.isfinite(row[name])]
        report[name] = sum(finite) / len(finite) if finite else math.nan
    outcomes = collections.Counter(row["outcome"] for row in rows)
    report["outcome"] = outcomes.most_common(1)[0][0]
    report["diverged"] = outcomes["diverged"]
    return report


# --------------------------------------------------------------------------------- runner
def run_study(
    study: str | os.PathLike | StudySpec,
    *,
    results_dir: str | os.PathLike | None = None,
    address: str | None = None,
    resume: bool = False,
    fresh: bool = False,
    max_concurrent: int | None = None,
    progress: bool = True,
) -> Path | str:
    """Run (or resume) a study and write its tables; return the study folder.

    `address=None` starts an embedded local Ray on 127.0.0.1 and stops it afterwards;
    otherwise it connects to that cluster ("auto" or HOST:PORT), after checking that every
    node sees the study folder. The folder is `results_dir`, else `<storage>/<name>` when
    the study names a `storage:`, else `results/<name>`; a URI (s3://, gs://, file://) is
    returned as a string, a path as a Path.
    """
    spec = study if isinstance(study, StudySpec) else load_spec(study)
    folder = StudyFolder(study_location(spec, results_dir))
    started_here = False
    try:
        if folder.remote and spec.search.algorithm == "optuna":
            raise StudyError(
                f"{folder.location}: search: optuna keeps its study in a sqlite file; give "
                "--results a filesystem path (on a cluster, one every node mounts), not a URI"
            )
        if resume:
            _check_resumable(folder, spec)
            _repair_stale_checkpoints(folder)
        elif folder.holds_files():
            if not fresh:
                raise StudyError(
                    f"{folder.location} already holds a study; use --resume to continue it "
                    "or --fresh to replace it"
                )
            folder.clear()

        started_here = _start_ray(address, spec)
        if address:
            try:
                _check_storage(folder.location)
            except StudyError:
                if not resume:
                    folder.remove_if_empty()  # nothing half-written
                raise
        folder.local.mkdir(parents=True, exist_ok=True)
        try:
            tuner = _tuner(spec, folder, resume, max_concurrent, progress)
        except Exception:
            if not resume:  # it held nothing before (checked above): leave nothing behind
                with contextlib.suppress(OSError):
                    folder.clear()
            raise
        _write_atomic(folder.local / "spec.yaml", spec.to_yaml())
        _write_atomic(folder.local / "environment.json", json.dumps(_environment(), indent=2))
        folder.publish()
        grid = tuner.fit()
        records = [_record(result) for result in grid]
        results.write_tables(records, spec, folder.local)
        folder.publish()
        return folder.result()
    finally:
        if started_here:
            ray.shutdown()
        folder.cleanup()


def study_location(spec: StudySpec, results_dir: str | os.PathLike | None) -> str:
    """The study folder, a URI or an absolute path: --results, <storage>/<name>, results/<name>."""
    if results_dir is not None:
        location = os.fspath(results_dir)
    elif spec.storage:
        location = spec.storage.rstrip("/") + "/" + spec.name
    else:
        location = os.path.join("results", spec.name)
    return location if is_uri(location) else str(Path(location).resolve())


def is_uri(location: str) -> bool:
    """s3://bucket/x, gs://..., file:///x: a location for pyarrow.fs rather than a path."""
    return "://" in location


class StudyFolder:
    """Where a study lives: a local (or shared) folder, or a URI written through a local
    staging folder that is uploaded after each write (Ray's experiment folder goes to the
    URI directly: it is Ray Tune's `storage_path`)."""

    def __init__(self, location: str):
        self.location = location
        self.remote = is_uri(location)
        if self.remote:
            self.fs, self.fs_path = pyarrow.fs.FileSystem.from_uri(location)
            self.local = Path(tempfile.mkdtemp(prefix="ganstudy-staging-"))
        else:
            self.fs, self.fs_path = pyarrow.fs.LocalFileSystem(), location
            self.local = Path(location)
        self.experiment = self.join(EXPERIMENT)

    def join(self, *names: str) -> str:
        """A path or URI inside the folder."""
        return "/".join([self.location.rstrip("/"), *names])

    def holds_files(self) -> bool:
        selector = pyarrow.fs.FileSelector(self.fs_path, allow_not_found=True)
        return bool(self.fs.get_file_info(selector))

    def clear(self) -> None:
        self.fs.delete_dir(self.fs_path)

    def remove_if_empty(self) -> None:
        if not self.holds_files():
            try:
                self.fs.delete_dir(self.fs_path)
            except OSError:
                pass

    def read_text(self, name: str) -> str | None:
        """A file of the folder as text, or None when it does not exist."""
        try:
            with self.fs.open_input_stream(f"{self.fs_path.rstrip('/')}/{name}") as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return None

    def publish(self) -> None:
        """Upload the staged files (tables, spec, environment) to a URI; no-op for a path."""
        if self.remote:
            self.fs.create_dir(self.fs_path)
            for path in self.local.iterdir():
                if path.is_file() and not path.name.endswith(".tmp"):
                    pyarrow.fs.copy_files(
                        str(path),
                        f"{self.fs_path.rstrip('/')}/{path.name}",
                        source_filesystem=pyarrow.fs.LocalFileSystem(),
                        destination_filesystem=self.fs,
                    )

    def result(self) -> Path | str:
        return self.location if self.remote else self.local

    def cleanup(self) -> None:
        if self.remote:
            shutil.rmtree(self.local, ignore_errors=True)


# Ray Tune's search-algorithm checkpoints in the experiment folder (grid/random, a wrapped
# searcher such as Optuna's, the searcher itself), each a cloudpickle.
SEARCH_STATE_FILES = (
    "basic-variant-state-*.json",
    "search_gen_state-*.json",
    "searcher-state-*.pkl",
)


def _check_resumable(folder: StudyFolder, spec: StudySpec) -> None:
    """Refuse to resume from missing or damaged state: Ray's restore would log the problem
    and silently start the whole study over."""
    fresh = "run without --resume (add --fresh to replace the folder)"
    if not tune.Tuner.can_restore(folder.experiment):
        raise StudyError(
            f"{folder.location}: no resumable Ray experiment state in {folder.experiment}; {fresh}"
        )
    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    try:
        with fs.open_input_stream(f"{path}/tuner.pkl") as f:
            tuner_state = cloudpickle.loads(f.read())
        if not isinstance(tuner_state, dict):
            raise TypeError(f"holds a {type(tuner_state).__name__}, not the Tuner's settings")
    except Exception as error:  # truncated or foreign pickle: EOF, Unpickling, Type errors
        raise StudyError(
            f"{folder.experiment}/tuner.pkl: damaged ({type(error).__name__}: "
            f"{cluster.first_line(error)[:80]}); {fresh}"
        ) from None
    names = [info.base_name for info in fs.get_file_info(pyarrow.fs.FileSelector(path))]
    states = sorted(fnmatch.filter(names, "experiment_state-*.json"))
    if not states:
        raise StudyError(
            f"{folder.experiment}: the experiment state (experiment_state-*.json) is missing, "
            f"so Ray would rerun every trial from scratch; {fresh}"
        )
    try:
        with fs.open_input_stream(f"{path}/{states[-1]}") as f:
            state = json.loads(f.read())
        if not isinstance(state["trial_data"], list):
            raise TypeError("trial_data is not a list")
    except (ValueError, KeyError, TypeError) as error:  # truncated or foreign JSON
        raise StudyError(
            f"{folder.experiment}/{states[-1]}: the experiment state is damaged "
            f"({type(error).__name__}: {str(error)[:80]}), so Ray would rerun every trial "
            f"from scratch; {fresh}"
        ) from None
    # The search algorithm's state (Ray reads the newest by name). A driver killed while
    # Ray copied it to storage leaves it truncated; Ray's restore then starts a new run.
    for pattern in SEARCH_STATE_FILES:
        found = sorted(fnmatch.filter(names, pattern))
        if not found:
            continue
        try:
            with fs.open_input_stream(f"{path}/{found[-1]}") as f:
                cloudpickle.loads(f.read())
        except Exception as error:  # truncated or foreign pickle: EOF, Unpickling errors
            raise StudyError(
                f"{folder.experiment}/{found[-1]}: the search algorithm's state is damaged "
                f"({type(error).__name__}), so Ray would start the study over; {fresh}"
            ) from None
    saved = folder.read_text("spec.yaml")
    if saved is not None:
        try:
            before = spec_from_dict(yaml.safe_load(saved), source=folder.join("spec.yaml"))
        except (SpecError, yaml.YAMLError):
            before = None
        if before != spec:
            changed = _changed_keys(before, spec)
            raise StudyError(
                f"{spec.source}: differs from the study being resumed ({folder.join('spec.yaml')}"
                f"{': ' + ', '.join(changed) if changed else ''}); resume with the study as it "
                "ran, or use --fresh to start over"
            )


def _repair_stale_checkpoints(folder: StudyFolder) -> None:
    """Make the checkpoints a killed driver's experiment state names exist again.

    Ray keeps a trial's newest two checkpoints and re-saves its experiment state after
    deleting an older one, but not atomically with it: a driver killed in between leaves a
    state naming deleted checkpoints. Ray's restore then fails the trial if its latest is
    gone ("does not exist on storage anymore"), and logs an error when it later deletes an
    older one that is gone. Every checkpoint holds the whole trainer state and history, so
    the trial's newest complete checkpoint, copied under the latest name, continues it with
    nothing lost or repeated; older names get an empty folder for Ray to delete.
    """
    from ray.tune.utils.serialization import TuneFunctionDecoder

    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    states = fs.get_file_info(pyarrow.fs.FileSelector(path))
    newest = max(i.path for i in states if fnmatch.fnmatch(i.base_name, "experiment_state-*.json"))
    with fs.open_input_stream(newest) as f:
        trial_data = json.loads(f.read())["trial_data"]
    for trial_json, runtime_json in trial_data:
        try:
            if json.loads(trial_json)["status"] == "TERMINATED":
                continue
            # Ray's own format: the checkpoint manager is a cloudpickle inside the JSON (the
            # study folder is trusted as much as the resume itself, which unpickles it too).
            runtime = json.loads(runtime_json, cls=TuneFunctionDecoder, allow_cloudpickle=True)
            manager = runtime["checkpoint_manager"]
            latest = manager.latest_checkpoint_result
            named = [r.checkpoint for r in manager.best_checkpoint_results]
        except Exception:  # a Ray that stores it otherwise: leave the restore to Ray
            continue
        if latest is None or latest.checkpoint is None:
            continue
        trial_fs = latest.checkpoint.filesystem
        missing = {
            c.path
            for c in [*named, latest.checkpoint]
            if c is not None and trial_fs.get_file_info(c.path).type == pyarrow.fs.FileType.NotFound
        }
        trial_dir, latest_name = latest.checkpoint.path.rsplit("/", 1)
        if latest.checkpoint.path in missing:
            source = _newest_checkpoint(trial_fs, trial_dir)
            if source is None:
                continue  # nothing to continue from: Ray reports the trial's error
            trial_fs.create_dir(latest.checkpoint.path)
            pyarrow.fs.copy_files(
                source,
                latest.checkpoint.path,
                source_filesystem=trial_fs,
                destination_filesystem=trial_fs,
            )
            missing.discard(latest.checkpoint.path)
            print(
                f"{trial_dir.rsplit('/', 1)[1]}: the saved experiment state names {latest_name}, "
                f"which the trial had replaced; continuing from {source.rsplit('/', 1)[1]}"
            )
        for gone in missing:
            trial_fs.create_dir(gone)


def _newest_checkpoint(fs: pyarrow.fs.FileSystem, trial_dir: str) -> str | None:
    """The trial's checkpoint folder with the highest step whose state loads (one being
    written when its process died is skipped)."""
    best, best_step = None, -1
    folders = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir, allow_not_found=True))
    for info in folders:
        if not fnmatch.fnmatch(info.base_name, "checkpoint_*"):
            continue
        state = _load_state(Checkpoint(info.path, filesystem=fs))
        if state is not None and state["trainer"]["step"] > best_step:
            best, best_step = info.path, state["trainer"]["step"]
    return best


def _load_state(checkpoint: Checkpoint) -> dict[str, Any] | None:
    """A checkpoint's trainer state and samples, or None if it is missing or incomplete."""
    try:
        with checkpoint.as_directory() as folder:
            return torch.load(Path(folder) / STATE_FILE, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # missing, truncated
        return None


def _changed_keys(before: StudySpec | None, after: StudySpec) -> list[str]:
    if before is None:
        return ["unreadable"]
    old, new = before.to_dict(), after.to_dict()
    keys = [k for k in new if k != "params" and old.get(k) != new[k]]
    params = old.get("params", {}), new["params"]
    keys += [f"params.{k}" for k in params[1] if params[0].get(k) != params[1][k]]
    return keys


def _tuner(
    spec: StudySpec, folder: StudyFolder, resume: bool, max_concurrent: int | None, progress: bool
) -> tune.Tuner:
    trainable = tune.with_resources(
        train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    )
    if resume:
        try:
            return tune.Tuner.restore(
                folder.experiment, trainable=trainable, resume_unfinished=True, resume_errored=True
            )
        except Exception as error:  # an unreadable tuner.pkl: pickle, EOF, attribute errors
            raise StudyError(
                f"{folder.experiment}: cannot restore the Ray experiment "
                f"({type(error).__name__}: {cluster.first_line(error)}); "
                "run without --resume (add --fresh to replace the folder)"
            ) from None
    return tune.Tuner(
        trainable,
        param_space=spec.param_space(),
        tune_config=_tune_config(spec, folder.local, max_concurrent),
        run_config=_run_config(spec, folder.location, progress),
    )


def _start_ray(address: str | None, spec: StudySpec | None) -> bool:
    """Connect to `address`, or start an embedded local Ray; True if we started it."""
    try:
        return session.start(address)
    except cluster.ClusterError as error:
        raise StudyError(str(error)) from None


def _check_storage(location: str) -> None:
    """Fail fast unless every node of the cluster reads and writes the same study folder."""
    try:
        cluster.check_storage(location)
    except cluster.ClusterError as error:
        raise StudyError(str(error)) from None


def _tune_config(spec: StudySpec, out: Path, max_concurrent: int | None) -> tune.TuneConfig:
    search_alg = None
    if spec.search.algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        # A sqlite RDB storage beside the tables: inspectable with optuna's own tools.
        search_alg = OptunaSearch(
            sampler=optuna.samplers.TPESampler(seed=spec.fixed.get("seed", 0)),
            storage=optuna.storages.RDBStorage(f"sqlite:///{out / 'optuna.db'}"),
            study_name=spec.name,
        )
    return tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        search_alg=search_alg,
        scheduler=_scheduler(spec),
        num_samples=spec.search.num_samples,
        max_concurrent_trials=max_concurrent or spec.max_concurrent,
        # Reuse trial workers instead of starting a process (and importing torch) per trial:
        # most of a small study's fixed overhead (ganstudy bench, study figure).
        reuse_actors=True,
        trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}",
    )


def _scheduler(spec: StudySpec):
    s = spec.scheduler
    # Schedulers count time in G steps (the `step` every report carries), like the spec.
    if isinstance(s, AshaScheduler):
        return tune.schedulers.ASHAScheduler(
            time_attr="step",
            grace_period=s.grace_period,
            reduction_factor=s.reduction_factor,
            max_t=spec.fixed["steps"],
        )
    if isinstance(s, PbtScheduler):
        return tune.schedulers.PopulationBasedTraining(
            time_attr="step",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=spec.hyperparam_mutations(),
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
        )
    return None  # FIFO


def _run_config(spec: StudySpec, location: str, progress: bool) -> tune.RunConfig:
    return tune.RunConfig(
        name=EXPERIMENT,
        storage_path=location,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # The latest checkpoint holds the whole history, so two are enough (one spare
        # while the next is written). PBT clones a trial from another's checkpoint a while
        # after choosing it, and the donor must not have deleted it by then: keep more.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=4 if isinstance(spec.scheduler, PbtScheduler) else 2
        ),
        progress_reporter=LiveTable(spec) if progress else _Silent(),
        verbose=1,
    )


def _record(result) -> results.TrialRecord:
    """What the tables need from one Ray result, loaded from its latest checkpoint."""
    state = None
    if result.checkpoint is not None:
        state = _load_state(result.checkpoint)
        if state is None:  # gone or damaged: the newest complete one beside it
            fs = result.checkpoint.filesystem
            newest = _newest_checkpoint(fs, result.checkpoint.path.rsplit("/", 1)[0])
            state = _load_state(Checkpoint(newest, filesystem=fs)) if newest else None
    metrics = result.metrics or {}
    return results.TrialRecord(
        trial_id=metrics.get("trial_id") or Path(result.path).name.removeprefix("trial_"),
        config=dict(result.config or {}),
        error=None if result.error is None else str(result.error).splitlines()[0][:300],
        wall_s=float(metrics.get("time_total_s", math.nan)),
        history=state["trainer"]["history"] if state else [],
        samples={int(k): v.numpy() for k, v in state["samples"].items()} if state else {},
    )


def _environment() -> dict[str, Any]:
    import numpy
    import optuna
    import pandas

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "optuna": optuna.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "nodes": len(nodes),
        "cluster_cpus": ray.cluster_resources().get("CPU", 0),
        "cluster_gpus": ray.cluster_resources().get("GPU", 0),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------- progress
class LiveTable(ProgressReporter):
    """A compact table of trials every few seconds instead of Ray's logs."""

    def __init__(self, spec: StudySpec, every_s: float = 10.0):
        self.spec, self.every_s, self._last = spec, every_s, 0.0
        self.swept = list(spec.dimensions)

    def should_report(self, trials, done: bool = False) -> bool:
        return done or time.monotonic() - self._last >= self.every_s

    def report(self, trials, done: bool, *sys_info) -> None:
        self._last = time.monotonic()
        metric = self.spec.metric
        counts = collections.Counter(t.status for t in trials)
        steps = self.spec.fixed["steps"]
        print(
            f"\n== {self.spec.name}: "
            + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
            + (" (done)" if done else "")
        )
        header = ["trial", "status", *self.swept, "step", metric, "D(x)", "D(G(z))", "outcome"]
        rows = [header]
        for t in trials:
            r = t.last_result or {}
            rows.append(
                [t.trial_id, t.status.lower()]
                + [_short(t.config.get(k)) for k in self.swept]
                + [
                    f"{r.get('step', 0)}/{steps}",
                    _short(r.get(metric)),
                    _short(r.get("d_real")),
                    _short(r.get("d_fake")),
                    str(r.get("outcome", "")),
                ]
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
        for row in rows:
            print("  ".join(str(cell).rjust(w) for cell, w in zip(row, widths, strict=True)))
        sys.stdout.flush()


class _Silent(ProgressReporter):
    def should_report(self, trials, done: bool = False) -> bool:
        return False


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3g}"
    return str(value)
