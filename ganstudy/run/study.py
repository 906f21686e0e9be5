"""Run (or resume) a study on Ray Tune and write its tables: the run layer's entry point.

Flow: StudySpec -> lock the folder -> start Ray -> Tuner (tuner.py) -> `train_trial` per
configuration (trainable.py) -> Ray's results -> one TrialRecord per trial, with ganstudy's
own status -> `results.write_tables`. An interrupted run (Ctrl-C) still writes tables that
are complete for what finished and honest about the rest, then raises StudyInterrupted.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
import torch
from ray import tune
from ray.tune import Checkpoint
from ray.tune.search.variant_generator import generate_variants

from ganstudy.config import FIELDS
from ganstudy.messages import clip_middle
from ganstudy.run import cluster, groups, session
from ganstudy.run.faults import DiskFaultStop, restore_saved_state
from ganstudy.run.folder import StudyError, StudyFolder, study_location
from ganstudy.run.progress import Silent, StatusDisplay, quiet_optuna
from ganstudy.run.raylogs import KnownRayNoise
from ganstudy.run.resume import (
    check_resumable,
    drop_unreadable_errors,
    newest_checkpoint,
    ray_statuses,
    repair_stale_checkpoints,
)
from ganstudy.run.trainable import (
    MODES_DIR,
    read_config,
    read_exploits,
    read_rows,
    read_samples,
    try_load_state,
)
from ganstudy.run.tuner import build_tuner, param_space
from ganstudy.study import results
from ganstudy.study.spec import StudySpec, load_spec


class StudyIOError(OSError):
    """A disk fault stopped the study (full or read-only); the tables say what finished."""


class StudyInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C); the tables in `folder` say what finished."""

    def __init__(self, folder: Path | str, finished: int, runs: int):
        self.folder, self.finished, self.runs = folder, finished, runs
        super().__init__(f"interrupted: {finished} of {runs} runs finished")


