"""Watching collapse happen: each run's mode occupancy over time (modes.parquet), which runs
the report shows and why, collapse onsets, and the modes each setting keeps.

A mode is *occupied* at an eval when it holds at least the run's `coverage_min_count`
high-quality samples: the rule `modes_captured` counts by, so a run's occupied modes at an
eval are exactly its modes_captured there. Computed once here for the figures
(figures/occupancy.py) and the findings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganstudy.columns import OUTCOMES
from ganstudy.report.cells import laid_out, severity
from ganstudy.report.study import LABELS, NO_OUTCOME, RUN, Study, fmt, has
from ganstudy.study.results import collapse_onset

MAX_PICKS = 4  # runs drawn in the occupancy figure
MAX_MODES_SHOWN = 60  # modes (rows) per panel: a 1,000-mode target shows its busiest 60
MAX_CONFIGS_LISTED = 8  # configurations named one by one in a finding; beyond, best and worst

# The outcomes whose runs' collapse onsets are drawn and counted: the labels
# metrics.classify_outcome gives only after its rule 3 (not_fitted) passed, so G was on the
# data at the end and the modes it held were held by fitting them. Left out:
# - diverged: its parameters went non-finite; the onset of its last finite evals is where
#   the run broke, not a collapse (and its evals after that are NaN);
# - not_fitted: a diffuse cloud hits modes by chance (README, "Outcome labels": 19 of
#   grid25's 25 at 1-2% high quality), so the modes it "held" come and go with noise;
# - d_dominates: decided before rule 3, so its G may be such a cloud as well; its label
#   already says what ended the run (D separates, G's gradient vanished);
# - runs without an outcome (not started, or no eval yet): nothing to judge them by.
# converged, not_converged and oscillating runs end with every mode (rules 4-7), so their
# onset is NaN: they count as runs that did not end below their peak.
ONSET_OUTCOMES: tuple[str, ...] = ("mode_collapse", "oscillating", "converged", "not_converged")
if not set(ONSET_OUTCOMES) <= set(OUTCOMES):
    raise ImportError(f"report/occupancy.py: {ONSET_OUTCOMES} not all in columns.OUTCOMES")
# How captions and findings name the rule, and why each left-out label is left out.
COUNTED = (
    "runs labelled mode_collapse, oscillating, converged or not_converged (G on the data at "
    "the end)"
)
WHY_LEFT_OUT = {
    "diverged": "its parameters went non-finite",
    "not_fitted": "a G off the data gains and drops modes by chance",
    "d_dominates": "D won first; its G may be off the data",
    NO_OUTCOME: "no label yet",
}


@dataclass
class Pick:
    """One run shown in the occupancy figure and why it was chosen."""

    trial_id: str
    replica: int
    reasons: list[str]


def occupancy(s: Study, trial_id: str, replica: int) -> pd.DataFrame:
    """One run's counts as a (mode x eval step) table: 0 where modes.parquet has no row
    (it stores nonzero counts only), NaN at evals where the replica had diverged."""
    m = s.modes
    rows = m[(m["trial_id"] == trial_id) & (m["replica"] == replica)]
    n_modes = _n_modes(s, trial_id)
    steps = _steps(s, trial_id, replica)
    table = rows.pivot_table(index="mode", columns="step", values="count", aggfunc="sum")
    table = table.reindex(index=range(n_modes), columns=steps).fillna(0)
    if s.hist is not None and "modes_captured" in s.hist:
        h = s.hist[(s.hist["trial_id"] == trial_id) & (s.hist["replica"] == replica)]
        dead = h.loc[h["modes_captured"].isna(), "step"]
        table.loc[:, table.columns.isin(dead)] = np.nan
    return table


def min_count(s: Study, trial_id: str) -> int:
    """The trial's coverage_min_count (1, the default, where the table lacks it)."""
    r = s.runs
    if "coverage_min_count" in r:
        value = r.loc[r["trial_id"] == trial_id, "coverage_min_count"].dropna()
        if len(value):
            return int(value.iloc[0])
    return 1


