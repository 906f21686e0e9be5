"""The phase-diagram grid: which settings are its axes, each run's cell, the majority vote."""

from __future__ import annotations

import pandas as pd

from ganstudy.report.sampled import axis_values
from ganstudy.report.study import NO_OUTCOME, Study, fmt

# A tied majority vote goes to the more severe outcome: a cell that failed in half of its
# replicas is not a region where training is in balance.
SEVERITY = (
    "diverged",
    "d_dominates",
    "not_fitted",
    "mode_collapse",
    "oscillating",
    "not_converged",
    "converged",
    NO_OUTCOME,
)


def grid_axes(s: Study) -> tuple[str | None, str | None, str | None]:
    """(x, y, row) variables of the phase-diagram grid: k, lr ratio, capacity ratio."""
    x = "k" if "k" in s.runs else None
    y = "lr_ratio" if "lr_ratio" in s.runs else None
    row = "cap_ratio" if "cap_ratio" in s.swept else None
    return x, y, row


def cells(s: Study) -> pd.DataFrame:
    """Runs with the grid keys _x, _y, _row filled (a missing axis becomes one 'all' cell;
    a sampled study's continuous axis becomes log-spaced bins, `sampled.axis_values`)."""
    x, y, row = grid_axes(s)
    r = s.runs.copy()
    r["_x"] = axis_values(s, r[x]) if x else "all"
    r["_y"] = axis_values(s, r[y]) if y else "all"
    r["_row"] = axis_values(s, r[row]) if row else "all"
    r["panel"] = r["panel"].fillna("unknown trial")
    return r


def majority(outcomes: pd.Series) -> tuple[str, int, int]:
    """(majority outcome, its count, number of runs); ties go to the more severe outcome."""
    counts = outcomes.value_counts()
    top = counts.max()
    winner = min(counts[counts == top].index, key=severity)
    return winner, int(top), int(counts.sum())


def severity(outcome: str) -> int:
    """Rank of an outcome, most severe first; unknown labels last."""
    return SEVERITY.index(outcome) if outcome in SEVERITY else len(SEVERITY)


def cell_name(s: Study, key: tuple) -> str:
    """A (_y, _x, _row) cell named by the swept settings, e.g. 'k=5, lr_d/lr_g=4'."""
    x, y, row = grid_axes(s)
    parts = []
    if x and "k" in s.swept:
        parts.append(f"k={fmt(key[1])}")
    if y and "lr_ratio" in s.swept:
        parts.append(f"lr_d/lr_g={fmt(key[0])}")
    if row:
        parts.append(f"d_width/g_width={fmt(key[2])}")
    return ", ".join(parts)
