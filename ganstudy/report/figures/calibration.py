"""Estimator calibration: js_d and js_probe against js_binned, in the target kind's words.

On a toy with a known density js_binned is the reference and the area above y = x is shaded
as what a lower bound cannot reach; elsewhere (images: the JS of class histograms) js_binned
is a lower bound too, so nothing is shaded and neither side of y = x is called an error.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ganstudy.columns import why_nan
from ganstudy.report.figures.dirac import skip_for_dirac
from ganstudy.report.study import LABELS, Study, has
from ganstudy.report.style import LOG2, PANEL_H, PANEL_W, Skip, figure, hue_kw, legend
from ganstudy.report.words import words


def fig_calibration(s: Study) -> tuple[Figure, str]:
    """js_d and js_probe against js_binned, coloured by k, with y = x and the gap vs k."""
    skip_for_dirac(s, "calibration")
    data = s.hist if has(s.hist, "js_binned") else s.runs
    if not has(data, "js_binned"):
        raise Skip(
            f"js_binned has no values ({why_nan('js_binned')}), so there is "
            "no reference to calibrate against"
        )
    est = [m for m in ("js_d", "js_probe") if has(data, m)]
    if not est:
        raise Skip("neither js_d nor js_probe has values")
    d = data[data["js_binned"].notna()]
    w = words(s)
    ref = "reference" if w.has_reference else "js_binned"
    fig, axes = figure(1, len(est) + 1, w=PANEL_W + 0.2, h=PANEL_H + 0.8)
    for ax, m in zip(axes[0], est, strict=False):
        lim = (-0.02, LOG2 + 0.03)
        if w.has_reference:  # only a reference makes the area above y = x unreachable
            ax.fill_between([0, LOG2], [0, LOG2], [LOG2, LOG2], color="#d1495b", alpha=0.07, lw=0)
            ax.text(
                0.04,
                0.96,
                "shaded: above y = x, impossible\nfor a lower bound (noise)",
                transform=ax.transAxes,
                va="top",
                fontsize="x-small",
                color="#a23344",
            )
        ax.plot([0, LOG2], [0, LOG2], color="0.3", lw=1)
        sns.scatterplot(
            d, x="js_binned", y=m, s=14, alpha=0.6, linewidth=0, legend=False, ax=ax, **hue_kw(s)
        )
        ax.text(LOG2, LOG2, "y = x ", ha="right", va="bottom", fontsize="x-small", color="0.3")
        xlabel = "js_binned (reference, nats)" if w.has_reference else "js_binned (nats)"
        ax.set(xlim=lim, ylim=lim, xlabel=xlabel, ylabel=f"{m} (nats)")
        ax.set_aspect("equal")
        ax.set_title(f"{m} vs {ref}", fontsize="medium")
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
    ax.set_title(
        "how far below the reference" if w.has_reference else "js_binned − estimate",
        fontsize="medium",
    )
    ax.tick_params(axis="x", rotation=30 if len(order) > 4 else 0)
    ax.legend(fontsize="x-small", frameon=False)
    legend(fig, s)
    hue = LABELS.get(s.hue or "", s.hue or "the loss")
    if w.has_reference:
        caption = (
            "Estimator calibration: js_d (from the trial's own D) and js_probe (a fresh "
            "k-NN classifier) are lower bounds on the JS divergence, tight only for an optimal "
            "D, so they fall below the y = x line; the right panel shows how far below (mean, "
            f"95% CI) as a function of {hue} — a js_d gap that shrinks means the trial's D is "
            "closer to optimal."
        )
    else:
        caption = (
            f"js_d and js_probe against js_binned: {w.js_caption}, so points on either side "
            "of y = x are no error. The right panel shows js_binned "
            f"minus each estimate (mean, 95% CI) as a function of {hue}; a positive value says "
            "the estimate sees less than the histogram, a negative one more."
        )
    caption += " Points are all evaluation steps of all runs." if data is s.hist else ""
    return fig, caption
