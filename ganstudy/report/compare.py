"""Several studies side by side: `ganstudy report A B ...`.

The comparison draws what the studies can be compared on: the settings every study swept
(loss, k, lr_d/lr_g, ...), at the values every study ran. Each study's runs are grouped by
those settings; everything else is pooled within the study and named in the captions (what
the studies differ in: one sweeps pack, the other holds it at 1). One colour per study:

- outcome rates: the share of runs per outcome in each shared group, with 95% Wilson
  intervals (so "did packing help over the balance study's runs?" reads off the converged
  panel: apart only where the intervals are);
- final metrics: each run's final value of the metrics every study measured, median and
  the lowest to highest run.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ganstudy.config import FIELDS
from ganstudy.messages import clip_middle
from ganstudy.report.cells import SEVERITY
from ganstudy.report.findings import wilson
from ganstudy.report.occupancy import own_settings
from ganstudy.report.page import CSS, png_data
from ganstudy.report.sampled import MAX_BINS
from ganstudy.report.study import LABELS, NO_OUTCOME, RATIOS, Study, fmt, has
from ganstudy.report.style import DPI, PANEL_H, PANEL_W, figure, num
from ganstudy.study.results import ResultsError

ALL = "all shared runs"  # the one group when no setting is swept in every study
# Final metrics compared, where every study measured them (the JS reference first).
METRICS = (
    "js_binned",
    "js_probe",
    "modes_captured",
    "high_quality_frac",
    "mode_kl",
    "fd",
    "precision",
    "recall",
    "class_accuracy",
    "dirac_distance",
)
METRIC_COLUMNS = 3  # metric panels a row
# Settings whose difference between studies is not a difference in what was trained.
BOOKKEEPING = frozenset({"seed", "replicas", "trial_id"})
# The files a comparison folder holds (build.REPORT_FILES includes them).
COMPARE_FILES = ("compare_outcomes.png", "compare_metrics.png", "compare.csv")


@dataclass
class Shared:
    """What the studies are compared on: the grouping settings with their common values,
    each study's runs in those groups (column `_group`), and what differs between them."""

    settings: list[str]
    runs: dict[str, pd.DataFrame]  # study name -> its runs at the common values
    dropped: dict[str, int]  # study name -> runs outside the common values
    differs: list[str]  # "pack: balance {1}; packing {1, 2, 4}"
    groups: list[str]  # group labels in order


def names(studies: list[Study]) -> list[str]:
    """Each study's name, made unique (two folders of one spec get ' #2', ' #3')."""
    out: list[str] = []
    for s in studies:
        name, n = s.name, 1
        while name in out:
            n += 1
            name = f"{s.name} #{n}"
        out.append(name)
    return out


def shared(studies: list[Study]) -> Shared:
    """The settings swept in every study, restricted to the values every study ran.
    ResultsError when no run of some study has an outcome there (nothing to compare)."""
    swept = [set(own_settings(s, keep_target=True)) for s in studies]
    settings = [c for c in own_settings(studies[0], keep_target=True) if all(c in w for w in swept)]
    common = {}
    for c in settings:
        values = set.intersection(*(set(s.runs[c].dropna()) for s in studies))
        if values:  # a setting swept everywhere but at different values is not shared
            common[c] = sorted(values, key=lambda v: (str(type(v)), v))
    settings = [c for c in settings if c in common]
    runs, dropped = {}, {}
    for name, s in zip(names(studies), studies, strict=True):
        r = s.runs[s.runs["outcome"] != NO_OUTCOME]
        inside = np.ones(len(r), dtype=bool)
        for c in settings:
            inside &= r[c].isin(common[c]).to_numpy()
        kept = r[inside].copy()
        kept["_group"] = _labels(kept, settings)
        if kept.empty:
            raise ResultsError(
                f"{clip_middle(s.path)}: no run with an outcome at the values the other "
                "studies ran; nothing to compare"
            )
        runs[name] = kept
        dropped[name] = int((~inside).sum())
    order = (
        [
            _labels(pd.DataFrame([dict(zip(settings, combo, strict=True))]), settings)[0]
            for combo in pd.MultiIndex.from_product([common[c] for c in settings])
        ]
        if settings
        else [ALL]
    )
    present = set().union(*(set(r["_group"]) for r in runs.values()))
    groups = [g for g in order if g in present]
    return Shared(settings, runs, dropped, _differences(studies, settings), groups)


def _labels(runs: pd.DataFrame, settings: list[str]) -> list[str]:
    if not settings:
        return [ALL] * len(runs)
    return [
        ", ".join(f"{LABELS.get(c, c)}={fmt(row[c])}" for c in settings)
        for _, row in runs.iterrows()
    ]


