"""Tidy tables from a study's trials, written to and read back from results/<name>/.

The source of truth is each trial's latest checkpoint: it holds the trainer's full eval
history, restored on every retry, so each (trial_id, replica, step) appears exactly once
(Ray's own result logs can repeat or lose rows after a retry). No Ray import here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ganstudy.columns import FINISHED, METRIC_COLUMNS, OCCUPANCY_COLUMNS, STATUSES
from ganstudy.config import FIELDS
from ganstudy.messages import clip_middle, detail
from ganstudy.yamlfile import MAX_FILE_BYTES, YamlFileError, file_kind, read_yaml

TABLES = ("trials", "history", "samples", "modes")  # modes: columns.OCCUPANCY_COLUMNS
# PBT studies also write exploits.parquet: one row per exploit (trial_id, step, donor, and
# `<setting>_before` / `<setting>_after` for each setting PBT changed; `order` numbers a
# trial's exploits, oldest first, as two can take states of the same step).
EXPLOITS = "exploits"
LOCK_NAME = ".ganstudy.lock"  # held by the run using a study folder: {"pid", "host", "started"}
SPEC_FILE = "spec.yaml"  # the study as run, every default written out
ENVIRONMENT_FILE = "environment.json"  # versions, host, cluster size
OPTUNA_FILE = "optuna.db"  # Optuna's own storage, for optuna studies
EXPERIMENT = "ray"  # Ray's experiment folder, kept for --resume
REPORT_DIR = "report"  # where `ganstudy report` writes unless told otherwise
# Written into every report folder: `ganstudy report` replaces a folder only if it holds
# this mark (a user's own index.html is never replaced), and `--fresh` deletes `report`
# only then.
REPORT_MARK = ".ganstudy-report"
# Everything a run (and `ganstudy report`) writes into a study folder: `--fresh` deletes
# these and refuses a folder holding anything else.
STUDY_ENTRIES = frozenset(
    {
        SPEC_FILE,
        ENVIRONMENT_FILE,
        *(f"{name}.parquet" for name in (*TABLES, EXPLOITS)),
        OPTUNA_FILE,
        EXPERIMENT,
        REPORT_DIR,
        LOCK_NAME,
    }
)
_DIRECTORY_ENTRIES = frozenset({EXPERIMENT, REPORT_DIR})
# The transient names beside them, exactly as ganstudy writes them: an atomic write's
# `<file>.tmp`, and `ganstudy report`'s staging and set-aside folders (report_sibling).
# (SQLite's rollback journal for OPTUNA_FILE too).
_TMP_FILES = frozenset(
    {f"{name}.tmp" for name in STUDY_ENTRIES - _DIRECTORY_ENTRIES} | {f"{OPTUNA_FILE}-journal"}
)
_SIBLING = re.compile(r"\.(?P<out>.+)\.(?:tmp|old)-[0-9a-f]{8}")


def report_sibling(out: Path, kind: str) -> Path:
    """Where `ganstudy report` stages a report (kind "tmp") or sets the old one aside
    ("old") before the rename: `.<out name>.<kind>-<8 hex digits>` beside `out`."""
    return out.parent / f".{out.name}.{kind}-{uuid.uuid4().hex[:8]}"


def is_study_entry(name: str, is_dir: bool) -> bool:
    """Whether a study folder's entry is one ganstudy writes, by its exact name and kind
    (file or folder): the entries of STUDY_ENTRIES, an atomic write's `<file>.tmp`, and
    the report's `.report.tmp-<hex8>` / `.report.old-<hex8>` folders. Nothing by pattern
    beyond these: `notes.tmp` or `.report-thesis` are a user's."""
    if name in STUDY_ENTRIES:
        return is_dir == (name in _DIRECTORY_ENTRIES)
    if name in _TMP_FILES:
        return not is_dir
    sibling = _SIBLING.fullmatch(name)
    return bool(sibling) and sibling["out"] == REPORT_DIR and is_dir


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
    modes: dict[int, np.ndarray] = field(default_factory=dict)  # step -> (R, n_modes) counts
    exploits: list[dict[str, Any]] = field(default_factory=list)  # PBT: step, donor, before, after
    # What its latest attempt trained on ("cpu" or the GPU's name) and torch's CUDA version
    # there; a trial's `device` setting says only what it asked for ("auto").
    ran_on: str | None = None
    cuda_version: str | None = None
    # The Optuna trial this trial was (search: optuna), its number in optuna.db.
    optuna_trial: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}; one of {', '.join(STATUSES)}")


