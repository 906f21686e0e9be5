"""Figures of a sampled search (random or Optuna): every run as a point over the sampled
settings, and Optuna's own views of an Optuna study (optimisation history and parameter
importances, drawn by `optuna.visualization.matplotlib` from the study's `optuna.db`).

Optuna draws through pyplot (`plt.subplots`) and sets its ggplot style sheet globally
(`plt.style.use`), so each call runs inside `matplotlib.rc_context` (the style goes when it
ends, later figures and a caller's notebook keep theirs) and its figure is closed in pyplot
at once (pyplot forgets it, no notebook shows it; the Figure itself still saves). The
database is opened read-only: a report never writes into the study it reads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.columns import OUTCOMES
from ganstudy.report.cells import laid_out, value_label
from ganstudy.report.figures.dirac import grid_drawn
from ganstudy.report.sampled import is_sampled
from ganstudy.report.study import LABELS, NO_OUTCOME, Study, has
from ganstudy.report.style import OUTCOME_COLORS, Skip, figure
from ganstudy.study.results import OPTUNA_FILE

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def fig_sampled_runs(s: Study) -> tuple[Figure, str]:
    """A sampled study's runs as points: outcome over (lr_d/lr_g, k) and the final
    study metric over lr_d/lr_g, one column per loss."""
    if not is_sampled(s):
        raise Skip(
            "a grid study: "
            + (
                "the phase diagram has a cell for each of its settings"
                if grid_drawn(s)
                else "the (θ, ψ) figure has a panel for each of its configurations"
            )
        )
    if "lr_ratio" not in s.runs or s.runs["lr_ratio"].isna().all():
        raise Skip("the tables have no lr_d/lr_g")
    r = s.runs[s.runs["lr_ratio"] > 0]
    rows = ["k", s.metric] if "k" in r and has(r, s.metric) else ["k" if "k" in r else s.metric]
    fig, axes = figure(len(rows), len(s.panels), sharex=True, sharey="row")
    present = [o for o in [*OUTCOMES, NO_OUTCOME] if (r["outcome"] == o).any()]
    # Replicas of one trial share (lr_d/lr_g, k): offset them a little so each run shows.
    offset = (r["replica"] - r["replica"].max() / 2) * 0.12 if "replica" in r else 0.0
    # Settings beyond the axes and panels: one marker per combination of their values.
    others = [c for c in laid_out(s) if c not in ("k", "lr_ratio") and c in r]
    combo = pd.Series(
        [", ".join(value_label(c, run[c]) for c in others) for _, run in r.iterrows()],
        index=r.index,
        dtype=object,
    )
    combos = sorted(combo.unique())
    shapes = dict(zip(combos, MARKERS, strict=False))
    if others and len(combos) > len(MARKERS):
        raise Skip(
            f"{len(combos)} combinations of {', '.join(others)}: more than the "
            f"{len(MARKERS)} marker shapes this figure tells apart"
        )
    for j, panel in enumerate(s.panels):
        d = r[r["panel"] == panel]
        for i, row in enumerate(rows):
            ax = axes[i, j]
            y = d[row] + (offset[d.index] if row == "k" and "replica" in r else 0.0)
            for outcome in present:
                for name, marker in shapes.items():
                    hit = (d["outcome"] == outcome) & (combo[d.index] == name)
                    ax.scatter(
                        d.loc[hit, "lr_ratio"],
                        y[hit],
                        s=18,
                        marker=marker,
                        color=OUTCOME_COLORS.get(outcome, "0.5"),
                        edgecolors="white",
                        linewidths=0.4,
                    )
            ax.set_xscale("log")
            ax.axvline(1, color="0.85", lw=0.6, zorder=0)
            label = "k (D steps per G step)" if row == "k" else f"final {row}"
            ax.set_ylabel(label if j == 0 else "")
            ax.set_xlabel(LABELS["lr_ratio"] if i == len(rows) - 1 else "")
        axes[0, j].set_title(panel, fontsize="medium")
    marks = [(n, Line2D([], [], ls="", marker=m, color="0.4")) for n, m in shapes.items() if n]
    fig.legend(
        [Line2D([], [], ls="", marker="o", color=OUTCOME_COLORS.get(o, "0.5")) for o in present]
        + [h for _, h in marks],
        present + [n for n, _ in marks],
        loc="outside right upper",
        frameon=False,
        fontsize="small",
        title="outcome",
    )
    caption = (
        "Every run of the sampled search as a point: its outcome over the sampled lr_d/lr_g "
        "(log axis) and k (replicas of a trial side by side)"
        + (f", and its final {s.metric} against lr_d/lr_g" if len(rows) > 1 else "")
        + "; the phase diagram bins the same runs."
        + (f" Marker shape: {', '.join(others)}." if others else "")
    )
    return fig, caption


def load_optuna(s: Study) -> Any:
    """The study's optuna.Study (read-only), or Skip saying why there is none."""
    search = s.spec.get("search") if isinstance(s.spec.get("search"), dict) else {}
    if search.get("algorithm") != "optuna":
        raise Skip(f"not an Optuna search (search algorithm {search.get('algorithm', 'grid')})")
    path = s.path / OPTUNA_FILE
    if not path.is_file():
        raise Skip(f"the study folder has no {OPTUNA_FILE}, Optuna's record of the search")
    import optuna  # about a second: only Optuna studies pay it

    storage = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    try:
        return optuna.load_study(study_name=s.name, storage=storage)
    except KeyError:
        raise Skip(f"{OPTUNA_FILE} holds no Optuna study named {s.name}") from None


