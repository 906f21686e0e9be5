"""Trajectory figures: JS estimates, D outputs, mode coverage, gradient norms, the
classifier's image metrics and every other measured metric vs step.

Facets from the study's layout (figures/facets.py): one column per panel (loss, and target
when swept), colour and line style the first two swept settings, rows of panels for the
rest, a band from the lowest to the highest replica (style.ERRORBAR).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from ganstudy.columns import BY_NAME, JS_COLUMNS, METRIC_COLUMNS, why_nan
from ganstudy.report.figures.dirac import dirac_note, dirac_only, skip_for_dirac
from ganstudy.report.figures.facets import legend, lineplot, lines, trajectory_figure
from ganstudy.report.study import RUN, Study, has
from ganstudy.report.style import BAND, LOG2, PANEL_H, Skip, need_history, note
from ganstudy.report.words import quality, words

# The classifier's measurements of a target with features (images) and of a conditional G.
CLASSIFIER_METRICS = ("fd", "precision", "recall", "class_accuracy")
# Metrics another figure draws over time (JS, Dirac, D outputs, coverage, gradients, and the
# classifier's own figure).
DRAWN_ELSEWHERE = (
    *JS_COLUMNS,
    *("d_real", "d_fake", "modes_captured", "high_quality_frac", "grad_norm_g", "grad_norm_d"),
    *("theta", "psi", "dirac_distance"),
    *CLASSIFIER_METRICS,
)
# Reference lines in their own colour: grey dashes are a swept setting's line style.
REFERENCE = "#a23344"
FRACTIONS = ("precision", "recall", "class_accuracy", "high_quality_frac")  # in [0, 1]


def _ylabel(ax: Any, j: int, text: str) -> None:
    ax.set_ylabel(text if j == 0 else "")


def fig_js(s: Study) -> tuple[Figure, str]:
    """The three JS estimates vs step, one column per loss, lines per swept setting."""
    h = need_history(s)
    est = [m for m in JS_COLUMNS if has(h, m)]
    if not est:
        raise Skip("no JS estimate has a value in history.parquet")
    ln = lines(s, h)

    def draw(ax: Any, d: pd.DataFrame, m: str) -> None:
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axhline(LOG2, color="0.6", lw=0.8, ls="--")
        if has(d, m):
            lineplot(ax, d, m, ln)
        else:
            note(ax, f"{m} undefined:\n{why_nan(m)}")
        _ylabel(ax, ax.get_subplotspec().colspan.start, f"{m} (nats)")

    fig, axes = trajectory_figure(s, ln, est, draw, sharey=True)
    axes[0, 0].set_ylim(-0.03, LOG2 + 0.05)
    axes[0, 0].set_yticks([0, 0.25, 0.5, LOG2], ["0", "0.25", "0.5", "log 2"])
    legend(fig, ln)
    caption = (
        "JS divergence between data and generator (nats; 0 = match, log 2 = disjoint): "
        f"{words(s).js_caption}"
        # On the Dirac-GAN a converged run's js_probe stays at log 2 (dirac_note): no failure.
        + ("; a curve that stalls high marks a failed run. " if not dirac_only(s) else ". ")
        + BAND
        + ln.caption(s)
        + dirac_note(s, "js")
    )
    return fig, caption


def fig_d_outputs(s: Study) -> tuple[Figure, str]:
    """D(x_real), D(G(z)) vs step with the 1/2 optimum; critic gap for critic losses."""
    h = need_history(s)
    has_critic = has(h, "critic_real") and has(h, "critic_fake")
    if not has(h, "d_real") and not has_critic:
        raise Skip("history.parquet has neither D probabilities nor critic outputs")
    ln = lines(s, h, style=False)  # the line style says real or fake here
    styles = {"D(x_real)": "", "D(G(z))": (4, 2)}
    drawn = {"probability": False, "critic": False}  # which kinds of D output were drawn

    def draw(ax: Any, d: pd.DataFrame, _m: str) -> None:
        j = ax.get_subplotspec().colspan.start
        if has(d, "d_real"):
            drawn["probability"] = True
            long = d.melt(
                id_vars=["step", *(["_hue"] if "_hue" in d else []), *RUN],
                value_vars=["d_real", "d_fake"],
                var_name="which",
                value_name="p",
            )
            long["which"] = long["which"].map({"d_real": "D(x_real)", "d_fake": "D(G(z))"})
            lineplot(ax, long, "p", ln, style="which", dashes=styles, style_order=list(styles))
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
            _ylabel(ax, j, "mean D probability")
        elif has(d, "critic_real"):
            drawn["critic"] = True
            d = d.assign(critic_gap=d["critic_real"] - d["critic_fake"])
            lineplot(ax, d, "critic_gap", ln)
            ax.axhline(0, color="0.3", lw=0.8, ls=":")
            ax.set_ylabel("critic_real − critic_fake\n(raw critic, not a probability)")
        else:
            note(ax, "no D outputs recorded")

    fig, _ = trajectory_figure(s, ln, [""], draw, h=PANEL_H + 0.3, sharey=False)
    real_and_fake = [
        ("D(x_real)", Line2D([], [], color="0.3")),
        ("D(G(z))", Line2D([], [], color="0.3", dashes=(4, 2))),
    ]
    legend(fig, ln, real_and_fake if drawn["probability"] else [])
    kinds = []
    if drawn["probability"]:
        kinds.append(
            "Mean discriminator output on real (solid) and generated (dashed) points; at the "
            "optimum both sit at D* = 1/2, and a fake curve diving to 0 while the real one "
            "climbs to 1 is a dominating D."
        )
    if drawn["critic"]:
        kinds.append(
            "Critic losses (no probabilities) show critic_real − critic_fake on their own "
            "axes: a gap that grows without bound is the critic winning."
        )
    caption = " ".join(kinds) + " " + BAND + ln.caption(s) + dirac_note(s, "d_outputs")
    return fig, caption


def fig_coverage(s: Study) -> tuple[Figure, str]:
    """Modes captured and high-quality fraction vs step."""
    h = need_history(s)
    skip_for_dirac(s, "coverage")
    rows = [m for m in ("modes_captured", "high_quality_frac") if has(h, m)]
    if not rows:
        raise Skip(f"modes_captured has no values: {why_nan('modes_captured')}")
    ln = lines(s, h)

    def draw(ax: Any, d: pd.DataFrame, m: str) -> None:
        if not has(d, m):
            note(ax, f"no {m} values")
            return
        lineplot(ax, d, m, ln)
        if m == "modes_captured" and has(d, "n_modes"):
            ax.axhline(d["n_modes"].max(), color=REFERENCE, lw=0.9, ls="--")
            ax.set_ylim(0, d["n_modes"].max() * 1.12)
        if m == "high_quality_frac":
            ax.set_ylim(-0.03, 1.03)
        _ylabel(ax, ax.get_subplotspec().colspan.start, m)

    # Targets of different mode counts (remedies' ring8 and grid25) get their own y axes, so
    # each panel's ceiling (its dashed line) is in view.
    one_ceiling = not has(h, "n_modes") or h["n_modes"].nunique() <= 1
    fig, _ = trajectory_figure(s, ln, rows, draw, sharey="row" if one_ceiling else False)
    legend(fig, ln, [("all modes", Line2D([], [], color=REFERENCE, ls="--"))])
    caption = (
        "Mode coverage: modes holding at least coverage_min_count high-quality samples "
        f"(red dashed line: all modes) and the fraction of samples {quality(s)}; "
        "a run that reaches high quality on few modes has collapsed. " + BAND + ln.caption(s)
    )
    return fig, caption


def fig_grad_norms(s: Study) -> tuple[Figure, str]:
    """Generator and discriminator gradient norms vs step, log scale."""
    h = need_history(s)
    rows = [m for m in ("grad_norm_g", "grad_norm_d") if has(h, m)]
    if not rows:
        raise Skip("history.parquet has no gradient norms")
    # Drawn as log10(norm): a vanishing gradient spans decades; the line is the mean of the
    # logs (a geometric mean), the band the lowest to the highest replica.
    logged = h.assign(
        **{f"_log_{m}": np.log10(h[m].where(h[m] > 0).replace(np.inf, np.nan)) for m in rows}
    )
    ln = lines(s, logged)

    def draw(ax: Any, d: pd.DataFrame, m: str) -> None:
        if not has(d, f"_log_{m}"):
            note(ax, f"no finite {m}")
            return
        lineplot(ax, d, f"_log_{m}", ln)
        _ylabel(ax, ax.get_subplotspec().colspan.start, m)
        # Plotted as log10, labelled with the norms themselves.
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{10**v:.2g}"))

    fig, _ = trajectory_figure(s, ln, rows, draw)
    legend(fig, ln)
    minimax = "loss" in s.runs and (s.runs["loss"] == "minimax").any()
    caption = (
        "Gradient norms of G and D parameters (log scale, geometric mean over replicas, "
        "band lowest to highest); a generator gradient falling by decades while D's holds up "
        "is the vanishing gradient of a dominating D"
        + (", expected for the saturating (minimax) loss." if minimax else ".")
        + ln.caption(s)
    )
    return fig, caption


def _metric_rows(s: Study, h: pd.DataFrame, names: tuple[str, ...] | list[str]) -> list[str]:
    return [m for m in names if has(h, m)]


def _metric_figure(s: Study, h: pd.DataFrame, metrics: list[str]) -> tuple[Figure, Any]:
    ln = lines(s, h)

    def draw(ax: Any, d: pd.DataFrame, m: str) -> None:
        if not has(d, m):
            note(ax, f"{m} undefined:\n{why_nan(m)}")
            return
        lineplot(ax, d, m, ln)
        if m in FRACTIONS:
            ax.set_ylim(-0.03, 1.03)
        unit = BY_NAME[m].unit if m in BY_NAME else ""
        _ylabel(ax, ax.get_subplotspec().colspan.start, m + (f" ({unit})" if unit else ""))

    fig, _ = trajectory_figure(s, ln, metrics, draw, h=PANEL_H - 0.4)
    legend(fig, ln)
    return fig, ln


def fig_classifier_metrics(s: Study) -> tuple[Figure, str]:
    """fd, precision, recall and class_accuracy vs step (image targets, conditional G)."""
    h = need_history(s)
    metrics = _metric_rows(s, h, CLASSIFIER_METRICS)
    if not metrics:
        raise Skip(
            "no classifier metric has values: fd, precision and recall need an image target's "
            "classifier, class_accuracy a conditional G"
        )
    fig, ln = _metric_figure(s, h, metrics)
    meanings = "; ".join(f"{m}: {BY_NAME[m].meaning}" for m in metrics)
    caption = (
        f"The classifier's measurements over training ({meanings}). "
        + (
            "Lower fd is closer to the data; precision and recall near 1 are samples on the "
            "data and data covered by the samples. "
            if "fd" in metrics
            else ""
        )
        + BAND
        + ln.caption(s)
    )
    return fig, caption


def fig_other_metrics(s: Study) -> tuple[Figure, str]:
    """Every other measured metric vs step: the losses, mode_kl, D's output spread."""
    h = need_history(s)
    others = [m for m in METRIC_COLUMNS if m not in DRAWN_ELSEWHERE]
    if not (has(s.runs, "n_modes") and s.runs["n_modes"].max() > 1):
        # One mode (the Dirac-GAN's point, a single Gaussian): mode statistics say nothing.
        others = [m for m in others if not BY_NAME[m].needs_modes]
    metrics = _metric_rows(s, h, others)
    if not metrics:
        raise Skip("history.parquet has no values of " + ", ".join(others))
    fig, ln = _metric_figure(s, h, metrics)
    meanings = "; ".join(f"{m}: {BY_NAME[m].meaning}" for m in metrics)
    caption = (
        f"The other measured metrics over training ({meanings}); the JS estimates, D outputs, "
        "mode coverage, gradient norms and the classifier's metrics are left to their own "
        "figures (where the study measured them). " + BAND + ln.caption(s)
    )
    return fig, caption
