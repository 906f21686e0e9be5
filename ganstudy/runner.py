"""Run a study on Ray Tune: the trainable, the Tuner, the embedded local Ray.

The only module that imports Ray. Flow: StudySpec -> param_space -> `train_trial` (one
Trainer per trial, reporting every eval step with a checkpoint of its full state) ->
ResultGrid -> `results.write_tables`.
"""

from __future__ import annotations

import collections
import json
import math
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Set before Ray is imported or started:
# - On Linux a plain local Ray binds the machine's routable address; with this variable
#   (Ray 2.60) every socket of the embedded instance stays on 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# - Ray's new console output ignores custom progress reporters; ours is one compact table.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# - Save the experiment state often, so a killed driver resumes with recent checkpoints.
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
# - Those frequent snapshots are deliberate (resume correctness), not a bottleneck to warn of.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

import ray  # noqa: E402
import torch  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune import Checkpoint, ProgressReporter  # noqa: E402

from ganstudy import results  # noqa: E402
from ganstudy.config import from_dict  # noqa: E402
from ganstudy.spec import AshaScheduler, PbtScheduler, StudySpec, load_spec  # noqa: E402
from ganstudy.trainer import METRIC_COLUMNS, Trainer  # noqa: E402

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
            tune.report(summarize(evaluation.rows), checkpoint=Checkpoint.from_directory(folder))


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
) -> Path:
    """Run (or resume) a study and write its tables; return the study folder.

    `address=None` starts an embedded local Ray on 127.0.0.1 and stops it afterwards;
    otherwise it connects to that cluster ("auto" or HOST:PORT).
    """
    spec = study if isinstance(study, StudySpec) else load_spec(study)
    out = Path(results_dir or Path("results") / spec.name).resolve()
    experiment = out / EXPERIMENT
    if resume:
        if not tune.Tuner.can_restore(str(experiment)):
            raise StudyError(
                f"{out}: no resumable Ray experiment state in {experiment}; "
                "run without --resume (add --fresh to replace the folder)"
            )
    elif out.exists() and any(out.iterdir()):
        if not fresh:
            raise StudyError(
                f"{out} already holds a study; use --resume to continue it or --fresh to replace it"
            )
        shutil.rmtree(out)

    started_here = _start_ray(address, spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / "spec.yaml", spec.to_yaml())
        _write_atomic(out / "environment.json", json.dumps(_environment(), indent=2))
        trainable = tune.with_resources(
            train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
        )
        if resume:
            tuner = tune.Tuner.restore(
                str(experiment), trainable=trainable, resume_unfinished=True, resume_errored=True
            )
        else:
            tuner = tune.Tuner(
                trainable,
                param_space=spec.param_space(),
                tune_config=_tune_config(spec, out, max_concurrent),
                run_config=_run_config(spec, out, progress),
            )
        grid = tuner.fit()
        records = [_record(result) for result in grid]
        results.write_tables(records, spec, out)
        return out
    finally:
        if started_here:
            ray.shutdown()


def _tuner(spec: StudySpec, out: Path, resume: bool, max_concurrent: int | None, progress: bool):
    trainable = tune.with_resources(
        train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    )
    if resume:
        return tune.Tuner.restore(
            str(out / EXPERIMENT), trainable=trainable, resume_unfinished=True, resume_errored=True
        )
    return tune.Tuner(
        trainable,
        param_space=spec.param_space(),
        tune_config=_tune_config(spec, out, max_concurrent),
        run_config=_run_config(spec, out, progress),
    )


def _start_ray(address: str | None, spec: StudySpec) -> bool:
    """Connect to `address`, or start an embedded local Ray; True if we started it."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return False
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    return True


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


def _run_config(spec: StudySpec, out: Path, progress: bool) -> tune.RunConfig:
    return tune.RunConfig(
        name=EXPERIMENT,
        storage_path=str(out),
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # The latest checkpoint holds the whole history, so two are enough (one spare
        # while the next is written).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        progress_reporter=LiveTable(spec) if progress else _Silent(),
        verbose=1,
    )


def _record(result) -> results.TrialRecord:
    """What the tables need from one Ray result, loaded from its latest checkpoint."""
    state = None
    if result.checkpoint is not None:
        with result.checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, weights_only=True)
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