def run_study(
    study: str | os.PathLike | StudySpec,
    *,
    results_dir: str | os.PathLike | None = None,
    address: str | None = None,
    resume: bool = False,
    fresh: bool = False,
    max_concurrent: int | None = None,
    progress: bool = True,
    started_at: float | None = None,
) -> Path | str:
    """Run (or resume) a study and write its tables; return the study folder.

    `address=None` starts an embedded local Ray on 127.0.0.1 and stops it afterwards;
    otherwise it connects to that cluster ("auto" or HOST:PORT), after checking that every
    node sees the study folder. The folder is `results_dir`, else `<storage>/<name>` when
    the study names a `storage:`, else `results/<name>`; a URI (s3://, gs://, file://) is
    returned as a string, a path as a Path. The folder is locked for the run; `fresh`
    replaces a study folder (never a folder holding anything else). Ctrl-C: the tables are
    written for what finished, then StudyInterrupted is raised. `progress`: the live
    display on stdout; its elapsed time counts from `started_at` (time.monotonic() when
    the command began; default: this call).
    """
    spec = study if isinstance(study, StudySpec) else load_spec(study)
    display = StatusDisplay(spec, started_at=started_at) if progress else Silent()
    folder = StudyFolder(study_location(spec, results_dir))
    # A failure before the study is saved deletes only what this run made: the folder if it
    # made it, or (--fresh) the new study's first files; never another run's folder, a
    # refused one or a resumed one.
    existed, setting_up, saved = True, False, False
    started_here = False
    ray_noise = KnownRayNoise()  # Ray's lines that ganstudy's own say better (raylogs.py)
    ray_noise.install()
    try:
        if folder.remote and spec.search.algorithm == "optuna":
            raise StudyError(
                f"{clip_middle(folder.location)}: search: optuna keeps its study in a sqlite file; "
                "give --results a filesystem path (on a cluster, one every node mounts), not a URI"
            )
        folder.entries()  # a file where the folder should be: StudyError
        # A folder that was there, even empty, is the user's: a failure leaves it in place.
        existed = folder.remote or folder.local.is_dir()
        folder.lock()  # before anything is read, deleted or started
        if resume:
            check_resumable(folder, spec)
            repair_stale_checkpoints(folder)
        else:
            folder.check_replaceable(fresh)
            folder.clear()
            setting_up = True
        if not ray.is_initialized():
            display.starting(address)  # tens of seconds on a busy machine: say so
        try:
            started_here = session.start(address)
        except cluster.ClusterError as error:
            raise StudyError(str(error)) from None
        if address:
            try:
                cluster.check_storage(folder.location)
            except cluster.ClusterError as error:
                raise StudyError(str(error)) from None
        quiet_optuna(spec)  # its log lines would land in the display
        tuner = build_tuner(
            spec, folder, resume=resume, max_concurrent=max_concurrent, progress=display
        )
        folder.write_text(results.SPEC_FILE, spec.to_yaml())
        folder.write_text(results.ENVIRONMENT_FILE, json.dumps(environment(), indent=2))
        folder.publish()
        saved = True  # from here on the folder holds a study worth keeping (--resume)
        DiskFaultStop.reset()
        grid = _fit(tuner, folder)
        # Checked after every run, not only one a trial's disk fault stopped: the disk can
        # also fill as Ray saves its state (its failure only logged) or as the tables are
        # written below, and --resume is offered only where Ray's state arrived whole.
        resumable = restore_saved_state(folder.experiment)
        then = (
            "free space, then continue with --resume"
            if resumable
            else "Ray's record of the run was cut short, so --resume cannot continue it: "
            "free space, then run again with --fresh"
        )
        statuses = ray_statuses(folder)
        numbers = _optuna_numbers(spec, folder)
        # A fused trial (fuse: auto) is one record per member configuration.
        records = [
            member
            for result in grid
            for member in groups.split_record(_record(result, statuses, spec, numbers))
        ]
        interrupted = DiskFaultStop.fault is not None or any(
            r.status in ("interrupted", "pending") for r in records
        )
        if interrupted:
            _fill_cells(spec, records)
            records += _never_created(spec, records)
        try:
            results.write_tables(records, spec, folder.local)
        except OSError as error:
            raise StudyIOError(
                f"{folder.location}: cannot write the tables ({error.strerror or error}); "
                f"the trials' own files are kept under ray/; {then}"
            ) from None
        folder.publish()
        if DiskFaultStop.fault is not None:
            raise StudyIOError(
                f"{clip_middle(folder.location)}: the study stopped: {DiskFaultStop.fault} "
                f"(no retry can mend a full or read-only disk); {then}"
            )
        if interrupted:
            replicas = [int(r.config.get("replicas", 1)) for r in records]
            done = sum(n for r, n in zip(records, replicas, strict=True) if r.status == "finished")
            raise StudyInterrupted(folder.result(), done, sum(replicas))
        return folder.result()
    except BaseException:
        if not saved and not existed:
            folder.remove()  # it held nothing before: leave nothing behind
        elif not saved and setting_up:
            folder.clear()  # --fresh removed the old study already; no half of a new one
        raise
    finally:
        if started_here:
            session.stop()
        ray_noise.remove()
        folder.unlock()
        folder.cleanup()


def _fit(tuner: tune.Tuner, folder: StudyFolder) -> tune.ResultGrid:
    """tuner.fit(), reading the results again if a trial's pickled error was cut short.

    On a full disk Ray can leave a trial's error.pkl empty; its own gathering of the
    results then fails with EOFError after the run has ended. Dropping the unreadable
    pickles (the text of each error stays beside it) and reading the experiment again gives
    the same results Ray would have given.
    """
    try:
        return tuner.fit()
    except (EOFError, pickle.UnpicklingError):
        if not drop_unreadable_errors(folder):
            raise
    try:
        return tune.ResultGrid(tune.ExperimentAnalysis(folder.experiment))
    except (ValueError, OSError, EOFError, pickle.UnpicklingError):
        # Ray's experiment state was cut short too (ValueError: JSON that ends midway)
        return _trials_from_files(folder)


