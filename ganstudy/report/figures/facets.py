"""The facets of every trajectory figure, from the study's layout (cells.layout): colour the
layout's x setting, line style its y setting, one row of panels per combination of its row
settings (and per metric), one column per panel (loss, and target where swept). So every
swept setting has its own lines: nothing is averaged over a swept setting, and each line's
band is the spread of that configuration's replicas (style.ERRORBAR).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ganstudy.report.cells import ALL, Layout, drawn_sentence, keyed, layout, row_order, value_label
from ganstudy.report.sampled import bins_note
from ganstudy.report.study import Study
from ganstudy.report.style import ERRORBAR, PANEL_H, PANEL_W, SAMPLE_COLOR, figure, figure_legend

# Line styles for the y setting's values, in order (seaborn's own cycle, named here so the
# legend and the lines agree).
DASHES: tuple[Any, ...] = ("", (4, 1.5), (1, 1), (3, 1.25, 1.5, 1.25), (5, 1, 1, 1, 1, 1))


@dataclass
class Lines:
    """The history keyed for trajectory figures, and how each key is drawn."""

    data: pd.DataFrame  # the history with _hue and _style labels and _row
    lay: Layout  # x: colour, y: line style, rows: rows of panels
    rows: list[str]  # _row labels in order
    hue_order: list[str] = field(default_factory=list)
    palette: dict[str, Any] = field(default_factory=dict)
    style_order: list[str] = field(default_factory=list)
    dashes: dict[str, Any] = field(default_factory=dict)

    def kw(self) -> dict[str, Any]:
        """seaborn lineplot keywords: colour by the x setting, line style by the y setting."""
        kw: dict[str, Any] = {"color": SAMPLE_COLOR}
        if self.lay.x:
            kw = {"hue": "_hue", "hue_order": self.hue_order, "palette": self.palette}
        if self.lay.y:
            kw |= {"style": "_style", "style_order": self.style_order, "dashes": self.dashes}
        return kw

    def legend_items(self) -> list[tuple[str, Any]]:
        items = [(name, Line2D([], [], color=c, lw=2)) for name, c in self.palette.items()]
        items += [
            (name, Line2D([], [], color="0.3", dashes=d or (None, None)))
            for name, d in self.dashes.items()
        ]
        return items

    def caption(self, s: Study) -> str:
        """What colour, line style, rows and panels are, and which are bins."""
        text = drawn_sentence(s, self.lay, x="colour", y="line style", rows="rows")
        columns = {c: s.runs[c] for c in self.lay.settings if c in s.runs}
        return text + bins_note(s, columns)


def lines(s: Study, h: pd.DataFrame, *, style: bool = True) -> Lines:
    """The study's layout for trajectories; style=False (the figure's own line styles mean
    something else) moves the y setting into the rows."""
    lay = layout(s)
    if not style and lay.y:
        lay = Layout(lay.x, None, (lay.y, *lay.rows), lay.as_ratio)
    t = keyed(s, h, lay)
    out = Lines(data=t, lay=lay, rows=row_order(s, t, lay))
    if lay.x:
        values = sorted(t["_x"].dropna().unique())
        names = {v: value_label(lay.x, v) for v in values}
        t["_hue"] = t["_x"].map(names)
        out.hue_order = list(names.values())
        # An ordered sequential palette, dark blue to orange (plasma without its pale end).
        cmap = matplotlib.colormaps["plasma"]
        colors = [cmap(x) for x in np.linspace(0.0, 0.78, len(values))]
        out.palette = dict(zip(out.hue_order, colors, strict=True))
    if lay.y:
        values = sorted(t["_y"].dropna().unique())
        names = {v: value_label(lay.y, v) for v in values}
        t["_style"] = t["_y"].map(names)
        out.style_order = list(names.values())
        out.dashes = {n: DASHES[i % len(DASHES)] for i, n in enumerate(out.style_order)}
    return out


def trajectory_figure(
    s: Study,
    ln: Lines,
    metrics: Sequence[str],
    draw: Callable[[Any, pd.DataFrame, str], None],
    *,
    h: float = PANEL_H,
    sharey: Any = "row",
) -> tuple[Figure, np.ndarray]:
    """One row of panels per (metric, row of the layout), one column per panel;
    draw(ax, history of that panel and row, metric) fills one. Titles name the panel and,
    where the layout has rows, the row's settings."""
    n_rows = len(metrics) * len(ln.rows)
    fig, axes = figure(n_rows, len(s.panels), w=PANEL_W, h=h, sharex=True, sharey=sharey)
    for i, m in enumerate(metrics):
        for r, row in enumerate(ln.rows):
            at = i * len(ln.rows) + r
            for j, panel in enumerate(s.panels):
                ax = axes[at, j]
                d = ln.data[(ln.data["panel"] == panel) & (ln.data["_row"] == row)]
                draw(ax, d, m)
                if at == 0 or row != ALL:
                    title = panel if row == ALL else f"{panel}\n{row}"
                    ax.set_title(title, fontsize="medium" if row == ALL else "small")
                ax.set_xlabel("step" if at == n_rows - 1 else "")
    return fig, axes


def legend(fig: Figure, ln: Lines, extra: Sequence[tuple[str, Any]] = ()) -> None:
    """One legend for the figure: colours, line styles, then extra (label, handle) pairs."""
    figure_legend(fig, [*ln.legend_items(), *extra])


def lineplot(ax: Any, d: pd.DataFrame, y: str, ln: Lines, **kw: Any) -> None:
    """Mean over a configuration's replicas per step, band lowest to highest replica."""
    sns.lineplot(d, x="step", y=y, errorbar=ERRORBAR, legend=False, ax=ax, **ln.kw(), **kw)
