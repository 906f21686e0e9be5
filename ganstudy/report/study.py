"""A study's tables, read through `results.load_results`, with the report's derived columns.

Derived here, once, for every figure and finding: one row per run (trial x replica) with the
final values, the history joined with the trial parameters, the ratios lr_d/lr_g and
d_width/g_width, the swept settings, the panel (loss, and target when swept) and the hue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from ganstudy.columns import FINISHED, LOSS_NAMES, RESUMABLE, STATUSES
from ganstudy.config import FIELDS, ConfigError, coerce
from ganstudy.messages import clip_middle
from ganstudy.study.results import SPEC_FILE, TABLES, ResultsError, StudyResults, clip, load_results

RUN = ["trial_id", "replica"]
NO_OUTCOME = "no outcome"  # a run still going, or one that crashed before its first eval
# The hue of trajectory plots: the first of these that the study actually swept.
HUE_PRIORITY = (
    *("k", "lr_ratio", "cap_ratio", "lr_d", "lr_g", "optimizer", "batch_size", "z_dim"),
    *("r1", "updates"),  # the Dirac-GAN study's knobs: damping, then the schedule
)


@dataclass(frozen=True)
class Ratio:
    """A setting the report derives from two others: one axis for D against G."""

    numerator: str
    denominator: str
    grows: str  # what its growing means for the balance of D and G

    @property
    def label(self) -> str:
        return f"{self.numerator}/{self.denominator}"


# The one declaration of each ratio: its parts, its label, its meaning. Rounded to 6
# significant digits where computed, so 6e-4/2e-4 and 3e-4/1e-4 share one grid cell.
RATIOS: dict[str, Ratio] = {
    "lr_ratio": Ratio("lr_d", "lr_g", "D's learning rate grows relative to G's"),
    "cap_ratio": Ratio("d_width", "g_width", "D grows wider than G"),
}
# The two settings each ratio is made of (describe() names a ratio instead of its parts).
RATIO_PARTS = {name: (r.numerator, r.denominator) for name, r in RATIOS.items()}
LABELS = {name: r.label for name, r in RATIOS.items()}  # how figures name a setting
# What a missing table costs the report, for the page's notes.
MISSING = {
    "trials": "final values and parameters are taken from history.parquet",
    "history": "trajectory figures are skipped",
    "samples": "sample snapshots are skipped",
    "modes": "mode occupancy over time is skipped (a study run before modes.parquet existed)",
}


@dataclass
class Study:
    """The tables of one study, joined and annotated for plotting."""

    path: Path
    name: str
    spec: dict[str, Any]
    environment: dict[str, Any]
    trials: pd.DataFrame | None
    history: pd.DataFrame | None
    samples: pd.DataFrame | None
    modes: pd.DataFrame | None = None  # modes.parquet: nonzero occupancy counts per eval
    notes: list[str] = field(default_factory=list)  # what is missing or partial
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (trial, replica)
    hist: pd.DataFrame | None = None  # history joined with the trial parameters
    metric: str = "js_binned"
    mode: str = "min"
    swept: list[str] = field(default_factory=list)  # parameters with > 1 value, + ratios
    spec_swept: list[str] = field(default_factory=list)  # what spec.yaml sweeps
    hue: str | None = None
    hue_order: list[str] = field(default_factory=list)
    palette: dict[str, Any] = field(default_factory=dict)
    panels: list[str] = field(default_factory=list)
    # (finished, total, {status: count}) when the study was interrupted, else None.
    partial: tuple[int, int, dict[str, int]] | None = None
    # Under PBT: what the exploits changed, said beside every figure and the answer.
    perturbed: str = ""


def find_latest_study(results: Path = Path("results")) -> Path:
    """The most recently written study folder under `results`."""
    candidates = [p for p in results.glob("*") if p.is_dir() and _table_files(p)]
    if not candidates:
        raise ResultsError(
            f"{clip_middle(results)}/ holds no study (no folder with trials.parquet or "
            "history.parquet); run `ganstudy run STUDY.yaml` first or pass a study folder"
        )
    return max(candidates, key=lambda p: max(f.stat().st_mtime for f in _table_files(p)))


def _table_files(folder: Path) -> list[Path]:
    names = [*(f"{name}.parquet" for name in TABLES), SPEC_FILE]
    return [folder / n for n in names if (folder / n).exists()]


def load_study(path: str | Path) -> Study:
    """Read a study folder through `load_results` and derive the report's columns.

    Raises ResultsError when the folder is not a study, is damaged, or holds
    neither trials.parquet nor history.parquet.
    """
    return derive(load_results(path))


def derive(res: StudyResults) -> Study:
    """The report's view of loaded tables: per-run rows, joined history, facets and hue."""
    tables = {name: None if name in res.missing else getattr(res, name) for name in MISSING}
    if tables["trials"] is not None:
        tables["trials"] = _name_unstarted(tables["trials"])
    if tables["trials"] is None and tables["history"] is None:
        have = [p.name for p in _table_files(res.path)] or ["nothing"]
        raise ResultsError(
            f"{clip_middle(res.path)} is not a study with results: trials.parquet and "
            f"history.parquet are missing or empty (found {', '.join(have)})"
        )
    notes = list(res.notes)
    for name, table in tables.items():
        if table is None and f"{name}.parquet is empty." not in notes:
            notes.append(f"{name}.parquet is missing: {MISSING[name]}.")
    study = Study(
        path=res.path,
        name=str(res.spec.get("name") or res.path.name),
        spec=res.spec,
        environment=res.environment,
        **tables,
        notes=notes,
        spec_swept=spec_swept(res.spec),
        perturbed=perturbed_sentence(res.exploits),
    )
    _prepare(study)
    return study


