"""Trajectory figures: JS estimates, D outputs, mode coverage and gradient norms vs step.

One column per panel (loss, and target when swept), hue the study's first swept knob, a band
from the lowest to the highest replica (style.ERRORBAR).
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ganstudy.columns import JS_COLUMNS, why_nan
from ganstudy.report.figures.dirac import dirac_note, skip_for_dirac
from ganstudy.report.study import RUN, Study, has
from ganstudy.report.style import (
    BAND,
    ERRORBAR,
    LOG2,
    PANEL_H,
    Skip,
    figure,
    hue_kw,
    legend,
    need_history,
    note,
    pooled,
    title_top,
)
from ganstudy.report.words import quality, words


def fig_js(s: Study) -> tuple[Figure, str]:
    """1. The three JS estimates vs step, one column per loss, hue k."""
    h = need_history(s)
    est = [m for m in JS_COLUMNS if has(h, m)]
    if not est:
        raise Skip("no JS estimate has a value in history.parquet")
    fig, axes = figure(len(est), len(s.panels), sharex=True, sharey=True)
    for i, m in enumerate(est):
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = h[h["panel"] == panel]
            ax.axhline(0, color="0.6", lw=0.8)
            ax.axhline(LOG2, color="0.6", lw=0.8, ls="--")
            if has(d, m):
                sns.lineplot(d, x="step", y=m, errorbar=ERRORBAR, legend=False, ax=ax, **hue_kw(s))
            else:
                note(ax, f"{m} undefined:\n{why_nan(m)}")
            ax.set_ylabel(f"{m} (nats)" if j == 0 else "")
            ax.set_xlabel("step" if i == len(est) - 1 else "")
    axes[0, 0].set_ylim(-0.03, LOG2 + 0.05)
    axes[0, 0].set_yticks([0, 0.25, 0.5, LOG2], ["0", "0.25", "0.5", "log 2"])
    title_top(axes, s.panels)
    legend(fig, s)
    caption = (
        "JS divergence between data and generator (nats; 0 = match, log 2 = disjoint): "
        f"{words(s).js_caption}; a curve that stalls high marks a failed run. "
        + BAND
        + pooled(s, [s.hue or "", "loss"])
        + dirac_note(s, "js")
    )
    return fig, caption


def fig_d_outputs(s: Study) -> tuple[Figure, str]:
    """2. D(x_real), D(G(z)) vs step with the 1/2 optimum; critic gap for critic losses."""
    h = need_history(s)
    has_critic = has(h, "critic_real") and has(h, "critic_fake")
    if not has(h, "d_real") and not has_critic:
        raise Skip("history.parquet has neither D probabilities nor critic outputs")
    fig, axes = figure(1, len(s.panels), h=PANEL_H + 0.3, sharex=True)
    styles = {"D(x_real)": "", "D(G(z))": (4, 2)}
    any_critic = False
    for j, panel in enumerate(s.panels):
        ax = axes[0, j]
        d = h[h["panel"] == panel]
        if has(d, "d_real"):
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
                **hue_kw(s),
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
        elif has(d, "critic_real"):
            any_critic = True
            d = d.assign(critic_gap=d["critic_real"] - d["critic_fake"])
            sns.lineplot(
                d, x="step", y="critic_gap", errorbar=ERRORBAR, legend=False, ax=ax, **hue_kw(s)
            )
            ax.axhline(0, color="0.3", lw=0.8, ls=":")
            ax.set_ylabel("critic_real − critic_fake\n(raw critic, not a probability)")
        else:
            note(ax, "no D outputs recorded")
    title_top(axes, s.panels)
    legend(
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
        + " "
        + BAND
        + dirac_note(s, "d_outputs")
    )
    return fig, caption


def fig_coverage(s: Study) -> tuple[Figure, str]:
    """6. Modes captured and high-quality fraction vs step."""
    h = need_history(s)
    skip_for_dirac(s, "coverage")
    rows = [m for m in ("modes_captured", "high_quality_frac") if has(h, m)]
    if not rows:
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    fig, axes = figure(len(rows), len(s.panels), sharex=True, sharey="row")
    for i, m in enumerate(rows):
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = h[h["panel"] == panel]
            if not has(d, m):
                note(ax, f"no {m} values")
                continue
            sns.lineplot(d, x="step", y=m, errorbar=ERRORBAR, legend=False, ax=ax, **hue_kw(s))
            if m == "modes_captured" and has(d, "n_modes"):
                ax.axhline(d["n_modes"].max(), color="0.3", lw=0.8, ls="--")
                ax.set_ylim(0, d["n_modes"].max() * 1.12)
            if m == "high_quality_frac":
                ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(m if j == 0 else "")
            ax.set_xlabel("step" if i == len(rows) - 1 else "")
    title_top(axes, s.panels)
    legend(fig, s, [("all modes", Line2D([], [], color="0.3", ls="--"))])
    caption = (
        "Mode coverage: modes holding at least one high-quality sample (dashed line: all "
        f"modes) and the fraction of samples {quality(s)}; a run that "
        "reaches high quality on few modes has collapsed. "
        + BAND
        + pooled(s, [s.hue or "", "loss"])
    )
    return fig, caption


def fig_grad_norms(s: Study) -> tuple[Figure, str]:
    """8. Generator and discriminator gradient norms vs step, log scale."""
    h = need_history(s)
    rows = [m for m in ("grad_norm_g", "grad_norm_d") if has(h, m)]
    if not rows:
        raise Skip("history.parquet has no gradient norms")
    fig, axes = figure(len(rows), len(s.panels), sharex=True, sharey="row")
    for i, m in enumerate(rows):
        # Drawn as log10(norm): a vanishing gradient spans decades; the line is the mean of
        # the logs (a geometric mean), the band the lowest to the highest replica.
        positive = h[m].where(h[m] > 0)
        logged = h.assign(_log=np.log10(positive.replace(np.inf, np.nan)))
        for j, panel in enumerate(s.panels):
            ax = axes[i, j]
            d = logged[logged["panel"] == panel]
            if not has(d, "_log"):
                note(ax, f"no finite {m}")
                continue
            sns.lineplot(d, x="step", y="_log", errorbar=ERRORBAR, legend=False, ax=ax, **hue_kw(s))
            ax.set_ylabel(f"{m}" if j == 0 else "")
            ax.set_xlabel("step" if i == len(rows) - 1 else "")
        # Plotted as log10, labelled with the norms themselves.
        axes[i, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{10**v:.2g}"))
    title_top(axes, s.panels)
    legend(fig, s)
    caption = (
        "Gradient norms of G and D parameters (log scale, geometric mean over replicas, "
        "band lowest to highest); a generator gradient falling by decades while D's holds up "
        "is the vanishing gradient of a dominating D, expected for the saturating (minimax) loss."
        + pooled(s, [s.hue or "", "loss"])
    )
    return fig, caption