def _differences(studies: list[Study], settings: list[str]) -> list[str]:
    """Every setting (TrialConfig field or ratio) whose values differ between the studies,
    besides the grouping ones: pooled within each study, so named with each study's values."""
    columns = sorted({c for s in studies for c in s.runs if c in FIELDS or c in RATIOS})
    out = []
    for c in columns:
        if c in settings or c in BOOKKEEPING:
            continue
        sets = [frozenset(s.runs[c].dropna()) if c in s.runs else frozenset() for s in studies]
        if len(set(sets)) > 1:
            shown = "; ".join(
                f"{name} {_values(values)}"
                for name, values in zip(names(studies), sets, strict=True)
            )
            out.append(f"{LABELS.get(c, c)}: {shown}")
    return out


def _values(values: frozenset) -> str:
    """'{1, 5}', or a range where a sampled setting has many values; '{}' where none."""
    listed = sorted(values, key=lambda v: (str(type(v)), v))
    if len(listed) > MAX_BINS:
        return f"[{fmt(listed[0])}, {fmt(listed[-1])}] ({len(listed)} distinct)"
    return "{" + ", ".join(fmt(v) for v in listed) + "}"


def rates(sh: Shared) -> pd.DataFrame:
    """compare.csv: per study, group and outcome the runs, the share and its interval."""
    rows = []
    outcomes = _outcomes(sh)
    for study, r in sh.runs.items():
        for group in sh.groups:
            d = r[r["_group"] == group]
            for outcome in outcomes:
                n, total = int((d["outcome"] == outcome).sum()), len(d)
                low, high = wilson(n, total) if total else (np.nan, np.nan)
                rows.append(
                    dict(
                        study=study,
                        group=group,
                        outcome=outcome,
                        runs=n,
                        total=total,
                        share=n / total if total else np.nan,
                        low=low,
                        high=high,
                    )
                )
    return pd.DataFrame(rows)


def _outcomes(sh: Shared) -> list[str]:
    seen = set().union(*(set(r["outcome"]) for r in sh.runs.values()))
    known = [o for o in SEVERITY if o in seen and o != NO_OUTCOME]
    first = ["converged"] if "converged" in known else []
    return first + [o for o in known if o != "converged"] + sorted(seen - set(SEVERITY))


def palette(names: list[str]) -> dict[str, tuple]:
    """One colour per study (colour-blind safe)."""
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))


def fig_outcomes(sh: Shared, colors: dict[str, tuple]) -> tuple[Figure, str]:
    """One panel per outcome: the share of each group's runs, a point per study with its
    95% Wilson interval."""
    table = rates(sh)
    outcomes = list(dict.fromkeys(table["outcome"]))
    fig, axes = figure(1, len(outcomes), w=max(PANEL_W, 0.7 * len(sh.groups) + 1.2), h=PANEL_H)
    studies = list(sh.runs)
    width = 0.6 / max(len(studies), 1)
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        d = table[table["outcome"] == outcome]
        for i, study in enumerate(studies):
            row = d[d["study"] == study].set_index("group").reindex(sh.groups)
            x = np.arange(len(sh.groups)) + (i - (len(studies) - 1) / 2) * width
            err = np.vstack([row["share"] - row["low"], row["high"] - row["share"]])
            err = np.maximum(err, 0)  # rounding: the interval always holds the share
            ax.errorbar(x, row["share"], yerr=err, fmt="o", color=colors[study], ms=5, capsize=2)
        ax.set_xticks(
            range(len(sh.groups)),
            sh.groups,
            rotation=30 if len(sh.groups) > 2 else 0,
            ha="right" if len(sh.groups) > 2 else "center",
            fontsize="small",
        )
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(outcome, fontsize="medium")
        ax.set_ylabel("share of runs" if ax is axes[0, 0] else "")
    _legend(fig, colors)
    caption = (
        "Outcome rates of each study's runs (one colour per study): the share of runs per "
        "outcome, with its 95% Wilson interval; two studies differ on a setting only where "
        "their intervals do not overlap." + _grouping(sh)
    )
    return fig, caption


