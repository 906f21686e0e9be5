"""The Ray Tune trainable: one TrialConfig, all its replicas, every eval reported.

What a trial leaves in storage (`<study>/ray/trial_<id>/`):
- `checkpoint_*/state.pt` at every eval: the trainer's whole state (models, optimizers, RNG,
  step) and its eval history. Bytes per checkpoint stay about constant over a run: the
  history rows are a few hundred bytes per eval and replica; the sample snapshots live apart.
- `samples/step_<step>.npy` at every eval: the generated points of that eval (R, n, ...),
  written once per step (a retry that redoes an eval writes the same bytes again, since
  training is deterministic), so every (trial, replica, step) has exactly one snapshot.
  The tables keep the snapshots up to the step of the trial's latest checkpoint.
- `modes/step_<step>.npy` at every eval, written the same way: each replica's high-quality
  samples per mode (R, n_modes) int64 (`Evaluation.modes`), modes.parquet's source.
- `evals/step_<step>.json`: the eval rows the trial computed itself, written the same way,
  with the attempt that computed them (the checkpoint it continued, its settings).
  They, not the checkpoint's history, are the trial's history in the tables: under PBT a
  trial that takes a donor's checkpoint (an exploit) also takes the donor's history, which
  belongs to the donor. So a PBT trial's history is its own evals up to the step of the
  donor state it took, then its own continuation from there (a continuation that redoes a
  step replaces the trial's earlier row of that step; a donor ahead of it leaves a gap).
- `exploits/step_<step>.*.json`: each exploit (step, donor, settings before and after);
  `donor` is the trial whose state was taken, which is the trial itself when PBT's donor
  had just cloned it and handed its own earlier state back with new settings.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import io
import json
import math
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs
import ray
import torch
from ray import tune
from ray.tune import Checkpoint

from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import from_dict, to_dict
from ganstudy.engine.trainer import Trainer
from ganstudy.run import groups

STATE_FILE = "state.pt"  # inside each checkpoint
SAMPLES_DIR = "samples"  # inside each trial's storage folder: one snapshot per eval step
MODES_DIR = "modes"  # ... each mode's occupancy, one file per eval step
ROWS_DIR = "evals"  # ... the eval rows this trial computed, one file per eval step
EXPLOITS_DIR = "exploits"  # ... PBT's exploits of this trial, one file per step
CONFIG_FILE = "config.json"  # ... the settings its latest attempt trains with
FAULT_ENV, FAULT_DIR_ENV = "GANSTUDY_FAULT", "GANSTUDY_FAULT_DIR"


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one TrialConfig, all its replicas, every eval reported."""
    # param_space keys are TrialConfig fields, one name each; a fused trial's (fuse: auto)
    # one key holds its members' configurations (run/groups.py).
    members = [from_dict(member) for member in groups.members_of(config)]
    trial_config = members[0] if len(members) == 1 else members
    # Concurrent trials share the cores: each uses exactly the CPUs it reserved.
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    trainer = Trainer(trial_config, threads=max(1, int(cpus)))
    me = tune.get_context().get_trial_id()
    storage = tune.get_context().get_storage()
    fs, own = storage.storage_filesystem, storage.trial_fs_path
    for name in (SAMPLES_DIR, MODES_DIR, ROWS_DIR, EXPLOITS_DIR):
        fs.create_dir(f"{own}/{name}")
    # A fused trial's CONFIG_FILE keeps its members (run/study.py splits its record by them).
    fused = groups.MEMBERS_KEY in config
    settings = {groups.MEMBERS_KEY: config[groups.MEMBERS_KEY]} if fused else to_dict(members[0])
    before = _read_json(fs, f"{own}/{CONFIG_FILE}")
    checkpoint = tune.get_checkpoint()
    origin = None  # the state this attempt continues (trial_x/checkpoint_y), for the rows
    if checkpoint:
        origin = "/".join(checkpoint.path.rstrip("/").split("/")[-2:])
        state = load_state(checkpoint)
        trainer.load_state_dict(state["trainer"])
        writer = state.get("trial_id")
        # PBT's exploit: another trial's state, or this trial's own earlier one handed back
        # by a donor that had cloned it, with new settings. (A retry: own state, same.)
        if writer is not None and (writer != me or before not in (None, settings)):
            _record_exploit(fs, own, trainer.step, writer, origin, before or {}, settings)
    # The settings the tables give the trial (read_config): those it last trained with. A
    # state restored at its last step trains no more (PBT can exploit at a trial's final
    # report), so the settings it trained with stay.
    if before is None or trainer.step < members[0].steps:
        _write_file(fs, f"{own}/{CONFIG_FILE}", json.dumps(settings).encode())
    for evaluation in trainer.run():
        step = evaluation.step
        write_snapshot(fs, f"{own}/{SAMPLES_DIR}", step, evaluation.samples)
        write_snapshot(fs, f"{own}/{MODES_DIR}", step, evaluation.modes)
        # Each file says which attempt computed it: the state it continued and its settings.
        attempt = {"rows": evaluation.rows, "origin": origin, "settings": settings}
        write_eval(fs, own, step, attempt)
        with tempfile.TemporaryDirectory() as folder:
            save_state(trainer, Path(folder), trial_id=me)
            report = summarize(evaluation.rows) | {
                "node_id": ray.get_runtime_context().get_node_id()
            }
            tune.report(report, checkpoint=Checkpoint.from_directory(folder))
        _inject_fault(evaluation.step)


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


