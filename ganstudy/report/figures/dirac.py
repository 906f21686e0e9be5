"""The Dirac-GAN's trajectories in the (θ, ψ) plane, one panel per configuration: Mescheder,
Geiger & Nowozin (2018)'s figure, from a sweep.

A Dirac-GAN study's other figures read the game through metrics made for distributions
(js_binned is an on/off reading of |θ| < 0.025, one mode, every fake the same point), so
`dirac_only` lets them say so or step aside for this one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import why_nan
from ganstudy.report.study import RATIOS, RUN, Study, fmt, has
from ganstudy.report.style import Skip, figure

PANEL = 2.3  # inches: square panels, θ and ψ on one scale
# Final distance to (0, 0) below this fraction of the start's: the run has converged (R1
# reaches 1e-9 and below in 2000 steps; a circling run keeps its distance).
CONVERGED_FRACTION = 0.01
ALL = "all runs"  # the one column when nothing but the loss is swept
REPLICA_COLORS = ("#3b6ea5", "#d1495b", "#3a9e5f", "#edae49", "#8e6bbf", "#30343f")


# What another figure would show of a Dirac-GAN study: why it is skipped, or (NOTES) why it
# is drawn and how to read it.
SKIPS = {
    "coverage": "the Dirac-GAN's target has one mode, so modes_captured and "
    "high_quality_frac only say whether |θ| is below quality_sigmas × 0.01; the (θ, ψ) "
    "figure (1b) shows θ itself",
    "calibration": "on the Dirac-GAN js_binned is an on/off reading of |θ| < 0.025 (log 2 "
    "or 0), not a reference to calibrate js_d and js_probe against",
    "samples": "every fake of the Dirac-GAN is the one point θ, which the (θ, ψ) figure "
    "(1b) draws at every evaluation",
}
NOTES = {
    "js": " On the Dirac-GAN these are coarse: js_binned is log 2 until |θ| < 0.025 and 0 "
    "after (an on/off reading), js_probe stays near log 2 while θ ≠ 0 (two point masses are "
    "always separable); the distance to equilibrium is in the (θ, ψ) figure (1b).",
    "d_outputs": " On the Dirac-GAN D(x_real) = 1/2 for every ψ by construction (the data "
    "point is 0); D(G(z)) = σ(ψθ) moves with the game.",
}


def dirac_only(s: Study) -> bool:
    """Whether every run of the study trained the Dirac-GAN (target dirac)."""
    return "target" in s.runs and bool((s.runs["target"].astype(str) == "dirac").all())


def skip_for_dirac(s: Study, figure_name: str) -> None:
    """Skip a figure that says nothing about a Dirac-GAN study (the reason in SKIPS)."""
    if dirac_only(s):
        raise Skip(SKIPS[figure_name])


def dirac_note(s: Study, figure_name: str) -> str:
    """Caption clause on how to read a figure of a Dirac-GAN study ('' for other studies)."""
    return NOTES[figure_name] if dirac_only(s) else ""


def _settings(s: Study) -> list[str]:
    """The swept settings besides the panel row (loss): one column of panels per value."""
    return [
        c
        for c in s.swept
        if c not in ("loss", "target", *RATIOS) and c in s.runs and not c.startswith("_")
    ]


def _label(run: pd.Series, settings: list[str]) -> str:
    return " · ".join(f"{c}={fmt(run[c])}" for c in settings) or ALL


def fig_dirac_plane(s: Study) -> tuple[Figure, str]:
    """1b. (θ, ψ) per eval, one panel per configuration (loss × the other swept settings)."""
    h = s.hist
    if not (has(h, "theta") and has(h, "psi")):
        raise Skip(f"theta and psi have no values: {why_nan('theta')}")
    settings = _settings(s)
    configs = s.runs.drop_duplicates("trial_id").copy()
    configs["_column"] = [_label(run, settings) for _, run in configs.iterrows()]
    columns = list(dict.fromkeys(configs.sort_values(settings or "trial_id")["_column"]))
    fig, axes = figure(len(s.panels), len(columns), w=PANEL, h=PANEL)
    ends = {"converged": [], "away": [], "other": []}
    for i, panel in enumerate(s.panels):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            trials = configs[(configs["panel"] == panel) & (configs["_column"] == column)]
            runs = h[h["trial_id"].isin(trials["trial_id"])].sort_values([*RUN, "step"])
            if runs.empty:
                ax.set_axis_off()
                continue
            reach = 0.0
            for (_, replica), run in runs.groupby(RUN):
                theta, psi = run["theta"].to_numpy(float), run["psi"].to_numpy(float)
                ok = np.isfinite(theta) & np.isfinite(psi)
                theta, psi = theta[ok], psi[ok]
                if not len(theta):
                    continue
                color = REPLICA_COLORS[int(replica) % len(REPLICA_COLORS)]
                ax.plot(theta, psi, color=color, lw=0.9, alpha=0.8)
                ax.plot(theta[0], psi[0], "o", mfc="white", mec=color, ms=5)
                ax.plot(theta[-1], psi[-1], "o", color=color, ms=4)
                reach = max(reach, float(np.abs(theta).max()), float(np.abs(psi).max()))
                start, end = np.hypot(theta[0], psi[0]), np.hypot(theta[-1], psi[-1])
                which = (
                    "converged"
                    if end < CONVERGED_FRACTION * start
                    else "away"
                    if end > start
                    else "other"
                )
                ends[which].append(panel if column == ALL else f"{panel} {column}")
            ax.plot(0, 0, "*", color="black", ms=9, zorder=5)
            lim = 1.1 * reach if reach > 0 else 1.0
            # Equal limits in a square box: one scale for θ and ψ (aspect="equal" would fight
            # the constrained layout and clip the labels).
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim))
            ax.set_box_aspect(1)
            ax.axhline(0, color="0.85", lw=0.6, zorder=0)
            ax.axvline(0, color="0.85", lw=0.6, zorder=0)
            first = runs.groupby(RUN).head(1)
            last = runs.groupby(RUN).tail(1)
            d0, d1 = first["dirac_distance"].median(), last["dirac_distance"].median()
            name = panel if column == ALL else f"{panel}\n{column}"
            ax.set_title(f"{name}\n|(θ,ψ)| {d0:.2g} → {d1:.2g}", fontsize="small")
            ax.set_xlabel("θ (G)" if i == len(s.panels) - 1 else "")
            ax.set_ylabel("ψ (D)" if j == 0 else "")
    n_replicas = int(s.runs.groupby("trial_id").size().max())
    items = [
        ("start", Line2D([], [], ls="", marker="o", mfc="white", mec="0.3")),
        ("end", Line2D([], [], ls="", marker="o", color="0.3")),
        ("equilibrium (0, 0)", Line2D([], [], ls="", marker="*", color="black", ms=9)),
    ] + [
        (f"replica {r}", Line2D([], [], color=REPLICA_COLORS[r % len(REPLICA_COLORS)]))
        for r in range(min(n_replicas, len(REPLICA_COLORS)))
    ]
    fig.legend(
        [handle for _, handle in items],
        [label for label, _ in items],
        loc="outside right upper",
        frameon=False,
        fontsize="small",
    )
    caption = (
        "The Dirac-GAN in the (θ, ψ) plane (Mescheder et al. 2018, figure 1 and 3): G's "
        "parameter θ against D's ψ at every evaluation, one panel per configuration, replicas "
        "as separate lines (they coincide where training is deterministic), start ○, end ●, "
        "the equilibrium (0, 0) ★; each title gives the distance to it at the start and the "
        "end (median over replicas). Theory: without a regulariser the minimax game circles "
        "(alternating steps) or spirals out (simultaneous), WGAN with clipping circles, R1 "
        "spirals in." + _ends_sentence(ends)
    )
    return fig, caption


def _ends_sentence(ends: dict[str, list[str]]) -> str:
    """Which runs ended near (0, 0) and which farther than they started, from the tables."""

    def listed(runs: list[str]) -> str:
        counts = pd.Series(runs).value_counts(sort=False)
        return "; ".join(f"{name} ({n})" if n > 1 else name for name, n in counts.items())

    total = sum(len(v) for v in ends.values())
    text = (
        f" Measured, of {total} runs: {len(ends['converged'])} end within "
        f"{CONVERGED_FRACTION:.0%} of their start distance"
    )
    text += f" ({listed(ends['converged'])})" if ends["converged"] else ""
    text += f"; {len(ends['away'])} end farther out than they started"
    text += f" ({listed(ends['away'])})" if ends["away"] else ""
    return text + f"; {len(ends['other'])} in between."
