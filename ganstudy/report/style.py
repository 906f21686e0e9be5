"""What every figure shares: its own Agg canvas, sizes, colours, the legend, empty panels.

Figures are drawn on `matplotlib.figure.Figure` objects with their own Agg canvas instead of
pyplot: the report renders headless, never switches the caller's backend (a notebook keeps
its inline backend) and leaves no open pyplot figures behind, which is what
`matplotlib.use("Agg")` would buy without its global side effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import OUTCOMES
from ganstudy.report.study import NO_OUTCOME, Study

LOG2 = math.log(2)
OUTCOME_COLORS = {
    "converged": "#3a9e5f",
    "mode_collapse": "#8e6bbf",
    "not_fitted": "#a8875e",
    "d_dominates": "#d1495b",
    "oscillating": "#edae49",
    "not_converged": "#6c9bc4",
    "diverged": "#30343f",
    NO_OUTCOME: "#d9d9d9",
}
OUTCOME_SHORT = {
    "converged": "conv",
    "mode_collapse": "collapse",
    "not_fitted": "not fit",
    "d_dominates": "D dom",
    "oscillating": "osc",
    "not_converged": "not conv",
    "diverged": "div",
    NO_OUTCOME: "n/a",
}
for _table in (OUTCOME_COLORS, OUTCOME_SHORT):  # a label added to columns.OUTCOMES needs both
    if set(_table) != {*OUTCOMES, NO_OUTCOME}:
        raise ImportError(f"report/style.py: outcome labels {sorted(_table)} != columns.OUTCOMES")
# Replica spread as a band; bootstrapped CIs over every step x hue x panel would cost seconds
# per figure, and the spread of training dynamics over seeds is what a GAN researcher reads.
# The band runs from the lowest to the highest run at each step (seaborn's 100% percentile
# interval), so it never leaves a metric's range (modes in [0, n_modes], fractions in
# [0, 1]), as a ±sd band does.
ERRORBAR = ("pi", 100)
BAND = "Band: lowest to highest over replicas."
DPI = 110
PANEL_W, PANEL_H = 3.3, 2.5  # inches per facet
SAMPLE_COLOR = "#3b6ea5"


def num(v: float, digits: int = 3) -> str:
    """A number to `digits` significant digits, whatever its size: 0.4567 -> '0.457',
    1.3e-9 -> '1.3e-09' (a fixed '.3f' would print 0.000), 12345.6 -> '12346' (no exponent
    for a number whose integer part already has the digits); '–' for NaN."""
    if v is None or not np.isfinite(v):
        return "–" if v is None or np.isnan(v) else str(v)
    if 10**digits <= abs(v) < 1e6:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


class Skip(Exception):
    """A figure that has nothing to show; the message is the reason given on the page."""


class FigureEntry(NamedTuple):
    """One figure of the report: file key, heading, and the function that draws it."""

    key: str
    title: str
    draw: Callable[[Study], tuple[Figure, str]]  # (figure, caption), or raises Skip


def figure(nrows: int, ncols: int, *, w: float = PANEL_W, h: float = PANEL_H, **kw: Any):
    """A constrained-layout figure on its own Agg canvas and its (nrows, ncols) axes."""
    legend_room = 1.6  # inches for the legend outside the panels
    fig = Figure(figsize=(w * ncols + legend_room, h * nrows + 0.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def hue_kw(s: Study) -> dict[str, Any]:
    """seaborn keywords that colour lines by the study's hue (one colour without one)."""
    if s.hue is None:
        return {"color": SAMPLE_COLOR}
    return {"hue": "_hue", "hue_order": s.hue_order, "palette": s.palette}


def legend(fig: Figure, s: Study, extra: Sequence[tuple[str, Any]] = ()) -> None:
    """One legend for the whole figure: hue entries, then extra (label, handle) pairs."""
    items = [(label, Line2D([], [], color=c, lw=2)) for label, c in s.palette.items()]
    figure_legend(fig, [*items, *extra])


def figure_legend(fig: Figure, items: Sequence[tuple[str, Any]]) -> None:
    """A figure's one legend of (label, handle) pairs, outside on the right (none if empty)."""
    if items:
        fig.legend(
            [handle for _, handle in items],
            [label for label, _ in items],
            loc="outside right upper",
            frameon=False,
            fontsize="small",
        )


def note(ax: Any, text: str) -> None:
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


def need_history(s: Study) -> pd.DataFrame:
    """The joined history, or Skip when the study has none."""
    if s.hist is None:
        raise Skip("history.parquet is missing, so there are no trajectories")
    return s.hist