def save_state(trainer: Trainer, folder: Path, trial_id: str | None = None) -> Path:
    """Write the checkpoint file of `trainer` into `folder`, with the id of the trial that
    wrote it (the sample snapshots are not in it: see the module docstring)."""
    path = folder / STATE_FILE
    torch.save({"trainer": trainer.state_dict(), "trial_id": trial_id}, path)
    return path


def load_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint's saved state, on the CPU whatever device wrote it."""
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / STATE_FILE, weights_only=True, map_location="cpu")


def try_load_state(checkpoint: Checkpoint) -> dict[str, Any] | None:
    """load_state, or None if the checkpoint is missing or incomplete (a process that died
    while writing it)."""
    try:
        return load_state(checkpoint)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # missing, truncated
        return None


def read_samples(
    fs: pyarrow.fs.FileSystem, trial_path: str, last_step: int, folder: str = SAMPLES_DIR
) -> dict[int, np.ndarray]:
    """A trial's snapshots (step -> array) up to `last_step` (its latest checkpoint's); with
    `folder=MODES_DIR` its mode occupancies (none for a trial run before they were kept)."""
    found = _step_files(fs, f"{trial_path}/{folder}", ".npy", last_step)
    return {step: np.load(io.BytesIO(data), allow_pickle=False) for step, data in found}


