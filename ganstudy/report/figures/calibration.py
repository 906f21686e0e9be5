"""Estimator calibration: js_d and js_probe against js_binned, in the target kind's words.

On a toy with a known density js_binned is the reference and the area above y = x is shaded
as what a lower bound cannot reach; elsewhere (images: the JS of class histograms) js_binned
is a lower bound too, so nothing is shaded and neither side of y = x is called an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ganstudy.columns import why_nan
from ganstudy.report.cells import (
    PANEL_SETTINGS,
    keyed,
    laid_out,
    layout,
    panel_name,
    value_label,
)
from ganstudy.report.cells import label as setting_label
from ganstudy.report.figures.dirac import skip_for_dirac
from ganstudy.report.study import Study, fmt, has, listed
from ganstudy.report.style import LOG2, PANEL_H, PANEL_W, Skip, figure, hue_kw, legend
from ganstudy.report.words import Words, words

GROUP = "_group"  # the column calibration_groups adds: each row's group label


@dataclass(frozen=True)
class Groups:
    """How the calibration figure's gap panel and the Estimators findings group the evals."""

    order: list[str]  # the group labels in order ('' alone: one group)
    ticks: dict[str, str]  # label -> the short tick the figure prints
    name: str  # what the groups are: 'k', 'g_width × d_width', '' (one group)
    pooled: list[str]  # swept settings each group pools over (named, never silent)
    by_hue: bool  # grouped by the study's hue, so a trend "as <hue> grows" can be read
    # label -> {setting: value} of the layout's x and y where grouped by the layout
    values: dict[str, dict[str, object]] = field(default_factory=dict)


def calibration_groups(s: Study, data: pd.DataFrame) -> tuple[pd.DataFrame, Groups]:
    """`data` (history or runs) with a GROUP column, and what the groups are.

    By the study's hue where the layout draws it (k on balance, r1 on the Dirac-GAN: the
    setting whose trend is the question). Where the hue is a ratio whose two parts the
    layout draws instead (capacity's d_width/g_width, with g_width × d_width on the grid), by
    the layout's settings: the ratio would pool distinct configurations (32/32 with
    128/128). The swept settings a group pools over are returned, for the words to name."""
    drawn = laid_out(s)
    panels = [c for c in PANEL_SETTINGS if c in s.swept]
    at: dict[str, dict[str, object]] = {}
    if s.hue is not None and s.hue in drawn:
        t = data.assign(**{GROUP: data["_hue"].astype(object)})
        order = [h for h in s.hue_order if h in set(t[GROUP].dropna())]
        ticks = {h: h for h in order}
        grouped = [s.hue]
    elif s.hue is not None:  # a ratio whose parts the layout draws: its x and y (and rows)
        lay = layout(s)
        grouped = lay.settings
        t = keyed(s, data, lay)
        axes = [(k, c) for k, c in (("_x", lay.x), ("_y", lay.y)) if c]
        keys = [k for k, _ in axes] + (["_row"] if lay.rows else [])
        names, ticks = {}, {}
        for combo in t[keys].drop_duplicates().itertuples(index=False):
            v = dict(zip(keys, combo, strict=True))
            row = [str(v["_row"])] if lay.rows else []
            name = ", ".join([value_label(c, v[k]) for k, c in axes] + row)
            names[tuple(combo)] = name
            ticks[name] = " × ".join([fmt(v[k]) for k, _ in axes] + row)
            at[name] = {c: v[k] for k, c in axes}
        t[GROUP] = [names[tuple(row)] for row in t[keys].itertuples(index=False)]
        ordered = sorted(names, key=lambda k: tuple((str(type(v)), v) for v in k))
        order = [names[k] for k in ordered]
    else:
        t = data.assign(**{GROUP: ""})
        order, ticks, grouped = [""], {"": ""}, []
    pooled = [c for c in [*panels, *drawn] if c not in grouped]
    name = " × ".join(setting_label(c) for c in grouped)
    by_hue = bool(grouped) and grouped == [s.hue]
    return t, Groups(order, ticks, name, pooled, by_hue, at)


def pooled_words(groups: Groups) -> str:
    """' (each pooled over loss and updates)', '' when a group is one configuration."""
    if not groups.pooled:
        return ""
    names = listed([setting_label(c) for c in groups.pooled])
    return f" ({'each ' if groups.name else ''}pooled over {names})"


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
    keyed_d, groups = calibration_groups(s, d)
    gap = pd.concat(
        [keyed_d.assign(estimator=m, gap=d["js_binned"] - d[m]) for m in est], ignore_index=True
    ).dropna(subset=["gap"])
    ax = axes[0, -1]
    if groups.name:
        x, order = GROUP, [g for g in groups.order if g in set(gap[GROUP])]
        gap[GROUP] = gap[GROUP].map(groups.ticks)
        order = [groups.ticks[g] for g in order]
    else:  # one group: one point per panel (the loss), as the one hue-less view
        x, order = "panel", [p for p in s.panels if p in set(gap["panel"])]
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
    panels = panel_name(s) or "loss"
    ax.set(xlabel=groups.name or panels, ylabel="js_binned − estimate (nats)")
    ax.set_title(
        "how far below the reference" if w.has_reference else "js_binned − estimate",
        fontsize="medium",
    )
    if len(order) > 4 or sum(len(str(g)) for g in order) > 36:  # would run into each other
        for tick in ax.get_xticklabels():
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    ax.legend(fontsize="x-small", frameon=False)
    legend(fig, s)
    if groups.name:  # what each point of the right panel is, and what it pools over
        hue = groups.name + pooled_words(groups)
        hue += " (one configuration each)" if not groups.pooled else ""
    else:
        drawn = [c for c in groups.pooled if c not in PANEL_SETTINGS]
        hue = f"the {panels}" + pooled_words(Groups([], {}, panels, drawn, False))
    caption = _calibration_caption(est, w, hue)
    caption += " Points are all evaluation steps of all runs." if data is s.hist else ""
    return fig, caption


# What each estimate is, as the calibration caption names it.
ESTIMATES = {
    "js_d": "js_d (from the trial's own D)",
    "js_probe": "js_probe (a fresh k-NN classifier)",
}


def _calibration_caption(est: list[str], w: Words, hue: str) -> str:
    """The caption for the estimates drawn (`est`), in the target kind's words (`w`); an
    estimate not drawn is said to be missing and why."""
    one = len(est) == 1
    named = " and ".join(ESTIMATES[m] for m in est)
    if w.has_reference:
        caption = (
            f"Estimator calibration: {named} {'is a lower bound' if one else 'are lower bounds'}"
            " on the JS divergence, tight only for an optimal discriminator, so "
            f"{'it falls' if one else 'they fall'} below the y = x line; the right panel shows "
            f"how far below (mean, 95% CI) as a function of {hue}"
            + (
                " — a js_d gap that shrinks means the trial's D is closer to optimal."
                if "js_d" in est
                else "."
            )
        )
    else:
        caption = (
            f"{' and '.join(est)} against js_binned: {w.js_caption}, so points on either side "
            "of y = x are no error. The right panel shows js_binned "
            f"minus {'the' if one else 'each'} estimate (mean, 95% CI) as a function of {hue}; "
            "a positive value says the estimate sees less than the histogram, a negative one "
            "more."
        )
    missing = [m for m in ESTIMATES if m not in est]
    return caption + "".join(f" No {m}: {why_nan(m)}." for m in missing)
