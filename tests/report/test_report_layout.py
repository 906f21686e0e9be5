"""The report's layout follows what was swept: for a tiny synthetic study shaped like each
shipped study (tests/layout_shapes.py), the grid and trajectory figures draw every swept
setting as an axis, a line colour or style, a row or a panel, with the values of the tables,
and their captions name what is drawn and never pool over a swept setting."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from layout_shapes import LAYOUTS, SHAPES
from report_fixtures import write_study

from ganstudy.columns import OUTCOMES
from ganstudy.report import findings, load_study
from ganstudy.report.cells import layout
from ganstudy.report.figures.calibration import fig_calibration
from ganstudy.report.figures.capacity import fig_coverage_capacity
from ganstudy.report.figures.grid import fig_final_heatmaps, fig_phase
from ganstudy.report.figures.occupancy import fig_occupancy
from ganstudy.report.figures.outcomes import fig_outcome_rates
from ganstudy.report.figures.trajectories import (
    fig_classifier_metrics,
    fig_coverage,
    fig_grad_norms,
    fig_js,
    fig_other_metrics,
)
from ganstudy.report.findings import summary_table
from ganstudy.report.page import _table_html
from ganstudy.report.study import fmt
from ganstudy.report.style import Skip, num

GRIDS = [name for name in SHAPES if name != "dirac"]  # the Dirac-GAN skips the grid figures


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    out = {}
    for name, kw in SHAPES.items():
        kw = {"samples": False, "replicas": 2, "steps": 200, "eval_every": 100, **kw}
        out[name] = write_study(root, name=name, **kw)
    return out


def _trials(folder: Path) -> pd.DataFrame:
    """trials.parquet with the two ratios, computed here from the raw columns."""
    t = pd.read_parquet(folder / "trials.parquet")
    return t.assign(lr_ratio=t["lr_d"] / t["lr_g"], cap_ratio=t["d_width"] / t["g_width"])


def _label(setting: str) -> str:
    return {"lr_ratio": "lr_d/lr_g", "cap_ratio": "d_width/g_width"}.get(setting, setting)


def _values(t: pd.DataFrame, setting: str) -> set[str]:
    return {fmt(v) for v in t[setting].unique()}


def _texts(labels) -> set[str]:
    return {label.get_text() for label in labels if label.get_text()}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_layout_draws_what_the_study_swept(studies: dict[str, Path], name: str) -> None:
    s = load_study(studies[name])
    lay = layout(s)
    assert (lay.x, lay.y, lay.rows) == LAYOUTS[name]


@pytest.mark.parametrize("name", GRIDS)
def test_grid_figures_cover_every_swept_setting(studies: dict[str, Path], name: str) -> None:
    """Axis labels, tick labels, panel titles and panel count come from the swept values."""
    s = load_study(studies[name])
    t = _trials(studies[name])
    x, y, rows = LAYOUTS[name]
    panels = t["loss"].nunique() * t["target"].nunique()
    n_rows = int(np.prod([t[c].nunique() for c in rows])) if rows else 1
    for draw in (fig_phase, fig_final_heatmaps):
        fig, caption = draw(s)
        drawn = [ax for ax in fig.axes if ax.get_title()]
        blocks = len(drawn) // (panels * n_rows)
        assert blocks >= 1 and len(drawn) == blocks * panels * n_rows
        titles = "\n".join(ax.get_title() for ax in drawn)
        for loss in t["loss"].unique():
            assert loss in titles
        if t["target"].nunique() > 1:
            for target in t["target"].unique():
                assert f"· {target}" in titles
        for c in rows:
            for v in t[c].unique():
                assert f"={fmt(v)}" in titles
        if x is None:
            assert all(not ax.get_xlabel() for ax in drawn)
        elif name != "tpe":  # a sampled study's continuous axes are bins: the next test
            assert {ax.get_xlabel() for ax in drawn} == {"k (D steps per G step)"} or {
                ax.get_xlabel() for ax in drawn
            } == {_label(x)}
            assert set().union(*(_texts(ax.get_xticklabels()) for ax in drawn)) == _values(t, x)
        if y is not None and name != "tpe":
            assert {ax.get_ylabel() for ax in drawn} - {""} == {_label(y)}
            assert set().union(*(_texts(ax.get_yticklabels()) for ax in drawn)) == _values(t, y)
        assert "pooled" not in caption.lower()
        assert "only the loss varies" not in caption


def test_remedies_is_drawn_as_pack_by_unroll(studies: dict[str, Path]) -> None:
    """The issue's example: pack and unroll were pooled into one cell per loss."""
    fig, caption = fig_phase(load_study(studies["remedies"]))
    assert "x pack, y unroll, panels loss · target" in caption
    cells = [t.get_text() for ax in fig.axes for t in ax.texts if "/" in t.get_text()]
    # 2 losses x 2 targets x 2 pack x 2 unroll cells of 2 replicas each.
    assert len(cells) == 16 and all(c.endswith("/2") for c in cells)