@dataclass
class _TrialFiles:
    """A trial as its own files tell it (the parts of a Ray result `_record` reads), for
    when Ray's record of the run cannot be read."""

    path: str
    filesystem: pyarrow.fs.FileSystem
    checkpoint: Checkpoint | None
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: None = None


def _trials_from_files(folder: StudyFolder) -> list[_TrialFiles]:
    """Every trial folder under the experiment, with its newest complete checkpoint."""
    fs, path = pyarrow.fs.FileSystem.from_uri(folder.experiment)
    trials = []
    for info in fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True)):
        if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith("trial_"):
            newest = newest_checkpoint(fs, info.path)
            checkpoint = Checkpoint(newest, filesystem=fs) if newest else None
            trials.append(_TrialFiles(info.path, fs, checkpoint, read_config(fs, info.path) or {}))
    return trials


def _optuna_numbers(spec: StudySpec, folder: StudyFolder) -> dict[str, int]:
    """ganstudy trial id -> Optuna trial number (search: optuna), else nothing."""
    if spec.search.algorithm != "optuna":
        return {}
    from ganstudy.run.optuna_search import trial_numbers

    return trial_numbers(f"sqlite:///{folder.local / results.OPTUNA_FILE}", spec.name)


def _record(
    result, statuses: dict[str, str], spec: StudySpec, optuna_numbers: dict[str, int]
) -> results.TrialRecord:
    """One Ray result as the tables need it: history from its latest checkpoint, samples
    and mode occupancies from its snapshot files, and ganstudy's status."""
    trial_id = Path(result.path).name.removeprefix("trial_")
    state = None
    if result.checkpoint is not None:
        state = try_load_state(result.checkpoint)
        if state is None:  # gone or damaged: the newest complete one beside it
            fs = result.checkpoint.filesystem
            newest = newest_checkpoint(fs, result.checkpoint.path.rsplit("/", 1)[0])
            state = try_load_state(Checkpoint(newest, filesystem=fs)) if newest else None
    # The step the trial's latest state had reached; its own rows and snapshots up to it.
    last_step = state["trainer"]["step"] if state else -1
    history = read_rows(result.filesystem, result.path, last_step)
    if state and not history:  # a study written before rows had files of their own
        history = state["trainer"]["history"]
    samples = read_samples(result.filesystem, result.path, last_step)
    modes = read_samples(result.filesystem, result.path, last_step, MODES_DIR)
    if state and "samples" in state:  # a checkpoint written before snapshots moved out
        samples |= {int(k): v.numpy() for k, v in state["samples"].items() if int(k) <= last_step}
    metrics = result.metrics or {}
    ray_status = statuses.get(trial_id)
    if ray_status is None:  # Ray's record of the run is unreadable: the trial's files say
        planned = _planned_steps(result.config, spec)
        ended = "TERMINATED" if last_step == planned else "RUNNING"
        ray_status = ended if result.error is None else "ERROR"
    if ray_status == "ERROR":  # retries used up (one still owed a retry is interrupted)
        status = "error"
    elif ray_status == "TERMINATED":
        status = "finished" if last_step == _planned_steps(result.config, spec) else "stopped"
    else:  # RUNNING or PAUSED (it had started) or PENDING when the run was interrupted
        status = "pending" if ray_status == "PENDING" and not history else "interrupted"
    # The settings the trial last trained with. Ray's result.config can be newer: PBT may
    # perturb a trial at its final report, after which it never trains again.
    # A trial that never reported (Ctrl-C, a full disk) may have neither: the spec's fixed
    # values fill in, and `_fill_cells` gives a grid trial its swept values.
    trained = read_config(result.filesystem, result.path)
    config = {**spec.fixed, **(trained if trained is not None else dict(result.config or {}))}
    return results.TrialRecord(
        trial_id=trial_id,
        config=config,
        status=status,
        error=None if result.error is None else _first_line(result.error),
        wall_s=float(metrics.get("time_total_s", math.nan)),
        history=history,
        samples=samples,
        modes=modes,
        exploits=read_exploits(result.filesystem, result.path),
        optuna_trial=optuna_numbers.get(trial_id),
        **_device_of(state),
    )


