"""Collapse as it happens: mode occupancy over time for a few picked runs (modes.parquet),
the modes each configuration keeps, and collapse onsets over the phase-diagram grid."""

from __future__ import annotations

from textwrap import fill
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ganstudy.columns import why_nan
from ganstudy.report.cells import label as setting_label
from ganstudy.report.cells import layout
from ganstudy.report.figures.grid import grid_caption, grid_figure
from ganstudy.report.occupancy import (
    COUNTED,
    MAX_MODES_SHOWN,
    has_occupancy,
    label,
    left_out,
    min_count,
    occupancy,
    onset_counted,
    onsets,
    pick_runs,
    with_onsets,
)
from ganstudy.report.study import RUN, Study, fmt, has
from ganstudy.report.style import PANEL_H, PANEL_W, Skip, figure

OCCUPANCY_CMAP = "mako_r"
TITLE_CHARS = 52  # characters of a "small" title line that fit one occupancy panel
NEVER = "0.75"  # grey: a run that never lost a mode it had held
NOT_COUNTED = "white"  # a run whose onset means no collapse (occupancy.ONSET_OUTCOMES)


def fig_occupancy(s: Study) -> tuple[Figure, str]:
    """Mode x step heatmaps of high-quality counts for the runs pick_runs chooses."""
    if s.modes is None:
        raise Skip("modes.parquet is missing (a study run before it existed)")
    if s.modes.empty:
        raise Skip("no mode held a high-quality sample at any eval (modes.parquet has no rows)")
    if not has_occupancy(s):
        raise Skip(f"the target has one mode or none: {why_nan('modes_captured')}")
    picks = pick_runs(s)
    if not picks:
        raise Skip("no run has occupancy rows")
    tables = [occupancy(s, p.trial_id, p.replica) for p in picks]
    shown = []
    for table in tables:  # a 1,000-mode target: the busiest modes of the run only
        if len(table) > MAX_MODES_SHOWN:
            busiest = table.sum(axis=1).nlargest(MAX_MODES_SHOWN).index.sort_values()
            table = table.loc[busiest]
        shown.append(table)
    vmax = max(float(np.nanmax(t.to_numpy())) if t.notna().any().any() else 1 for t in shown)
    norm = LogNorm(vmin=1, vmax=max(vmax, 2))
    ncols = 2 if len(picks) == 4 else len(picks)
    nrows = -(-len(picks) // ncols)
    n_rows = max(len(t) for t in shown)
    h = max(PANEL_H, 0.9 + 0.12 * min(n_rows, MAX_MODES_SHOWN))
    fig, axes = figure(nrows, ncols, w=PANEL_W + 1.4, h=h)
    mesh = None
    for ax, pick, table in zip(axes.flat, picks, shown, strict=False):
        values = table.to_numpy(dtype=float)
        sns.heatmap(
            table,
            mask=~(values > 0),  # 0 (and NaN: diverged) left white
            cmap=OCCUPANCY_CMAP,
            norm=norm,
            vmin=norm.vmin,  # seaborn's own range search warns on an all-empty run
            vmax=norm.vmax,
            cbar=False,
            xticklabels=max(1, len(table.columns) // 6),
            yticklabels=max(1, len(table) // 12),
            ax=ax,
        )
        mesh = ax.collections[0] if ax.collections else mesh
        dead = np.isnan(values).all(axis=0)
        for j in np.nonzero(dead)[0]:  # diverged evals: grey, not an empty mode
            ax.axvspan(j, j + 1, color="0.85", lw=0)
        ax.set_facecolor("white")
        ax.set(xlabel="step", ylabel="mode")
        ax.tick_params(axis="y", rotation=0)
        ax.tick_params(axis="x", rotation=0, labelsize="small")
        # Wrapped to the panel's width: a long configuration name (four swept settings on
        # digits) ran past the panel and was cut off.
        title = [f"{label(s, pick.trial_id)} · replica {pick.replica}", "; ".join(pick.reasons)]
        ax.set_title("\n".join(fill(line, TITLE_CHARS) for line in title), fontsize="small")
    for ax in list(axes.flat)[len(picks) :]:
        ax.set_axis_off()
    if mesh is not None:
        bar = fig.colorbar(mesh, ax=list(axes.flat), shrink=0.8, pad=0.01)
        bar.set_label("high-quality samples in the mode")
        thresholds = sorted({min_count(s, p.trial_id) for p in picks})
        for t in thresholds:
            if t > 1:
                bar.ax.axhline(t, color="#d1495b", lw=1.2)
    threshold = " / ".join(str(min_count(s, p.trial_id)) for p in picks[:1])
    caption = (
        "Mode occupancy over training: each panel is one run (a trial's replica), each row a "
        "mode, each column an eval; colour is the number of the eval's coverage samples that "
        "are high quality and in that mode (log scale; white: none; grey columns: the "
        f"replica had diverged). A mode is captured with ≥ {threshold} (coverage_min_count, "
        "the red line on the colour bar), so a column's captured cells are its "
        "modes_captured. Runs picked from the tables: among the "
        f"{COUNTED}, the most mode hopping (the most times a captured mode was no longer "
        "captured at the next eval: a G moving between modes, as in Metz et al.'s figure) "
        "and the latest and the earliest collapse onset (collapse_onset); for contrast, the "
        "run with the most modes at the end; each title says why."
    )
    if any(len(t) < len(full) for t, full in zip(shown, tables, strict=True)):
        caption += f" Only each run's {MAX_MODES_SHOWN} busiest modes are drawn."
    return fig, caption


def fig_modes_kept(s: Study) -> tuple[Figure, str]:
    """Each run's final modes captured per configuration, coloured by collapse onset."""
    if not has(s.runs, "modes_captured") or not has(s.runs, "n_modes"):
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    r = s.runs[s.runs["modes_captured"].notna()].copy()
    if r["n_modes"].max() <= 1:
        raise Skip("the target has a single mode")
    r = with_onsets(s, r)
    # A run whose onset is not counted (a not_fitted cloud, ...) is drawn hollow, never
    # coloured by an onset nor grey as "never lost a mode".
    r["_onset"] = r["_onset"].where(r["_counted"])
    by_target = "target" in s.swept
    groups = list(r.groupby("target")) if by_target else [("", r)]
    n_configs = max(d["trial_id"].nunique() for _, d in groups)
    if n_configs < 2:
        raise Skip("one configuration per target: nothing to compare")
    if n_configs > 40:
        raise Skip(f"{n_configs} configurations per target: too many to read one by one")
    finite = r["_onset"].dropna()
    norm = Normalize(finite.min(), finite.max()) if len(finite) else Normalize(0, 1)
    cmap = sns.color_palette("rocket", as_cmap=True)
    w = max(PANEL_W, 0.32 * n_configs + 1.5)
    fig, axes = figure(1, len(groups), w=w, h=PANEL_H + 1.6)
    for ax, (target, d) in zip(axes[0], groups, strict=True):
        skip = ("target",)
        order = d.groupby("trial_id")["modes_captured"].median().sort_values(ascending=False)
        names = [label(s, t, skip) for t in order.index]
        x = d["trial_id"].map({t: i for i, t in enumerate(order.index)}).to_numpy(float)
        # The replicas side by side within ±0.22 of their column, so equal counts (all 8
        # modes, say) show as separate dots rather than one.
        rank = d.groupby("trial_id").cumcount().to_numpy()
        n = d.groupby("trial_id")["trial_id"].transform("size").to_numpy()
        x = x + np.where(n > 1, (rank - (n - 1) / 2) * 0.44 / np.maximum(n - 1, 1), 0.0)
        colours = [
            NOT_COUNTED if not counted else NEVER if np.isnan(o) else cmap(norm(o))
            for o, counted in zip(d["_onset"], d["_counted"], strict=True)
        ]
        ax.scatter(x, d["modes_captured"], c=colours, s=22, edgecolors="0.2", linewidths=0.4)
        ax.scatter(range(len(order)), order.to_numpy(), marker="_", s=250, color="0.1", lw=1.5)
        n_modes = d["n_modes"].max()
        ax.axhline(n_modes, color="0.3", lw=0.8, ls="--")
        ax.set_ylim(-0.05 * n_modes, n_modes * 1.08)
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize="x-small")
        ax.set(ylabel="modes captured at the end", xlabel="")
        ax.set_title(f"{target} ({n_modes:g} modes)" if target else f"{n_modes:g} modes")
    if len(finite):
        bar = fig.colorbar(
            sns.mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat), shrink=0.8
        )
        bar.set_label("collapse_onset (step)")
    return fig, _modes_kept_legend(fig, left_out(r["outcome"]))


def _modes_kept_legend(fig: Figure, excluded: str) -> str:
    """The modes-kept figure's legend (hollow dots only where runs were left out) and its
    caption."""
    handles = [
        Line2D([], [], marker="o", ls="", color=NEVER, markeredgecolor="0.2"),
        Line2D([], [], marker="_", ls="", color="0.1", markersize=12),
    ]
    names = ["never lost a mode it held", "median over replicas"]
    if excluded:
        handles.insert(1, Line2D([], [], marker="o", ls="", color=NOT_COUNTED, mec="0.2"))
        names.insert(1, "onset not counted")
    fig.legend(handles, names, loc="outside lower right", frameon=False, fontsize="small")
    caption = (
        "Modes captured at the end of each run, one column per configuration (best median "
        "first, the bar is the median over replicas, dots the replicas side by side), "
        "coloured by collapse_onset: the first eval from which the run stays below the most "
        "modes it had captured (grey: it never lost a mode it held). The dashed line is all "
        f"of the target's modes. Onsets are counted only for {COUNTED}"
    )
    caption += f"; hollow dots are the runs left out: {excluded}." if excluded else "."
    return caption


def fig_onset_grid(s: Study) -> tuple[Figure, str]:
    """The phase-diagram grid coloured by collapse onset: median over the counted runs of a
    cell (occupancy.ONSET_OUTCOMES) that lost modes, how many did, and how many of the
    cell's runs were left out."""
    if not has(s.runs, "modes_captured") or not has(s.runs, "n_modes"):
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    if s.runs["n_modes"].max() <= 1:
        raise Skip("the target has a single mode")
    counted = onset_counted(s)
    every_onset = onsets(s)
    runs_onset = every_onset.where(counted.reindex(every_onset.index, fill_value=False))
    key = pd.DataFrame({"_onset": runs_onset, "_counted": counted}).reset_index()
    finite = runs_onset.dropna()  # none: every cell says "never", which is a finding too
    norm = Normalize(finite.min(), finite.max()) if len(finite) else Normalize(0, 1)
    cmap = sns.color_palette("rocket", as_cmap=True)
    empty = []  # cells where no run counts

    def draw(ax: Any, d: pd.DataFrame, xs: list, ys: list, _block: str) -> None:
        d = d.merge(key, on=RUN, how="left")
        d["_counted"] = d["_counted"].fillna(False).astype(bool)
        median = np.full((len(ys), len(xs)), np.nan)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for (yv, xv), cell in d.groupby(["_y", "_x"]):
            i, j = ys.index(yv), xs.index(xv)
            median[i, j], text[i, j] = _onset_cell(cell)
            if text[i, j].startswith("none"):
                ax.add_patch(
                    Rectangle((j, i), 1, 1, facecolor="white", hatch="//", edgecolor="0.8", lw=0)
                )
                empty.append((i, j))
        ax.set_facecolor(NEVER)
        sns.heatmap(
            median,
            cmap=cmap,
            norm=norm,
            vmin=norm.vmin,  # seaborn's own range search warns on an all-NaN grid
            vmax=norm.vmax,
            annot=text,
            fmt="",
            cbar=False,
            linewidths=1,
            linecolor="white",
            xticklabels=[fmt(v) for v in xs],
            yticklabels=[fmt(v) for v in ys],
            annot_kws={"fontsize": 8},
            ax=ax,
        )
        ax.tick_params(axis="y", rotation=0)
        for i, j in zip(*np.nonzero(np.isnan(median)), strict=True):  # seaborn skips NaN cells
            ax.text(j + 0.5, i + 0.5, text[i, j], ha="center", va="center", fontsize=8)

    fig, axes, _ = grid_figure(s, draw)
    if len(finite):
        bar = fig.colorbar(
            sns.mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=list(axes.flat), shrink=0.8
        )
        bar.set_label("median collapse_onset (step)")
    return fig, _onset_grid_caption(s, hatched=bool(empty))


def _onset_cell(cell: pd.DataFrame) -> tuple[float, str]:
    """One cell of the onset grid: the median onset of its counted runs that lost modes (NaN
    where none did or none counts) and its label ('none counted' where no run counts)."""
    kept = cell[cell["_counted"]]
    out = len(cell) - len(kept)
    lost = kept["_onset"].dropna()
    if not len(kept):
        return np.nan, f"none\ncounted\n{out} left out"
    head = f"{lost.median():g}" if len(lost) else "never"
    label = f"{head}\n{len(lost)}/{len(kept)}" + (f"\n{out} left out" if out else "")
    return (lost.median() if len(lost) else np.nan), label


def _onset_grid_caption(s: Study, hatched: bool) -> str:
    """What the onset grid draws, which runs it counts and which it leaves out."""
    lay = layout(s)
    where = " × ".join(setting_label(c) for c in lay.settings) or "one cell per panel"
    excluded = left_out(s.runs["outcome"])
    caption = (
        f"Collapse onset over the phase diagram's grid ({where}): per cell the median "
        "collapse_onset of the counted runs that ended with fewer modes than they had held, "
        "and how many of the cell's counted runs did (grey 'never': none did). Early onsets "
        "(dark) are configurations that lost modes soon and never regained them. Counted "
        f"are only the {COUNTED}"
    )
    if excluded:
        caption += f"; left out: {excluded}, each cell saying how many of its runs" + (
            " (hatched: none of its runs counts)" if hatched else ""
        )
    return caption + "." + grid_caption(s, lay)