def test_a_sampled_study_says_its_axis_is_binned(studies: dict[str, Path]) -> None:
    s = load_study(studies["tpe"])
    fig, caption = fig_phase(s)
    assert "lr_d/lr_g was sampled (9 distinct values)" in caption
    ticks = set().union(*(_texts(ax.get_yticklabels()) for ax in fig.axes))
    assert ticks and all("–" in tick for tick in ticks)  # bins, e.g. 1/16–1/4


def _legend(fig) -> set[str]:
    return {t.get_text() for legend in fig.legends for t in legend.get_texts()}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_trajectories_have_lines_for_every_swept_setting(
    studies: dict[str, Path], name: str
) -> None:
    s = load_study(studies[name])
    t = _trials(studies[name])
    x, y, rows = LAYOUTS[name]
    # Every figure shares one facet builder (figures/facets.py): checked here on figure 1,
    # and on the others for the remedies shape (drawing all of them for every shape is slow).
    draws = (
        [fig_js, fig_coverage, fig_grad_norms, fig_other_metrics]
        if name == "remedies"
        else [fig_js]
    )
    for draw in draws:
        fig, caption = draw(s)
        names = _legend(fig)
        for c in (x, y):
            if c and name != "tpe":
                assert {f"{_label(c)}={v}" for v in _values(t, c)} <= names, (draw, names)
        titles = "\n".join(ax.get_title() for ax in fig.axes)
        for c in rows:
            assert _label(c) in titles
        assert "pooled" not in caption.lower()


def test_trajectory_lines_are_the_replica_means_of_each_configuration(
    studies: dict[str, Path],
) -> None:
    """Remedies: one js_binned line per (pack, unroll) in each loss · target panel, equal to
    the mean over replicas of history.parquet (computed here with pandas)."""
    folder = studies["remedies"]
    fig, _ = fig_js(load_study(folder))
    h = pd.read_parquet(folder / "history.parquet").merge(
        _trials(folder).drop_duplicates("trial_id")[
            ["trial_id", "loss", "target", "pack", "unroll"]
        ]
    )
    axes = np.array(fig.axes).reshape(3, 4)  # rows js_binned, js_d, js_probe; 4 panels
    for j, title in enumerate(ax.get_title() for ax in axes[0]):
        loss, target = title.split(" · ")
        lines = [ln for ln in axes[0, j].get_lines() if len(ln.get_xdata()) > 2]
        got = sorted(tuple(ln.get_ydata()) for ln in lines)
        d = h[(h["loss"] == loss) & (h["target"] == target)]
        means = d.groupby(["pack", "unroll", "step"])["js_binned"].mean()
        want = sorted(tuple(m.to_numpy()) for _, m in means.groupby(level=["pack", "unroll"]))
        assert len(got) == len(want) == 4
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12)


def test_an_image_study_has_trajectories_of_its_image_metrics(studies: dict[str, Path]) -> None:
    folder = studies["digits"]
    fig, caption = fig_classifier_metrics(load_study(folder))
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["fd", "precision (fraction)", "recall (fraction)"]
    # fd's lines are the replica means per (k, lr_d/lr_g) in the first loss's panel.
    h = pd.read_parquet(folder / "history.parquet").merge(
        _trials(folder).drop_duplicates("trial_id")[["trial_id", "loss", "k", "lr_ratio"]]
    )
    first = fig.axes[0]
    got = sorted(tuple(ln.get_ydata()) for ln in first.get_lines() if len(ln.get_xdata()) > 2)
    d = h[h["loss"] == first.get_title()]
    means = d.groupby(["k", "lr_ratio", "step"])["fd"].mean()
    want = sorted(tuple(m.to_numpy()) for _, m in means.groupby(level=["k", "lr_ratio"]))
    assert len(got) == 6
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-12)
    assert "colour k, line style lr_d/lr_g" in caption


def test_a_toy_study_has_no_image_metric_figure(studies: dict[str, Path]) -> None:
    with pytest.raises(Skip):
        fig_classifier_metrics(load_study(studies["balance"]))


def test_conditional_g_has_a_class_accuracy_trajectory(studies: dict[str, Path]) -> None:
    fig, _ = fig_classifier_metrics(load_study(studies["conditional"]))
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["class_accuracy (fraction)"]


