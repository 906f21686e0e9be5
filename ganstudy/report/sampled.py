"""Sampled studies (random and Optuna searches): continuous axes as log-spaced bins, swept
values as ranges.

A grid sweeps a few values the user chose, each its own row of the phase diagram and each
listed on the page. A search samples a value per trial, so 30 trials give 30 learning-rate
ratios: a row each leaves the diagram mostly empty, and a list of 30 numbers says less than
their range. So in a sampled study a numeric axis with more than MAX_BINS distinct values
is cut into at most MAX_BINS bins whose edges are powers of 2^m (the smallest m that keeps
the count within MAX_BINS): a bin reads "1/4–1" or "4–16", 1 is always an edge (equal
learning rates start a bin) and the same edges come back from study to study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganstudy.report.study import LABELS, Study, fmt

MAX_BINS = 6  # values (or bins) an axis of the phase diagram shows; beyond, cells go empty


@dataclass(frozen=True, order=True)
class Bin:
    """The values v with lo <= v < hi; integer bins are shown as the integers they hold."""

    lo: float
    hi: float
    integer: bool = False

    def __str__(self) -> str:
        if self.integer:
            first, last = math.ceil(self.lo), math.ceil(self.hi) - 1
            return str(first) if first == last else f"{first}–{last}"
        return f"{fmt(float(self.lo))}–{fmt(float(self.hi))}"


def is_sampled(s: Study) -> bool:
    """Whether the study's trials were sampled (random or Optuna search), not a grid."""
    search = s.spec.get("search")
    return isinstance(search, dict) and search.get("algorithm") not in (None, "grid")


def is_continuous(s: Study, values: pd.Series) -> bool:
    """A sampled study's numeric axis with more distinct values than MAX_BINS."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return is_sampled(s) and numeric and values.nunique() > MAX_BINS


def log_bins(values: pd.Series, max_bins: int = MAX_BINS) -> pd.Series:
    """Each value's Bin (object Series, NaN stays NaN): edges at powers of 2^m, the smallest
    m >= 1 giving at most max_bins bins over the values' range. Values <= 0 (no logarithm)
    come back unchanged."""
    finite = values[np.isfinite(values.astype(float))]
    if finite.empty or (finite <= 0).any():
        return values
    exps = np.log2(finite.to_numpy(dtype=float))
    integer = bool((finite == np.round(finite)).all())
    m = 1
    # Bins j = floor(log2(v) / m), so a bin is [2^(m j), 2^(m (j + 1))).
    while math.floor(exps.max() / m) - math.floor(exps.min() / m) + 1 > max_bins:
        m += 1

    def bin_of(v: Any) -> Any:
        if not (isinstance(v, int | float | np.number) and np.isfinite(v)):
            return v
        # A value a rounding error below an edge (2^(m j) computed as 3.9999999) stays in
        # the bin it names: round the exponent to 12 digits first.
        j = math.floor(round(math.log2(v) / m, 12))
        return Bin(float(2.0 ** (m * j)), float(2.0 ** (m * (j + 1))), integer)

    return values.map(bin_of).astype(object)


def axis_values(s: Study, values: pd.Series) -> pd.Series:
    """An axis of the phase diagram as drawn: binned when continuous, else as it is."""
    return log_bins(values) if is_continuous(s, values) else values


def value_summary(s: Study, name: str, values: pd.Series) -> str:
    """How the page's 'Swept' line shows one setting: 'k ∈ {1, 2}' for a few values,
    'lr_d ∈ [0.000105, 0.00966] (30 distinct)' for a continuous one."""
    present = values.dropna()
    if is_continuous(s, present):
        lo, hi = float(present.min()), float(present.max())
        return f"{name} ∈ [{fmt(lo)}, {fmt(hi)}] ({present.nunique()} distinct)"
    listed = sorted(present.unique(), key=lambda v: (str(type(v)), v))
    return f"{name} ∈ {{{', '.join(fmt(v) for v in listed)}}}"


def bins_note(s: Study, columns: dict[str, pd.Series]) -> str:
    """Caption clause naming the axes drawn as bins, e.g. ' lr_d/lr_g was sampled (30
    distinct values): its cells are bins [lo, hi) a factor of 4 wide.'"""
    parts = []
    for name, values in columns.items():
        if not is_continuous(s, values):
            continue
        binned = log_bins(values).dropna()
        some = next((b for b in binned if isinstance(b, Bin)), None)
        if some is None:
            continue
        width = fmt(float(some.hi / some.lo))
        parts.append(
            f"{LABELS.get(name, name)} was sampled ({values.nunique()} distinct values): its "
            f"cells are bins [lo, hi) a factor of {width} wide"
        )
    return (" " + "; ".join(parts) + ".") if parts else ""