# Columns without which a table is not the table its name says (a swapped or foreign file).
KEY_COLUMNS = {
    "trials": ("trial_id", "replica", "status"),
    "history": ("trial_id", "replica", "step"),
    "samples": ("trial_id", "replica", "step", "x0"),
    "modes": ("trial_id", "replica", "step", *(c.name for c in OCCUPANCY_COLUMNS)),
    EXPLOITS: ("trial_id", "step", "donor"),
}
# Studies written before ganstudy named its own statuses carry Ray's names.
RAY_STATUSES = {"TERMINATED": FINISHED, "STOPPED": "stopped", "ERROR": "error"}
MESSAGE_CHARS = 160  # the most of an input (a value, a parser's message) a message repeats


class ResultsError(ValueError):
    """A folder that is not a readable study: missing, damaged or inconsistent tables."""


@dataclass
class StudyResults:
    """The tables of one study folder, as returned by `load_results`."""

    trials: pd.DataFrame
    history: pd.DataFrame
    samples: pd.DataFrame
    spec: dict[str, Any]
    path: Path
    # Each mode's occupancy per eval (nonzero counts only); empty for a study run before
    # modes.parquet existed.
    modes: pd.DataFrame = field(default_factory=pd.DataFrame)
    exploits: pd.DataFrame = field(default_factory=pd.DataFrame)  # PBT studies only
    environment: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # tables (of TABLES) with no file or no rows
    notes: list[str] = field(default_factory=list)  # what is missing or odd, as sentences

    def history_with_settings(self) -> pd.DataFrame:
        """history.parquet's rows, each with the settings it was trained with: one frame
        for every plot, no merge to write
        (`sns.lineplot(data=r.history_with_settings(), x="step", y="js_binned", hue="loss")`).

        Every setting (TrialConfig field) that trials.parquet holds, swept or fixed, and the
        trial's `status`, joined on (trial_id, replica); `seed` stays the row's own (replica
        r trains with seed + r). Under PBT a setting an exploit changed has, at each step,
        the value that step was trained with (exploits.parquet), not the trial's last.
        """
        if self.history.empty or self.trials.empty:
            return self.history.copy()
        keys = ["trial_id", "replica"]
        columns = [c for c in (*FIELDS, "status") if c in self.trials and c not in self.history]
        settings = self.trials.loc[self.trials["trial_id"].notna(), keys + columns]  # not pending
        merged = self.history.merge(settings, on=keys, how="left", validate="many_to_one")
        return _settings_at_each_step(merged, self.exploits)


def _settings_at_each_step(history: pd.DataFrame, exploits: pd.DataFrame) -> pd.DataFrame:
    """PBT: each setting an exploit changed, as trained at each step. A trial's rows up to
    the step S of its first exploit of a setting had that exploit's `_before` value; each
    exploit (oldest first) gives the rows after its S its `_after` value (its continuation
    replaced them, README's PBT paragraph)."""
    if exploits.empty:
        return history
    for trial_id, changes in exploits.sort_values("order").groupby("trial_id"):
        rows = history["trial_id"] == trial_id
        for after in [c for c in changes if c.endswith("_after")]:
            key = after.removesuffix("_after")
            changed = changes[changes[after].notna()]
            if key not in history or changed.empty:
                continue
            first = changed.iloc[0]
            history.loc[rows & (history["step"] <= first["step"]), key] = first[f"{key}_before"]
            for _, exploit in changed.iterrows():
                history.loc[rows & (history["step"] > exploit["step"]), key] = exploit[after]
    return history


