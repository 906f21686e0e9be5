"""The self-contained HTML page: the answer and its figure, findings, tables, figures, spec.

PNGs are embedded as data URIs, so the page opens offline and alone, away from its folder.
"""

from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from ganstudy.columns import OUTCOMES
from ganstudy.config import FIELDS
from ganstudy.report.cells import severity
from ganstudy.report.figures import HEADLINES
from ganstudy.report.sampled import value_summary
from ganstudy.report.study import LABELS, NO_OUTCOME, RATIOS, Study, fmt
from ganstudy.report.style import num


@dataclass
class Rendered:
    """One figure of the report: its PNG and caption, or why it does not apply."""

    key: str
    title: str
    caption: str = ""
    png: Path | None = None
    skipped: str | None = None


def _table_html(table: pd.DataFrame, s: Study, *, limit: int | None = None) -> str:
    """summary.csv's rows as the page shows them, narrow enough for a 1280-px window: the
    seven outcome-count columns and the majority become one `outcomes` column ('2
    mode_collapse, 1 not_fitted', commonest first, so the first is the majority), settings
    as set, measurements to 3 significant digits."""
    shown = table.head(limit) if limit else table
    shown = _outcomes_column(shown.copy(), s)
    mean, sd = f"{s.metric}_mean", f"{s.metric}_sd"
    if mean in shown:
        shown[mean] = [
            f"{num(m)} ± {num(d)}" if pd.notna(d) else num(m)
            for m, d in zip(shown[mean], shown[sd], strict=True)
        ]
        shown = shown.drop(columns=[sd]).rename(columns={mean: f"{s.metric} (mean ± sd)"})
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            # A setting reads as set (1/4, 2e-4); a measurement to 3 significant digits.
            show = fmt if col in FIELDS or col in RATIOS else num
            shown[col] = shown[col].map(lambda v, show=show: "–" if pd.isna(v) else show(v))
    shown.columns = [LABELS.get(c, c) for c in shown.columns]
    return shown.to_html(index=False, escape=True, border=0, classes="table configurations")


def _outcomes_column(table: pd.DataFrame, s: Study) -> pd.DataFrame:
    """The per-outcome count columns and `majority` folded into one `outcomes` column:
    the labels with a nonzero count, commonest first (a tie: the more severe first, as the
    majority vote breaks it)."""
    labels = {*OUTCOMES, NO_OUTCOME, *s.runs["outcome"].dropna().astype(str)}
    counts = [c for c in table.columns if c in labels]
    if not counts:
        return table
    at = table.columns.get_loc(counts[0])

    def listed(row: pd.Series) -> str:
        present = [(int(row[c]), c) for c in counts if row[c] > 0]
        present.sort(key=lambda nc: (-nc[0], severity(nc[1])))
        return ", ".join(f"{n} {c}" for n, c in present)

    words = table.apply(listed, axis=1) if len(table) else pd.Series([], dtype=object)
    table = table.drop(columns=[*counts, *(["majority"] if "majority" in table else [])])
    table.insert(min(at, len(table.columns)), "outcomes", words)
    return table


