"""Outcome rates per swept setting: for each setting, the share of runs per outcome at each
of its values, with the 95% Wilson interval of the converged share."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ganstudy.columns import OUTCOMES
from ganstudy.report.cells import PANEL_SETTINGS, label, laid_out
from ganstudy.report.figures.dirac import grid_drawn
from ganstudy.report.sampled import axis_values, bins_note
from ganstudy.report.study import NO_OUTCOME, Study, fmt
from ganstudy.report.style import OUTCOME_COLORS, PANEL_W, Skip, figure

HALO = [patheffects.withStroke(linewidth=3, foreground="white")]  # visible on dark bars


def fig_outcome_rates(s: Study) -> tuple[Figure, str]:
    """Per swept setting, the outcome shares of the runs at each of its values."""
    from ganstudy.report.findings import wilson  # findings imports the figures package

    settings = [c for c in PANEL_SETTINGS if c in s.swept] + laid_out(s)
    if not settings:
        raise Skip("nothing was swept: the outcome counts are the findings' one line")
    r = s.runs
    names = [o for o in [*OUTCOMES, NO_OUTCOME] if (r["outcome"] == o).any()]
    most = max(r[c].nunique() for c in settings)
    ncols = min(3, len(settings))
    nrows = -(-len(settings) // ncols)
    fig, axes = figure(nrows, ncols, w=PANEL_W + 0.4, h=0.3 * most + 1.1)
    for ax, c in zip(axes.flat, settings, strict=False):
        values = axis_values(s, r[c])
        order = sorted(values.dropna().unique(), key=lambda v: (str(type(v)), v))
        shares = pd.crosstab(values, r["outcome"]).reindex(index=order, columns=names).fillna(0)
        totals = shares.sum(axis=1)
        left = np.zeros(len(order))
        for o in names:
            frac = (shares[o] / totals).to_numpy()
            ax.barh(range(len(order)), frac, 0.7, left=left, color=OUTCOME_COLORS.get(o, "0.5"))
            left += frac
        hits = shares["converged"] if "converged" in shares else 0 * totals
        for i, (n, total) in enumerate(zip(hits, totals, strict=True)):
            low, high = wilson(int(n), int(total))
            ax.plot([low, high], [i, i], color="black", lw=1.2, path_effects=HALO)
            ax.text(1.02, i, f"{int(n)}/{int(total)}", va="center", fontsize="x-small")
        ax.set_yticks(range(len(order)), [fmt(v) for v in order])
        ax.set_ylim(len(order) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.set_title(label(c), fontsize="medium")
        ax.set_xlabel("share of runs")
    for ax in list(axes.flat)[len(settings) :]:
        ax.set_axis_off()
    fig.legend(
        [Patch(color=OUTCOME_COLORS.get(o, "0.5")) for o in names],
        names,
        loc="outside right upper",
        frameon=False,
        fontsize="small",
        title="outcome",
    )
    caption = (
        "Outcome shares per swept setting: each panel splits all runs by one setting ("
        + ", ".join(label(c) for c in settings)
        + "), a bar holding every run at that value across the other settings' values; the "
        "black line is the 95% Wilson interval of the converged share and the numbers the "
        "converged runs of all. Where the bars of one panel differ, that setting changes "
        "the outcome; "
        + (
            "the phase diagram shows the settings jointly."
            if grid_drawn(s)
            else "the (θ, ψ) figure shows each configuration on its own."
        )
        + bins_note(s, {c: r[c] for c in settings})
    )
    return fig, caption
