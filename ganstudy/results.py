"""Tidy tables from a study's trials, written to and read back from results/<name>/.

The source of truth is each trial's latest checkpoint: it holds the trainer's full eval
history, restored on every retry, so each (trial_id, replica, step) appears exactly once
(Ray's own result logs can repeat or lose rows after a retry). No Ray import here.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ganstudy.columns import FINISHED, STATUSES
from ganstudy.config import FIELDS

TABLES = ("trials", "history", "samples")
LOCK_NAME = ".ganstudy.lock"  # held by the run using a study folder: {"pid", "host", "started"}


@dataclass
class TrialRecord:
    """One trial (a configuration and its replicas) as the run layer found it."""

    trial_id: str | None  # None for a configuration that never started (status pending)
    config: dict[str, Any]
    status: str  # a key of columns.STATUSES, for every replica of the trial
    error: str | None
    wall_s: float
    history: list[dict[str, Any]]  # trainer.history: one row per (replica, eval step)
    samples: dict[int, np.ndarray] = field(default_factory=dict)  # step -> (R, n, ...)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")


@dataclass
class StudyResults:
    """The tables of one study folder, as returned by `load_results`."""

    trials: pd.DataFrame
    history: pd.DataFrame
    samples: pd.DataFrame
    spec: dict[str, Any]
    path: Path


def build_tables(records: list[TrialRecord]) -> dict[str, pd.DataFrame]:
    """trials (one row per trial x replica), history (x step) and samples (x step x point)."""
    trial_rows, history_frames, sample_frames = [], [], []
    for record in records:
        params = {key: record.config[key] for key in FIELDS if key in record.config}
        history = pd.DataFrame(record.history)
        if history.empty:
            history = pd.DataFrame({"replica": range(params.get("replicas", 1)), "step": -1})
        else:
            history.insert(0, "trial_id", record.trial_id)
            history_frames.append(history)
        final = history.sort_values("step").groupby("replica").tail(1)
        for row in final.to_dict("records"):
            metrics = {
                k: v for k, v in row.items() if k not in ("trial_id", "replica", "step", "seed")
            }
            trial_rows.append(
                {
                    "trial_id": record.trial_id,
                    "replica": int(row["replica"]),
                    **params,
                    # The trial's `seed` is replica 0's; replica r trains with seed + r.
                    "seed": params.get("seed", 0) + int(row["replica"]),
                    "steps_done": max(int(row["step"]), 0),
                    **metrics,
                    "status": record.status,
                    "error": record.error,
                    "wall_s": record.wall_s,
                }
            )
        for step, points in sorted(record.samples.items()):
            replicas, n, dim = points.shape
            frame = pd.DataFrame(points.reshape(-1, dim), columns=[f"x{d}" for d in range(dim)])
            frame.insert(0, "step", step)
            frame.insert(0, "replica", np.repeat(np.arange(replicas), n))
            frame.insert(0, "trial_id", record.trial_id)
            sample_frames.append(frame)
    return {
        "trials": pd.DataFrame(trial_rows),
        "history": _concat(history_frames).sort_values(
            ["trial_id", "replica", "step"], ignore_index=True
        )
        if history_frames
        else pd.DataFrame(),
        "samples": _concat(sample_frames),
    }


def write_tables(records: list[TrialRecord], spec: Any, out: Path) -> dict[str, Path]:
    """Write trials/history/samples.parquet into `out`, each atomically (tmp + rename)."""
    paths = {}
    for name, frame in build_tables(records).items():
        path = out / f"{name}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        paths[name] = path
    return paths


def load_results(path: str | os.PathLike) -> StudyResults:
    """The tables of a study folder (results/<name>/) as DataFrames; missing ones are empty."""
    folder = Path(path)
    if not (folder / "spec.yaml").exists():
        raise FileNotFoundError(
            f"{folder}: not a study folder (no spec.yaml); run `ganstudy run` first"
        )
    frames = {
        name: pd.read_parquet(folder / f"{name}.parquet")
        if (folder / f"{name}.parquet").exists()
        else pd.DataFrame()
        for name in TABLES
    }
    spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    return StudyResults(**frames, spec=spec, path=folder)


def lock_holder(folder: str | os.PathLike) -> str | None:
    """Who holds a study folder's lock, as "pid P on HOST since T", or None when no run does
    (no lock file, or a stale one: its pid is gone on this host)."""
    try:
        holder = json.loads((Path(folder) / LOCK_NAME).read_text(encoding="utf-8"))
        pid, host, started = int(holder["pid"]), str(holder["host"]), str(holder["started"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):  # half-written or foreign: assume a run
        return f"see {Path(folder) / LOCK_NAME}"
    who = f"pid {pid} on {host[:60]} since {started[:30]}"
    if host != socket.gethostname():  # cannot check another machine's processes
        return f"{who}; if that run is gone, delete {Path(folder) / LOCK_NAME}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return who


def finished(trials: pd.DataFrame) -> pd.Series:
    """Which rows of a trials table trained all their steps."""
    return trials["status"] == FINISHED


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
