"""The Dirac-GAN's trajectories in the (θ, ψ) plane, one panel per configuration: Mescheder,
Geiger & Nowozin (2018)'s figure, from a sweep.

A Dirac-GAN study's other figures read the game through metrics made for distributions
(js_binned is an on/off reading of |θ| < 0.025, one mode, every fake the same point), so
`dirac_only` lets them say so or step aside for this one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import why_nan
from ganstudy.engine.targets.dirac import BIN_WIDTH, TOLERANCE
from ganstudy.report.study import RATIOS, RUN, Study, fmt, has
from ganstudy.report.style import Skip, figure, figure_legend, hue_kw, legend, num

ON = BIN_WIDTH / 2  # js_binned is 0 once |θ| is below this (the cell around 0), else log 2

PANEL = 2.3  # inches: square panels, θ and ψ on one scale
# Final distance to (0, 0) below this fraction of the start's: the run has converged (R1
# reaches 3e-6 and below in studies/dirac.yaml's 1000 steps; a circling run keeps its
# distance, the non-saturating loss's creep is still at 0.2-0.3 of it).
CONVERGED_FRACTION = 0.01
ALL = "all runs"  # the one column when nothing but the loss is swept
REPLICA_COLORS = ("#3b6ea5", "#d1495b", "#3a9e5f", "#edae49", "#8e6bbf", "#30343f")


# What another figure would show of a Dirac-GAN study: why it is skipped, or (NOTES) why it
# is drawn and how to read it.
SKIPS = {
    "coverage": "the Dirac-GAN's target has one mode, so modes_captured and "
    f"high_quality_frac only say whether |θ| is below quality_sigmas × {TOLERANCE:g}; the "
    "(θ, ψ) figure shows θ itself",
    "calibration": f"on the Dirac-GAN js_binned is an on/off reading of |θ| < {ON:g} (log 2 "
    "or 0), not a reference to calibrate js_d and js_probe against",
    "samples": "every fake of the Dirac-GAN is the one point θ, which the (θ, ψ) figure "
    "draws at every evaluation",
    "grid": "the outcome labels and final metrics read the Dirac-GAN through measures made "
    "for distributions; each configuration's trajectory is a panel of the (θ, ψ) figure, "
    "its distance to (0, 0) a line of the distance figure and its outcome a row of the summary "
    "table",
}
NOTES = {
    "js": f" On the Dirac-GAN these are coarse: js_binned is log 2 until |θ| < {ON:g} and 0 "
    "after (an on/off reading), js_probe stays near log 2 while θ ≠ 0 (two point masses are "
    "always separable); the distance to equilibrium is in the (θ, ψ) figure.",
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


def grid_drawn(s: Study) -> bool:
    """Whether the report draws the grid figures (phase diagram, heatmaps): not for a
    Dirac-GAN study that sweeps neither k nor lr_d/lr_g (other captions may not point there)."""
    return not (dirac_only(s) and not {"k", "lr_ratio"} & set(s.swept))


def skip_dirac_grid(s: Study) -> None:
    """Skip the k × lr_d/lr_g grid figures of a Dirac-GAN study that sweeps neither."""
    if not grid_drawn(s):
        raise Skip(SKIPS["grid"])


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
    """(θ, ψ) per eval, one panel per configuration (loss × the other swept settings)."""
    h = s.hist
    if not (has(h, "theta") and has(h, "psi")):
        raise Skip(f"theta and psi have no values: {why_nan('theta')}")
    settings = _settings(s)
    configs = s.runs.drop_duplicates("trial_id").copy()
    configs["_column"] = [_label(run, settings) for _, run in configs.iterrows()]
    columns = list(dict.fromkeys(configs.sort_values(settings or "trial_id")["_column"]))
    fig, axes = figure(len(s.panels), len(columns), w=PANEL, h=PANEL)
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
    figure_legend(fig, items)
    caption = (
        "The Dirac-GAN in the (θ, ψ) plane (Mescheder et al. 2018, figure 1 and 3): G's "
        "parameter θ against D's ψ at every evaluation, one panel per configuration, replicas "
        "as separate lines (they coincide where training is deterministic), start ○, end ●, "
        "the equilibrium (0, 0) ★; each title gives the distance to it at the start and the "
        "end (median over replicas). Theory: without a regulariser the minimax game circles "
        "(alternating steps) or spirals out (simultaneous), WGAN with clipping circles, R1 "
        "spirals in. Measured, of " + ends_sentence(s)
    )
    return fig, caption


def run_ends(s: Study) -> pd.DataFrame:
    """Per run: its configuration's name and whether it ended near (0, 0) ('converged':
    below CONVERGED_FRACTION of its start distance), farther out ('away') or in between."""
    h = s.hist[np.isfinite(s.hist["theta"]) & np.isfinite(s.hist["psi"])]
    h = h.sort_values([*RUN, "step"]).assign(_d=lambda d: np.hypot(d["theta"], d["psi"]))
    ends = h.groupby(RUN).agg(start=("_d", "first"), end=("_d", "last")).reset_index()
    configs = s.runs.drop_duplicates("trial_id").set_index("trial_id")
    settings = _settings(s)

    def name(trial: str) -> str:
        run = configs.loc[trial]
        column = _label(run, settings)
        return run["panel"] if column == ALL else f"{run['panel']} {column}"

    ends["name"] = ends["trial_id"].map(name)
    ends["which"] = np.select(
        [ends["end"] < CONVERGED_FRACTION * ends["start"], ends["end"] > ends["start"]],
        ["converged", "away"],
        "other",
    )
    return ends


def ends_sentence(s: Study) -> str:
    """'36 runs starting at distance 1.41 (median): 24 reach the equilibrium, ending at
    distance 3e-06 to 2e-05, under 1% of their start distance (every configuration with r1
    in {1/2, 2}); 2 end farther out than they started, ending at distance ...; ...'."""
    ends = run_ends(s)
    configs = s.runs.drop_duplicates("trial_id").set_index("trial_id")
    keys = [c for c in ("loss", *_settings(s)) if c in configs]

    def members(which: str) -> str:
        trials = set(ends.loc[ends["which"] == which, "trial_id"])
        if not trials:
            return ""
        # A class that one setting defines is named by it: "every configuration with r1 in
        # {1/2, 2}"; else its configurations, when few enough to read.
        for key in keys:
            values = set(configs.loc[list(trials), key])
            if set(configs.index[configs[key].isin(values)]) == trials and len(values) < len(
                set(configs[key])
            ):
                shown = ", ".join(fmt(v) for v in sorted(values, key=str))
                return f" (every configuration with {key} in {{{shown}}})"
        names = ends.loc[ends["trial_id"].isin(trials)].drop_duplicates("trial_id")["name"]
        if len(names) <= 4:
            return " (" + "; ".join(names) + ")"
        return f" ({len(names)} configurations)"

    def reached(which: str) -> str:
        # The distances themselves: "within 1% of the start" alone hides that 1e-6 is (0, 0).
        d = ends.loc[ends["which"] == which]
        if d.empty:
            return ""
        lo, hi = d["end"].min(), d["end"].max()
        return (
            f", ending at distance {num(lo) if num(lo) == num(hi) else f'{num(lo)} to {num(hi)}'}"
        )

    count = ends["which"].value_counts()
    return (
        f"{len(ends)} runs starting at distance {num(ends['start'].median())} (median): "
        f"{count.get('converged', 0)} reach the equilibrium{reached('converged')}, under "
        f"{CONVERGED_FRACTION:.0%} of their start distance{members('converged')}; "
        f"{count.get('away', 0)} end farther out than they started{reached('away')}"
        f"{members('away')}; {count.get('other', 0)} in between{reached('other')}"
        f"{members('other')}."
    )


