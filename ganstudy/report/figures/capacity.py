"""Final mode coverage against capacity: d_width/g_width, or d_width where a grid sweeps
both widths (the ratio would merge 32/32 with 128/128)."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import why_nan
from ganstudy.report.cells import axis_title, keyed, label, laid_out, layout, value_label
from ganstudy.report.study import Study, fmt, has
from ganstudy.report.style import PANEL_W, Skip, figure


def fig_coverage_capacity(s: Study) -> tuple[Figure, str]:
    """Final mode coverage against capacity, one line per configuration of the other
    swept settings (coloured by loss, or by the other width with one loss)."""
    settings = laid_out(s)
    if "cap_ratio" in settings:
        x = "cap_ratio"
    elif "d_width" in settings and "g_width" in settings:
        x = "d_width"
    else:
        widths = ""
        if {"d_width", "g_width"} <= set(s.runs):
            first = s.runs.iloc[0]
            widths = f" (every trial has d_width {first['d_width']}, g_width {first['g_width']})"
        raise Skip(f"d_width/g_width was not swept{widths}")
    rows = [m for m in ("modes_captured", "high_quality_frac") if has(s.runs, m)]
    if not rows:
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    others = [c for c in settings if c != x]
    r = keyed(s, s.runs, layout(s))
    xs = sorted(r[x].dropna().unique())
    r["_pos"] = r[x].map({v: i for i, v in enumerate(xs)})
    # Colour: the panel (loss) where several, else the first other setting.
    if len(s.panels) > 1 or not others:
        colour, order = "panel", list(s.panels)
        r["_colour"] = r["panel"]
    else:
        colour = others[0]
        values = sorted(r[colour].dropna().unique())
        order = [value_label(colour, v) for v in values]
        r["_colour"] = r[colour].map(lambda v: value_label(colour, v))
    palette = dict(zip(order, sns.color_palette("colorblind", len(order)), strict=True))
    line_keys = ["panel", *others]
    fig, axes = figure(1, len(rows), w=PANEL_W + 0.3 * len(xs))
    rng = np.random.default_rng(0)  # a fixed jitter: the same picture every report
    for ax, m in zip(axes[0], rows, strict=True):
        for _, cfg in r.groupby(line_keys, dropna=False):
            c = palette[cfg["_colour"].iloc[0]]
            jitter = rng.uniform(-0.08, 0.08, len(cfg))
            ax.scatter(cfg["_pos"] + jitter, cfg[m], s=8, color=c, alpha=0.5, linewidths=0)
            means = cfg.groupby("_pos")[m].mean()
            ax.plot(means.index, means.to_numpy(), color=c, lw=1, marker="o", ms=3, alpha=0.8)
        ax.set_xticks(range(len(xs)), [fmt(v) for v in xs])
        ax.set(xlabel=axis_title(x).replace("/", " / "), ylabel=f"final {m}")
        if m == "high_quality_frac":
            ax.set_ylim(-0.03, 1.03)
        elif has(r, "n_modes"):
            ax.axhline(r["n_modes"].max(), color="0.3", lw=0.8, ls="--")
            ax.set_ylim(0, r["n_modes"].max() * 1.12)
    fig.legend(
        [Line2D([], [], color=c, marker="o") for c in palette.values()],
        list(palette),
        loc="outside right upper",
        frameon=False,
        fontsize="small",
    )
    each = " × ".join(label(c) for c in ["panel" if len(s.panels) > 1 else "", *others] if c)
    caption = (
        f"Final mode coverage against {label(x)}: dots are runs (replicas, jittered), each "
        f"line one configuration of {each.replace('panel', 'loss') or 'the study'} through "
        f"its mean over replicas, coloured by {label(colour).replace('panel', 'loss')}; "
        "look for a discriminator so much larger than the generator that coverage drops."
    )
    return fig, caption