def test_outcome_rates_have_a_panel_per_swept_setting(studies: dict[str, Path]) -> None:
    folder = studies["remedies"]
    fig, caption = fig_outcome_rates(load_study(folder))
    drawn = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in drawn] == ["loss", "target", "pack", "unroll"]
    t = _trials(folder)
    for ax in drawn:
        setting = ax.get_title()
        assert _texts(ax.get_yticklabels()) == _values(t, setting)
        # Each bar's "converged/all" count, from trials.parquet directly.
        want = {
            f"{int((g['outcome'] == 'converged').sum())}/{len(g)}" for _, g in t.groupby(setting)
        }
        assert {x.get_text() for x in ax.texts} == want
    assert "pooled" not in caption.lower()


def test_coverage_against_both_widths_draws_each(studies: dict[str, Path]) -> None:
    """Capacity sweeps d_width x g_width: the ratio would put 32/32 and 128/128 together."""
    fig, caption = fig_coverage_capacity(load_study(studies["capacity"]))
    t = _trials(studies["capacity"])
    assert _texts(fig.axes[0].get_xticklabels()) == _values(t, "d_width")
    assert fig.axes[0].get_xlabel() == "d_width"
    assert _legend(fig) == {f"g_width={v}" for v in _values(t, "g_width")}
    assert "against d_width" in caption


def test_occupancy_titles_stay_inside_the_figure(tmp_path: Path) -> None:
    """One run picked for all four reasons (as on digits, where few runs lose modes): its
    title ran 144 px past the figure's left edge and was cut off."""
    folder = write_study(
        tmp_path,
        name="one",
        samples=False,
        replicas=1,
        steps=300,
        eval_every=100,
        losses=("minimax",),
        ks=(5,),
        ratios=(2.0,),
        target="digits",
    )
    trials = pd.read_parquet(folder / "trials.parquet").assign(collapse_onset=200.0)
    trials.to_parquet(folder / "trials.parquet")
    fig, _ = fig_occupancy(load_study(folder))
    fig.canvas.draw()
    (ax,) = [ax for ax in fig.axes if ax.get_title()]
    assert ax.get_title().count("onset (step 200)") == 2  # the long title of this test
    box = ax.title.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, ax.get_title()


def test_a_search_over_both_rates_draws_their_ratio_and_says_so(tmp_path: Path) -> None:
    """pbt.yaml samples lr_d and lr_g: the phase diagram bins their ratio and says it does."""
    ratios = (0.05, 0.09, 0.2, 0.35, 0.7, 1.3, 2.6, 5.0)
    folder = write_study(
        tmp_path,
        name="pbt",
        samples=False,
        replicas=1,
        steps=100,
        eval_every=100,
        losses=("nonsaturating",),
        ks=(1,),
        ratios=ratios,
        search={"algorithm": "random"},
    )
    trials = pd.read_parquet(folder / "trials.parquet")
    lr_g = dict(zip(trials["trial_id"], np.geomspace(1e-4, 1e-2, len(trials)), strict=True))
    trials["lr_g"] = trials["trial_id"].map(lr_g)
    trials["lr_d"] = trials["lr_g"] * np.array(ratios)
    trials.to_parquet(folder / "trials.parquet")
    spec = (
        (folder / "spec.yaml")
        .read_text()
        .replace("lr_d:", "lr_g: {loguniform: [1.0e-4, 1.0e-2]}\n  lr_d:")
    )
    (folder / "spec.yaml").write_text(spec)
    s = load_study(folder)
    assert layout(s).y == "lr_ratio" and layout(s).as_ratio == ("lr_ratio",)
    _, caption = fig_phase(s)
    assert "lr_d and lr_g were both sampled: drawn as their ratio lr_d/lr_g" in caption
    assert "lr_d/lr_g was sampled (8 distinct values)" in caption


# --- the page's table of configurations ----------------------------------------------------

WINDOW_PX = 1280 - 2 * 16  # a 1280-px window less the page's side padding (1rem each)
CHAR_PX = 8.5  # a character of the table's 0.85rem (13.6 px) sans-serif, bold headers
CELL_PAD_PX = 2 * 0.6 * 16  # each cell's 0.6rem left and right