def write_snapshot(fs: pyarrow.fs.FileSystem, folder: str, step: int, array: np.ndarray) -> None:
    """`folder/step_<step>.npy`, atomically (tmp + move), so a reader never sees half."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    _write_file(fs, _step_path(folder, step, ".npy"), buffer.getvalue())


def read_snapshot(fs: pyarrow.fs.FileSystem, folder: str, step: int) -> np.ndarray | None:
    """The snapshot `folder/step_<step>.npy` (write_snapshot's), or None when there is none."""
    try:
        with fs.open_input_file(_step_path(folder, step, ".npy")) as f:
            return np.load(io.BytesIO(f.read()), allow_pickle=False)
    except FileNotFoundError:
        return None


def write_eval(fs: pyarrow.fs.FileSystem, trial_path: str, step: int, attempt: dict) -> None:
    """The trial's eval file of `step` (read_eval's), atomically: its rows, and the attempt
    that computed them ("origin": the checkpoint it continued; "settings")."""
    _write_file(fs, _step_path(f"{trial_path}/{ROWS_DIR}", step, ".json"), _json(attempt))


def read_eval(fs: pyarrow.fs.FileSystem, trial_path: str, step: int) -> dict[str, Any] | None:
    """What the trial's latest attempt computed at `step`: {"rows", "origin", "settings"}
    (None when no such file): the rows history.parquet takes for that step."""
    return _read_json(fs, _step_path(f"{trial_path}/{ROWS_DIR}", step, ".json"))


def read_rows(fs: pyarrow.fs.FileSystem, trial_path: str, last_step: int) -> list[dict]:
    """The eval rows this trial computed itself, up to `last_step`, oldest first."""
    rows = []
    for _, data in sorted(_step_files(fs, f"{trial_path}/{ROWS_DIR}", ".json", last_step)):
        rows += json.loads(data)["rows"]
    return rows


def step_rows(fs: pyarrow.fs.FileSystem, trial_path: str, step: int) -> list[dict] | None:
    """The eval rows this trial computed at `step` (the live display's), None if not there."""
    data = _read_json(fs, _step_path(f"{trial_path}/{ROWS_DIR}", step, ".json"))
    return None if data is None else data["rows"]


def read_exploits(fs: pyarrow.fs.FileSystem, trial_path: str) -> list[dict]:
    """This trial's PBT exploits in the order they happened: step, donor, before, after."""
    found = _step_files(fs, f"{trial_path}/{EXPLOITS_DIR}", ".json", math.inf)
    records = [json.loads(data) for _, data in found]
    return sorted(records, key=lambda r: r["written_ns"])  # a later one may take an earlier step


def read_config(fs: pyarrow.fs.FileSystem, trial_path: str) -> dict[str, Any] | None:
    """The settings the trial's latest attempt trained with (None before it started)."""
    return _read_json(fs, f"{trial_path}/{CONFIG_FILE}")


def _read_json(fs: pyarrow.fs.FileSystem, path: str) -> Any:
    """A JSON file's content, or None when it does not exist."""
    try:
        with fs.open_input_stream(path) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def _record_exploit(
    fs, own: str, step: int, donor: str, source: str, before: dict, after: dict
) -> None:
    """Write what PBT changed when this trial took `donor`'s state at `step`: the settings
    it trained with before (its config file) and after. One file per (step, donor, new
    settings): a retry that restores the same donor checkpoint again (before one of its own)
    finds its record and keeps it; a second exploit at the same step gets its own."""
    digest = hashlib.sha256(json.dumps(after, sort_keys=True).encode()).hexdigest()[:12]
    path = _step_path(f"{own}/{EXPLOITS_DIR}", step, f".{donor}.{digest}.json")
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        return
    changed = sorted(k for k in after if before.get(k) != after[k])
    record = {
        "written_ns": time.time_ns(),  # the order of exploits (their steps need not grow)
        "step": step,
        "donor": donor,
        "checkpoint": source,  # the donor state taken, inside the experiment folder
        "before": {k: before.get(k) for k in changed},
        "after": {k: after[k] for k in changed},
        "settings": after,  # all of them, as trained from here on
    }
    _write_file(fs, path, json.dumps(record).encode())


def _step_path(folder: str, step: int, suffix: str) -> str:
    return f"{folder}/step_{step:09d}{suffix}"


def _step_files(fs, folder: str, suffix: str, last_step: float) -> list[tuple[int, bytes]]:
    """(step, bytes) of the step_<step><suffix> files in `folder` up to `last_step`."""
    found = fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
    out = []
    for info in found:
        name = info.base_name
        if not (name.startswith("step_") and name.endswith(suffix)):
            continue  # a .tmp being written
        step = int(name[len("step_") : len("step_") + 9])  # step_<9 digits>[.more]<suffix>
        if step <= last_step:
            with fs.open_input_file(info.path) as f:
                out.append((step, f.read()))
    return out


def _write_file(fs: pyarrow.fs.FileSystem, path: str, data: bytes) -> None:
    """Write `path` atomically (tmp + move), so that a reader never sees half of it."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(data)
        fs.move(tmp, path)
    except BaseException:  # a full disk, or Ctrl-C: leave no half file behind
        with contextlib.suppress(OSError):
            fs.delete_file(tmp)
        raise


def _json(rows: dict) -> bytes:
    # NaN (a metric undefined for this loss) as JSON's NaN token, which json reads back.
    return json.dumps(rows).encode()


def _inject_fault(step: int) -> None:
    """Test-only crash after the eval at `step` was reported, once per trial and fault.

    GANSTUDY_FAULT=raise@200,exit@400 makes every trial raise an exception after reporting
    step 200 and end its process hard (os._exit, no clean-up) after step 400 (`enospc@S`
    raises the OSError of a full disk, every time: no marker); the marker
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
        if kind == "enospc":  # a full disk stays full: it fires on every attempt
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(marker.parent))
        try:
            marker.touch(exist_ok=False)
        except FileExistsError:  # fired before: this is the retry
            continue
        if kind == "exit":
            os._exit(1)
        raise RuntimeError(f"injected fault {fault} ({FAULT_ENV})")
