"""The layout every grid and trajectory figure shares: which swept settings are drawn as
x, y and rows of small multiples, each run's cell, the majority vote.

Panels (the columns of a figure) are the loss, and the target where swept (`Study.panels`).
Every other swept setting is drawn, never averaged over: k on x and lr_d/lr_g on y where
swept (the balance question's axes), the next swept settings in AXIS_ORDER fill x and y
where those are not swept (pack × unroll, g_width × d_width, r1 × updates), and the rest
make rows of small multiples, one row per combination of their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ganstudy.columns import OUTCOMES
from ganstudy.report.sampled import axis_values, is_continuous
from ganstudy.report.study import LABELS, NO_OUTCOME, RATIO_PARTS, Study, fmt

# Most severe first (columns.OUTCOMES lists them from the best), then runs without one: a
# tied majority vote goes to the more severe outcome.
SEVERITY = (*reversed(OUTCOMES), NO_OUTCOME)
# Settings that make the panels (columns) of every figure, not its axes.
PANEL_SETTINGS = ("loss", "target")
# The order in which swept settings take the x axis, the y axis and then the rows (settings
# not listed come after, in the study's order). k and lr_d/lr_g first: balance's axes.
AXIS_ORDER = (
    *("k", "lr_ratio", "pack", "unroll", "conditional", "g_width", "d_width", "cap_ratio"),
    *("lr_g", "lr_d", "r1", "updates"),
)
ALL = "all"  # the one value of an axis or row that no swept setting fills
AXIS_TITLES = {"k": "k (D steps per G step)"}


@dataclass(frozen=True)
class Layout:
    """Which swept settings a figure draws where (None: the axis has one cell)."""

    x: str | None
    y: str | None
    rows: tuple[str, ...]  # one row of small multiples per combination of their values
    as_ratio: tuple[str, ...] = ()  # ratios that stand for two swept settings (sampled)

    @property
    def settings(self) -> list[str]:
        return [c for c in (self.x, self.y, *self.rows) if c]


def laid_out(s: Study) -> list[str]:
    """The swept settings the figures draw besides the panels', in AXIS_ORDER.

    A ratio stands for its one swept part (balance sweeps lr_d against a fixed lr_g: drawn
    as lr_d/lr_g). Where a grid sweeps both parts (capacity's d_width × g_width) the parts
    are drawn, as the ratio cannot tell 32/32 from 128/128; a sampled study's two continuous
    parts are drawn as their (binned) ratio.
    """
    swept = [c for c in s.swept if c not in PANEL_SETTINGS and not c.startswith("_")]
    keep = set(swept)
    for ratio, parts in RATIO_PARTS.items():
        if ratio not in keep:
            continue
        both = all(p in keep for p in parts)
        if both and not (ratio in s.runs and is_continuous(s, s.runs[ratio])):
            keep.discard(ratio)
        else:
            keep -= set(parts)
    rank = {c: i for i, c in enumerate(AXIS_ORDER)}
    return sorted(keep, key=lambda c: (rank.get(c, len(rank)), swept.index(c)))


def layout(s: Study) -> Layout:
    """The study's layout: k on x and lr_d/lr_g on y where swept, else the next settings."""
    settings = laid_out(s)
    x = "k" if "k" in settings else None
    y = "lr_ratio" if "lr_ratio" in settings else None
    rest = [c for c in settings if c not in (x, y)]
    if x is None and rest:
        x = rest.pop(0)
    if y is None and rest:
        y = rest.pop(0)
    merged = tuple(
        r for r, parts in RATIO_PARTS.items() if r in settings and set(parts) <= set(s.swept)
    )
    return Layout(x, y, tuple(rest), merged)


def label(setting: str) -> str:
    """A setting's short name as figures print it (lr_d/lr_g for lr_ratio)."""
    return LABELS.get(setting, setting)


def axis_title(setting: str | None) -> str:
    """An axis label for a setting ('' for an axis no setting fills)."""
    return AXIS_TITLES.get(setting, label(setting)) if setting else ""


def value_label(setting: str, value: object) -> str:
    """'k=5', 'pack=4', 'lr_d/lr_g=1/4–1' (a bin)."""
    return f"{label(setting)}={fmt(value)}"


def _sort_key(value: object) -> tuple:
    return (str(type(value)), value)


def keyed(s: Study, table: pd.DataFrame, lay: Layout | None = None) -> pd.DataFrame:
    """`table` (runs or history) with the layout's keys: _x, _y (values, binned where a
    sampled setting is continuous; ALL without a setting) and _row (a label such as
    'd_width/g_width=2, pack=4'; ALL without row settings)."""
    lay = lay or layout(s)
    t = table.copy()
    t["_x"] = axis_values(s, t[lay.x]) if lay.x else ALL
    t["_y"] = axis_values(s, t[lay.y]) if lay.y else ALL
    if lay.rows:
        values = {c: axis_values(s, t[c]) for c in lay.rows}
        t["_row"] = [
            ", ".join(value_label(c, values[c].iloc[i]) for c in lay.rows) for i in range(len(t))
        ]
    else:
        t["_row"] = ALL
    if "panel" in t:
        t["panel"] = t["panel"].fillna("unknown trial")
    return t


def row_order(s: Study, table: pd.DataFrame, lay: Layout | None = None) -> list[str]:
    """The _row labels of a keyed table in the order of their settings' values."""
    lay = lay or layout(s)
    if not lay.rows:
        return [ALL]
    values = pd.DataFrame({c: axis_values(s, table[c]) for c in lay.rows})
    values["_row"] = table["_row"].to_numpy()
    first = values.dropna(subset=list(lay.rows)).drop_duplicates("_row")
    order = sorted(first.itertuples(index=False), key=lambda r: tuple(map(_sort_key, r[:-1])))
    return [r[-1] for r in order]


def cells(s: Study) -> pd.DataFrame:
    """Runs with the grid keys _x, _y, _row filled (see `keyed`)."""
    return keyed(s, s.runs)


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
    lay = layout(s)
    parts = []
    if lay.x:
        parts.append(value_label(lay.x, key[1]))
    if lay.y:
        parts.append(value_label(lay.y, key[0]))
    if lay.rows:
        parts.append(str(key[2]))
    return ", ".join(parts)


def drawn_sentence(
    s: Study, lay: Layout, *, panels: bool = True, x: str = "x", y: str = "y", rows: str = "rows"
) -> str:
    """' Drawn: x k, y lr_d/lr_g, rows d_width/g_width, panels loss.' — what each axis of
    the figure is, from the layout itself (captions are written from the axes drawn)."""
    parts = []
    if lay.x:
        parts.append(f"{x} {label(lay.x)}")
    if lay.y:
        parts.append(f"{y} {label(lay.y)}")
    if lay.rows:
        parts.append(f"{rows} {' × '.join(label(c) for c in lay.rows)}")
    if panels and panel_name(s):
        parts.append(f"panels {panel_name(s)}")
    text = (" Drawn: " + ", ".join(parts) + ".") if parts else ""
    for ratio in lay.as_ratio:
        a, b = RATIO_PARTS[ratio]
        text += f" {a} and {b} were both sampled: drawn as their ratio {label(ratio)}."
    return text


def panel_name(s: Study) -> str:
    """What the panels are: 'loss', 'loss · target', or '' (one panel: neither swept)."""
    return " · ".join(c for c in PANEL_SETTINGS if c in s.swept)