def perturbed_sentence(exploits: pd.DataFrame) -> str:
    """'Under PBT lr_d and lr_g changed during training (9 exploits, exploits.parquet): …'
    for a study whose exploits changed settings, '' otherwise. The tables give each run the
    settings it last trained with, so that is where the figures place it."""
    changed = sorted(c.removesuffix("_after") for c in exploits.columns if c.endswith("_after"))
    if exploits.empty or not changed:
        return ""
    names = listed([LABELS.get(c, c) for c in changed])
    return (
        f"Under PBT {names} changed during training ({len(exploits)} exploits, "
        "exploits.parquet): each run is placed and counted at the settings it last trained "
        "with; before its last exploit it trained with others"
    )


def _name_unstarted(trials: pd.DataFrame) -> pd.DataFrame:
    """Configurations that never started have no trial id: name each "not started N"."""
    missing = trials["trial_id"].isna()
    if not missing.any():
        return trials
    # One configuration = one set of parameters (seed differs per replica: left out).
    keys = [c for c in trials.columns if c in FIELDS and c != "seed"]
    config = pd.util.hash_pandas_object(trials.loc[missing, keys], index=False)  # per row
    number = pd.factorize(config)[0] + 1
    trials = trials.astype({"trial_id": object})
    trials.loc[missing, "trial_id"] = [f"not started {n}" for n in number]
    return trials


def spec_swept(spec: dict[str, Any]) -> list[str]:
    """Settings the spec sweeps (a {grid: ...} or a distribution instead of one value)."""
    params = spec.get("params") if isinstance(spec.get("params"), dict) else {}
    merged = {**spec, **params}
    return sorted(k for k, v in merged.items() if k in FIELDS and isinstance(v, dict))


