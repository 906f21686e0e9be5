"""Study tables -> seaborn figures, summary.csv and one self-contained HTML page.

`ganstudy report [STUDY_DIR]` reads only what results.py writes under `results/<name>/`
(`trials.parquet`, `history.parquet`, `samples.parquet` or `samples/`, `spec.yaml`,
`environment.json`), never Ray's own files, and writes `report/` beside them: one PNG per
figure, `summary.csv`, `outcomes.csv` and `index.html` with the PNGs embedded (opens offline).

Figures are drawn on `matplotlib.figure.Figure` objects with their own Agg canvas instead of
pyplot: the report renders headless, never switches the caller's backend (a notebook keeps
its inline backend) and leaves no open pyplot figures behind, which is what
`matplotlib.use("Agg")` would buy without its global side effect.
"""

from __future__ import annotations

import base64
import html
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from ganstudy.columns import FINISHED, JS_COLUMNS, LOSS_NAMES, METRIC_COLUMNS, why_nan
from ganstudy.config import FIELDS, ConfigError, coerce
from ganstudy.metrics import OUTCOMES
from ganstudy.targets import GaussianMixture, make_target

Format = Literal["html", "png"]

LOG2 = math.log(2)
RUN = ["trial_id", "replica"]
JS = JS_COLUMNS
METRICS = (*METRIC_COLUMNS, "n_modes")  # the per-eval numbers of history.parquet
NO_OUTCOME = "no outcome"  # a run still going, or one that crashed before its first eval
OUTCOME_COLORS = {
    "converged": "#3a9e5f",
    "mode_collapse": "#8e6bbf",
    "d_dominates": "#d1495b",
    "oscillating": "#edae49",
    "diverged": "#30343f",
    NO_OUTCOME: "#d9d9d9",
}
OUTCOME_SHORT = {
    "converged": "conv",
    "mode_collapse": "collapse",
    "d_dominates": "D dom",
    "oscillating": "osc",
    "diverged": "div",
    NO_OUTCOME: "n/a",
}
# A tied majority vote goes to the more severe outcome: a cell that failed in half of its
# replicas is not a region where training is in balance.
SEVERITY = ("diverged", "d_dominates", "mode_collapse", "oscillating", "converged", NO_OUTCOME)
LOSS_ORDER = LOSS_NAMES
# The hue of trajectory plots: the first of these that the study actually swept.
HUE_PRIORITY = ("k", "lr_ratio", "cap_ratio", "lr_d", "lr_g", "optimizer", "batch_size", "z_dim")
LABELS = {"lr_ratio": "lr_d/lr_g", "cap_ratio": "d_width/g_width"}
# Replica spread as a band; bootstrapped CIs over every step x hue x panel would cost seconds
# per figure, and the spread of training dynamics over seeds is what a GAN researcher reads.
ERRORBAR = "sd"
DPI = 110
PANEL_W, PANEL_H = 3.3, 2.5  # inches per facet
CURVE_X = np.linspace(-1, 1, 15)  # the `curves` target's fixed abscissae


class StudyError(Exception):
    """The folder is not a study, or holds no results yet; the message says what is missing."""


class _Skip(Exception):
    """A figure that has nothing to show; the message is the reason given on the page."""


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
    notes: list[str] = field(default_factory=list)  # what is missing or partial
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (trial, replica)
    hist: pd.DataFrame | None = None  # history joined with the trial parameters
    metric: str = "js_binned"
    mode: str = "min"
    swept: list[str] = field(default_factory=list)  # parameters with > 1 value, + ratios
    hue: str | None = None
    hue_order: list[str] = field(default_factory=list)
    palette: dict[str, Any] = field(default_factory=dict)
    panels: list[str] = field(default_factory=list)


def find_latest_study(results: Path = Path("results")) -> Path:
    """The most recently written study folder under `results`."""
    candidates = [p for p in results.glob("*") if p.is_dir() and _table_files(p)]
    if not candidates:
        raise StudyError(
            f"{results}/ holds no study (no folder with trials.parquet or history.parquet); "
            "run `ganstudy run STUDY.yaml` first or pass a study folder"
        )
    return max(candidates, key=lambda p: max(f.stat().st_mtime for f in _table_files(p)))


def _table_files(folder: Path) -> list[Path]:
    names = ["trials.parquet", "history.parquet", "samples.parquet", "spec.yaml"]
    return [folder / n for n in names if (folder / n).exists()]


def _read_table(folder: Path, name: str, notes: list[str]) -> pd.DataFrame | None:
    path = folder / f"{name}.parquet"
    if not path.exists() and name == "samples" and (folder / "samples").is_dir():
        path = folder / "samples"  # DESIGN.md's `samples/...`: a folder of parquet parts
    if not path.exists():
        return None
    try:
        table = pd.read_parquet(path)
    except Exception as err:  # a study killed mid-write leaves a truncated file; say so
        notes.append(f"{path.name} could not be read ({type(err).__name__}: {err}).")
        return None
    if table.empty:
        notes.append(f"{path.name} is empty.")
        return None
    return table


def load_study(path: str | Path) -> Study:
    """Read a study folder; raise StudyError when it is not one."""
    folder = Path(path)
    if not folder.is_dir():
        raise StudyError(f"{folder} is not a study folder: it does not exist")
    notes: list[str] = []
    spec: dict[str, Any] = {}
    if (folder / "spec.yaml").exists():
        try:
            spec = yaml.safe_load((folder / "spec.yaml").read_text()) or {}
        except yaml.YAMLError as err:
            notes.append(f"spec.yaml could not be parsed ({err}); using defaults.")
    environment: dict[str, Any] = {}
    if (folder / "environment.json").exists():
        try:
            environment = json.loads((folder / "environment.json").read_text())
        except json.JSONDecodeError as err:
            notes.append(f"environment.json could not be parsed ({err}).")
    trials = _read_table(folder, "trials", notes)
    history = _read_table(folder, "history", notes)
    samples = _read_table(folder, "samples", notes)
    if trials is None and history is None:
        have = [p.name for p in _table_files(folder)] or ["nothing"]
        raise StudyError(
            f"{folder} is not a study with results: trials.parquet and history.parquet are "
            f"missing or unreadable (found {', '.join(have)})"
        )
    for name, table in [("trials", trials), ("history", history), ("samples", samples)]:
        if table is None and not any(n.startswith(f"{name}.parquet") for n in notes):
            what = {
                "trials": "final values and parameters are taken from history.parquet",
                "history": "trajectory figures are skipped",
                "samples": "sample snapshots are skipped",
            }[name]
            notes.append(f"{name}.parquet is missing: {what}.")
    study = Study(
        path=folder,
        name=str(spec.get("name") or folder.name),
        spec=spec,
        environment=environment,
        trials=trials,
        history=history,
        samples=samples,
        notes=notes,
    )
    _prepare(study)
    return study


