"""Tables and sentences from the runs: summary.csv, outcomes.csv and findings.md.

Every number in a sentence is computed from the tables here; nothing is hard-coded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganstudy.columns import LOSS_NAMES, OUTCOMES
from ganstudy.report.cells import SEVERITY, cell_name, cells, majority
from ganstudy.report.figures.dirac import dirac_findings
from ganstudy.report.occupancy import modes_kept
from ganstudy.report.study import LABELS, NO_OUTCOME, RUN, Study, describe, has, partial_sentence


def summary_table(s: Study) -> pd.DataFrame:
    """Configurations ranked by the study metric: mean ± sd over replicas, outcome counts."""
    r = s.runs
    keys = [c for c in s.swept if c in r and c not in ("lr_ratio", "cap_ratio")]
    for derived in ("lr_ratio", "cap_ratio"):
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


def findings(s: Study) -> list[str]:
    """Sentences with numbers, generated from the tables (nothing here is hard-coded)."""
    # A partial study says so first: every number below covers only what ran.
    out: list[str] = [partial_sentence(s.partial)] if s.partial else []
    r = cells(s)
    out += _headline(s, r)
    out += dirac_findings(s)  # a Dirac-GAN study: which configurations reach (0, 0)
    total = len(r)
    counts = r["outcome"].value_counts()
    n_cfg = r["trial_id"].nunique()
    overview = ", ".join(f"{o} {frac(int(n), total)}" for o, n in counts.items())
    out.append(
        f"{n_cfg} configuration{'s' * (n_cfg != 1)}, {total} run{'s' * (total != 1)} "
        f"(trial × replica): {overview}."
    )
    out += modes_kept(s)  # how many modes each setting keeps, with the spread over runs

    summary = summary_table(s)
    col = f"{s.metric}_mean"
    if col in summary and summary[col].notna().any():
        best = summary.iloc[0]
        run = r[r["trial_id"] == best["trial_id"]].iloc[0]
        sd = best[f"{s.metric}_sd"]
        spread = f" ± {sd:.3f}" if pd.notna(sd) else ""
        out.append(
            f"Best by {s.metric} ({s.mode}): {describe(s, run)} — {best[col]:.3f}{spread} over "
            f"{int(best['replicas'])} replica{'s' * int(best['replicas'] != 1)}, "
            f"{best['majority']} in {int(best[best['majority']])}/{best['replicas']}."
        )

    # Failure regions of the phase diagram, one sentence per (loss, outcome).
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

    # Saturating vs non-saturating generator loss: the paper's claim, measured.
    if "loss" in r and {"minimax", "nonsaturating"} <= set(r["loss"]):
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
            text += f"; median final grad_norm_g {parts[0][3]:.3g} vs {parts[1][3]:.3g}"
        out.append(text + ".")

    out += _calibration_findings(s)

    # Replicas of one configuration that disagree: the spread a single seed would hide.
    # Only runs with an outcome vote: a pending run has not disagreed with anyone yet.
    decided = r[r["outcome"] != NO_OUTCOME]
    split = decided.groupby("trial_id")["outcome"].nunique()
    split = split[split > 1]
    if len(split):
        example = r[r["trial_id"] == split.index[0]]
        what = ", ".join(f"{o} {n}" for o, n in example["outcome"].value_counts().items())
        out.append(
            f"{len(split)} of {n_cfg} configurations had replicas ending in different outcomes "
            f"(e.g. {describe(s, example.iloc[0])}: {what})."
        )
    elif len(decided) > decided["trial_id"].nunique():
        out.append("Every configuration's replicas agreed on the outcome.")
    return out


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
    low, high = wilson(n, total)
    return f"{n}/{total} runs ({100 * low:.0f}–{100 * high:.0f}%)"


def _headline(s: Study, r: pd.DataFrame) -> list[str]:
    """What the study shows, stated only where it holds over replicas: per panel (loss) the
    share of runs that converged and of its commonest failure, each with a 95% Wilson
    interval; a difference between panels only where their intervals do not overlap.

    GAN runs in float32 are chaotic (replicas of one setting end differently, and a study
    rerun on another machine of the same kind moves counts by several runs), so a claim
    that rests on a few runs is given with its interval or not made.
    """
    decided = r[r["outcome"] != NO_OUTCOME]
    if decided.empty:
        return []
    by = decided.groupby("panel", sort=False)["outcome"]
    parts, converged = [], {}
    for panel, outcomes in by:
        total, hits = len(outcomes), int((outcomes == "converged").sum())
        converged[panel] = (hits, total)
        text = f"{panel} converged in {_share(hits, total)}"
        failures = outcomes[outcomes != "converged"].value_counts()
        if len(failures):
            worst, n = failures.index[0], int(failures.iloc[0])
            text += f", ended {worst} in {_share(n, total)}"
        parts.append(text)
    head = "What the study shows (95% Wilson intervals over runs): " + "; ".join(parts) + "."
    if len(converged) > 1:
        ranked = sorted(converged, key=lambda p: -converged[p][0] / converged[p][1])
        top, bottom = ranked[0], ranked[-1]
        if wilson(*converged[top])[0] > wilson(*converged[bottom])[1]:
            head += f" {top} converges more often than {bottom}: their intervals do not overlap."
        else:
            head += (
                " No panel converges reliably more often than another at these run counts: "
                "the intervals overlap."
            )
    return [head]


def _evidence(s: Study, outcome: str, hit: pd.DataFrame) -> str:
    """Numbers that back an outcome label, from the runs that got it."""
    if outcome == "d_dominates":
        text = ""
        fold = _fold_change(s, hit, "grad_norm_g")
        if fold is not None and fold > 1:
            text += f"; grad_norm_g fell {fold:.3g}× from first to last evaluation"
        elif fold is not None:
            text += f"; grad_norm_g rose {1 / fold:.3g}× from first to last evaluation"
        if has(hit, "d_real") and has(hit, "d_fake"):
            text += (
                f", ending at D(x_real) {hit['d_real'].mean():.2f} vs "
                f"D(G(z)) {hit['d_fake'].mean():.2f}"
            )
        return text
    # Modes beside their quality: a mode count alone cannot tell collapse from a G off the data.
    quality = (
        f", {hit['high_quality_frac'].mean():.2g} of the samples high quality"
        if has(hit, "high_quality_frac")
        else ""
    )
    if outcome == "mode_collapse" and has(hit, "modes_captured"):
        n_modes = hit["n_modes"].max() if has(hit, "n_modes") else float("nan")
        of = f" of {n_modes:g}" if pd.notna(n_modes) else ""
        mean = hit["modes_captured"].mean()
        return f"; modes captured at the end {mean:.1f}{of} on average{quality}"
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
            return f"; js_binned swung by sd {sd:.3f} nats over the second half of training"
    return ""


def _calibration_findings(s: Study) -> list[str]:
    data = s.hist if has(s.hist, "js_binned") else s.runs
    out = []
    if not has(data, "js_binned"):
        return out
    image = has(data, "fd")  # the feature metrics exist on image targets only
    for m in ("js_d", "js_probe"):
        if not has(data, m):
            continue
        d = data[data["js_binned"].notna() & data[m].notna()]
        gap = d["js_binned"] - d[m]
        n_above = int((gap < 0).sum())
        if s.hue:
            by = d.assign(gap=gap).groupby("_hue", observed=True)["gap"].median()
            parts = [f"{gap_v:.3f} nats at {label}" for label, gap_v in by.items()]
            trend = ""
            # A trend only where the medians move by more than noise-level amounts.
            moved = by.max() - by.min() >= max(0.02, 0.2 * by.abs().max())
            if len(by) > 2 or (len(by) == 2 and s.hue == "k"):
                if not moved:
                    trend = f" — about the same at every {LABELS.get(s.hue, s.hue)}"
                elif by.is_monotonic_decreasing:
                    trend = f" — tighter as {LABELS.get(s.hue, s.hue)} grows"
                elif by.is_monotonic_increasing:
                    trend = f" — looser as {LABELS.get(s.hue, s.hue)} grows"
            text = f"{m} fell below js_binned by a median of " + ", ".join(parts) + trend
        else:
            text = f"{m} fell below js_binned by a median of {gap.median():.3f} nats"
        if image and n_above:  # js_binned is no reference there: both are lower bounds
            text += (
                f"; {n_above} of {len(gap)} values ({n_above / len(gap):.1%}) exceeded it, "
                "no error on images: there js_binned is itself a lower bound (the JS of "
                "class histograms), blind to what the features see."
            )
        else:
            text += (
                f"; {n_above} of {len(gap)} values ({n_above / len(gap):.1%}) exceeded the "
                "reference (estimation noise: a lower bound should not)."
                if n_above
                else "; it never exceeded the reference, as a lower bound should not."
            )
        out.append(text)
    return out