def _prepare(s: Study) -> None:
    """Build the per-run table and the joined history, and decide facets and hue."""
    last = None
    if s.history is not None:
        h = s.history.sort_values([*RUN, "step"])
        last = h.groupby(RUN, as_index=False).tail(1).drop(columns="step")
    if s.trials is not None:
        lacking = [k for k in s.spec_swept if k not in s.trials]
        if lacking:
            # Without the swept columns every run would look like one configuration.
            raise ResultsError(
                f"{clip_middle(s.path / 'trials.parquet')}: damaged, no column for "
                f"{clip(', '.join(lacking), 60)}, which spec.yaml sweeps"
            )
        runs = s.trials.copy()
        if last is not None:
            # A running or crashed study has trials rows without final values: fill them from
            # the last evaluation so far.
            aligned = runs[RUN].merge(last, on=RUN, how="left")
            for col in [c for c in last.columns if c not in RUN]:
                runs[col] = runs[col].fillna(aligned[col]) if col in runs else aligned[col]
    else:
        runs = last.copy()
        # Without trials.parquet only the spec's fixed settings (top level or under params:)
        # are known; swept ones ({grid: ...}) cannot be matched to trial ids.
        params_spec = s.spec.get("params") or {}
        fixed = {k: v for k, v in {**s.spec, **params_spec}.items() if not isinstance(v, dict)}
        for key, value in fixed.items():
            if key in FIELDS and key not in runs:
                try:
                    runs[key] = coerce(key, value)  # YAML reads 2e-4 as a string
                except ConfigError:
                    pass  # the spec was validated when run; a bad value just goes unshown
    if "outcome" not in runs:
        runs["outcome"] = NO_OUTCOME
    runs["outcome"] = runs["outcome"].astype(object).where(runs["outcome"].notna(), NO_OUTCOME)
    if "status" in runs:
        _status_notes(s, runs["status"].astype(str))

    params = runs.drop_duplicates("trial_id")[
        ["trial_id", *[c for c in runs.columns if c in FIELDS]]
    ].copy()
    for name, (a, b) in RATIO_PARTS.items():
        if {a, b} <= set(params):
            params[name] = round_sig(params[a] / params[b])
    # seed and replicas vary with the replica index, not with the configuration.
    s.swept = [
        c
        for c in params.columns
        if c not in ("trial_id", "seed", "replicas") and params[c].nunique(dropna=False) > 1
    ]
    # The panel of a trajectory figure: the loss, and the target when the study swept it
    # (averaging JS over different targets would mean nothing).
    loss = params["loss"].astype(str) if "loss" in params else pd.Series("all runs", params.index)
    params["panel"] = loss + (" · " + params["target"].astype(str) if "target" in s.swept else "")
    order = {name: i for i, name in enumerate(LOSS_NAMES)}
    s.panels = sorted(params["panel"].unique(), key=lambda p: (order.get(p.split(" · ")[0], 99), p))
    s.hue = next((c for c in HUE_PRIORITY if c in s.swept), None)
    if s.hue is not None:
        values = sorted(params[s.hue].dropna().unique())
        labels = {v: f"{LABELS.get(s.hue, s.hue)}={fmt(v)}" for v in values}
        s.hue_order = list(labels.values())
        params["_hue"] = pd.Categorical(params[s.hue].map(labels), categories=s.hue_order)
        # An ordered sequential palette for an ordered setting, spanning dark blue to orange
        # (plasma without its pale yellow end, which vanishes on white).
        cmap = matplotlib.colormaps["plasma"]
        colors = [cmap(x) for x in np.linspace(0.0, 0.78, len(values))]
        s.palette = dict(zip(s.hue_order, colors, strict=True))
    derived = params.drop(columns=[c for c in params.columns if c in runs and c != "trial_id"])
    s.runs = runs.merge(derived, on="trial_id", how="left")
    if s.history is not None:
        keep = [c for c in params.columns if c not in s.history.columns or c == "trial_id"]
        s.hist = s.history.merge(params[keep], on="trial_id", how="left")
        s.hist["panel"] = s.hist["panel"].fillna("unknown trial")
        unknown = s.hist.loc[~s.hist["trial_id"].isin(params["trial_id"]), "trial_id"].nunique()
        if unknown and s.trials is not None:
            s.notes.append(f"{unknown} trials appear in history.parquet but not trials.parquet.")

    metric = str(s.spec.get("metric") or "js_binned")
    s.mode = str(s.spec.get("mode") or "min")
    if metric not in s.runs or s.runs[metric].notna().sum() == 0:
        fallback = next((m for m in ("js_binned", "js_probe") if has(s.runs, m)), None)
        if fallback is None:
            fallback = metric
        if fallback != metric:
            s.notes.append(f"The study metric {metric} has no values; ranking by {fallback}.")
            s.mode = "min"
        metric = fallback
    s.metric = metric