def build_tables(records: list[TrialRecord]) -> dict[str, pd.DataFrame]:
    """trials (one row per trial x replica), history (x step), samples (x step x point) and
    modes (x step x occupied mode)."""
    trial_rows, history_frames, sample_frames, mode_frames = [], [], [], []
    optuna = any(r.optuna_trial is not None for r in records)  # an Optuna study's column
    for record in records:
        params = {key: record.config[key] for key in FIELDS if key in record.config}
        history = pd.DataFrame(record.history)
        if history.empty:
            history = pd.DataFrame({"replica": range(params.get("replicas", 1)), "step": -1})
        else:
            history.insert(0, "trial_id", record.trial_id)
            history_frames.append(history)
        final = history.sort_values("step").groupby("replica").tail(1)
        onsets = _collapse_onsets(history)
        for row in final.to_dict("records"):
            metrics = {
                k: v for k, v in row.items() if k not in ("trial_id", "replica", "step", "seed")
            }
            trial_rows.append(
                {
                    "trial_id": record.trial_id,
                    **({"optuna_trial": record.optuna_trial} if optuna else {}),
                    "replica": int(row["replica"]),
                    **params,
                    # The trial's `seed` is replica 0's; replica r trains with seed + r.
                    "seed": params.get("seed", 0) + int(row["replica"]),
                    "steps_done": max(int(row["step"]), 0),
                    **metrics,
                    "collapse_onset": onsets.get(int(row["replica"]), np.nan),
                    "status": record.status,
                    "error": record.error,
                    "wall_s": record.wall_s,
                    "ran_on": record.ran_on,
                    "cuda_version": record.cuda_version,
                }
            )
        for step, points in sorted(record.samples.items()):
            replicas, n, dim = points.shape
            frame = pd.DataFrame(points.reshape(-1, dim), columns=[f"x{d}" for d in range(dim)])
            frame.insert(0, "step", step)
            frame.insert(0, "replica", np.repeat(np.arange(replicas), n))
            frame.insert(0, "trial_id", record.trial_id)
            sample_frames.append(frame)
        mode_frames += [_occupancy(record.trial_id, step, c) for step, c in record.modes.items()]
    trials = pd.DataFrame(trial_rows)
    if optuna:  # a pending trial has none: integers with NA, not floats
        trials["optuna_trial"] = trials["optuna_trial"].astype("Int64")
    return {
        "trials": trials,
        "history": _concat(history_frames).sort_values(
            ["trial_id", "replica", "step"], ignore_index=True
        )
        if history_frames
        else pd.DataFrame(),
        "samples": _concat(sample_frames),
        # Every column even with no rows: no mode held a high-quality sample at any eval
        # (a G still a cloud) is a result, not a missing table.
        "modes": _concat(mode_frames or [_occupancy(None, 0, np.zeros((0, 0), np.int64))])
        .astype({"replica": np.int32, "step": np.int64, "mode": np.int32, "count": np.int32})
        .sort_values(["trial_id", "replica", "step", "mode"], ignore_index=True),
    } | _exploits_table(records)


def _occupancy(trial_id: str | None, step: int, counts: np.ndarray) -> pd.DataFrame:
    """modes.parquet's rows of one eval: the nonzero counts of (R, n_modes), long."""
    replica, mode = np.nonzero(counts)
    return pd.DataFrame(
        {
            "trial_id": trial_id,
            "replica": replica.astype(np.int32),
            "step": np.int64(step),
            "mode": mode.astype(np.int32),
            "count": counts[replica, mode].astype(np.int32),  # <= coverage_samples
        }
    )


def collapse_onset(steps: Any, modes_captured: Any) -> float:
    """columns.RUN_COLUMNS' collapse_onset of one run's evals (steps ascending): the first
    step s with modes_captured below max(before s) at every eval from s to the end; NaN
    when none (the last eval is at the peak). NaN evals (a diverged replica) are left out.

    The set of such s is closed upwards (a later s has a smaller maximum after it and a
    larger one before), so this is the eval right after the last one at the run's peak.
    """
    steps, counts = np.asarray(steps, dtype=float), np.asarray(modes_captured, dtype=float)
    keep = np.isfinite(counts)
    steps, counts = steps[keep], counts[keep]
    if len(counts) < 2:
        return np.nan
    best_before = np.maximum.accumulate(counts)[:-1]  # max of evals 0..i, for s = i + 1
    best_after = np.maximum.accumulate(counts[::-1])[::-1][1:]  # max of evals s..end
    below = np.nonzero(best_after < best_before)[0]
    return float(steps[below[0] + 1]) if len(below) else np.nan


def _collapse_onsets(history: pd.DataFrame) -> dict[int, float]:
    """replica -> collapse_onset over its history rows (none without modes_captured)."""
    if "modes_captured" not in history:
        return {}
    ordered = history.sort_values("step")
    return {
        int(replica): collapse_onset(rows["step"], rows["modes_captured"])
        for replica, rows in ordered.groupby("replica")
    }