def _prepare(s: Study) -> None:
    """Build the per-run table and the joined history, and decide facets and hue."""
    last = None
    if s.history is not None:
        h = s.history.sort_values([*RUN, "step"])
        last = h.groupby(RUN, as_index=False).tail(1).drop(columns="step")
    if s.trials is not None:
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
        unfinished = runs[runs["status"].astype(str) != FINISHED]
        if len(unfinished):
            counts = unfinished["status"].astype(str).value_counts()
            listed = ", ".join(f"{n} {status}" for status, n in counts.items())
            s.notes.append(
                f"{len(unfinished)} of {len(runs)} runs did not finish ({listed}): their "
                "values and outcome are as of their last evaluation."
            )

    params = runs.drop_duplicates("trial_id")[
        ["trial_id", *[c for c in runs.columns if c in FIELDS]]
    ].copy()
    # Ratios rounded to 6 significant digits, so 6e-4/2e-4 and 3e-4/1e-4 share one grid cell.
    if {"lr_d", "lr_g"} <= set(params):
        params["lr_ratio"] = _round_sig(params["lr_d"] / params["lr_g"])
    if {"d_width", "g_width"} <= set(params):
        params["cap_ratio"] = _round_sig(params["d_width"] / params["g_width"])
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
    order = {name: i for i, name in enumerate(LOSS_ORDER)}
    s.panels = sorted(params["panel"].unique(), key=lambda p: (order.get(p.split(" · ")[0], 99), p))
    s.hue = next((c for c in HUE_PRIORITY if c in s.swept), None)
    if s.hue is not None:
        values = sorted(params[s.hue].dropna().unique())
        labels = {v: f"{LABELS.get(s.hue, s.hue)}={_fmt(v)}" for v in values}
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
        fallback = next((m for m in ("js_binned", "js_probe") if _has(s.runs, m)), None)
        if fallback is None:
            fallback = metric
        if fallback != metric:
            s.notes.append(f"The study metric {metric} has no values; ranking by {fallback}.")
            s.mode = "min"
        metric = fallback
    s.metric = metric


def _round_sig(x: pd.Series) -> pd.Series:
    return x.map(lambda v: float(f"{v:.6g}"))


def _has(df: pd.DataFrame | None, col: str) -> bool:
    return df is not None and col in df and bool(df[col].notna().any())


def _fmt(v: Any) -> str:
    """Compact value label: ratios as 4 or 1/4, other numbers to 3 significant digits."""
    if isinstance(v, float | np.floating):
        # Small reciprocals only: a ratio of 1/4 reads better than 0.25, a rate of 1/10000 not.
        if 0 < v < 1 and round(1 / v) <= 64 and abs(1 / v - round(1 / v)) < 1e-6:
            return f"1/{round(1 / v)}"
        if float(v).is_integer():
            return str(int(v))
        return f"{v:.3g}"
    return str(v)


# --------------------------------------------------------------------------------------------
# Figure helpers
# --------------------------------------------------------------------------------------------