def _status_notes(s: Study, status: pd.Series) -> None:
    """Say how much of the study ran: partial (interrupted) or with unfinished runs."""
    unfinished = status[status != FINISHED]
    if not len(unfinished):
        return
    # In STATUSES order (value_counts would order ties arbitrarily); the loader checked them.
    counts = {st: n for st in STATUSES if (n := int((unfinished == st).sum()))}
    listed = ", ".join(f"{n} {status}" for status, n in counts.items())
    if any(st in RESUMABLE for st in counts):
        s.partial = (len(status) - len(unfinished), len(status), counts)
        s.notes.append(partial_sentence(s.partial))
    else:
        s.notes.append(
            f"{len(unfinished)} of {len(status)} runs did not finish ({listed}): their "
            "values and outcome are as of their last evaluation."
        )


def partial_sentence(partial: tuple[int, int, dict[str, int]]) -> str:
    """The page's and the findings' statement that a study is partial."""
    done, total, counts = partial
    listed = ", ".join(f"{n} {status}" for status, n in counts.items())
    return (
        f"Partial study: {done} of {total} runs finished ({listed}); the run was interrupted "
        "and `ganstudy run STUDY.yaml --resume` continues it. Unfinished runs show their last "
        "evaluation, or nothing where they never ran."
    )


def round_sig(x: pd.Series) -> pd.Series:
    """Values rounded to 6 significant digits (ratios that should compare equal do)."""
    return x.map(lambda v: float(f"{v:.6g}"))


def has(df: pd.DataFrame | None, col: str) -> bool:
    """Whether a table has a column with at least one value."""
    return df is not None and col in df and bool(df[col].notna().any())


def fmt(v: Any) -> str:
    """Compact value label: ratios as 4 or 1/4, other numbers to 3 significant digits."""
    if isinstance(v, float | np.floating):
        # Small reciprocals only: a ratio of 1/4 reads better than 0.25, a rate of 1/10000 not.
        if 0 < v < 1 and round(1 / v) <= 64 and abs(1 / v - round(1 / v)) < 1e-6:
            return f"1/{round(1 / v)}"
        if float(v).is_integer():
            return str(int(v))
        return f"{v:.3g}"
    return str(v)


def listed(names: Sequence[str]) -> str:
    """Names as a sentence lists them: 'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(s: Study, run: pd.Series) -> str:
    """The settings that tell a run apart: every swept one, loss, k and the ratios first. A
    ratio stands for its parts where one of them is swept; where both are, the ratio cannot
    tell the configurations apart (32/32 and 128/128 are both 1), so the parts are named."""
    swept = [c for c in s.swept if c in run]
    hidden: set[str] = set()
    for ratio, parts in RATIO_PARTS.items():
        hidden |= {ratio} if all(p in swept for p in parts) else set(parts)
    first = ("loss", "k", *RATIO_PARTS)
    keys = [c for c in first if c in swept and c not in hidden]
    keys += [c for c in swept if c not in first and c not in hidden]
    keys = keys or [c for c in first if c in run]
    return ", ".join(f"{LABELS.get(c, c)}={fmt(run[c])}" for c in keys) or str(run["trial_id"])