def _exploits_table(records: list[TrialRecord]) -> dict[str, pd.DataFrame]:
    """{"exploits": one row per PBT exploit} when any trial was exploited, else {}."""
    rows = [
        {"trial_id": r.trial_id, "step": e["step"], "donor": e["donor"], "order": i}
        | {"checkpoint": e.get("checkpoint")}
        | {f"{k}_before": v for k, v in e["before"].items()}
        | {f"{k}_after": v for k, v in e["after"].items()}
        for r in records
        for i, e in enumerate(r.exploits)  # oldest first
    ]
    if not rows:
        return {}
    frame = pd.DataFrame(rows).sort_values(["trial_id", "order"], ignore_index=True)
    return {EXPLOITS: frame}


def write_tables(records: list[TrialRecord], spec: Any, out: Path) -> dict[str, Path]:
    """Write trials/history/samples/modes(/exploits).parquet into `out`: every table to a temporary
    file first, then each renamed into place, so a fault while writing (a full disk) leaves
    the old tables whole and no table of the new set beside them."""
    tables = build_tables(records)
    paths = {name: out / f"{name}.parquet" for name in tables}
    tmps = {name: path.with_name(path.name + ".tmp") for name, path in paths.items()}
    try:
        for name, frame in tables.items():
            frame.to_parquet(tmps[name], index=False)
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    for name, tmp in tmps.items():
        os.replace(tmp, paths[name])
    return paths