def _figure(nrows: int, ncols: int, *, w: float = PANEL_W, h: float = PANEL_H, **kw: Any):
    """A constrained-layout figure on its own Agg canvas and its (nrows, ncols) axes."""
    legend_room = 1.6  # inches for the legend outside the panels
    fig = Figure(figsize=(w * ncols + legend_room, h * nrows + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _hue_kw(s: Study) -> dict[str, Any]:
    if s.hue is None:
        return {"color": "#3b6ea5"}
    return {"hue": "_hue", "hue_order": s.hue_order, "palette": s.palette}


def _legend(fig: Figure, s: Study, extra: Sequence[tuple[str, Any]] = ()) -> None:
    """One legend for the whole figure: hue entries, then extra (label, handle) pairs."""
    items = [(label, Line2D([], [], color=c, lw=2)) for label, c in s.palette.items()]
    items += list(extra)
    if items:
        fig.legend(
            [h for _, h in items],
            [label for label, _ in items],
            loc="outside right upper",
            frameon=False,
            fontsize="small",
        )


def _note(ax: Any, text: str) -> None:
    """Explain an empty panel inside the panel instead of leaving it blank."""
    ax.text(
        0.5,
        0.5,
        text,
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize="small",
        color="0.35",
        wrap=True,
    )


def _need_history(s: Study) -> pd.DataFrame:
    if s.hist is None:
        raise _Skip("history.parquet is missing, so there are no trajectories")
    return s.hist


def _title_top(axes: np.ndarray, titles: Sequence[str]) -> None:
    for ax, title in zip(axes[0], titles, strict=True):
        ax.set_title(title, fontsize="medium")


def _pooled(s: Study, used: Sequence[str]) -> str:
    """Caption clause naming swept settings a figure averages over."""
    other = [LABELS.get(c, c) for c in s.swept if c not in used and c not in ("lr_d", "lr_g")]
    if "lr_ratio" not in used and "lr_ratio" not in s.swept:
        other += [c for c in ("lr_d", "lr_g") if c in s.swept]
    return f" Pooled over {', '.join(other)}." if other else ""


# --------------------------------------------------------------------------------------------
# Figures: each returns (figure, caption) or raises _Skip(reason)
# --------------------------------------------------------------------------------------------


def fig_js(s: Study) -> tuple[Figure, str]:
    """1. The three JS estimates vs step, one column per loss, hue k."""
    h = _need_history(s)
    est = [m for m in JS if _has(h, m)]
    if not est:
        raise _Skip("no JS estimate has a value in history.parquet")
    fig, axes = _figure(len(est), len(s.panels), sharex=True, sharey=True)
    for i, m in enumerate(est):
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = h[h["panel"] == panel]
            ax.axhline(0, color="0.6", lw=0.8)
            ax.axhline(LOG2, color="0.6", lw=0.8, ls="--")
            if _has(d, m):
                sns.lineplot(d, x="step", y=m, errorbar=ERRORBAR, legend=False, ax=ax, **_hue_kw(s))
            else:
                _note(ax, f"{m} undefined:\n{why_nan(m)}")
            ax.set_ylabel(f"{m} (nats)" if j == 0 else "")
            ax.set_xlabel("step" if i == len(est) - 1 else "")
    axes[0, 0].set_ylim(-0.03, LOG2 + 0.05)
    axes[0, 0].set_yticks([0, 0.25, 0.5, LOG2], ["0", "0.25", "0.5", "log 2"])
    _title_top(axes, s.panels)
    _legend(fig, s)
    caption = (
        "JS divergence between data and generator (nats; 0 = match, log 2 = disjoint): "
        "js_binned is the reference, js_d and js_probe are lower bounds and should track it "
        "from below; a curve that stalls high marks a failed run. Band: ±1 sd over replicas."
        + _pooled(s, [s.hue or "", "loss"])
    )
    return fig, caption


def fig_d_outputs(s: Study) -> tuple[Figure, str]:
    """2. D(x_real), D(G(z)) vs step with the 1/2 optimum; critic gap for critic losses."""
    h = _need_history(s)
    has_critic = _has(h, "critic_real") and _has(h, "critic_fake")
    if not _has(h, "d_real") and not has_critic:
        raise _Skip("history.parquet has neither D probabilities nor critic outputs")
    fig, axes = _figure(1, len(s.panels), h=PANEL_H + 0.3, sharex=True)
    styles = {"D(x_real)": "", "D(G(z))": (4, 2)}
    any_critic = False
    for j, panel in enumerate(s.panels):
        ax = axes[0, j]
        d = h[h["panel"] == panel]
        if _has(d, "d_real"):
            long = d.melt(
                id_vars=["step", *(["_hue"] if s.hue else []), *RUN],
                value_vars=["d_real", "d_fake"],
                var_name="which",
                value_name="p",
            )
            long["which"] = long["which"].map({"d_real": "D(x_real)", "d_fake": "D(G(z))"})
            sns.lineplot(
                long,
                x="step",
                y="p",
                style="which",
                dashes=styles,
                style_order=list(styles),
                errorbar=ERRORBAR,
                legend=False,
                ax=ax,
                **_hue_kw(s),
            )
            ax.axhline(0.5, color="0.3", lw=0.8, ls=":")
            ax.text(
                0.99,
                0.51,
                "D* = 1/2",
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="bottom",
                fontsize="x-small",
                color="0.3",
            )
            ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel("mean D probability")
        elif _has(d, "critic_real"):
            any_critic = True
            d = d.assign(critic_gap=d["critic_real"] - d["critic_fake"])
            sns.lineplot(
                d, x="step", y="critic_gap", errorbar=ERRORBAR, legend=False, ax=ax, **_hue_kw(s)
            )
            ax.axhline(0, color="0.3", lw=0.8, ls=":")
            ax.set_ylabel("critic_real − critic_fake\n(raw critic, not a probability)")
        else:
            _note(ax, "no D outputs recorded")
    _title_top(axes, s.panels)
    _legend(
        fig,
        s,
        [
            ("D(x_real)", Line2D([], [], color="0.3")),
            ("D(G(z))", Line2D([], [], color="0.3", dashes=(4, 2))),
        ],
    )
    caption = (
        "Mean discriminator output on real (solid) and generated (dashed) points; at the "
        "optimum both sit at D* = 1/2, and a fake curve diving to 0 while the real one "
        "climbs to 1 is a dominating D."
        + (
            " Critic losses (no probabilities) show critic_real − critic_fake on their own "
            "axes: a gap that grows without bound is the critic winning."
            if any_critic
            else ""
        )
        + " Band: ±1 sd over replicas."
    )
    return fig, caption


def _grid_axes(s: Study) -> tuple[str | None, str | None, str | None]:
    """(x, y, row) variables of the phase-diagram grid: k, lr ratio, capacity ratio."""
    x = "k" if "k" in s.runs else None
    y = "lr_ratio" if "lr_ratio" in s.runs else None
    row = "cap_ratio" if "cap_ratio" in s.swept else None
    return x, y, row


def _cells(s: Study) -> pd.DataFrame:
    """Runs with the grid keys filled (a missing axis becomes one 'all' cell)."""
    x, y, row = _grid_axes(s)
    r = s.runs.copy()
    r["_x"] = r[x] if x else "all"
    r["_y"] = r[y] if y else "all"
    r["_row"] = r[row] if row else "all"
    r["panel"] = r["panel"].fillna("unknown trial")
    return r


def _majority(outcomes: pd.Series) -> tuple[str, int, int]:
    """(majority outcome, its count, number of runs); ties go to the more severe outcome."""
    counts = outcomes.value_counts()
    top = counts.max()
    winner = min(counts[counts == top].index, key=lambda o: _severity(o))
    return winner, int(top), int(counts.sum())


def _severity(outcome: str) -> int:
    return SEVERITY.index(outcome) if outcome in SEVERITY else len(SEVERITY)


def _grid_figure(
    s: Study,
    draw: Callable[[Any, pd.DataFrame, list, list, str], None],
    *,
    blocks: Sequence[str] = ("",),
) -> tuple[Figure, np.ndarray, list[tuple[str, Any]]]:
    """Panels per (block, capacity row) x loss; draw(ax, runs, xs, ys, block) fills one.

    A block is a metric of the heatmap figure (one row group each); the phase diagram has one.
    """
    r = _cells(s)
    x, y, row = _grid_axes(s)
    xs = sorted(r["_x"].dropna().unique())
    ys = sorted(r["_y"].dropna().unique(), reverse=True)  # larger lr_d/lr_g on top
    rows = sorted(r["_row"].dropna().unique())
    w = max(2.4, 0.75 * len(xs) + 1.3)
    h = max(2.0, 0.5 * len(ys) + 1.3)
    fig, axes = _figure(len(blocks) * len(rows), len(s.panels), w=w, h=h)
    keys = []
    for b, block in enumerate(blocks):
        for i, rv in enumerate(rows):
            for j, panel in enumerate(s.panels):
                ax = axes[b * len(rows) + i, j]
                d = r[(r["_row"] == rv) & (r["panel"] == panel)]
                if d.empty:
                    ax.set_axis_off()
                    _note(ax, "not run")
                    continue
                draw(ax, d, xs, ys, block)
                title = panel + (f"\n{LABELS[row]} = {_fmt(rv)}" if row else "")
                ax.set_title(title, fontsize="medium")
                ax.set_xlabel("k (D steps per G step)" if x else "")
                ax.set_ylabel("lr_d / lr_g" if (y and j == 0) else "")
                if j:
                    ax.set_yticklabels([])
            keys.append((block, rv))
    return fig, axes, keys


def fig_phase(s: Study) -> tuple[Figure, str]:
    """3. Majority outcome over k x lr_d/lr_g, one panel per loss (and capacity ratio)."""
    names = [*OUTCOMES, NO_OUTCOME]
    cmap = ListedColormap([OUTCOME_COLORS[o] for o in names])

    def draw(ax: Any, d: pd.DataFrame, xs: list, ys: list, _block: str) -> None:
        codes = np.full((len(ys), len(xs)), np.nan)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for (yv, xv), cell in d.groupby(["_y", "_x"]):
            winner, n, total = _majority(cell["outcome"])
            i, j = ys.index(yv), xs.index(xv)
            codes[i, j] = names.index(winner) if winner in names else names.index(NO_OUTCOME)
            text[i, j] = f"{OUTCOME_SHORT.get(winner, winner)}\n{n}/{total}"
        sns.heatmap(
            codes,
            cmap=cmap,
            vmin=-0.5,
            vmax=len(names) - 0.5,
            annot=text,
            fmt="",
            cbar=False,
            linewidths=1,
            linecolor="white",
            square=False,
            xticklabels=[_fmt(v) for v in xs],
            yticklabels=[_fmt(v) for v in ys],
            annot_kws={"fontsize": 8},
            ax=ax,
        )
        ax.tick_params(axis="y", rotation=0)

    fig, axes, _ = _grid_figure(s, draw)
    present = [o for o in names if (s.runs["outcome"] == o).any()]
    fig.legend(
        [Patch(color=OUTCOME_COLORS[o]) for o in present],
        present,
        loc="outside right upper",
        frameon=False,
        fontsize="small",
        title="majority outcome",
    )
    caption = (
        "Phase diagram: the majority outcome over replicas in each cell (count annotated, "
        f"ties go to the worse outcome); {_phase_hint(s)}"
        + _pooled(s, ["k", "lr_ratio", "cap_ratio", "loss"])
    )
    return fig, caption


def _phase_hint(s: Study) -> str:
    """What to look for, in terms of what the study actually swept."""
    knobs = [
        text
        for key, text in [
            ("k", "D gets more steps per G step (k)"),
            ("lr_ratio", "D's learning rate grows relative to G's (lr_d/lr_g)"),
            ("cap_ratio", "D grows wider than G (d_width/g_width)"),
        ]
        if key in s.swept
    ]
    if knobs:
        return f"look for the boundary where training stops converging as {' or '.join(knobs)}."
    return "only the loss varies here, so compare the panels."


def _heat_metrics(s: Study) -> list[str]:
    metrics = [m for m in ("js_binned", s.metric) if _has(s.runs, m)]
    if not metrics and _has(s.runs, "js_probe"):
        metrics = ["js_probe"]
    return list(dict.fromkeys(metrics))


def fig_final_heatmaps(s: Study) -> tuple[Figure, str]:
    """4. Final js_binned (and the study metric) over the same grid as the phase diagram."""
    metrics = _heat_metrics(s)
    if not metrics:
        raise _Skip(f"no final value of js_binned or {s.metric}")
    scales = {}
    for m in metrics:
        values = s.runs[m].replace([np.inf, -np.inf], np.nan)
        lo = 0.0 if m.startswith("js_") else float(values.min())
        scales[m] = (lo, float(values.max()) if values.notna().any() else 1.0)

    def draw(ax: Any, d: pd.DataFrame, xs: list, ys: list, m: str) -> None:
        means = d.groupby(["_y", "_x"])[m].mean().unstack("_x")
        means = means.reindex(index=ys, columns=xs)
        sns.heatmap(
            means.to_numpy(dtype=float),
            cmap="rocket_r",
            vmin=scales[m][0],
            vmax=scales[m][1],
            annot=True,
            fmt=".2f" if m.startswith("js_") else ".3g",
            cbar=False,
            linewidths=1,
            linecolor="white",
            xticklabels=[_fmt(v) for v in xs],
            yticklabels=[_fmt(v) for v in ys],
            annot_kws={"fontsize": 8},
            ax=ax,
        )
        ax.tick_params(axis="y", rotation=0)
        # Cells that ran but have no value (diverged, NaN) are grey, not silently blank.
        ran = d.groupby(["_y", "_x"]).size().unstack("_x").reindex(index=ys, columns=xs)
        for i, j in zip(*np.nonzero(ran.notna().to_numpy() & means.isna().to_numpy()), strict=True):
            ax.add_patch(Rectangle((j, i), 1, 1, color="0.9", lw=0))
            ax.text(j + 0.5, i + 0.5, "no value", ha="center", va="center", fontsize=7, color="0.4")

    fig, axes, keys = _grid_figure(s, draw, blocks=metrics)
    for m in metrics:  # one colour bar per metric, spanning its rows
        rows = [axes[r] for r, (block, _) in enumerate(keys) if block == m]
        mesh = next((ax.collections[0] for row in rows for ax in row if ax.collections), None)
        if mesh is not None:
            bar = fig.colorbar(mesh, ax=[ax for row in rows for ax in row], shrink=0.9, pad=0.01)
            bar.set_label(f"final {m}" + (" (nats)" if m.startswith("js_") else ""))
    caption = (
        f"Final {' and '.join(metrics)} averaged over replicas on the phase-diagram grid "
        "(darker = larger); read it against the phase diagram: converged cells should be the "
        "light ones." + _pooled(s, ["k", "lr_ratio", "cap_ratio", "loss"])
    )
    return fig, caption


def fig_calibration(s: Study) -> tuple[Figure, str]:
    """5. js_d and js_probe against js_binned, coloured by k, with y = x and the gap vs k."""
    data = s.hist if _has(s.hist, "js_binned") else s.runs
    if not _has(data, "js_binned"):
        raise _Skip(
            "js_binned has no values (the target has no known density), so there is "
            "no reference to calibrate against"
        )
    est = [m for m in ("js_d", "js_probe") if _has(data, m)]
    if not est:
        raise _Skip("neither js_d nor js_probe has values")
    d = data[data["js_binned"].notna()]
    fig, axes = _figure(1, len(est) + 1, w=PANEL_W + 0.2, h=PANEL_H + 0.8)
    for ax, m in zip(axes[0], est, strict=False):
        lim = (-0.02, LOG2 + 0.03)
        ax.fill_between([0, LOG2], [0, LOG2], [LOG2, LOG2], color="#d1495b", alpha=0.07, lw=0)
        ax.plot([0, LOG2], [0, LOG2], color="0.3", lw=1)
        sns.scatterplot(
            d, x="js_binned", y=m, s=14, alpha=0.6, linewidth=0, legend=False, ax=ax, **_hue_kw(s)
        )
        ax.text(
            0.04,
            0.96,
            "shaded: above y = x, impossible\nfor a lower bound (noise)",
            transform=ax.transAxes,
            va="top",
            fontsize="x-small",
            color="#a23344",
        )
        ax.text(LOG2, LOG2, "y = x ", ha="right", va="bottom", fontsize="x-small", color="0.3")
        ax.set(xlim=lim, ylim=lim, xlabel="js_binned (reference, nats)", ylabel=f"{m} (nats)")
        ax.set_aspect("equal")
        ax.set_title(f"{m} vs reference", fontsize="medium")
    gap = pd.concat(
        [d.assign(estimator=m, gap=d["js_binned"] - d[m]) for m in est], ignore_index=True
    ).dropna(subset=["gap"])
    ax = axes[0, -1]
    x = "_hue" if s.hue else "panel"
    order = s.hue_order if s.hue else [p for p in s.panels if p in set(gap["panel"])]
    sns.pointplot(
        gap,
        x=x,
        y="gap",
        hue="estimator",
        hue_order=est,
        order=order,
        errorbar=("ci", 95),  # few groups here, so bootstrapping is cheap
        dodge=0.3 if len(est) > 1 else False,
        seed=0,
        palette=["#3b6ea5", "#7f7f7f"][: len(est)],
        markersize=5,
        ax=ax,
    )
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set(xlabel=LABELS.get(s.hue or "", s.hue or "loss"), ylabel="js_binned − estimate (nats)")
    ax.set_title("how far below the reference", fontsize="medium")
    ax.tick_params(axis="x", rotation=30 if len(order) > 4 else 0)
    ax.legend(fontsize="x-small", frameon=False)
    _legend(fig, s)
    caption = (
        "Estimator calibration: js_d (from the trial's own D) and js_probe (a fresh "
        "k-NN classifier) are lower bounds on the JS divergence, tight only for an optimal D, so "
        "they fall below the y = x line; the right panel shows how far below (mean, 95% CI) "
        f"as a function of {LABELS.get(s.hue or '', s.hue or 'the loss')} — a js_d gap that "
        "shrinks means the trial's D is closer to optimal."
        + (" Points are all evaluation steps of all runs." if data is s.hist else "")
    )
    return fig, caption


def fig_coverage(s: Study) -> tuple[Figure, str]:
    """6. Modes captured and high-quality fraction vs step."""
    h = _need_history(s)
    rows = [m for m in ("modes_captured", "high_quality_frac") if _has(h, m)]
    if not rows:
        raise _Skip("the target has no discrete modes (modes_captured has no values)")
    fig, axes = _figure(len(rows), len(s.panels), sharex=True, sharey="row")
    for i, m in enumerate(rows):
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = h[h["panel"] == panel]
            if not _has(d, m):
                _note(ax, f"no {m} values")
                continue
            sns.lineplot(d, x="step", y=m, errorbar=ERRORBAR, legend=False, ax=ax, **_hue_kw(s))
            if m == "modes_captured" and _has(d, "n_modes"):
                ax.axhline(d["n_modes"].max(), color="0.3", lw=0.8, ls="--")
                ax.set_ylim(0, d["n_modes"].max() * 1.12)
            if m == "high_quality_frac":
                ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(m if j == 0 else "")
            ax.set_xlabel("step" if i == len(rows) - 1 else "")
    _title_top(axes, s.panels)
    _legend(fig, s, [("all modes", Line2D([], [], color="0.3", ls="--"))])
    caption = (
        "Mode coverage: modes holding at least one high-quality sample (dashed line: all "
        f"modes) and the fraction of samples within {_sigmas(s)} of a mode; a run that "
        "reaches high quality on few modes has collapsed. Band: ±1 sd over replicas."
        + _pooled(s, [s.hue or "", "loss"])
    )
    return fig, caption


def _sigmas(s: Study) -> str:
    """The high-quality radius as run (quality_sigmas, 3σ by default)."""
    values = s.runs["quality_sigmas"].dropna().unique() if "quality_sigmas" in s.runs else []
    return f"{_fmt(float(values[0]))}σ" if len(values) == 1 else "quality_sigmas·σ"


def fig_coverage_capacity(s: Study) -> tuple[Figure, str]:
    """6b. Final mode coverage against the capacity ratio d_width/g_width."""
    if "cap_ratio" not in s.swept:
        widths = ""
        if {"d_width", "g_width"} <= set(s.runs):
            first = s.runs.iloc[0]
            widths = f" (every trial has d_width {first['d_width']}, g_width {first['g_width']})"
        raise _Skip(f"d_width/g_width was not swept{widths}")
    rows = [m for m in ("modes_captured", "high_quality_frac") if _has(s.runs, m)]
    if not rows:
        raise _Skip("the target has no discrete modes (modes_captured has no values)")
    r = s.runs.copy()
    order = [_fmt(v) for v in sorted(r["cap_ratio"].dropna().unique())]
    r["d/g width"] = r["cap_ratio"].map(_fmt)
    fig, axes = _figure(1, len(rows), w=PANEL_W + 0.6)
    palette = dict(zip(s.panels, sns.color_palette("colorblind", len(s.panels)), strict=True))
    for ax, m in zip(axes[0], rows, strict=True):
        sns.pointplot(
            r,
            x="d/g width",
            y=m,
            hue="panel",
            order=order,
            hue_order=s.panels,
            palette=palette,
            errorbar=ERRORBAR,
            dodge=0.3,
            markersize=5,
            legend=False,
            ax=ax,
        )
        ax.set(xlabel="d_width / g_width", ylabel=f"final {m}")
        if m == "high_quality_frac":
            ax.set_ylim(-0.03, 1.03)
        elif _has(r, "n_modes"):
            ax.axhline(r["n_modes"].max(), color="0.3", lw=0.8, ls="--")
            ax.set_ylim(0, r["n_modes"].max() * 1.12)
    fig.legend(
        [Line2D([], [], color=c, marker="o") for c in palette.values()],
        list(palette),
        loc="outside right upper",
        frameon=False,
        fontsize="small",
    )
    caption = (
        "Final mode coverage against the capacity ratio d_width/g_width (mean ± sd over runs); "
        "look for a discriminator so much larger than the generator that coverage drops."
        + _pooled(s, ["cap_ratio", "d_width", "g_width", "loss"])
    )
    return fig, caption


def fig_grad_norms(s: Study) -> tuple[Figure, str]:
    """8. Generator and discriminator gradient norms vs step, log scale."""
    h = _need_history(s)
    rows = [m for m in ("grad_norm_g", "grad_norm_d") if _has(h, m)]
    if not rows:
        raise _Skip("history.parquet has no gradient norms")
    fig, axes = _figure(len(rows), len(s.panels), sharex=True, sharey="row")
    for i, m in enumerate(rows):
        # The band is ±1 sd of log10(norm): a vanishing gradient spans decades, and an sd of
        # the raw norm would dip below zero on a log axis.
        positive = h[m].where(h[m] > 0)
        logged = h.assign(_log=np.log10(positive.replace(np.inf, np.nan)))
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = logged[logged["panel"] == panel]
            if not _has(d, "_log"):
                _note(ax, f"no finite {m}")
                continue
            sns.lineplot(
                d, x="step", y="_log", errorbar=ERRORBAR, legend=False, ax=ax, **_hue_kw(s)
            )
            ax.set_ylabel(f"{m}" if j == 0 else "")
            ax.set_xlabel("step" if i == len(rows) - 1 else "")
        # Plotted as log10, labelled with the norms themselves.
        axes[i, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{10**v:.2g}"))
    _title_top(axes, s.panels)
    _legend(fig, s)
    caption = (
        "Gradient norms of G and D parameters (log scale, geometric mean ± 1 sd over "
        "replicas); a generator gradient falling by decades while D's holds up is the "
        "vanishing gradient of a dominating D, expected for the saturating (minimax) loss."
        + _pooled(s, [s.hue or "", "loss"])
    )
    return fig, caption


# --- sample snapshots ---------------------------------------------------------------------


def _target_geometry(name: str, scale: Any, std: Any) -> tuple[np.ndarray | None, float | None]:
    """Mode centres (n_modes, dim) and per-mode std of a mixture target (targets.py is the
    one source of geometry and defaults); (None, None) for targets without modes."""
    scale = None if scale is None or pd.isna(scale) else float(scale)
    std = None if std is None or pd.isna(std) else float(std)
    target = make_target(name, scale=scale, std=std)
    if target.modes is None:
        return None, None
    return target.modes.numpy(), float(target.std)


@lru_cache(maxsize=8)
def _mixture_grid(modes_key: tuple, std: float, lim: tuple[float, float, float, float]):
    """Log density of an equal-weight isotropic Gaussian mixture on a plotting grid."""
    modes = np.array(modes_key)  # (n_modes, 2)
    # Fine enough that a mode's 3σ circle spans several cells even at std 0.02.
    n = int(min(900, max(300, (lim[1] - lim[0]) / (std / 2))))
    gx, gy = np.linspace(lim[0], lim[1], n), np.linspace(lim[2], lim[3], n)
    xx, yy = np.meshgrid(gx, gy)  # (n, n)
    return gx, gy, mixture_log_density(np.stack([xx, yy], -1), modes, std)


def mixture_log_density(x: np.ndarray, modes: np.ndarray, std: float) -> np.ndarray:
    """log p(x) of an equal-weight mixture of N(mode, std² I); x (..., dim) -> (...)."""
    mixture = GaussianMixture("plot", torch.as_tensor(modes, dtype=torch.float64), std)
    return mixture.log_prob(torch.as_tensor(x, dtype=torch.float64)).numpy()


def _pick_runs(s: Study, available: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """Best, worst and one run per outcome not yet shown (at most 6), by the study metric."""
    runs = s.runs.merge(available, on=RUN)
    if runs.empty:
        return []
    ascending = s.mode != "max"
    if s.metric in runs:
        runs = runs.sort_values(s.metric, ascending=ascending, na_position="last")
    chosen: list[tuple[str, pd.Series]] = [("best", runs.iloc[0])]
    if len(runs) > 1:
        chosen.append(("worst", runs.iloc[-1]))
    seen = {(r["trial_id"], r["replica"]) for _, r in chosen}
    shown = {r["outcome"] for _, r in chosen}
    for outcome in [*OUTCOMES, NO_OUTCOME]:
        if outcome in shown:
            continue
        match = runs[runs["outcome"] == outcome]
        pairs = zip(match["trial_id"], match["replica"], strict=True)
        match = match[[pair not in seen for pair in pairs]]
        if len(match):
            chosen.append((outcome, match.iloc[0]))
            seen.add((match.iloc[0]["trial_id"], match.iloc[0]["replica"]))
        if len(chosen) >= 6:
            break
    return chosen


def _describe(s: Study, run: pd.Series) -> str:
    main = [c for c in ("loss", "k", "lr_ratio", "cap_ratio") if c in run]
    keys = [c for c in main if c in s.swept] or [c for c in s.swept if c in run][:3] or main
    return ", ".join(f"{LABELS.get(c, c)}={_fmt(run[c])}" for c in keys) or str(run["trial_id"])


def fig_samples(s: Study) -> tuple[Figure, str]:
    """7. Generated points over the target density at a few steps, for chosen runs."""
    if s.samples is None:
        raise _Skip("samples.parquet is missing")
    cols = sorted(
        [c for c in s.samples.columns if c.startswith("x") and c[1:].isdigit()],
        key=lambda c: int(c[1:]),
    )
    dim = len(cols)
    target = str(s.runs["target"].iloc[0]) if "target" in s.runs else ""
    if dim not in (1, 2) and target != "curves":
        raise _Skip(
            f"samples are {dim}-dimensional and the target ({target or 'unknown'}) "
            "is neither 2-D nor `curves`"
        )
    available = s.samples[RUN].drop_duplicates()
    chosen = _pick_runs(s, available)
    if not chosen:
        raise _Skip("no sampled run matches a trial in the tables")
    by_run = {key: g for key, g in s.samples.groupby(RUN)}
    n_cols = min(
        4, max(len(by_run[(r["trial_id"], r["replica"])]["step"].unique()) for _, r in chosen)
    )
    side = 2.1 if dim == 2 else 2.7
    fig, axes = _figure(len(chosen), n_cols, w=side, h=side if dim == 2 else 2.0)
    for i, (why, run) in enumerate(chosen):
        g = by_run[(run["trial_id"], run["replica"])]
        steps = sorted(g["step"].unique())
        picks = [
            steps[j] for j in np.unique(np.linspace(0, len(steps) - 1, n_cols).round().astype(int))
        ]
        picks = [int(p) for p in picks]
        geometry = _target_geometry(
            str(run.get("target", target)), run.get("target_scale"), run.get("target_std")
        )
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(picks):
                ax.set_axis_off()
                continue
            pts = g.loc[g["step"] == picks[j], cols].to_numpy(dtype=float)
            if target == "curves" or dim > 2:
                _draw_curves(ax, pts)
            elif dim == 2:
                _draw_2d(ax, pts, *geometry)
            else:
                _draw_1d(ax, pts[:, 0], *geometry, _range_1d(g, *geometry))
            ax.set_title(f"step {picks[j]}", fontsize="small")
        # One setting per line: the label runs along a panel only ~2 inches tall.
        label = f"{why}: {run['outcome']}\n" + _describe(s, run).replace(", ", "\n")
        metric = run.get(s.metric)
        if metric is not None and pd.notna(metric):
            label += f"\n{s.metric} {metric:.3f}"
        axes[i, 0].set_ylabel(label, fontsize="x-small")
    caption = {
        2: "Generated points (blue) over the target's density contours (grey, 1–3σ) at "
        "evaluation steps, for the best and worst run and one run per outcome; look for "
        "points that spread onto every mode (converged) or pile onto a few (mode collapse).",
        1: "Histogram of generated samples at evaluation steps, over the target density where "
        "known, for the best and worst run and one run per outcome.",
    }.get(dim, "")
    if target == "curves" or dim > 2:
        caption = (
            "Generated curves (blue) over the band of the real family y = a·x² + (a−1), "
            "a ∈ [1, 2] (grey), for the best and worst run and one run per outcome; good "
            "generators draw smooth parabolas inside the band."
        )
    return fig, caption


def _draw_2d(ax: Any, pts: np.ndarray, modes: np.ndarray | None, std: float | None) -> None:
    if modes is not None and std is not None:
        extent = np.abs(modes).max() + max(1.0, 0.25 * np.abs(modes).max())
        lim = (-extent, extent, -extent, extent)
        gx, gy, logp = _mixture_grid(tuple(map(tuple, modes)), std, lim)
        # Contours at 1, 2, 3σ from a mode centre, relative to the peak density.
        levels = sorted(logp.max() - np.array([4.5, 2.0, 0.5]))
        ax.contourf(gx, gy, logp, levels=[levels[0], logp.max() + 1], colors=["0.88"])
        ax.contour(gx, gy, logp, levels=levels, colors="0.45", linewidths=0.5)
    else:
        finite = pts[np.isfinite(pts).all(1)]
        if len(finite) == 0:
            _note(ax, "no finite samples")
            return
        lo, hi = np.quantile(finite, [0.01, 0.99], axis=0)
        pad = 0.1 * (hi - lo).max() + 1e-3
        lim = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5, color="#3b6ea5", linewidths=0)
    outside = ~(
        (pts[:, 0] >= lim[0])
        & (pts[:, 0] <= lim[1])
        & (pts[:, 1] >= lim[2])
        & (pts[:, 1] <= lim[3])
    )
    if outside.any():
        ax.text(
            0.02,
            0.02,
            f"{outside.sum()} of {len(pts)} outside",
            transform=ax.transAxes,
            fontsize="xx-small",
            color="#a23344",
        )
    ax.set(xlim=lim[:2], ylim=lim[2:], xticks=[], yticks=[])
    ax.set_aspect("equal")


def _draw_curves(ax: Any, pts: np.ndarray) -> None:
    x = CURVE_X if pts.shape[1] == len(CURVE_X) else np.linspace(-1, 1, pts.shape[1])
    ax.fill_between(x, x**2, 2 * x**2 + 1, color="0.85", lw=0)
    for curve in pts[:12]:
        ax.plot(x, curve, color="#3b6ea5", lw=0.8, alpha=0.8)
    ax.set(ylim=(-0.5, 3.5), xticks=[-1, 0, 1])


def _draw_1d(
    ax: Any, x: np.ndarray, modes: np.ndarray | None, std: float | None, lim: tuple
) -> None:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        _note(ax, "no finite samples")
        return
    ax.hist(x, bins=np.linspace(*lim, 41), density=True, color="#3b6ea5", alpha=0.7)
    if modes is not None and std is not None:
        grid = np.linspace(*lim, 400)
        density = np.exp(mixture_log_density(grid[:, None], modes, std))
        ax.plot(grid, density, color="0.3", lw=1)
    ax.set(xlim=lim, yticks=[])


def _range_1d(g: pd.DataFrame, modes: np.ndarray | None, std: float | None) -> tuple:
    """One x-range per run, covering the target and the samples, so panels compare."""
    lo, hi = np.nanquantile(g["x0"].replace([np.inf, -np.inf], np.nan), [0.01, 0.99])
    if modes is not None and std is not None:
        lo, hi = min(lo, modes.min() - 4 * std), max(hi, modes.max() + 4 * std)
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


# --------------------------------------------------------------------------------------------
# Summary tables and findings
# --------------------------------------------------------------------------------------------


def summary_table(s: Study) -> pd.DataFrame:
    """Configurations ranked by the study metric: mean ± sd over replicas, outcome counts."""
    r = s.runs
    keys = [c for c in s.swept if c in r and c not in ("lr_ratio", "cap_ratio")]
    for derived in ("lr_ratio", "cap_ratio"):
        if derived in s.swept:
            keys.append(derived)
    grouped = r.groupby("trial_id", sort=False)
    table = grouped[keys].first() if keys else pd.DataFrame(index=grouped.size().index)
    table["replicas"] = grouped.size()
    if s.metric in r:
        # A replica without a value (diverged, NaN) leaves its configuration without a mean, so
        # it ranks last: averaging only the seeds that survived would flatter it. sd is over
        # replicas with ddof=1 (pandas' default), NaN for a single replica.
        values = grouped[s.metric]
        table[f"{s.metric}_mean"] = values.apply(lambda v: v.mean(skipna=False))
        table[f"{s.metric}_sd"] = values.apply(lambda v: v.std(skipna=False))
    counts = pd.crosstab(r["trial_id"], r["outcome"])
    for outcome in [*OUTCOMES, *[o for o in counts.columns if o not in OUTCOMES]]:
        table[outcome] = counts[outcome] if outcome in counts else 0
        table[outcome] = table[outcome].fillna(0).astype(int)
    table["majority"] = grouped["outcome"].apply(lambda o: _majority(o)[0])
    if f"{s.metric}_mean" in table:
        table = table.sort_values(
            f"{s.metric}_mean", ascending=s.mode != "max", na_position="last", kind="stable"
        )
    table = table.reset_index()
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def outcome_table(s: Study) -> pd.DataFrame:
    """Outcome counts per loss (runs = trial x replica)."""
    by = s.runs["loss"] if "loss" in s.runs else pd.Series("all runs", index=s.runs.index)
    table = pd.crosstab(by.rename("loss"), s.runs["outcome"])
    present = [o for o in [*OUTCOMES, NO_OUTCOME] if o in table] + [
        o for o in table if o not in OUTCOMES and o != NO_OUTCOME
    ]
    table = table[present]
    order = {name: i for i, name in enumerate(LOSS_ORDER)}
    table = table.loc[sorted(table.index, key=lambda v: (order.get(v, 99), v))]
    table["runs"] = table.sum(axis=1)
    table.columns.name = None  # crosstab's "outcome" label would print as a stray header row
    return table.reset_index()


def _frac(n: int, total: int) -> str:
    return f"{n}/{total}"


def _cell_name(s: Study, key: tuple) -> str:
    x, y, row = _grid_axes(s)
    parts = []
    if x and "k" in s.swept:
        parts.append(f"k={_fmt(key[1])}")
    if y and "lr_ratio" in s.swept:
        parts.append(f"lr_d/lr_g={_fmt(key[0])}")
    if row:
        parts.append(f"d_width/g_width={_fmt(key[2])}")
    return ", ".join(parts)


def _fold_change(s: Study, runs: pd.DataFrame, metric: str) -> float | None:
    """Median over runs of (first / last evaluation) of a metric; None when undefined."""
    if s.hist is None or metric not in s.hist:
        return None
    h = s.hist.merge(runs[RUN], on=RUN).sort_values("step")
    h = h[np.isfinite(h[metric]) & (h[metric] > 0)]
    ends = h.groupby(RUN)[metric].agg(["first", "last"])
    if ends.empty:
        return None
    return float((ends["first"] / ends["last"]).median())


def findings(s: Study) -> list[str]:
    """Sentences with numbers, generated from the tables (nothing here is hard-coded)."""
    out: list[str] = []
    r = _cells(s)
    total = len(r)
    counts = r["outcome"].value_counts()
    n_cfg = r["trial_id"].nunique()
    overview = ", ".join(f"{o} {_frac(int(n), total)}" for o, n in counts.items())
    out.append(
        f"{n_cfg} configuration{'s' * (n_cfg != 1)}, {total} run{'s' * (total != 1)} "
        f"(trial × replica): {overview}."
    )

    summary = summary_table(s)
    col = f"{s.metric}_mean"
    if col in summary and summary[col].notna().any():
        best = summary.iloc[0]
        run = r[r["trial_id"] == best["trial_id"]].iloc[0]
        sd = best[f"{s.metric}_sd"]
        spread = f" ± {sd:.3f}" if pd.notna(sd) else ""
        out.append(
            f"Best by {s.metric} ({s.mode}): {_describe(s, run)} — {best[col]:.3f}{spread} over "
            f"{int(best['replicas'])} replica{'s' * int(best['replicas'] != 1)}, "
            f"{best['majority']} in {int(best[best['majority']])}/{best['replicas']}."
        )

    # Failure regions of the phase diagram, one sentence per (loss, outcome).
    for panel in s.panels:
        d = r[r["panel"] == panel]
        for outcome in [o for o in SEVERITY if o not in ("converged", NO_OUTCOME)]:
            cells = []
            for key, cell in d.groupby(["_y", "_x", "_row"]):
                n = int((cell["outcome"] == outcome).sum())
                if n and _majority(cell["outcome"])[0] == outcome:
                    cells.append((n / len(cell), n, len(cell), key))
            if not cells:
                continue
            cells.sort(key=lambda c: (-c[0], -c[2]))
            where = [
                f"{_frac(n, t)} replicas"
                + (f" at {_cell_name(s, key)}" if _cell_name(s, key) else "")
                for _, n, t, key in cells[:3]
            ]
            more = f" (and {len(cells) - 3} more cells)" if len(cells) > 3 else ""
            text = f"{panel} ended {outcome} in " + "; ".join(where) + more
            hit = d[d["outcome"] == outcome]
            text += _evidence(s, outcome, hit)
            out.append(text + ".")

    # Saturating vs non-saturating generator loss: the paper's claim, measured.
    if "loss" in r and {"minimax", "nonsaturating"} <= set(r["loss"]):
        parts = []
        for loss in ("minimax", "nonsaturating"):
            d = r[r["loss"] == loss]
            conv = int((d["outcome"] == "converged").sum())
            g = d["grad_norm_g"].median() if "grad_norm_g" in d else float("nan")
            parts.append((loss, conv, len(d), g))
        text = (
            "Saturating vs non-saturating generator loss: minimax converged in "
            f"{_frac(parts[0][1], parts[0][2])} runs, nonsaturating in "
            f"{_frac(parts[1][1], parts[1][2])}"
        )
        if all(pd.notna(p[3]) for p in parts):
            text += f"; median final grad_norm_g {parts[0][3]:.3g} vs {parts[1][3]:.3g}"
        out.append(text + ".")

    out += _calibration_findings(s)

    # Replicas of one configuration that disagree: the spread a single seed would hide.
    split = r.groupby("trial_id")["outcome"].nunique()
    split = split[split > 1]
    if len(split):
        example = r[r["trial_id"] == split.index[0]]
        what = ", ".join(f"{o} {n}" for o, n in example["outcome"].value_counts().items())
        out.append(
            f"{len(split)} of {n_cfg} configurations had replicas ending in different outcomes "
            f"(e.g. {_describe(s, example.iloc[0])}: {what})."
        )
    elif total > n_cfg:
        out.append("Every configuration's replicas agreed on the outcome.")
    return out


def _evidence(s: Study, outcome: str, hit: pd.DataFrame) -> str:
    """Numbers that back an outcome label, from the runs that got it."""
    if outcome == "d_dominates":
        text = ""
        fold = _fold_change(s, hit, "grad_norm_g")
        if fold is not None and fold > 1:
            text += f"; grad_norm_g fell {fold:.3g}× from first to last evaluation"
        elif fold is not None:
            text += f"; grad_norm_g rose {1 / fold:.3g}× from first to last evaluation"
        if _has(hit, "d_real") and _has(hit, "d_fake"):
            text += (
                f", ending at D(x_real) {hit['d_real'].mean():.2f} vs "
                f"D(G(z)) {hit['d_fake'].mean():.2f}"
            )
        return text
    if outcome == "mode_collapse" and _has(hit, "modes_captured"):
        n_modes = hit["n_modes"].max() if _has(hit, "n_modes") else float("nan")
        of = f" of {n_modes:g}" if pd.notna(n_modes) else ""
        return f"; modes captured at the end {hit['modes_captured'].mean():.1f}{of} on average"
    if outcome == "diverged" and s.hist is not None:
        h = s.hist.merge(hit[RUN], on=RUN)
        bad = h[~np.isfinite(h["loss_d"])] if "loss_d" in h else h.iloc[:0]
        if len(bad):
            first = bad.groupby(RUN)["step"].min()
            return f"; non-finite losses from step {int(first.min())} (median {first.median():g})"
    if outcome == "oscillating" and s.hist is not None and _has(s.hist, "js_binned"):
        h = s.hist.merge(hit[RUN], on=RUN)
        late = h[h["step"] >= h["step"].max() / 2]
        sd = late.groupby(RUN)["js_binned"].std().median()
        if pd.notna(sd):
            return f"; js_binned swung by sd {sd:.3f} nats over the second half of training"
    return ""


def _calibration_findings(s: Study) -> list[str]:
    data = s.hist if _has(s.hist, "js_binned") else s.runs
    out = []
    if not _has(data, "js_binned"):
        return out
    for m in ("js_d", "js_probe"):
        if not _has(data, m):
            continue
        d = data[data["js_binned"].notna() & data[m].notna()]
        gap = d["js_binned"] - d[m]
        n_above = int((gap < 0).sum())
        if s.hue:
            by = d.assign(gap=gap).groupby("_hue", observed=True)["gap"].median()
            parts = [f"{gap_v:.3f} nats at {label}" for label, gap_v in by.items()]
            trend = ""
            # A trend only where the medians move by more than noise-level amounts.
            moved = by.max() - by.min() >= max(0.02, 0.2 * by.abs().max())
            if len(by) > 2 or (len(by) == 2 and s.hue == "k"):
                if not moved:
                    trend = f" — about the same at every {LABELS.get(s.hue, s.hue)}"
                elif by.is_monotonic_decreasing:
                    trend = f" — tighter as {LABELS.get(s.hue, s.hue)} grows"
                elif by.is_monotonic_increasing:
                    trend = f" — looser as {LABELS.get(s.hue, s.hue)} grows"
            text = f"{m} fell below js_binned by a median of " + ", ".join(parts) + trend
        else:
            text = f"{m} fell below js_binned by a median of {gap.median():.3f} nats"
        text += (
            f"; {n_above} of {len(gap)} values ({n_above / len(gap):.1%}) exceeded the "
            "reference (estimation noise: a lower bound should not)."
            if n_above
            else "; it never exceeded the reference, as a lower bound should not."
        )
        out.append(text)
    return out


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

FIGURES: list[tuple[str, str, Callable[[Study], tuple[Figure, str]]]] = [
    ("01_js_trajectories", "1. JS divergence trajectories", fig_js),
    ("02_d_outputs", "2. Discriminator outputs", fig_d_outputs),
    ("03_phase_diagram", "3. Phase diagram: balance or collapse?", fig_phase),
    ("04_final_heatmaps", "4. Final metric heatmaps", fig_final_heatmaps),
    ("05_estimator_calibration", "5. Estimator calibration", fig_calibration),
    ("06_mode_coverage", "6. Mode coverage over training", fig_coverage),
    ("06b_coverage_vs_capacity", "6b. Mode coverage vs capacity ratio", fig_coverage_capacity),
    ("07_sample_snapshots", "7. Sample snapshots", fig_samples),
    ("08_grad_norms", "8. Gradient norms", fig_grad_norms),
]
HEADLINE = "03_phase_diagram"  # shown first on the page


@dataclass
class Rendered:
    """One figure of the report: its PNG and caption, or why it was skipped."""

    key: str
    title: str
    caption: str = ""
    png: Path | None = None
    skipped: str | None = None


def build_report(
    study_dir: str | Path | None = None,
    *,
    out: Path | None = None,
    fmt: Format = "html",
    progress: Callable[[str], None] | None = print,
) -> Path:
    """Render a study's figures, summary.csv and (fmt="html") a self-contained index.html.

    study_dir: a `results/<name>` folder; None picks the most recently written one under
    ./results. out: where to write (default `<study_dir>/report`). Returns the index.html
    path, or the output folder for fmt="png". Raises StudyError when the folder is not a
    study (no trials.parquet or history.parquet).
    """
    if fmt not in ("html", "png"):
        raise StudyError(f"format: got {fmt!r}; expected html or png")
    say = progress or (lambda _msg: None)
    study = load_study(find_latest_study() if study_dir is None else study_dir)
    out = Path(out) if out is not None else study.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    rendered = []
    for i, (key, title, make) in enumerate(FIGURES, 1):
        say(f"report {study.name}: [{i}/{len(FIGURES)}] {title.split('. ', 1)[-1]}")
        item = Rendered(key, title)
        png = out / f"{key}.png"
        try:
            with sns.axes_style("ticks"), sns.plotting_context("notebook", font_scale=0.8):
                fig, item.caption = make(study)
                fig.savefig(png, dpi=DPI)
            item.png = png
        except _Skip as skip:
            item.skipped = str(skip)
            png.unlink(missing_ok=True)  # a stale PNG from an earlier report would mislead
        rendered.append(item)

    summary = summary_table(study)
    outcomes = outcome_table(study)
    summary.to_csv(out / "summary.csv", index=False)
    outcomes.to_csv(out / "outcomes.csv", index=False)
    text = findings(study)
    (out / "findings.md").write_text("".join(f"- {line}\n" for line in text))
    if fmt == "png":
        say(f"report {study.name}: done in {time.perf_counter() - start:.1f}s")
        return out
    index = out / "index.html"
    index.write_text(_html(study, rendered, summary, outcomes, text), encoding="utf-8")
    say(f"report {study.name}: done in {time.perf_counter() - start:.1f}s")
    return index


def report_command(study_dir: str | Path | None, out: str | Path | None, fmt: Format) -> int:
    """`ganstudy report`: build the report, print its path; exit 2 for a folder with no study."""
    try:
        path = build_report(study_dir, out=Path(out) if out is not None else None, fmt=fmt)
    except StudyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _table_html(table: pd.DataFrame, s: Study, *, limit: int | None = None) -> str:
    shown = table.head(limit) if limit else table
    shown = shown.copy()
    mean, sd = f"{s.metric}_mean", f"{s.metric}_sd"
    if mean in shown:
        shown[mean] = [
            f"{m:.4f} ± {d:.4f}" if pd.notna(d) else (f"{m:.4f}" if pd.notna(m) else "–")
            for m, d in zip(shown[mean], shown[sd], strict=True)
        ]
        shown = shown.drop(columns=[sd]).rename(columns={mean: f"{s.metric} (mean ± sd)"})
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            shown[col] = shown[col].map(lambda v: "–" if pd.isna(v) else _fmt(v))
    shown.columns = [LABELS.get(c, c) for c in shown.columns]
    return shown.to_html(index=False, escape=True, border=0, classes="table")


def _png_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1400px;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem} .meta{color:#555;font-size:.9rem}
.notes{background:#fff4e0;border-left:4px solid #edae49;padding:.5rem 1rem;margin:1rem 0}
figure{margin:2rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#333;font-size:.95rem;max-width:75rem}
.skipped{color:#777;font-style:italic}
table.table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.table th,table.table td{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem}
"""


def _html(
    s: Study,
    rendered: list[Rendered],
    summary: pd.DataFrame,
    outcomes: pd.DataFrame,
    text: list[str],
) -> str:
    esc = html.escape
    swept = []
    for c in s.swept:
        if c in ("lr_ratio", "cap_ratio"):
            continue
        values = sorted(s.runs[c].dropna().unique(), key=lambda v: (str(type(v)), v))
        swept.append(f"{esc(c)} ∈ {{{esc(', '.join(_fmt(v) for v in values))}}}")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ganstudy report: {esc(s.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>ganstudy report: {esc(s.name)}</h1>",
        f"<p class='meta'>Study folder <code>{esc(str(s.path))}</code> · "
        f"{s.runs['trial_id'].nunique()} configurations, {len(s.runs)} runs · study metric "
        f"<code>{esc(s.metric)}</code> ({esc(s.mode)}) · generated "
        f"{esc(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        f"<p class='meta'>Swept: {'; '.join(swept) or 'nothing (a single configuration)'}</p>",
    ]
    if s.notes:
        parts.append("<div class='notes'><strong>Incomplete study.</strong><ul>")
        parts += [f"<li>{esc(n)}</li>" for n in s.notes]
        parts.append("</ul></div>")
    parts.append("<h2>Findings</h2><ul>")
    parts += [f"<li>{esc(line)}</li>" for line in text]
    parts.append("</ul>")
    order = sorted(rendered, key=lambda r: r.key != HEADLINE)  # headline first, rest in order
    for item in order[:1]:
        parts.append(_figure_html(item))
    parts.append(f"<h2>Best configurations by {esc(s.metric)}</h2>")
    parts.append(
        f"<p class='meta'>Mean ± sd over replicas; top {min(10, len(summary))} of "
        f"{len(summary)} (all in summary.csv).</p>"
    )
    parts.append(_table_html(summary, s, limit=10))
    parts.append("<h2>Outcomes per loss</h2>")
    parts.append(outcomes.to_html(index=False, escape=True, border=0, classes="table"))
    parts.append("<h2>Figures</h2>")
    parts += [_figure_html(item) for item in order[1:]]
    parts.append("<h2>Study as run</h2>")
    parts.append(
        f"<details><summary>spec.yaml</summary><pre>{esc(yaml.safe_dump(s.spec))}</pre></details>"
    )
    parts.append(
        "<details><summary>environment.json</summary><pre>"
        f"{esc(json.dumps(s.environment, indent=2, default=str))}</pre></details>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _figure_html(item: Rendered) -> str:
    esc = html.escape
    anchor = f"<h3 id='{item.key}'>{esc(item.title)}</h3>"
    if item.png is None:
        return f"{anchor}<p class='skipped'>Skipped: {esc(item.skipped or '')}.</p>"
    return (
        f"{anchor}<figure><img src='{_png_data(item.png)}' alt='{esc(item.title)}'>"
        f"<figcaption>{esc(item.caption)}</figcaption></figure>"
    )
