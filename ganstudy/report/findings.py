"""Tables and sentences from the runs: summary.csv, outcomes.csv and findings.md.

Every number in a sentence is computed from the tables here; nothing is hard-coded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganstudy.columns import LOSS_NAMES, OUTCOMES, why_nan
from ganstudy.report.cells import SEVERITY, cell_name, cells, majority, severity
from ganstudy.report.figures.calibration import GROUP, Groups, calibration_groups, pooled_words
from ganstudy.report.figures.dirac import dirac_findings
from ganstudy.report.occupancy import modes_kept, own_settings
from ganstudy.report.sampled import axis_values
from ganstudy.report.study import (
    LABELS,
    NO_OUTCOME,
    RATIOS,
    RUN,
    Study,
    describe,
    fmt,
    has,
    listed,
    partial_sentence,
)
from ganstudy.report.style import num
from ganstudy.report.words import signed, words


def summary_table(s: Study) -> pd.DataFrame:
    """Configurations ranked by the study metric: mean ± sd over replicas, outcome counts."""
    r = s.runs
    keys = [c for c in s.swept if c in r and c not in RATIOS]
    for derived in RATIOS:
        if derived in s.swept:
            keys.append(derived)
    grouped = r.groupby("trial_id", sort=False)
    table = grouped[keys].first() if keys else pd.DataFrame(index=grouped.size().index)
    table["replicas"] = grouped.size()
    if s.metric in r:
        # A replica without a value (diverged, NaN) leaves its configuration without a mean, so
        # it ranks last: averaging only the seeds that survived would flatter it. sd is over
        # replicas with ddof=1 (pandas' default), NaN for a single replica.
        values = grouped[s.metric]
        table[f"{s.metric}_mean"] = values.apply(lambda v: v.mean(skipna=False))
        table[f"{s.metric}_sd"] = values.apply(lambda v: v.std(skipna=False))
    counts = pd.crosstab(r["trial_id"], r["outcome"])
    for outcome in [*OUTCOMES, *[o for o in counts.columns if o not in OUTCOMES]]:
        table[outcome] = counts[outcome] if outcome in counts else 0
        table[outcome] = table[outcome].fillna(0).astype(int)
    table["majority"] = grouped["outcome"].apply(lambda o: majority(o)[0])
    if f"{s.metric}_mean" in table:
        table = table.sort_values(
            f"{s.metric}_mean", ascending=s.mode != "max", na_position="last", kind="stable"
        )
    table = table.reset_index()
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def outcome_table(s: Study) -> pd.DataFrame:
    """Outcome counts per loss (runs = trial x replica)."""
    by = s.runs["loss"] if "loss" in s.runs else pd.Series("all runs", index=s.runs.index)
    table = pd.crosstab(by.rename("loss"), s.runs["outcome"])
    present = [o for o in [*OUTCOMES, NO_OUTCOME] if o in table] + [
        o for o in table if o not in OUTCOMES and o != NO_OUTCOME
    ]
    table = table[present]
    order = {name: i for i, name in enumerate(LOSS_NAMES)}
    table = table.loc[sorted(table.index, key=lambda v: (order.get(v, 99), v))]
    table["runs"] = table.sum(axis=1)
    table.columns.name = None  # crosstab's "outcome" label would print as a stray header row
    return table.reset_index()


def frac(n: int, total: int) -> str:
    return f"{n}/{total}"


def _fold_change(s: Study, runs: pd.DataFrame, metric: str) -> float | None:
    """Median over runs of (first / last evaluation) of a metric; None when undefined."""
    if s.hist is None or metric not in s.hist:
        return None
    h = s.hist.merge(runs[RUN], on=RUN).sort_values("step")
    h = h[np.isfinite(h[metric]) & (h[metric] > 0)]
    ends = h.groupby(RUN)[metric].agg(["first", "last"])
    if ends.empty:
        return None
    return float((ends["first"] / ends["last"]).median())


# The findings' groups, in page order (the answer comes before all of them).
GROUPS = ("Outcomes", "Where runs failed", "Modes", "Estimators", "Replicas")


def findings(s: Study) -> list[str]:
    """Every sentence of the report, the answer first, then each group's (flat, for
    findings.md and tests)."""
    return answer(s) + [line for lines in grouped(s).values() for line in lines]


def findings_markdown(s: Study) -> str:
    """findings.md: the answer, then the grouped findings, each a bullet list."""
    parts = ["## The answer\n\n" + "".join(f"- {line}\n" for line in answer(s))]
    for group, lines in grouped(s).items():
        parts.append(f"## {group}\n\n" + "".join(f"- {line}\n" for line in lines))
    return "\n".join(parts)


def grouped(s: Study) -> dict[str, list[str]]:
    """The detailed findings by group (GROUPS order, empty groups left out): sentences with
    numbers, generated from the tables (nothing here is hard-coded)."""
    r = cells(s)
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    total = len(r)
    counts = r["outcome"].value_counts()
    n_cfg = r["trial_id"].nunique()
    overview = ", ".join(f"{o} {frac(int(n), total)}" for o, n in counts.items())
    groups["Outcomes"].append(
        f"{n_cfg} configuration{'s' * (n_cfg != 1)}, {total} run{'s' * (total != 1)} "
        f"(trial × replica): {overview}."
    )
    summary = summary_table(s)
    col = f"{s.metric}_mean"
    if col in summary and summary[col].notna().any():
        best = summary.iloc[0]
        run = r[r["trial_id"] == best["trial_id"]].iloc[0]
        sd = best[f"{s.metric}_sd"]
        spread = f" ± {num(sd)}" if pd.notna(sd) else ""
        groups["Outcomes"].append(
            f"Best by {s.metric} ({s.mode}): {describe(s, run)} — {num(best[col])}{spread} over "
            f"{int(best['replicas'])} replica{'s' * int(best['replicas'] != 1)}, "
            f"{best['majority']} in {int(best[best['majority']])}/{best['replicas']}."
        )
    groups["Outcomes"] += _saturating(r)
    groups["Where runs failed"] = _failure_regions(s, r)
    groups["Modes"] = modes_kept(s)  # how many modes each setting keeps, over runs
    groups["Estimators"] = _calibration_findings(s)
    groups["Replicas"] = _replicas(s, r, n_cfg)
    return {g: lines for g, lines in groups.items() if lines}


def _failure_regions(s: Study, r: pd.DataFrame) -> list[str]:
    """Failure regions of the phase diagram, one sentence per (panel, outcome)."""
    out = []
    for panel in s.panels:
        d = r[r["panel"] == panel]
        for outcome in [o for o in SEVERITY if o not in ("converged", NO_OUTCOME)]:
            hits = []
            for key, cell in d.groupby(["_y", "_x", "_row"]):
                n = int((cell["outcome"] == outcome).sum())
                if n and majority(cell["outcome"])[0] == outcome:
                    hits.append((n / len(cell), n, len(cell), key))
            if not hits:
                continue
            hits.sort(key=lambda c: (-c[0], -c[2]))
            where = [
                f"{frac(n, t)} replicas" + (f" at {cell_name(s, key)}" if cell_name(s, key) else "")
                for _, n, t, key in hits[:3]
            ]
            more = f" (and {len(hits) - 3} more cells)" if len(hits) > 3 else ""
            text = f"{panel} ended {outcome} in " + "; ".join(where) + more
            hit = d[d["outcome"] == outcome]
            text += _evidence(s, outcome, hit)
            out.append(text + ".")
    return out


def _saturating(r: pd.DataFrame) -> list[str]:
    """Saturating vs non-saturating generator loss: the paper's claim, measured."""
    if "loss" not in r or not {"minimax", "nonsaturating"} <= set(r["loss"]):
        return []
    parts = []
    for loss in ("minimax", "nonsaturating"):
        d = r[(r["loss"] == loss) & (r["outcome"] != NO_OUTCOME)]  # runs that were measured
        conv = int((d["outcome"] == "converged").sum())
        g = d["grad_norm_g"].median() if "grad_norm_g" in d else float("nan")
        parts.append((loss, conv, len(d), g))
    text = (
        "Saturating vs non-saturating generator loss: minimax converged in "
        f"{frac(parts[0][1], parts[0][2])} runs, nonsaturating in "
        f"{frac(parts[1][1], parts[1][2])}"
    )
    if all(pd.notna(p[3]) for p in parts):
        text += f"; median final grad_norm_g {num(parts[0][3])} vs {num(parts[1][3])}"
    return [text + "."]


