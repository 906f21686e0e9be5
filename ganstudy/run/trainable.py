"""The Ray Tune trainable: one TrialConfig, all its replicas, every eval reported.

What a trial leaves in storage (`<study>/ray/trial_<id>/`):
- `checkpoint_*/state.pt` at every eval: the trainer's whole state (models, optimizers, RNG,
  step) and its eval history. Bytes per checkpoint stay about constant over a run: the
  history rows are a few hundred bytes per eval and replica; the sample snapshots live apart.
- `samples/step_<step>.npy` at every eval: the generated points of that eval (R, n, ...),
  written once per step (a retry that redoes an eval writes the same bytes again, since
  training is deterministic), so every (trial, replica, step) has exactly one snapshot.
  The tables keep the snapshots up to the step of the trial's latest checkpoint.
"""

from __future__ import annotations

import collections
import errno
import io
import math
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs
import ray
import torch
from ray import tune
from ray.tune import Checkpoint

from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import from_dict
from ganstudy.trainer import Trainer

STATE_FILE = "state.pt"  # inside each checkpoint
SAMPLES_DIR = "samples"  # inside each trial's storage folder
FAULT_ENV, FAULT_DIR_ENV = "GANSTUDY_FAULT", "GANSTUDY_FAULT_DIR"


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one TrialConfig, all its replicas, every eval reported."""
    trial_config = from_dict(config)  # param_space keys are TrialConfig fields, one name each
    # Concurrent trials share the cores: each uses exactly the CPUs it reserved.
    torch.set_num_threads(
        max(1, int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1)))
    )
    trainer = Trainer(trial_config)
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        trainer.load_state_dict(load_state(checkpoint)["trainer"])
    storage = tune.get_context().get_storage()
    samples = f"{storage.trial_fs_path}/{SAMPLES_DIR}"
    storage.storage_filesystem.create_dir(samples)
    for evaluation in trainer.run():
        write_snapshot(storage.storage_filesystem, samples, evaluation.step, evaluation.samples)
        with tempfile.TemporaryDirectory() as folder:
            save_state(trainer, Path(folder))
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


def save_state(trainer: Trainer, folder: Path) -> Path:
    """Write the checkpoint file of `trainer` into `folder` (the sample snapshots are not in
    it: see the module docstring)."""
    path = folder / STATE_FILE
    torch.save({"trainer": trainer.state_dict()}, path)
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
    fs: pyarrow.fs.FileSystem, trial_path: str, last_step: int
) -> dict[int, np.ndarray]:
    """A trial's snapshots (step -> array) up to `last_step` (its latest checkpoint's)."""
    folder = f"{trial_path}/{SAMPLES_DIR}"
    found = fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
    snapshots = {}
    for info in found:
        name = info.base_name
        if not (name.startswith("step_") and name.endswith(".npy")):
            continue  # a .tmp being written
        step = int(name.removeprefix("step_").removesuffix(".npy"))
        if step <= last_step:
            with fs.open_input_file(info.path) as f:
                snapshots[step] = np.load(io.BytesIO(f.read()), allow_pickle=False)
    return snapshots


def write_snapshot(fs: pyarrow.fs.FileSystem, folder: str, step: int, array: np.ndarray) -> None:
    """`folder/step_<step>.npy`, atomically (tmp + move), so a reader never sees half."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    path = f"{folder}/step_{step:09d}.npy"
    tmp = f"{path}.{os.getpid()}.tmp"
    with fs.open_output_stream(tmp) as f:
        f.write(buffer.getvalue())
    fs.move(tmp, path)


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