class _Cells(HTMLParser):
    """A table's rows as lists of cell texts (the header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def _rows(html: str) -> list[list[str]]:
    parser = _Cells()
    parser.feed(html)
    return parser.rows


def _narrowest_table_px(rows: list[list[str]]) -> float:
    """The least width a browser can give the table: each column as wide as its longest
    unbreakable word (cells wrap at spaces only), plus each cell's padding."""
    widths = [0] * len(rows[0])
    for row in rows:
        widths = [max(w, *map(len, c.split())) for w, c in zip(widths, row, strict=True)]
    return sum(w * CHAR_PX + CELL_PAD_PX for w in widths)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_configurations_table_fits_a_1280_px_window(
    studies: dict[str, Path], name: str
) -> None:
    """The best-configurations table scrolled sideways at 1280 px (15 columns, seven of them
    outcome counts that are mostly 0): its outcomes are one column now, commonest first."""
    s = load_study(studies[name])
    summary = summary_table(s)
    rows = _rows(_table_html(summary, s, limit=10))
    assert _narrowest_table_px(rows) <= WINDOW_PX
    header = rows[0]
    assert "outcomes" in header and "majority" not in header
    shown = [row[header.index("outcomes")] for row in rows[1:]]
    for (_, row), words in zip(summary.head(10).iterrows(), shown, strict=True):
        counts = [(int(row[o]), o) for o in OUTCOMES if row[o]]
        assert sum(int(w.split()[0]) for w in words.split(", ")) == row["replicas"]
        assert words.split(", ")[0].split()[1] == row["majority"]  # commonest first
        assert {(int(w.split()[0]), w.split()[1]) for w in words.split(", ")} == set(counts)


# --- the calibration findings group what the layout draws ----------------------------------


def _gap_medians(s, folder: Path, metric: str, by: list[str]) -> pd.Series:
    h = pd.read_parquet(folder / "history.parquet").merge(
        _trials(folder).drop_duplicates("trial_id")[["trial_id", *by]], on="trial_id"
    )
    h = h[h["js_binned"].notna() & h[metric].notna()]
    return (h["js_binned"] - h[metric]).groupby([h[c] for c in by]).median()


def test_capacity_calibration_keeps_configurations_of_one_ratio_apart(
    studies: dict[str, Path],
) -> None:
    """capacity draws g_width × d_width: 32/32 and 128/128 share d_width/g_width = 1 but are
    different configurations, so the Estimators finding and the calibration figure give one
    number per (g_width, d_width), never one per ratio."""
    s = load_study(studies["capacity"])
    assert s.hue == "cap_ratio"  # the trajectories' hue: the pooling this test rules out
    expected = _gap_medians(s, studies["capacity"], "js_probe", ["g_width", "d_width"])
    assert len(expected) == 9
    line = next(f for f in findings(s) if f.startswith("js_probe "))
    assert "d_width/g_width" not in line and "pooled" not in line
    for (g, d), v in expected.items():
        assert f"{num(v)} nats at g_width={g}, d_width={d}" in line
    fig, caption = fig_calibration(s)
    gap_panel = fig.axes[2]
    assert len(gap_panel.get_xticklabels()) == 9
    assert gap_panel.get_xlabel() == "g_width × d_width"
    assert "g_width × d_width (one configuration each)" in caption


def test_balance_calibration_stays_by_k_and_names_what_it_pools(
    studies: dict[str, Path],
) -> None:
    """balance's hue k is a setting the layout draws: grouped by k as before (the same
    medians), and the sentence says what each k pools over."""
    s = load_study(studies["balance"])
    assert s.hue == "k"
    expected = _gap_medians(s, studies["balance"], "js_d", ["k"])
    line = next(f for f in findings(s) if f.startswith("js_d "))
    parts = ", ".join(f"{num(v)} nats at k={k}" for k, v in expected.items())
    assert f"by a median of {parts} (each pooled over loss, lr_d/lr_g and d_width/g_width)" in line
    _, caption = fig_calibration(s)
    assert "as a function of k (each pooled over loss, lr_d/lr_g and d_width/g_width)" in caption


def test_heatmap_caption_says_which_shade_is_good_for_each_metric(
    studies: dict[str, Path],
) -> None:
    """capacity ranks by modes_captured (max): its converged cells are dark there, not light
    as the caption said of every metric."""
    s = load_study(studies["capacity"])
    s.metric, s.mode = "modes_captured", "max"
    _, caption = fig_final_heatmaps(s)
    assert "light in js_binned (lower is better)" in caption
    assert "dark in modes_captured (higher is better)" in caption
    assert "should be the light ones" not in caption


def test_mode_coverage_keeps_each_targets_ceiling_in_view(tmp_path: Path) -> None:
    """Remedies' shape sweeps ring8 (8 modes) and grid25 (25): each panel's y axis reaches
    its own target's mode count (shared, grid25's line at 25 was off the axis)."""
    from ganstudy.report.figures.trajectories import fig_coverage

    s = load_study(
        write_study(tmp_path, name="two", losses=("minimax",), targets=("ring8", "grid25"))
    )
    assert set(s.runs.groupby("target")["n_modes"].max()) == {8, 25}
    fig, _ = fig_coverage(s)
    tops = {ax.get_title(): ax.get_ylim()[1] for ax in fig.axes if "grid25" in ax.get_title()
            or "ring8" in ax.get_title()}  # fmt: skip
    assert tops and all(
        (top >= 25 if "grid25" in title else 8 <= top < 25) for title, top in tops.items()
    ), tops