def fig_metrics(sh: Shared, colors: dict[str, tuple]) -> tuple[Figure, str] | None:
    """One panel per final metric every study measured: median per study and group, the
    line from the lowest to the highest run."""
    metrics = [m for m in METRICS if all(has(r, m) for r in sh.runs.values())]
    if not metrics:
        return None
    data = pd.concat([r.assign(_study=name) for name, r in sh.runs.items()], ignore_index=True)
    ncols = min(len(metrics), METRIC_COLUMNS)
    nrows = -(-len(metrics) // ncols)
    fig, axes = figure(nrows, ncols, w=max(PANEL_W, 0.7 * len(sh.groups) + 1.2), h=PANEL_H + 0.6)
    for ax in axes.flat[len(metrics) :]:
        ax.set_axis_off()
    for ax, m in zip(axes.flat, metrics, strict=False):
        sns.pointplot(
            data,
            x="_group",
            y=m,
            hue="_study",
            order=sh.groups,
            hue_order=list(sh.runs),
            palette=colors,
            estimator="median",
            errorbar=("pi", 100),
            dodge=0.4 if len(sh.runs) > 1 else False,
            linestyle="none",
            markersize=5,
            legend=False,
            ax=ax,
        )
        ax.set_xlabel("")
        rotate = len(sh.groups) > 2
        ax.set_xticks(
            range(len(sh.groups)),
            sh.groups,
            rotation=30 if rotate else 0,
            ha="right" if rotate else "center",
            fontsize="small",
        )
        ax.set_title(m, fontsize="medium")
        ax.set_ylabel("")
    _legend(fig, colors)
    caption = (
        "Final values of the metrics every study measured (one colour per study): the median "
        "over runs, the line from the lowest to the highest run." + _grouping(sh)
    )
    return fig, caption


def _legend(fig: Figure, colors: dict[str, tuple]) -> None:
    from matplotlib.lines import Line2D

    fig.legend(
        [Line2D([], [], ls="", marker="o", color=c) for c in colors.values()],
        list(colors),
        loc="outside right upper",
        frameon=False,
        fontsize="small",
        title="study",
    )


def _grouping(sh: Shared) -> str:
    """Caption clauses: what the groups are, what each study pools, what runs were left out."""
    if sh.settings:
        swept = ", ".join(LABELS.get(c, c) for c in sh.settings)
        text = f" Grouped by the settings every study swept: {swept}, at the "
        text += "values every study ran."
    else:
        text = (
            " No setting was swept at common values in every study: each study's runs are "
            "one group."
        )
    if sh.differs:
        text += (
            " Pooled within each study, where the studies differ: " + "; ".join(sh.differs) + "."
        )
    left = [f"{name} {n} run{'s' * (n != 1)}" for name, n in sh.dropped.items() if n]
    if left:
        text += " Runs left out (at values another study did not run, or without an outcome): "
        text += ", ".join(left) + "."
    return text


def answer(sh: Shared) -> list[str]:
    """The comparison's first lines: per group, the converged share of each study."""
    table = rates(sh)
    conv = table[table["outcome"] == "converged"]
    out = []
    for group in sh.groups:
        d = conv[conv["group"] == group]
        parts = [
            f"{row.study} {row.runs}/{row.total} runs ({100 * row.low:.0f}–{100 * row.high:.0f}%)"
            for row in d.itertuples()
            if row.total
        ]
        if not parts:
            continue
        shares = d[d["total"] > 0]
        top = shares.loc[shares["share"].idxmax()]
        bottom = shares.loc[shares["share"].idxmin()]
        verdict = (
            f": {top['study']} above {bottom['study']} beyond the intervals"
            if top["low"] > bottom["high"]
            else ": the intervals overlap"
        )
        label = "" if group == ALL else f"At {group}, "
        out.append(f"{label}converged: " + ", ".join(parts) + verdict + ".")
    out.append("Ranges in % are 95% Wilson intervals over runs.")
    return out


def render(studies: list[Study], out: Path, fmt_: str) -> None:
    """Write the comparison's figures, compare.csv and (fmt_ html) index.html into out."""
    sh = shared(studies)
    colors = palette(list(sh.runs))
    drawn = []
    for key, made in (
        ("compare_outcomes", fig_outcomes(sh, colors)),
        ("compare_metrics", fig_metrics(sh, colors)),
    ):
        if made is None:
            continue
        fig, caption = made
        fig.savefig(out / f"{key}.png", dpi=DPI)
        drawn.append((key, caption))
    rates(sh).to_csv(out / "compare.csv", index=False)
    if fmt_ == "html":
        (out / "index.html").write_text(_page(studies, sh, drawn, out), encoding="utf-8")


def _page(studies: list[Study], sh: Shared, drawn: list[tuple[str, str]], out: Path) -> str:
    esc = html.escape
    title = " vs ".join(names(studies))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ganstudy comparison: {esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>ganstudy comparison: {esc(title)}</h1>",
        "<section id='answer'><div class='answer'>",
        *(f"<p>{esc(line)}</p>" for line in answer(sh)),
        "</div>",
    ]
    titles = {"compare_outcomes": "Outcome rates", "compare_metrics": "Final metrics"}
    for n, (key, caption) in enumerate(drawn, 1):
        parts.append(
            f"<h3 id='{key}'>Figure {n}. {titles[key]}</h3><figure><img "
            f"src='{png_data(out / f'{key}.png')}' alt='{titles[key]}'>"
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
        if n == 1:
            parts.append("</section>")
    table = rates(sh)
    table[["share", "low", "high"]] = table[["share", "low", "high"]].map(num)
    parts.append("<h2>Outcome rates (compare.csv)</h2>")
    parts.append(table.to_html(index=False, escape=True, border=0, classes="table"))
    parts.append("<h2>Studies</h2><ul>")
    parts += [
        f"<li>{esc(name)}: <code>{esc(str(s.path))}</code>, {len(s.runs)} runs</li>"
        for name, s in zip(names(studies), studies, strict=True)
    ]
    parts.append(f"</ul><p class='meta'>generated {esc(time.strftime('%Y-%m-%d %H:%M'))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