def _replicas(s: Study, r: pd.DataFrame, n_cfg: int) -> list[str]:
    """Replicas of one configuration that disagree: the spread a single seed would hide.
    Only runs with an outcome vote: a pending run has not disagreed with anyone yet."""
    decided = r[r["outcome"] != NO_OUTCOME]
    split = decided.groupby("trial_id")["outcome"].nunique()
    split = split[split > 1]
    if len(split):
        example = r[r["trial_id"] == split.index[0]]
        what = ", ".join(f"{o} {n}" for o, n in example["outcome"].value_counts().items())
        return [
            f"{len(split)} of {n_cfg} configurations had replicas ending in different outcomes "
            f"(e.g. {describe(s, example.iloc[0])}: {what})."
        ]
    if len(decided) > decided["trial_id"].nunique():
        return ["Every configuration's replicas agreed on the outcome."]
    return []


Z95 = 1.959964  # the normal quantile of a two-sided 95% interval


def wilson(n: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a share n / total: inside [0, 1] even at 0 or total hits
    (where the normal approximation's would leave the range)."""
    if total == 0:
        return (0.0, 1.0)
    p = n / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def _share(n: int, total: int) -> str:
    """'5/10 runs (24–76%)': a count with its 95% Wilson interval."""
    low, high = wilson(n, total)
    return f"{n}/{total} runs ({100 * low:.0f}–{100 * high:.0f}%)"


# Settings the answer compares at most (the ones whose values differ most in balance).
ANSWER_SETTINGS = 3


def answer(s: Study) -> list[str]:
    """The first screen: what the study shows, stated with the 95% Wilson interval of every
    share, so a claim that rests on a few runs carries its uncertainty.

    1. How many runs kept D and G in balance (converged) and how many failed, by outcome.
    2. Per swept setting (up to ANSWER_SETTINGS, largest difference first): the value that
       converged most and least; "apart" only where the two intervals do not overlap.
    3. Per failure outcome: the setting value where it was commonest.
    A Dirac-GAN study adds where its runs ended: the distance to (0, 0) reached.

    GAN runs in float32 are chaotic (replicas of one setting end differently, and a study
    rerun on another machine moves counts by several runs), hence the intervals.
    """
    out: list[str] = [partial_sentence(s.partial)] if s.partial else []
    r = s.runs
    decided = r[r["outcome"] != NO_OUTCOME]
    if decided.empty:
        return [*out, "No run has an outcome yet, so the study answers nothing so far."]
    total = len(decided)
    balanced = int((decided["outcome"] == "converged").sum())
    failures = decided.loc[decided["outcome"] != "converged", "outcome"].value_counts()
    failures = failures.loc[sorted(failures.index, key=severity)]
    text = f"D and G stayed in balance (converged) in {_share(balanced, total)}"
    if len(failures):
        text += "; the rest ended " + ", ".join(
            f"{o} in {_share(int(n), total)}" for o, n in failures.items()
        )
    # On the Dirac-GAN where the runs ended is the answer; the labels come second.
    out += dirac_findings(s)
    out.append(text + ".")
    settings = [c for c in own_settings(s, keep_target=True) if c in decided]
    out += _by_setting(s, decided, settings)
    where = [_commonest(s, decided, settings, outcome) for outcome in failures.index]
    if any(where):
        out.append("Each failure was commonest with " + "; ".join(w for w in where if w) + ".")
    if s.perturbed:
        out.append(s.perturbed + ".")
    out.append("Ranges in % are 95% Wilson intervals over runs.")
    return out


def _counts(s: Study, runs: pd.DataFrame, setting: str, outcome: str) -> pd.DataFrame:
    """Per value of a setting (binned where sampled): runs with the outcome (sum), runs."""
    hit = runs["outcome"] == outcome
    return hit.groupby(axis_values(s, runs[setting]), sort=True).agg(["sum", "size"])


def _by_setting(s: Study, decided: pd.DataFrame, settings: list[str]) -> list[str]:
    """Per swept setting, largest difference first (ANSWER_SETTINGS of them), the value that
    converged most and least, and which differences are beyond their intervals."""
    contrasts = []
    for c in settings:
        hits = _counts(s, decided, c, "converged")
        if len(hits) < 2:
            continue
        rate = hits["sum"] / hits["size"]
        contrasts.append((rate.max() - rate.min(), c, hits, rate))
    contrasts.sort(key=lambda x: -x[0])
    out, apart = [], []
    for gap, c, hits, rate in contrasts[:ANSWER_SETTINGS]:
        name = LABELS.get(c, c)
        if gap == 0:
            out.append(f"By {name}: the same share converged at every value.")
            continue
        best, worst = _tied(hits, rate, rate.max()), _tied(hits, rate, rate.min())
        out.append(f"By {name}: converged in {_at(name, hits, best)}, in {_at(name, hits, worst)}.")
        # Of tied values the one with the most runs: its interval is the narrowest.
        good, bad = (tuple(int(x) for x in hits.loc[v[0]]) for v in (best, worst))
        if wilson(*good)[0] > wilson(*bad)[1]:
            apart.append(f"{name} ({_values(best)} over {_values(worst)})")
    if apart:
        out.append("Apart beyond their intervals: " + "; ".join(apart) + ".")
    elif any(gap > 0 for gap, *_ in contrasts[:ANSWER_SETTINGS]):
        out.append("At these run counts no difference between settings is beyond the intervals.")
    if len(contrasts) > ANSWER_SETTINGS:  # sorted by gap: the rest moved it no more
        rest = contrasts[ANSWER_SETTINGS:]
        names = ", ".join(LABELS.get(c, c) for _, c, *_ in rest)
        if all(gap == 0 for gap, *_ in rest):
            out.append(f"By {names}: the same share converged at every value too.")
        else:
            out.append(
                f"{names} changed the share of balanced runs no more than these (see the "
                "findings below)."
            )
    return out


def _commonest(s: Study, decided: pd.DataFrame, settings: list[str], outcome: str) -> str:
    """'mode_collapse in 3/4 runs (30–95%) at k=5': the setting value with the largest share of
    an outcome (between settings, ties go to more runs; every value tied with it, of that
    setting or another, is named); 'not_fitted alike at every value of every setting' where
    its share is the same at every value; '' where no setting has two values."""
    found, alike = [], False
    for c in settings:
        hits = _counts(s, decided, c, outcome)
        if len(hits) < 2:
            continue
        share = hits["sum"] / hits["size"]
        if share.max() == share.min():  # no value of this setting is where it was commonest
            alike = True
            continue
        values = _tied(hits, share, share.max())
        found.append(((share.max(), int(hits.loc[values[0], "sum"])), c, hits, values))
    if not found:
        return f"{outcome} alike at every value of every setting" if alike else ""
    top = max(key for key, *_ in found)
    return f"{outcome} in " + " and in ".join(
        _at(LABELS.get(c, c), hits, values) for key, c, hits, values in found if key == top
    )


def _values(values: list) -> str:
    """'1', '1 and 5', '1, 5 and 10': setting values as the answer lists them."""
    return listed([fmt(v) for v in values])


def _tied(hits: pd.DataFrame, share: pd.Series, value: float) -> list:
    """The values whose share (hits' sum / size) is `value`, most runs first."""
    at = hits[share == value]
    return list(at.sort_values("size", ascending=False, kind="stable").index)


def _at(name: str, hits: pd.DataFrame, values: list) -> str:
    """'1/3 runs (6–79%) at loss=hinge', '1/3 runs (6–79%) each at loss=hinge and minimax'
    for tied values (values with the same share from other run counts get a count of their
    own: '2/4 runs (…) at k=1 and 1/2 runs (…) at k=5')."""
    by_count: dict[tuple[int, int], list] = {}
    for v in values:
        by_count.setdefault(tuple(int(x) for x in hits.loc[v, ["sum", "size"]]), []).append(v)
    return " and ".join(
        f"{_share(*count)} {'each ' if len(vs) > 1 else ''}at {name}={_values(vs)}"
        for count, vs in by_count.items()
    )


def _evidence(s: Study, outcome: str, hit: pd.DataFrame) -> str:
    """Numbers that back an outcome label, from the runs that got it."""
    if outcome == "d_dominates":
        text = ""
        fold = _fold_change(s, hit, "grad_norm_g")
        if fold is not None and fold > 1:
            text += f"; grad_norm_g fell {num(fold)}× from first to last evaluation"
        elif fold is not None:
            text += f"; grad_norm_g rose {num(1 / fold)}× from first to last evaluation"
        if has(hit, "d_real") and has(hit, "d_fake"):
            text += (
                f", ending at D(x_real) {num(hit['d_real'].mean(), 2)} vs "
                f"D(G(z)) {num(hit['d_fake'].mean(), 2)}"
            )
        return text
    # Modes beside their quality: a mode count alone cannot tell collapse from a G off the data.
    quality = (
        f", {num(hit['high_quality_frac'].mean(), 2)} of the samples high quality"
        if has(hit, "high_quality_frac")
        else ""
    )
    if outcome == "mode_collapse" and has(hit, "modes_captured"):
        n_modes = hit["n_modes"].max() if has(hit, "n_modes") else float("nan")
        of = f" of {n_modes:g}" if pd.notna(n_modes) else ""
        mean = num(hit["modes_captured"].mean())
        return f"; modes captured at the end {mean}{of} on average{quality}"
    if outcome == "not_fitted" and quality:
        return f"; G never fitted the data: at the end{quality[1:]} on average"
    if outcome == "diverged" and s.hist is not None:
        h = s.hist.merge(hit[RUN], on=RUN)
        bad = h[~np.isfinite(h["loss_d"])] if "loss_d" in h else h.iloc[:0]
        if len(bad):
            first = bad.groupby(RUN)["step"].min()
            return f"; non-finite losses from step {int(first.min())} (median {first.median():g})"
    if outcome == "oscillating" and s.hist is not None and has(s.hist, "js_binned"):
        h = s.hist.merge(hit[RUN], on=RUN)
        late = h[h["step"] >= h["step"].max() / 2]
        sd = late.groupby(RUN)["js_binned"].std().median()
        if pd.notna(sd):
            return f"; js_binned swung by sd {num(sd)} nats over the second half of training"
    return ""


def _calibration_findings(s: Study) -> list[str]:
    """How js_d and js_probe sit against js_binned, in the words of the study's target kind:
    'fell below the reference' on a toy; on images (js_binned the JS of class histograms) no
    side is an error. A median that is negative is said to lie above, never 'below by -x'.

    Grouped as calibration_groups says (by the hue where the layout draws it, else by the
    layout's settings, never by a ratio that pools distinct configurations), and the
    settings each group pools over are named."""
    data = s.hist if has(s.hist, "js_binned") else s.runs
    out = []
    if not has(data, "js_binned"):
        return out
    data, groups = calibration_groups(s, data)
    w = words(s)
    ref = "the reference js_binned" if w.has_reference else "js_binned"
    for m in ("js_d", "js_probe"):
        if not has(data, m):
            continue
        d = data[data["js_binned"].notna() & data[m].notna()]
        gap = d["js_binned"] - d[m]
        n_above = int((gap < 0).sum())
        by = d.assign(gap=gap).groupby(GROUP, sort=False)["gap"].median()
        by = by.reindex([g for g in groups.order if g in by.index])
        below = bool((by >= 0).all())
        if below:
            lead, shown, show = f"{m} fell below {ref} by a median of", by, num
        elif (by <= 0).all():
            lead, shown, show = f"{m} lay above {ref} by a median of", -by, num
        else:  # above at some values, below at others: the signed difference
            lead, shown, show = f"{m} minus js_binned had a median of", -by, signed
        parts = [
            f"{show(v)} nats" + (f" at {label}" if label else "") for label, v in shown.items()
        ]
        mixed = show is signed
        trend = groups.by_hue and not mixed
        # A group named by several settings has commas of its own: groups apart by ';'.
        text = (
            f"{lead} "
            + ("; " if len(groups.name.split(" × ")) > 1 else ", ").join(parts)
            + _pooled_and_undefined(groups, _undefined_at(data, d, m))
            + (_trend(s, shown, w.has_reference and below) if trend else "")
            + ("" if mixed else _slice_trends(groups, shown, w.has_reference and below))
        )
        share = f"{n_above} of {len(gap)} values ({n_above / len(gap):.1%})"
        if n_above and w.has_reference:
            text += f"; {share} exceeded the reference ({w.above})."
        elif n_above:
            text += f"; {share} exceeded js_binned, {w.above}."
        elif w.has_reference:
            text += "; it never exceeded the reference, as a lower bound should not."
        else:
            text += "; it never exceeded js_binned."
        out.append(text)
    return out


def _undefined_at(data: pd.DataFrame, defined: pd.DataFrame, m: str) -> str:
    """'no js_d at loss=hinge and least_squares: this loss's D has no probability
    output' where the estimate is missing for whole losses, so 'pooled over loss' does not
    read as every loss; '' elsewhere."""
    if "loss" not in data:
        return ""
    missing = sorted(set(data["loss"]) - set(defined["loss"]))
    if not missing:
        return ""
    return f"no {m} at loss={_values(missing)}: {why_nan(m)}"


def _pooled_and_undefined(groups: Groups, undefined: str) -> str:
    """pooled_words with `undefined` inside its parentheses: ' (pooled over loss; no js_d
    at loss=hinge: …)'."""
    pooled = pooled_words(groups)
    if not undefined:
        return pooled
    return f"{pooled[:-1]}; {undefined})" if pooled else f" ({undefined})"


def _moves(gap: pd.Series) -> bool:
    """Whether medians of a gap differ by more than noise: the test every trend sentence uses."""
    return gap.max() - gap.min() >= max(0.02, 0.2 * gap.abs().max())


def _slice_trends(groups: Groups, gap: pd.Series, reference: bool) -> str:
    """Where the groups are the layout's cells (g_width × d_width): ' — tighter as d_width
    grows, at every g_width' for a setting along which the median gap moves the same way, by
    more than noise, at every value of the other (3 values or more each); '' elsewhere."""
    if not groups.values or len(gap) < 2:
        return ""
    frame = pd.DataFrame([{**groups.values[g], "_gap": v} for g, v in gap.items()])
    settings = [c for c in frame.columns if c != "_gap"]
    if len(settings) != 2:
        return ""
    out = []
    for c in settings:
        (other,) = [o for o in settings if o != c]
        ways = set()
        for _, part in frame.groupby(other):
            line = part.sort_values(c)["_gap"].reset_index(drop=True)
            if len(line) < 3 or not _moves(line):
                ways.add(None)
            elif line.is_monotonic_decreasing:
                ways.add("tighter" if reference else "narrower")
            elif line.is_monotonic_increasing:
                ways.add("looser" if reference else "wider")
            else:
                ways.add(None)
        if len(ways) == 1 and None not in ways:
            name, at = LABELS.get(c, c), LABELS.get(other, other)
            out.append(f"{ways.pop()} as {name} grows, at every {at}")
    return (" — " + "; ".join(out)) if out else ""


def _trend(s: Study, gap: pd.Series, reference: bool) -> str:
    """' — tighter as k grows' where the median distance to js_binned per hue value moves
    monotonically by more than noise; only a distance below a reference is 'tight' (elsewhere
    it narrows or widens)."""
    if not s.hue or not (len(gap) > 2 or (len(gap) == 2 and s.hue == "k")):
        return ""
    name = LABELS.get(s.hue, s.hue)
    if not _moves(gap):
        return f" — about the same at every {name}"
    # Each step between neighbouring values: a move (up or down) or flat, by the noise
    # allowance of _moves; a trend is one direction, its flat steps (if any) all at the end.
    noise = max(0.01, 0.1 * gap.abs().max())
    steps = np.diff(gap.to_numpy())
    moving = np.abs(steps) >= noise
    ends = int(np.flatnonzero(moving)[-1]) + 1  # the values up to the last move
    if moving[:ends].all() and len({bool(d > 0) for d in steps[:ends]}) == 1:
        word = (
            ("looser" if reference else "wider")
            if steps[0] > 0
            else ("tighter" if reference else "narrower")
        )
        if ends == len(steps):
            return f" — {word} as {name} grows"
        # The gap's index holds the groups' labels ('r1=1/2'), as the sentence names them.
        return f" — {word} from {gap.index[0]} to {gap.index[ends]}, about the same beyond"
    return ""
