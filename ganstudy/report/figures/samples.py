"""Sample snapshots: generated samples at a few steps for the best, the worst and one run
per outcome, each drawn by the drawer of its target's `picture` (drawers.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ganstudy.columns import OUTCOMES
from ganstudy.report.drawers import DRAWERS, target_of
from ganstudy.report.figures.dirac import skip_for_dirac
from ganstudy.report.study import NO_OUTCOME, RUN, Study, describe
from ganstudy.report.style import Skip, figure, num

MAX_RUNS = 6  # rows of the figure
MAX_STEPS = 4  # columns: evaluation steps spread over training


def pick_runs(s: Study, available: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """Best, worst and one run per outcome not yet shown (at most 6), by the study metric."""
    runs = s.runs.merge(available, on=RUN)
    if runs.empty:
        return []
    ascending = s.mode != "max"
    if s.metric in runs:
        runs = runs.sort_values(s.metric, ascending=ascending, na_position="last")
    chosen: list[tuple[str, pd.Series]] = [("best", runs.iloc[0])]
    if len(runs) > 1:
        chosen.append(("worst", runs.iloc[-1]))
    seen = {(r["trial_id"], r["replica"]) for _, r in chosen}
    shown = {r["outcome"] for _, r in chosen}
    for outcome in [*OUTCOMES, NO_OUTCOME]:
        if outcome in shown:
            continue
        match = runs[runs["outcome"] == outcome]
        pairs = zip(match["trial_id"], match["replica"], strict=True)
        match = match[[pair not in seen for pair in pairs]]
        if len(match):
            chosen.append((outcome, match.iloc[0]))
            seen.add((match.iloc[0]["trial_id"], match.iloc[0]["replica"]))
        if len(chosen) >= MAX_RUNS:
            break
    return chosen


def fig_samples(s: Study) -> tuple[Figure, str]:
    """Generated samples at a few steps, for chosen runs, as their target pictures them."""
    skip_for_dirac(s, "samples")
    if s.samples is None:
        raise Skip("samples.parquet is missing")
    if "target" not in s.runs:
        raise Skip("the tables do not say which target was trained, so there is no picture")
    cols = sorted(
        [c for c in s.samples.columns if c.startswith("x") and c[1:].isdigit()],
        key=lambda c: int(c[1:]),
    )
    chosen = pick_runs(s, s.samples[RUN].drop_duplicates())
    if not chosen:
        raise Skip("no sampled run matches a trial in the tables")
    targets = [target_of(run) for _, run in chosen]
    for target in targets:
        if target.picture not in DRAWERS:
            raise Skip(f"no drawer for the {target.picture!r} picture of {target.name}")
        DRAWERS[target.picture].check(target)
    by_run = {key: g for key, g in s.samples.groupby(RUN)}
    n_cols = min(
        MAX_STEPS,
        max(len(by_run[(r["trial_id"], r["replica"])]["step"].unique()) for _, r in chosen),
    )
    first = DRAWERS[targets[0].picture]
    w, h = first.panel(targets[0])
    fig, axes = figure(len(chosen), n_cols, w=w, h=h)
    for i, ((why, run), target) in enumerate(zip(chosen, targets, strict=True)):
        g = by_run[(run["trial_id"], run["replica"])]
        steps = sorted(g["step"].unique())
        picks = [
            steps[j] for j in np.unique(np.linspace(0, len(steps) - 1, n_cols).round().astype(int))
        ]
        picks = [int(p) for p in picks]
        for j in range(n_cols):
            ax = axes[i, j]
            if j >= len(picks):
                ax.set_axis_off()
                continue
            pts = g.loc[g["step"] == picks[j], cols].to_numpy(dtype=float)  # (n, dim)
            DRAWERS[target.picture].draw(ax, pts, target, g)
            ax.set_title(f"step {picks[j]}", fontsize="small")
        # One setting per line: the label runs along a panel only ~2 inches tall.
        label = f"{why}: {run['outcome']}\n" + describe(s, run).replace(", ", "\n")
        metric = run.get(s.metric)
        if metric is not None and pd.notna(metric):
            label += f"\n{s.metric} {num(metric)}"
        axes[i, 0].set_ylabel(label, fontsize="x-small")
    return fig, first.caption(targets[0])
