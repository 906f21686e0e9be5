"""Final mode coverage against the capacity ratio d_width/g_width."""

from __future__ import annotations

import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import why_nan
from ganstudy.report.study import Study, fmt, has
from ganstudy.report.style import ERRORBAR, PANEL_W, Skip, figure, pooled


def fig_coverage_capacity(s: Study) -> tuple[Figure, str]:
    """6b. Final mode coverage against the capacity ratio d_width/g_width."""
    if "cap_ratio" not in s.swept:
        widths = ""
        if {"d_width", "g_width"} <= set(s.runs):
            first = s.runs.iloc[0]
            widths = f" (every trial has d_width {first['d_width']}, g_width {first['g_width']})"
        raise Skip(f"d_width/g_width was not swept{widths}")
    rows = [m for m in ("modes_captured", "high_quality_frac") if has(s.runs, m)]
    if not rows:
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    r = s.runs.copy()
    order = [fmt(v) for v in sorted(r["cap_ratio"].dropna().unique())]
    r["d/g width"] = r["cap_ratio"].map(fmt)
    fig, axes = figure(1, len(rows), w=PANEL_W + 0.6)
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
            dodge=0.3 if len(s.panels) > 1 else False,  # seaborn divides by levels - 1
            markersize=5,
            legend=False,
            ax=ax,
        )
        ax.set(xlabel="d_width / g_width", ylabel=f"final {m}")
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
    caption = (
        "Final mode coverage against the capacity ratio d_width/g_width (mean over runs, band "
        "lowest to highest); "
        "look for a discriminator so much larger than the generator that coverage drops."
        + pooled(s, ["cap_ratio", "d_width", "g_width", "loss"])
    )
    return fig, caption