def png_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1400px;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem} .meta{color:#555;font-size:.9rem}
.notes{background:#fff4e0;border-left:4px solid #edae49;padding:.5rem 1rem;margin:1rem 0}
figure{margin:2rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#333;font-size:.95rem;max-width:75rem}
.skipped{color:#555}
.answer{font-size:1.08rem;max-width:75rem} .answer p{margin:.35rem 0}
h3.group{margin-bottom:.2rem}
.partial{font-weight:600;color:#a23344}
table.table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.table th,table.table td{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
table.table th{vertical-align:bottom}
table.configurations td:last-child,table.configurations th:last-child{text-align:left}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem}
"""


def page(
    s: Study,
    rendered: list[Rendered],
    summary: pd.DataFrame,
    outcomes: pd.DataFrame,
    answer: list[str],
    groups: dict[str, list[str]],
) -> str:
    """The report page as one HTML string (PNGs embedded).

    First screen: the title, the answer in a few sentences and the figure that shows it
    (the first of HEADLINES drawn). Then the grouped findings, the tables, the other figures
    in registry order, numbered as they appear, and once, at the end, the figures that do
    not apply to this study with the reason for each.
    """
    esc = html.escape
    drawn = [r for r in rendered if r.png is not None]
    not_drawn = [r for r in rendered if r.png is None]
    keys = [r.key for r in drawn]
    first = next((key for key in HEADLINES if key in keys), keys[0] if keys else None)
    order = sorted(drawn, key=lambda r: r.key != first)  # headline first, rest in order
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ganstudy report: {esc(s.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>ganstudy report: {esc(s.name)}</h1>",
        "<section id='answer'>",
        "<div class='answer'>" + "".join(f"<p>{esc(line)}</p>" for line in answer) + "</div>",
    ]
    if order:
        parts.append(_figure_html(order[0], 1))
    parts += [
        f"<p class='meta'>{esc(swept_line(s))} · {s.runs['trial_id'].nunique()} "
        f"configurations, {len(s.runs)} runs · study metric <code>{esc(s.metric)}</code> "
        f"({esc(s.mode)}) · folder <code>{esc(str(s.path))}</code> · generated "
        f"{esc(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        "</section>",
    ]
    if s.notes:
        parts.append("<div class='notes'><strong>Incomplete study.</strong><ul>")
        parts += [f"<li>{esc(n)}</li>" for n in s.notes]
        parts.append("</ul></div>")
    parts.append("<h2>Findings</h2>")
    for group, lines in groups.items():
        parts.append(f"<h3 class='group'>{esc(group)}</h3><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in lines]
        parts.append("</ul>")
    parts.append(f"<h2>Best configurations by {esc(s.metric)}</h2>")
    parts.append(
        f"<p class='meta'>Mean ± sd over replicas; top {min(10, len(summary))} of "
        f"{len(summary)} (all in summary.csv).</p>"
    )
    parts.append(_table_html(summary, s, limit=10))
    parts.append("<h2>Outcomes per loss</h2>")
    parts.append(outcomes.to_html(index=False, escape=True, border=0, classes="table"))
    if len(order) > 1:
        parts.append("<h2>Figures</h2>")
        parts += [_figure_html(item, n) for n, item in enumerate(order[1:], 2)]
    if not_drawn:
        parts.append("<h2 id='not-drawn'>Figures that do not apply to this study</h2>")
        parts.append("<ul class='skipped'>")
        parts += [
            f"<li id='{item.key}'><strong>{esc(item.title)}</strong>: {esc(item.skipped or '')}."
            "</li>"
            for item in not_drawn
        ]
        parts.append("</ul>")
    parts.append("<h2>Study as run</h2>")
    parts.append(
        f"<details><summary>spec.yaml</summary><pre>{esc(yaml.safe_dump(s.spec))}</pre></details>"
    )
    parts.append(
        "<details><summary>environment.json</summary><pre>"
        f"{esc(json.dumps(s.environment, indent=2, default=str))}</pre></details>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def swept_line(s: Study) -> str:
    """'Swept: k ∈ {1, 5}; loss ∈ {...}' (a sampled setting as its range), from the tables,
    or from spec.yaml without them."""
    swept = []
    for c in s.swept:
        if c in RATIOS:
            continue
        swept.append(value_summary(s, c, s.runs[c]))
    if swept:
        return "Swept: " + "; ".join(swept) + (f". {s.perturbed}" if s.perturbed else "")
    if s.spec_swept:
        # The tables cannot tell the values apart (no trials.parquet): say what the spec swept.
        return (
            f"Swept (per spec.yaml): {', '.join(s.spec_swept)}; the tables do not say which "
            "run had which value"
        )
    return "Swept: nothing (a single configuration)"


def _figure_html(item: Rendered, number: int) -> str:
    """A drawn figure: its numbered heading (the anchor is its file key), image, caption."""
    esc = html.escape
    heading = f"Figure {number}. {item.title}"
    return (
        f"<h3 id='{item.key}'>{esc(heading)}</h3><figure><img src='{png_data(item.png)}' "
        f"alt='{esc(item.title)}'><figcaption>{esc(item.caption)}</figcaption></figure>"
    )