def drops(table: pd.DataFrame, threshold: int) -> int:
    """Mode hopping: how often a mode occupied at one eval is not at the next (summed over
    modes; evals without values (diverged) are skipped)."""
    values = table.dropna(axis=1, how="all").to_numpy()
    held = values >= threshold  # (modes, evals)
    return int((held[:, :-1] & ~held[:, 1:]).sum())


def onsets(s: Study) -> pd.Series:
    """collapse_onset per run (index trial_id, replica): trials.parquet's column, or
    computed from the history for a study written before it existed."""
    if "collapse_onset" in s.runs:
        return s.runs.set_index(RUN)["collapse_onset"].astype(float)
    if s.hist is None or "modes_captured" not in s.hist:
        return pd.Series(np.nan, index=pd.MultiIndex.from_frame(s.runs[RUN]))
    h = s.hist.sort_values("step")
    values = {
        key: collapse_onset(rows["step"], rows["modes_captured"]) for key, rows in h.groupby(RUN)
    }
    index = pd.MultiIndex.from_frame(s.runs[RUN])
    return pd.Series([values.get(key, np.nan) for key in index], index=index, dtype=float)


def onset_counted(s: Study) -> pd.Series:
    """Per run (index trial_id, replica): whether its collapse onset is drawn and counted
    (its outcome in ONSET_OUTCOMES)."""
    outcome = s.runs.set_index(RUN)["outcome"] if "outcome" in s.runs else None
    if outcome is None:
        return pd.Series(False, index=pd.MultiIndex.from_frame(s.runs[RUN]))
    return outcome.isin(ONSET_OUTCOMES)


