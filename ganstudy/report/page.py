"""The self-contained HTML page: findings, the headline figure, tables, figures, the spec.

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

from ganstudy.report.figures import HEADLINES
from ganstudy.report.sampled import value_summary
from ganstudy.report.study import LABELS, RATIOS, Study, fmt


@dataclass
class Rendered:
    """One figure of the report: its PNG and caption, or why it was skipped."""

    key: str
    title: str
    caption: str = ""
    png: Path | None = None
    skipped: str | None = None


def _table_html(table: pd.DataFrame, s: Study, *, limit: int | None = None) -> str:
    shown = table.head(limit) if limit else table
    shown = shown.copy()
    mean, sd = f"{s.metric}_mean", f"{s.metric}_sd"
    if mean in shown:
        shown[mean] = [
            f"{m:.4f} ± {d:.4f}" if pd.notna(d) else (f"{m:.4f}" if pd.notna(m) else "–")
            for m, d in zip(shown[mean], shown[sd], strict=True)
        ]
        shown = shown.drop(columns=[sd]).rename(columns={mean: f"{s.metric} (mean ± sd)"})
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            shown[col] = shown[col].map(lambda v: "–" if pd.isna(v) else fmt(v))
    shown.columns = [LABELS.get(c, c) for c in shown.columns]
    return shown.to_html(index=False, escape=True, border=0, classes="table")


def _png_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1400px;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem} .meta{color:#555;font-size:.9rem}
.notes{background:#fff4e0;border-left:4px solid #edae49;padding:.5rem 1rem;margin:1rem 0}
figure{margin:2rem 0} figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#333;font-size:.95rem;max-width:75rem}
.skipped{color:#777;font-style:italic}
.partial{font-weight:600;color:#a23344}
table.table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
table.table th,table.table td{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:right}
pre{background:#f6f6f6;padding:.6rem;overflow:auto;font-size:.8rem}
"""


def page(
    s: Study,
    rendered: list[Rendered],
    summary: pd.DataFrame,
    outcomes: pd.DataFrame,
    text: list[str],
) -> str:
    """The report page as one HTML string (PNGs embedded)."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ganstudy report: {esc(s.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>ganstudy report: {esc(s.name)}</h1>",
        f"<p class='meta'>Study folder <code>{esc(str(s.path))}</code> · "
        f"{s.runs['trial_id'].nunique()} configurations, {len(s.runs)} runs · study metric "
        f"<code>{esc(s.metric)}</code> ({esc(s.mode)}) · generated "
        f"{esc(time.strftime('%Y-%m-%d %H:%M'))}</p>",
        f"<p class='meta'>{esc(swept_line(s))}</p>",
    ]
    if s.partial:
        done, total, _ = s.partial
        parts.append(f"<p class='partial'>Partial study: {done} of {total} runs finished.</p>")
    if s.notes:
        parts.append("<div class='notes'><strong>Incomplete study.</strong><ul>")
        parts += [f"<li>{esc(n)}</li>" for n in s.notes]
        parts.append("</ul></div>")
    parts.append("<h2>Findings</h2><ul>")
    parts += [f"<li>{esc(line)}</li>" for line in text]
    parts.append("</ul>")
    drawn = [r.key for r in rendered if r.png is not None]
    first = next((key for key in HEADLINES if key in drawn), drawn[0] if drawn else HEADLINES[0])
    order = sorted(rendered, key=lambda r: r.key != first)  # headline first, rest in order
    for item in order[:1]:
        parts.append(_figure_html(item))
    parts.append(f"<h2>Best configurations by {esc(s.metric)}</h2>")
    parts.append(
        f"<p class='meta'>Mean ± sd over replicas; top {min(10, len(summary))} of "
        f"{len(summary)} (all in summary.csv).</p>"
    )
    parts.append(_table_html(summary, s, limit=10))
    parts.append("<h2>Outcomes per loss</h2>")
    parts.append(outcomes.to_html(index=False, escape=True, border=0, classes="table"))
    parts.append("<h2>Figures</h2>")
    parts += [_figure_html(item) for item in order[1:]]
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
        return "Swept: " + "; ".join(swept)
    if s.spec_swept:
        # The tables cannot tell the values apart (no trials.parquet): say what the spec swept.
        return (
            f"Swept (per spec.yaml): {', '.join(s.spec_swept)}; the tables do not say which "
            "run had which value"
        )
    return "Swept: nothing (a single configuration)"


def _figure_html(item: Rendered) -> str:
    esc = html.escape
    anchor = f"<h3 id='{item.key}'>{esc(item.title)}</h3>"
    if item.png is None:
        return f"{anchor}<p class='skipped'>Skipped: {esc(item.skipped or '')}.</p>"
    return (
        f"{anchor}<figure><img src='{_png_data(item.png)}' alt='{esc(item.title)}'>"
        f"<figcaption>{esc(item.caption)}</figcaption></figure>"
    )