def dirac_findings(s: Study) -> list[str]:
    """The findings' sentence on where a Dirac-GAN study's runs ended ([] for others)."""
    if not (has(s.hist, "theta") and has(s.hist, "psi")):
        return []
    return ["Dirac-GAN, distance to the equilibrium (0, 0) at the end, of " + ends_sentence(s)]


def _replicas_words(h: pd.DataFrame) -> str:
    """How the distance figure's median stands for the replicas, as measured: 'median over
    replicas, which coincide here' only where every eval's replicas agree to 1e-6."""
    by = h.groupby(["trial_id", "step"])["dirac_distance"]
    if int(by.size().max()) < 2:
        return "one replica per configuration"
    top = by.max().abs()
    spread = (by.max() - by.min()) / top.where(top > 0, 1.0)
    if not (spread.dropna() <= 1e-6).all():
        return f"median over replicas, which differ by up to {100 * spread.max():.3g}% here"
    return "median over replicas, which coincide here"


def fig_dirac_distance(s: Study) -> tuple[Figure, str]:
    """Distance to the equilibrium (0, 0) vs step, log scale, one panel per loss."""
    h = s.hist
    if not has(h, "dirac_distance"):
        raise Skip(f"dirac_distance has no values: {why_nan('dirac_distance')}")
    # The other swept setting (after the hue) as the line style, e.g. updates.
    style = next((c for c in _settings(s) if c != s.hue and h[c].nunique() > 1), None)
    positive = h[h["dirac_distance"] > 0]  # an exact 0 has no place on a log axis
    styles = sorted(h[style].dropna().unique(), key=str) if style else []
    dashes = dict(zip(styles, ["", (4, 2), (1, 1), (3, 1, 1, 1)] * len(styles), strict=False))
    # Each panel its own decades: R1 under WGAN reaches 1e-40 while minimax's stop at 1e-11.
    fig, axes = figure(1, len(s.panels))
    for j, panel in enumerate(s.panels):
        ax = axes[0, j]
        d = positive[positive["panel"] == panel]
        sns.lineplot(
            d,
            x="step",
            y="dirac_distance",
            style=style,
            style_order=styles or None,
            dashes=dashes or True,
            estimator="median",
            errorbar=None,
            legend=False,
            ax=ax,
            **hue_kw(s),
        )
        ax.set_yscale("log")
        ax.set_title(panel, fontsize="medium")
        ax.set_ylabel("distance to (0, 0)" if j == 0 else "")
    legend(
        fig,
        s,
        [
            (f"{style}={v}", Line2D([], [], color="0.3", dashes=dashes[v] or (None, None)))
            for v in styles
        ],
    )
    caption = (
        "Distance of (θ, ψ) to the equilibrium (0, 0) per evaluation (log scale; "
        f"{_replicas_words(h)}): a straight falling line is exponential convergence, "
        "at the slope the linearised dynamics predict for R1 (tests/engine/test_dirac.py checks "
        "the rate to 2%); a flat line is a circling game, a rising one spirals out, a slowly "
        "bending one creeps in." + (f" Line style: {style}." if style else "")
    )
    return fig, caption