def _counts(study: Any) -> dict[str, int]:
    """Trials per Optuna state, e.g. {'COMPLETE': 12, 'PRUNED': 18}."""
    counts: dict[str, int] = {}
    for trial in study.trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _optuna_figure(draw: Callable[[], Any]) -> Figure:
    """Run one optuna.visualization.matplotlib call; its Figure, out of pyplot's hands."""
    import matplotlib.pyplot as plt
    import optuna

    with matplotlib.rc_context(), warnings.catch_warnings():
        # The matplotlib views are marked experimental; the warning says nothing to a reader.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        before = set(plt.get_fignums())
        try:
            ax = draw()
        except (ValueError, RuntimeError) as err:  # e.g. too few completed trials
            for number in set(plt.get_fignums()) - before:  # a figure it opened, half drawn
                plt.close(number)
            raise Skip(f"Optuna cannot draw it: {err}") from None
        fig = ax.figure
        plt.close(fig)
    return fig


def _states(s: Study, study: Any) -> str:
    counts = _counts(study)
    listed = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    pruned = counts.get("PRUNED", 0)
    text = f" Optuna's trials: {listed}."
    if pruned:
        text += (
            f" The {pruned} PRUNED trials were stopped early by the scheduler and have no "
            "final value, so Optuna leaves them out."
        )
    return text


def fig_optuna_history(s: Study) -> tuple[Figure, str]:
    """Optuna's optimisation history: each completed trial's objective and the best so far."""
    study = load_optuna(s)
    from optuna.visualization.matplotlib import plot_optimization_history

    if not any(t.state.name == "COMPLETE" for t in study.trials):
        raise Skip("no Optuna trial completed (every one was pruned or failed)")
    fig = _optuna_figure(lambda: plot_optimization_history(study, target_name=f"final {s.metric}"))
    direction = "lowest" if s.mode == "min" else "highest"
    caption = (
        f"Optuna's optimisation history (from {OPTUNA_FILE}): the objective, final {s.metric} "
        f"(as the trial reported it to Ray Tune), of each completed trial in the order Optuna "
        f"proposed them, and the {direction} so far; a search that learns moves the best "
        "value early and then samples near it." + _states(s, study)
    )
    return fig, caption


def fig_optuna_importance(s: Study) -> tuple[Figure, str]:
    """Optuna's parameter importances over the completed trials."""
    study = load_optuna(s)
    from optuna.visualization.matplotlib import plot_param_importances

    complete = sum(t.state.name == "COMPLETE" for t in study.trials)
    if complete < 2:
        raise Skip(f"{complete} Optuna trial completed; importances need at least 2")
    fig = _optuna_figure(lambda: plot_param_importances(study, target_name=f"final {s.metric}"))
    caption = (
        f"Optuna's parameter importances (its default evaluator, PED-ANOVA) over the "
        f"{complete} completed trials: how much of the spread of final {s.metric} each "
        "sampled setting explains. With a few dozen trials these are rough: read them "
        "with the phase diagram, not instead of it." + _states(s, study)
    )
    return fig, caption