def _device_of(state: dict[str, Any] | None) -> dict[str, str | None]:
    """ran_on and cuda_version of a TrialRecord, from its trainer state (None in states
    written before they were kept)."""
    device = (state or {}).get("trainer", {}).get("device") or {}
    return {"ran_on": device.get("name"), "cuda_version": device.get("cuda")}


def _first_line(error: BaseException | str) -> str:
    """The first line of a trial's error, at most 300 characters."""
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else "(no message: its error file is empty)"


def _fill_cells(spec: StudySpec, records: list[results.TrialRecord]) -> None:
    """Give each grid record that lacks swept values (a trial Ray created but that never
    reported its config) one of the grid cells no other record holds, in grid order."""
    swept = list(spec.dimensions)
    complete = [r for r in records if all(k in r.config for k in swept)]
    lacking = [r for r in records if not all(k in r.config for k in swept)]
    if spec.search.algorithm != "grid" or not lacking:
        return
    unclaimed = _unclaimed_cells(spec, complete)
    for record, cell in zip(lacking, unclaimed, strict=False):
        record.config.update({k: cell[k] for k in swept})


def _unclaimed_cells(spec: StudySpec, records: list[results.TrialRecord]) -> list[dict[str, Any]]:
    """The grid's cells (each num_samples times) that no record's swept values match."""
    swept = list(spec.dimensions)
    cells = [config for _, config in generate_variants(param_space(spec))]
    seen = [tuple(r.config.get(k) for k in swept) for r in records]
    unclaimed = []
    for config in cells * spec.search.num_samples:
        key = tuple(config[k] for k in swept)
        if key in seen:
            seen.remove(key)
        else:
            unclaimed.append(config)
    return unclaimed


def _planned_steps(config: dict[str, Any] | None, spec: StudySpec) -> int | None:
    """The steps a trial was to train: its own config's (a fused trial's first member's:
    steps is not fusable), else the spec's fixed value."""
    if config and groups.MEMBERS_KEY in config:
        config = groups.members_of(config)[0]
    return (config or {}).get("steps", spec.fixed.get("steps"))


def _never_created(
    spec: StudySpec, records: list[results.TrialRecord]
) -> list[results.TrialRecord]:
    """Records (status pending, parameters from the spec) for the configurations that an
    interrupted run never created: a grid's missing cells, or sampled trials not yet drawn
    (their sampled parameters unknown, so left out)."""
    missing = spec.num_trials() - len(records)
    if missing <= 0:
        return []
    if spec.search.algorithm == "grid":
        pending = _unclaimed_cells(spec, records)
    else:
        pending = [dict(spec.fixed)] * missing
    return [
        results.TrialRecord(
            trial_id=None,
            config={k: v for k, v in config.items() if k in FIELDS},
            status="pending",
            error=None,
            wall_s=math.nan,
            history=[],
        )
        for config in itertools.islice(pending, missing)
    ]


def environment() -> dict[str, Any]:
    """Versions, host and cluster size of this run (environment.json)."""
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
        # The driver's; each trial's is in trials.parquet (ran_on, cuda_version).
        "driver_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "nodes": len(nodes),
        "cluster_cpus": ray.cluster_resources().get("CPU", 0),
        "cluster_gpus": ray.cluster_resources().get("GPU", 0),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
