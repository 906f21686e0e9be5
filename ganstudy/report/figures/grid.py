"""Grid figures over the study's layout (cells.layout: k x lr_d/lr_g on balance, pack x
unroll on remedies, g_width x d_width on capacity; further swept settings as rows), one
panel per loss: the phase diagram of majority outcomes and the heatmaps of final metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ganstudy.columns import OUTCOMES
from ganstudy.report.cells import (
    ALL,
    Layout,
    axis_title,
    drawn_sentence,
    keyed,
    label,
    layout,
    majority,
    panel_name,
    row_order,
)
from ganstudy.report.figures.dirac import skip_dirac_grid
from ganstudy.report.sampled import bins_note
from ganstudy.report.study import NO_OUTCOME, RATIOS, Study, fmt, has
from ganstudy.report.style import OUTCOME_COLORS, OUTCOME_SHORT, Skip, figure, note


def grid_figure(
    s: Study,
    draw: Callable[[Any, pd.DataFrame, list, list, str], None],
    *,
    blocks: Sequence[str] = ("",),
) -> tuple[Figure, np.ndarray, list[tuple[str, Any]]]:
    """Panels per (block, row of small multiples) x loss; draw(ax, runs, xs, ys, block)
    fills one with the layout's x and y (cells.layout).

    A block is a metric of the heatmap figure (one row group each); the phase diagram has one.
    """
    lay = layout(s)
    r = keyed(s, s.runs, lay)
    xs = sorted(r["_x"].dropna().unique())
    ys = sorted(r["_y"].dropna().unique(), reverse=True)  # larger values on top
    rows = row_order(s, r, lay)
    tick = max((len(fmt(v)) for v in xs), default=1)  # wide tick labels need wide cells
    w = max(2.4, (0.75 + 0.05 * max(0, tick - 4)) * len(xs) + 1.3)
    h = max(2.0, 0.5 * len(ys) + 1.3)
    fig, axes = figure(len(blocks) * len(rows), len(s.panels), w=w, h=h)
    keys = []
    for b, block in enumerate(blocks):
        for i, rv in enumerate(rows):
            labelled = False  # the row's first drawn panel keeps the y labels ("not run" has none)
            for j, panel in enumerate(s.panels):
                ax = axes[b * len(rows) + i, j]
                d = r[(r["_row"] == rv) & (r["panel"] == panel)]
                if d.empty:
                    ax.set_axis_off()
                    note(ax, "not run")
                    continue
                draw(ax, d, xs, ys, block)
                ax.set_title(panel + (f"\n{rv}" if rv != ALL else ""), fontsize="medium")
                ax.set_xlabel(axis_title(lay.x))
                ax.set_ylabel(axis_title(lay.y) if not labelled else "")
                if labelled:
                    ax.set_yticklabels([])
                labelled = True
            keys.append((block, rv))
    return fig, axes, keys


def grid_caption(s: Study, lay: Layout) -> str:
    """What the grid figures draw where, and which axes are bins, from the layout."""
    return drawn_sentence(s, lay) + bins_note(s, {c: s.runs[c] for c in lay.settings})


def fig_phase(s: Study) -> tuple[Figure, str]:
    """Majority outcome per cell of the layout (k x lr_d/lr_g on balance), per loss."""
    skip_dirac_grid(s)
    names = [*OUTCOMES, NO_OUTCOME]
    cmap = ListedColormap([OUTCOME_COLORS[o] for o in names])

    def draw(ax: Any, d: pd.DataFrame, xs: list, ys: list, _block: str) -> None:
        codes = np.full((len(ys), len(xs)), np.nan)
        text = np.full((len(ys), len(xs)), "", dtype=object)
        for (yv, xv), cell in d.groupby(["_y", "_x"]):
            winner, n, total = majority(cell["outcome"])
            i, j = ys.index(yv), xs.index(xv)
            codes[i, j] = names.index(winner) if winner in names else names.index(NO_OUTCOME)
            # "?": the replicas disagree, so the cell's label is uncertain (a lone seed
            # could have drawn any of them).
            doubt = "?" if n < total else ""
            text[i, j] = f"{OUTCOME_SHORT.get(winner, winner)}{doubt}\n{n}/{total}"
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
            xticklabels=[fmt(v) for v in xs],
            yticklabels=[fmt(v) for v in ys],
            annot_kws={"fontsize": 8},
            ax=ax,
        )
        ax.tick_params(axis="y", rotation=0)

    fig, axes, _ = grid_figure(s, draw)
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
        "ties go to the worse outcome; '?' marks a cell whose replicas disagree, an uncertain "
        f"label); {_phase_hint(s, layout(s))}" + grid_caption(s, layout(s))
    )
    return fig, caption


# What growing each setting means for the balance of D and G, where it has a direction.
GROWS = {
    "k": "D gets more steps per G step (k)",
    **{name: f"{r.grows} ({r.label})" for name, r in RATIOS.items()},
    "d_width": "D grows wider (d_width)",
    "g_width": "G grows wider (g_width)",
    "pack": "D sees more samples at once (pack)",
    "unroll": "G looks further ahead of D (unroll)",
}


def _phase_hint(s: Study, lay: Layout) -> str:
    """What to look for, in terms of the settings drawn."""
    knobs = [GROWS.get(c, f"{label(c)} changes") for c in lay.settings]
    if knobs and (s.runs["outcome"] == "converged").any():
        return f"look for the boundary where training stops converging as {' or '.join(knobs)}."
    if knobs:  # no boundary of convergence to find: say what the colours can still show
        return f"no run converged; look for where the failure changes as {' or '.join(knobs)}."
    if len(s.panels) > 1:
        return f"only {panel_name(s)} varies here, so compare the panels."
    return "one configuration: its cell is the whole study."


def _heat_metrics(s: Study) -> list[str]:
    metrics = [m for m in ("js_binned", s.metric) if has(s.runs, m)]
    if not metrics and has(s.runs, "js_probe"):
        metrics = ["js_probe"]
    return list(dict.fromkeys(metrics))


def fig_final_heatmaps(s: Study) -> tuple[Figure, str]:
    """Final js_binned (and the study metric) over the same grid as the phase diagram."""
    skip_dirac_grid(s)
    metrics = _heat_metrics(s)
    if not metrics:
        raise Skip(f"no final value of js_binned or {s.metric}")
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
            xticklabels=[fmt(v) for v in xs],
            yticklabels=[fmt(v) for v in ys],
            annot_kws={"fontsize": 8},
            ax=ax,
        )
        ax.tick_params(axis="y", rotation=0)
        # Cells that ran but have no value (diverged, NaN) are grey, not silently blank.
        ran = d.groupby(["_y", "_x"]).size().unstack("_x").reindex(index=ys, columns=xs)
        for i, j in zip(*np.nonzero(ran.notna().to_numpy() & means.isna().to_numpy()), strict=True):
            ax.add_patch(Rectangle((j, i), 1, 1, color="0.9", lw=0))
            ax.text(j + 0.5, i + 0.5, "no value", ha="center", va="center", fontsize=7, color="0.4")

    fig, axes, keys = grid_figure(s, draw, blocks=metrics)
    for m in metrics:  # one colour bar per metric, spanning its rows
        rows = [axes[r] for r, (block, _) in enumerate(keys) if block == m]
        mesh = next((ax.collections[0] for row in rows for ax in row if ax.collections), None)
        if mesh is not None:
            bar = fig.colorbar(mesh, ax=[ax for row in rows for ax in row], shrink=0.9, pad=0.01)
            bar.set_label(f"final {m}" + (" (nats)" if m.startswith("js_") else ""))
    # Which shade a good cell has depends on the metric: a JS estimate is better small, the
    # study metric as the study ranks it (capacity maximises modes_captured: dark is good).
    lower = [m for m in metrics if m.startswith("js_") or (m == s.metric and s.mode != "max")]
    higher = [m for m in metrics if m not in lower]
    shades = [f"light in {' and '.join(lower)} (lower is better)"] if lower else []
    shades += [f"dark in {' and '.join(higher)} (higher is better)"] if higher else []
    caption = (
        f"Final {' and '.join(metrics)} averaged over replicas on the phase-diagram grid "
        "(darker = larger); read it against the phase diagram: converged cells should be "
        + " and ".join(shades)
        + "."
        + grid_caption(s, layout(s))
    )
    return fig, caption