def load_results(path: str | os.PathLike) -> StudyResults:
    """The tables of a study folder (results/<name>/) as DataFrames; missing ones are empty.

    Raises ResultsError when the folder is not a study (no spec.yaml and no table), or when
    a file is damaged: a parquet file that cannot be read or lacks its table's key columns
    (history.parquet's content in trials.parquet), an unknown trial status, or a spec.yaml
    that is not UTF-8 text holding a YAML mapping. A missing or empty table is not an
    error: it is listed in `missing` and explained in `notes`.
    """
    folder = Path(path)
    check_study_folder(folder)
    found = [name for name in TABLES if _table_path(folder, name).exists()]
    if not (folder / SPEC_FILE).exists() and not found:
        raise ResultsError(
            f"{clip_middle(folder)}: not a study folder (no spec.yaml, trials.parquet or "
            "history.parquet); run `ganstudy run STUDY.yaml` first"
        )
    notes: list[str] = []
    frames, missing = {}, []
    for name in TABLES:
        frame = _read_table(folder, name) if name in found else None
        if name == "modes" and frame is not None and set(KEY_COLUMNS[name]) <= set(frame):
            frames[name] = frame  # no rows: no mode was ever occupied, still the table
            continue
        if frame is not None and frame.empty:
            notes.append(f"{name}.parquet is empty.")
            frame = None
        if frame is None:
            missing.append(name)
        frames[name] = pd.DataFrame() if frame is None else frame
    if _table_path(folder, EXPLOITS).exists():
        frames[EXPLOITS] = _read_table(folder, EXPLOITS)
    spec: dict[str, Any] = {}
    if (folder / SPEC_FILE).exists():
        spec = _read_spec(folder / SPEC_FILE)
    else:
        notes.append("spec.yaml is missing: the study metric and settings come from the tables.")
    environment: dict[str, Any] = {}
    if (folder / ENVIRONMENT_FILE).exists():
        _check_regular(folder / ENVIRONMENT_FILE)
        try:
            environment = json.loads((folder / ENVIRONMENT_FILE).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            notes.append(f"environment.json could not be parsed ({clip(str(err))}).")
    return StudyResults(
        **frames,
        spec=spec,
        path=folder,
        environment=environment if isinstance(environment, dict) else {},
        missing=tuple(missing),
        notes=notes,
    )


def lock_holder(folder: str | os.PathLike) -> str | None:
    """Who holds a study folder's lock, as "pid P on HOST since T", or None when no run does
    (no lock file, or a stale one: its pid is gone on this host)."""
    lock = Path(folder) / LOCK_NAME
    try:
        _check_regular(lock)  # a pipe would block the read below
        holder = json.loads(lock.read_text(encoding="utf-8"))
        pid, host, started = int(holder["pid"]), str(holder["host"]), str(holder["started"])
    except (FileNotFoundError, NotADirectoryError):  # no lock, or no folder to hold one
        return None
    except (OSError, ValueError, KeyError, TypeError, ResultsError):
        return f"see {clip_middle(lock)}"  # half-written or foreign: assume a run
    who = f"pid {pid} on {host[:60]} since {started[:30]}"
    if host != socket.gethostname():  # cannot check another machine's processes
        return f"{who}; if that run is gone, delete {clip_middle(lock)}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return who


def check_study_folder(folder: Path) -> None:
    """ResultsError unless `folder` is a folder (what a study folder is checked first)."""
    if folder.is_dir():
        return
    if not folder.exists():
        raise ResultsError(f"{clip_middle(folder)}: not a study folder (it does not exist)")
    raise ResultsError(
        f"{clip_middle(folder)}: not a study folder (it is a file); give the folder that "
        "holds spec.yaml and the tables, e.g. results/<name>"
    )


def _check_regular(path: Path) -> None:
    """ResultsError when a study's file is a pipe, device or folder: reading a pipe blocks
    until a writer comes, a device never ends. stat() itself never blocks."""
    kind = file_kind(path.stat().st_mode)
    if kind:
        raise ResultsError(f"{clip_middle(path)}: damaged, {kind}")


def clip(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Text for a one-line message: newlines folded, at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _table_path(folder: Path, name: str) -> Path:
    path = folder / f"{name}.parquet"
    if not path.exists() and name == "samples" and (folder / "samples").is_dir():
        return folder / "samples"  # DESIGN.md's `samples/...`: a folder of parquet parts
    return path


def _read_table(folder: Path, name: str) -> pd.DataFrame:
    """One table, checked to be what its name says; ResultsError when it is not."""
    path = _table_path(folder, name)
    if path.name != "samples":  # samples/ (a folder of parts) is the one table not a file
        _check_regular(path)
    try:
        frame = pd.read_parquet(path)
    except (ValueError, pa.ArrowException) as err:  # truncated, or not parquet at all
        raise ResultsError(
            f"{clip_middle(path)}: damaged, not a readable parquet file ({clip(detail(err), 100)})"
        ) from err
    if frame.empty:
        return frame
    lacking = _lacking(name, frame.columns)
    if lacking:
        other = _looks_like(frame.columns)
        like = f"; it looks like {other}.parquet's content" if other else ""
        raise ResultsError(
            f"{clip_middle(path)}: damaged, not a {name} table (no {', '.join(lacking)}){like}"
        )
    if name == "trials":
        if frame["status"].isin(list(RAY_STATUSES)).any():
            frame["status"] = frame["status"].replace(RAY_STATUSES)
        unknown = sorted(set(frame["status"].dropna().astype(str)) - set(STATUSES))
        if unknown or frame["status"].isna().any():
            shown = clip(", ".join(unknown[:5]) or "none", 60)
            raise ResultsError(
                f"{clip_middle(path)}: damaged, unknown trial status ({shown}); "
                f"expected one of {', '.join(STATUSES)}"
            )
    return frame


def _lacking(name: str, columns: pd.Index) -> list[str]:
    """What table `name` needs that `columns` lack: its KEY_COLUMNS and, for history, the
    metric columns (without which its key columns are those of samples or modes too)."""
    lacking = [c for c in KEY_COLUMNS[name] if c not in columns]
    if name == "history" and not any(c in columns for c in METRIC_COLUMNS):
        lacking.append("metric columns")
    return lacking


def _looks_like(columns: pd.Index) -> str | None:
    """The table whose content `columns` are (None if none): of the tables they hold all of,
    the one with the most key columns."""
    whole = [name for name in KEY_COLUMNS if not _lacking(name, columns)]
    return max(whole, key=lambda name: len(KEY_COLUMNS[name]), default=None)


def _read_spec(path: Path) -> dict[str, Any]:
    """spec.yaml as a mapping; ResultsError when it is not UTF-8 YAML holding one."""
    _check_regular(path)
    try:
        with path.open("rb") as f:
            text = f.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except UnicodeDecodeError as err:
        raise ResultsError(f"{clip_middle(path)}: damaged, not UTF-8 text ({err.reason})") from err
    if len(text) > MAX_FILE_BYTES:  # ganstudy writes a few kilobytes
        raise ResultsError(f"{clip_middle(path)}: damaged, far larger than a study's spec")
    try:
        # The study file's reader: an alias bomb or a 10,000-deep nest is refused here, not
        # met by the report as it walks the spec.
        spec = read_yaml(path)
    except YamlFileError as err:
        raise ResultsError(f"{clip_middle(path)}: damaged, not valid YAML ({err})") from err
    if not isinstance(spec, dict):
        raise ResultsError(
            f"{clip_middle(path)}: damaged, holds a {type(spec).__name__}, not a mapping of "
            "study settings"
        )
    return spec


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