def with_onsets(s: Study, runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` (rows of s.runs) with each run's collapse onset (`_onset`, NaN where it never
    ended below its peak) and whether it counts (`_counted`, onset_counted)."""
    index = pd.MultiIndex.from_frame(runs[RUN])
    return runs.assign(
        _onset=onsets(s).reindex(index).to_numpy(),
        _counted=onset_counted(s).reindex(index, fill_value=False).to_numpy(),
    )


def left_out(outcomes: pd.Series) -> str:
    """'10 not_fitted (a G off the data gains and drops modes by chance), 2 diverged (...)':
    the runs of `outcomes` whose onset is not counted, by label, most severe first ('' when
    none)."""
    out = outcomes.fillna(NO_OUTCOME)
    counts = out[~out.isin(ONSET_OUTCOMES)].value_counts()
    ordered = sorted(counts.items(), key=lambda on: severity(on[0]))
    return ", ".join(
        f"{n} {o}" + (f" ({WHY_LEFT_OUT[o]})" if o in WHY_LEFT_OUT else "") for o, n in ordered
    )


def has_occupancy(s: Study) -> bool:
    """Whether there is anything to draw: modes.parquet rows and more than one mode."""
    return s.modes is not None and not s.modes.empty and _n_modes(s, None) > 1


def pick_runs(s: Study) -> list[Pick]:
    """The runs the occupancy figure shows, each with why: the most mode hopping, the latest
    and the earliest collapse onset (all three among ONSET_OUTCOMES' runs), the most modes
    kept at the end (for contrast); a run chosen twice is shown once with both reasons."""
    keys = [(str(t), int(r)) for t, r in s.runs[RUN].itertuples(index=False)]
    present = set(map(tuple, s.modes[RUN].drop_duplicates().itertuples(index=False)))
    keys = [k for k in keys if k in present]
    if not keys:
        return []
    hops = {k: drops(occupancy(s, *k), min_count(s, k[0])) for k in keys}
    onset = onsets(s)
    final = s.runs.set_index(RUN)["modes_captured"] if has(s.runs, "modes_captured") else None
    picks: dict[tuple[str, int], list[str]] = {}

    def add(key: tuple[str, int] | None, reason: str) -> None:
        if key is not None and (key in picks or len(picks) < MAX_PICKS):
            picks.setdefault(key, []).append(reason)

    # Hopping and onsets only where they mean a G moving between or losing modes of the data
    # (ONSET_OUTCOMES): a G that never fitted it gains and drops "modes" with stray samples.
    counted = onset_counted(s)
    on_data = [k for k in keys if counted.get(k, False)]
    hopper = max(on_data, key=lambda k: hops[k], default=None)
    if hopper is not None and hops[hopper] > 0:
        add(hopper, f"most mode hopping ({hops[hopper]} times a mode was dropped)")
    timed = [(onset.get(k, np.nan), k) for k in on_data]
    timed = [(t, k) for t, k in timed if np.isfinite(t)]
    if timed:
        latest = max(timed, key=lambda tk: tk[0])
        add(latest[1], f"latest collapse onset (step {latest[0]:g})")
        earliest = min(timed, key=lambda tk: tk[0])
        add(earliest[1], f"earliest collapse onset (step {earliest[0]:g})")
    if final is not None:
        best = max(keys, key=lambda k: np.nan_to_num(final.get(k, np.nan), nan=-1))
        add(best, f"most modes at the end ({final.get(best, np.nan):g})")
    return [Pick(t, r, reasons) for (t, r), reasons in picks.items()]


def label(s: Study, trial_id: str, skip: tuple[str, ...] = ()) -> str:
    """The swept settings of a trial, e.g. 'pack=4, unroll=5, loss=minimax'."""
    run = s.runs[s.runs["trial_id"] == trial_id].iloc[0]
    keys = [c for c in own_settings(s, keep_target=True) if c in run and c not in skip]
    return ", ".join(f"{LABELS.get(c, c)}={fmt(run[c])}" for c in keys) or trial_id


def own_settings(s: Study, keep_target: bool = False) -> list[str]:
    """The swept settings that tell configurations apart, each once, as the figures lay them
    out (cells.laid_out): a ratio stands for its one swept part (lr_d/lr_g for lr_d), and
    where a grid sweeps both widths they are named, as d_width/g_width = 1 would not tell
    32/32 from 128/128."""
    panel = [c for c in ("loss", "target") if c in s.swept and (keep_target or c != "target")]
    return [*panel, *laid_out(s)]


def modes_kept(s: Study) -> list[str]:
    """Findings: per target, the modes captured at the end per value of each swept setting
    and per configuration (median and range over replicas), and how many runs lost modes
    they had held (collapse_onset), counting only the runs whose onset means a collapse
    (ONSET_OUTCOMES) and naming the ones left out."""
    if not has(s.runs, "modes_captured") or not has(s.runs, "n_modes"):
        return []
    every = with_onsets(s, s.runs)  # the onset sentence counts every run, a diverged one too
    r = every[every["modes_captured"].notna()]
    by_target = r.groupby("target") if "target" in r else [("", r)]
    out = []
    for target, d in by_target:
        n_modes = int(d["n_modes"].max())
        if n_modes <= 1:
            continue
        name = f"{target} ({n_modes} modes)" if target else f"{n_modes} modes"
        settings = [c for c in own_settings(s) if c in d and 1 < d[c].nunique() <= 6]
        parts = []
        off = d["outcome"] == "not_fitted"
        apart = not off.all()  # all off the data: nothing to count apart, said once below
        for c in settings:
            values = [f"{fmt(v)}: {_spread(g, apart)}" for v, g in d.groupby(c, sort=True)]
            parts.append(f"{LABELS.get(c, c)} " + ", ".join(values))
        text = f"Modes kept at the end on {name}, median [range] over runs"
        if off.all():
            text += " (every one not_fitted: G off the data by the label's rule)"
        elif off.any():
            text += " but not_fitted ones (G off the data), counted apart"
        text += (" — " + "; ".join(parts)) if parts else f": {_spread(d, apart)}"
        out.append(text + ".")
        out += _per_configuration(s, d, name)
        runs = every[every["target"] == target] if "target" in every else every
        out += _onset_sentence(runs, name)
    return out


def _onset_sentence(d: pd.DataFrame, name: str) -> list[str]:
    """How many of the counted runs of one target (ONSET_OUTCOMES) ended below the most
    modes they had held, and when; the runs left out, by label. Nothing when no run, counted
    or not, has an onset (no run ended below its peak: there is nothing to leave out)."""
    counted = d[d["_counted"]]
    onset = counted["_onset"].dropna()
    if not d["_onset"].notna().any():
        return []
    excluded = left_out(d["outcome"])
    note = f"; left out: {excluded}" if excluded else ""
    if not len(counted):
        return [f"On {name}, no run's collapse onset counts (only {COUNTED} do){note}."]
    if not len(onset):
        return [
            f"On {name}, none of the {len(counted)} {COUNTED} ended with fewer modes than "
            f"they had held{note}."
        ]
    first, last = onset.min(), onset.max()
    when = (
        f"at step {first:g}"
        if first == last
        else f"from step {first:g} to {last:g} (median {onset.median():g})"
    )
    return [
        f"On {name}, {len(onset)} of the {len(counted)} {COUNTED} ended with fewer modes "
        f"than they had held (collapse_onset defined), {when}{note}."
    ]


def _per_configuration(s: Study, d: pd.DataFrame, name: str) -> list[str]:
    """Modes kept per configuration (each replica's count), best first; with many
    configurations only the best and the worst few."""
    by = d.groupby("trial_id", sort=False)["modes_captured"]
    if by.ngroups < 2:
        return []
    rank = pd.DataFrame({"median": by.median(), "mean": by.mean()})  # the mean breaks ties
    order = list(rank.sort_values(["median", "mean"], ascending=False, kind="stable").index)

    def listed(trials: list[str]) -> str:
        items = []
        for trial in trials:
            values = sorted(d.loc[d["trial_id"] == trial, "modes_captured"], reverse=True)
            counts = "/".join(f"{v:g}" for v in values)
            items.append(f"{label(s, trial, skip=('target',))}: {counts}")
        return "; ".join(items)

    head = f"Per configuration on {name}, each replica's modes at the end"
    if len(order) <= MAX_CONFIGS_LISTED:
        return [f"{head}, best first — {listed(order)}."]
    half = MAX_CONFIGS_LISTED // 2
    return [
        f"{head}: the best {half} — {listed(order[:half])}; the worst {half} — "
        f"{listed(order[-half:])} ({len(order) - 2 * half} configurations between)."
    ]


def _spread(runs: pd.DataFrame, apart: bool = True) -> str:
    """'6 [2–8] (n=12)': median and range of modes_captured, which stay inside [0, n_modes],
    over the runs not labelled not_fitted; those are left out where others are ('(n=3, 3
    not_fitted left out)') and are all there is to show where none is ('not_fitted only:
    150 [147–154] (n=3)': on stacked digits a G off the data by the label's rule still
    reaches hundreds of modes, and how many depends on the settings). apart=False: every
    run of the target is off the data, which modes_kept says once; all are counted as one."""
    off = (runs["outcome"] == "not_fitted") & apart
    on = runs.loc[~off, "modes_captured"].dropna()
    if not len(on):
        v = runs["modes_captured"].dropna()
        return f"{'not_fitted only: ' if off.any() else ''}{_median_range(v)} (n={len(v)})"
    left = f", {int(off.sum())} not_fitted left out" if off.any() else ""
    return f"{_median_range(on)} (n={len(on)}{left})"


def _median_range(v: pd.Series) -> str:
    return f"{v.median():g} [{v.min():g}–{v.max():g}]"


def _n_modes(s: Study, trial_id: str | None) -> int:
    r = s.runs if trial_id is None else s.runs[s.runs["trial_id"] == trial_id]
    if has(r, "n_modes"):
        return int(r["n_modes"].max())
    return int(s.modes["mode"].max()) + 1 if s.modes is not None and len(s.modes) else 0


def _steps(s: Study, trial_id: str, replica: int) -> list[int]:
    """A run's eval steps: from its history (so evals with no occupied mode are columns)."""
    if s.hist is not None:
        h = s.hist[(s.hist["trial_id"] == trial_id) & (s.hist["replica"] == replica)]
        if len(h):
            return sorted(int(v) for v in h["step"].unique())
    m = s.modes
    return sorted(int(v) for v in m.loc[m["trial_id"] == trial_id, "step"].unique())
