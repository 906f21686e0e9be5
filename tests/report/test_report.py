"""The report: figures, HTML, summary tables and findings from a study's tables.

The module-scoped `study` fixture runs the module's checks twice: on the real smoke study
(run once through Ray: slow) and on a synthetic study in the results.py table contract
(tests/report_fixtures.py) that sweeps more than the smoke study does (capacity, lr ratio).
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixtures import write_study

from ganstudy.report import (
    FIGURES,
    build_report,
    findings,
    load_study,
    mixture_log_density,
    report_command,
)
from ganstudy.report.cells import majority
from ganstudy.study.results import LOCK_NAME

# Figures each module study cannot draw: neither is a Dirac-GAN, a sampled or an image study,
# and the smoke study sweeps no d_width/g_width.
NEITHER = {
    *("01b_dirac_plane", "01c_dirac_distance", "03b_sampled_runs"),
    *("10_optuna_history", "11_optuna_importance"),
    "06d_classifier_metrics",  # a 2-D target: no classifier, no conditional G
}
EXPECTED_SKIPS = {"smoke": {"06b_coverage_vs_capacity", *NEITHER}, "synthetic": NEITHER}
RUN_KEYS = ("trial_id", "replica", "step")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", params=[pytest.param("smoke", marks=pytest.mark.slow), "synthetic"])
def study(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real smoke study, or a synthetic one with several losses, k values, lr ratios,
    capacity ratios, 2 replicas, ring8."""
    if request.param == "smoke":  # the session's finished smoke study (conftest.py), a copy
        finished = request.getfixturevalue("finished_study")
        return Path(shutil.copytree(finished, tmp_path_factory.mktemp("results") / "smoke"))
    return write_study(
        tmp_path_factory.mktemp("results"),
        name="synthetic",
        losses=("minimax", "nonsaturating", "wasserstein"),
        ks=(1, 5),
        ratios=(1.0, 4.0),
        widths=((64, 64), (128, 64)),
        replicas=2,
    )


@pytest.fixture(scope="module")
def report(study: Path) -> Path:
    return build_report(study, progress=None)


class _Page(HTMLParser):
    """Collects what the tests check: images, captions, figure headings, skip notes, links."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.captions: list[str] = []
        self.headings: list[str] = []
        self.skipped: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("src", "href"):
            value = a.get(key)
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)
        if tag == "h3" and a.get("id"):
            self.headings.append(a["id"])
        if tag == "figcaption":
            self._in = "caption"
            self.captions.append("")
        if tag == "li" and a.get("id"):  # a figure that does not apply, listed at the end
            self._in = "skipped"
            self.skipped.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("figcaption", "li"):
            self._in = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in == "caption":
            self.captions[-1] += data
        elif self._in == "skipped":
            self.skipped[-1] += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def test_every_figure_is_a_nonempty_png(study: Path, report: Path) -> None:
    folder = report.parent
    made = {key for key, _, _ in FIGURES if (folder / f"{key}.png").exists()}
    assert made == {key for key, _, _ in FIGURES} - EXPECTED_SKIPS[study.name]
    for key in made:
        data = (folder / f"{key}.png").read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, key
    assert (folder / "summary.csv").stat().st_size > 0


def test_html_embeds_every_png_with_a_caption(study: Path, report: Path) -> None:
    page = parse(report)
    pngs = sorted(report.parent.glob("*.png"))
    assert len(page.images) == len(pngs)
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in page.images}
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert embedded == {p.read_bytes() for p in pngs}  # the very files saved beside it
    assert page.external == []  # opens offline
    assert len(page.captions) == len(pngs)
    assert all(len(c.split()) >= 8 for c in page.captions), page.captions
    # Every figure appears, drawn or listed at the end with its reason; the phase diagram
    # comes first.
    assert sorted(page.headings) == sorted(p.stem for p in pngs)
    assert page.headings[0] == "03_phase_diagram"
    assert len(page.skipped) == len(EXPECTED_SKIPS[study.name])
    assert all(len(reason.split()) >= 4 for reason in page.skipped), page.skipped


def test_summary_equals_direct_pandas(study: Path, report: Path) -> None:
    trials = pd.read_parquet(study / "trials.parquet")
    spec = yaml.safe_load((study / "spec.yaml").read_text())
    metric, mode = spec["metric"], spec["mode"]
    summary = pd.read_csv(report.parent / "summary.csv").set_index("trial_id")
    grouped = trials.groupby("trial_id")[metric]
    expected = pd.DataFrame(
        {
            "mean": grouped.apply(lambda v: v.mean(skipna=False)),
            "std": grouped.apply(lambda v: v.std(skipna=False)),
            "size": grouped.size(),
        }
    )
    got = summary.loc[expected.index]
    np.testing.assert_allclose(got[f"{metric}_mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(got[f"{metric}_sd"], expected["std"], rtol=1e-12)
    assert (got["replicas"] == expected["size"]).all()
    counts = pd.crosstab(trials["trial_id"], trials["outcome"])
    for outcome in counts.columns:
        assert (got.loc[counts.index, outcome] == counts[outcome]).all(), outcome
    # Ranked best first by the study metric.
    assert list(summary["rank"]) == list(range(1, len(summary) + 1))
    ranked = summary[f"{metric}_mean"].dropna()
    assert ranked.is_monotonic_increasing if mode == "min" else ranked.is_monotonic_decreasing
    assert (
        summary[f"{metric}_mean"].isna().sum()
        == (  # configurations without a value last
            summary[f"{metric}_mean"].iloc[len(ranked) :].isna().sum()
        )
    )

    by_loss = pd.read_csv(report.parent / "outcomes.csv").set_index("loss")
    direct = pd.crosstab(trials["loss"], trials["outcome"])
    for outcome in direct.columns:
        assert (by_loss.loc[direct.index, outcome] == direct[outcome]).all()
    assert (by_loss["runs"] == trials.groupby("loss").size().loc[by_loss.index]).all()


def test_findings_are_stated_with_the_tables_numbers(study: Path, report: Path) -> None:
    from ganstudy.report.findings import grouped
    from ganstudy.report.style import num

    trials = pd.read_parquet(study / "trials.parquet")
    s = load_study(study)
    text = findings(s)
    overview = grouped(s)["Outcomes"][0]
    n = len(trials)
    for outcome, count in trials["outcome"].value_counts().items():
        assert f"{outcome} {count}/{n}" in overview
    spec = yaml.safe_load((study / "spec.yaml").read_text())
    means = trials.groupby("trial_id")[spec["metric"]].mean()
    best = means.min() if spec["mode"] == "min" else means.max()
    assert any(f"— {num(best)}" in line for line in text)
    page = " ".join(parse(report).text)
    assert all(line in page for line in text)
    markdown = (report.parent / "findings.md").read_text()
    assert [line[2:] for line in markdown.splitlines() if line.startswith("- ")] == text


def test_a_diverged_replica_ranks_its_configuration_last(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="div", losses=("hinge",), ratios=(0.5, 1.0), samples=False)
    index = build_report(folder, fmt="png", progress=None)
    summary = pd.read_csv(index / "summary.csv")
    diverged = summary["diverged"] > 0
    assert diverged.any() and summary.loc[diverged, "js_binned_mean"].isna().all()
    assert summary["rank"][diverged].min() > summary["rank"][~diverged].max()
    assert (index / "04_final_heatmaps.png").exists()


def test_dominating_d_finding_quotes_the_gradient(tmp_path: Path) -> None:
    folder = write_study(
        tmp_path, name="dd", losses=("minimax",), ks=(5,), ratios=(4.0,), samples=False
    )
    text = findings(load_study(folder))
    # Synthetic grad_norm_g falls from ~1 to ~0.01 in every d_dominates run.
    line = next(line for line in text if line.startswith("minimax ended d_dominates"))
    assert "2/2 replicas at" not in line  # k and lr ratio are not swept: no cell to name
    fold = float(line.split("grad_norm_g fell ")[1].split("×")[0])
    assert 50 < fold < 200


def test_calibration_findings_claim_a_trend_only_where_the_gap_moves(tmp_path: Path) -> None:
    """The synthetic js_d tightens with k (1 - 0.7/k of the JS); js_probe is 0.85 of it at
    every k, so its median gaps differ by noise only and no trend is claimed."""
    folder = write_study(tmp_path, name="cal", samples=False)
    text = findings(load_study(folder))
    js_d = next(line for line in text if line.startswith("js_d fell below"))
    probe = next(line for line in text if line.startswith("js_probe fell below"))
    assert "tighter as k grows" in js_d
    assert "about the same at every k" in probe
    assert "grows" not in probe


@pytest.mark.parametrize(
    "gap_by_k, words",
    [
        ({1: 0.3, 2: 0.2, 5: 0.1}, " — tighter as k grows;"),
        ({1: 0.3, 2: 0.1, 5: 0.1}, " — tighter from k=1 to k=2, about the same beyond;"),
        ({1: 0.1, 2: 0.3, 5: 0.1}, None),  # up then down: no trend is claimed
        ({1: 0.1, 2: 0.1, 5: 0.3}, None),  # flat, then a move: no trend either
    ],
)
def test_a_trend_is_claimed_only_for_steps_that_move_one_way(
    tmp_path: Path, gap_by_k: dict[int, float], words: str | None
) -> None:
    """Over three values of k a gap that falls and then stays is said to fall that far and
    no further (the real Dirac-GAN study's js_d read 'narrower as r1 grows' over 0.675, 0,
    0); one that changes direction, or moves only after standing, gets no trend words."""
    s = load_study(write_study(tmp_path, name="trend", ks=(1, 2, 5), samples=False))
    s.hist["js_d"] = s.hist["js_binned"] - s.hist["k"].map(gap_by_k)
    line = next(x for x in findings(s) if x.startswith("js_d fell below"))
    if words is None:
        assert " — " not in line, line
    else:
        assert words in line, line


def test_no_pyplot_state_touched(tmp_path: Path) -> None:
    """Figures live on their own Agg canvases: no pyplot figures, the backend untouched."""
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    folder = write_study(tmp_path, name="quiet", losses=("minimax",), ks=(1,), samples=False)
    build_report(folder, progress=None)
    assert plt.get_fignums() == [] and matplotlib.get_backend() == backend


def test_not_a_study_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert report_command(tmp_path / "empty", None, "html") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(tmp_path / "empty") in err and "trials.parquet" in err
    assert not (tmp_path / "empty" / "report").exists()  # nothing half-written
    assert report_command(tmp_path / "nowhere", None, "html") == 2
    assert "nowhere" in capsys.readouterr().err


def test_no_study_under_results_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert report_command(None, None, "html") == 2
    assert "results" in capsys.readouterr().err


def test_partial_study_reports_what_exists(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="partial", losses=("minimax",), ks=(1, 5), samples=False)
    index = build_report(folder, progress=None)
    page = parse(index)
    body = " ".join(page.text)
    assert "samples.parquet is missing" in body
    assert any("samples.parquet is missing" in reason for reason in page.skipped)
    assert not (index.parent / "07_sample_snapshots.png").exists()
    assert (index.parent / "03_phase_diagram.png").exists()


def test_history_only_study_still_reports(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="crashed", losses=("nonsaturating",), ks=(1,))
    (folder / "trials.parquet").unlink()
    index = build_report(folder, progress=None)
    assert "trials.parquet is missing" in index.read_text()
    summary = pd.read_csv(index.parent / "summary.csv")
    history = pd.read_parquet(folder / "history.parquet")
    last = history.sort_values("step").groupby(["trial_id", "replica"]).tail(1)
    expected = last.groupby("trial_id")["js_binned"].mean()
    got = summary.set_index("trial_id")["js_binned_mean"].loc[expected.index]
    np.testing.assert_allclose(got, expected)


def test_unfinished_runs_take_their_last_evaluation(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="running", losses=("minimax",), ks=(1,))
    trials = pd.read_parquet(folder / "trials.parquet")
    trials.loc[0, ["js_binned", "outcome"]] = [np.nan, None]
    trials.loc[0, "status"] = "interrupted"
    trials.to_parquet(folder / "trials.parquet")
    study = load_study(folder)
    assert any("1 interrupted" in note for note in study.notes)
    history = pd.read_parquet(folder / "history.parquet")
    run = history[(history.trial_id == trials.trial_id[0]) & (history.replica == 0)]
    row = study.runs[(study.runs.trial_id == trials.trial_id[0]) & (study.runs.replica == 0)]
    assert row["js_binned"].item() == run.sort_values("step")["js_binned"].iloc[-1]


def test_one_trial_study(tmp_path: Path) -> None:
    folder = write_study(
        tmp_path, name="one", losses=("hinge",), ks=(1,), ratios=(1.0,), replicas=1
    )
    index = build_report(folder, progress=None)
    assert (index.parent / "03_phase_diagram.png").exists()
    assert (index.parent / "01_js_trajectories.png").exists()
    assert len(pd.read_csv(index.parent / "summary.csv")) == 1


def test_critic_loss_never_shown_as_probability(tmp_path: Path) -> None:
    folder = write_study(
        tmp_path, name="critic", losses=("wasserstein",), ks=(1, 5), ratios=(1.0,), samples=False
    )
    index = build_report(folder, out=tmp_path / "out", progress=None)
    assert index == tmp_path / "out" / "index.html"
    page = parse(index)
    d_caption = next(c for c in page.captions if "critic_real − critic_fake" in c)
    assert "discriminator output" not in d_caption and "D* = 1/2" not in d_caption
    assert "js_d" not in " ".join(findings(load_study(folder)))  # NaN, not a made-up number


def test_png_format_and_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = write_study(tmp_path, name="small", losses=("minimax",), ks=(1,), samples=False)
    out = tmp_path / "png"
    assert build_report(study, out=out, fmt="png", progress=None) == out
    assert not (out / "index.html").exists() and (out / "03_phase_diagram.png").exists()
    assert report_command(study, tmp_path / "html", "html") == 0
    assert capsys.readouterr().out.strip().endswith(str(tmp_path / "html" / "index.html"))


def test_default_is_the_latest_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = write_study(tmp_path / "results", name="old", losses=("minimax",), ks=(1,), samples=False)
    new = write_study(tmp_path / "results", name="new", losses=("minimax",), ks=(1,), samples=False)
    for path in old.iterdir():
        os.utime(path, (1e9, 1e9))  # make "old" older whatever the file system's resolution
    monkeypatch.chdir(tmp_path)
    messages: list[str] = []
    index = build_report(None, progress=messages.append)
    assert index.resolve() == (new / "report" / "index.html").resolve()
    assert len(messages) >= len(FIGURES)  # a progress line per figure


def test_copied_study_is_self_contained(report: Path, tmp_path: Path) -> None:
    shutil.copy(report, tmp_path / "index.html")  # the page alone, away from its PNGs
    page = parse(tmp_path / "index.html")
    assert page.images and page.external == []


def test_majority_tie_goes_to_the_worse_outcome() -> None:
    assert majority(pd.Series(["converged", "d_dominates"])) == ("d_dominates", 1, 2)
    assert majority(pd.Series(["converged", "converged", "diverged"])) == ("converged", 2, 3)


def test_mixture_density_is_normalised() -> None:
    """The contour density integrates to 1 and peaks at 1/(2πσ²n) on a mode (theory)."""
    angle = 2 * np.pi * np.arange(8) / 8
    modes = 2 * np.stack([np.cos(angle), np.sin(angle)], 1)
    std = 0.1
    grid = np.linspace(-3, 3, 601)
    xx, yy = np.meshgrid(grid, grid)
    density = np.exp(mixture_log_density(np.stack([xx, yy], -1), modes, std))
    cell = (grid[1] - grid[0]) ** 2
    assert density.sum() * cell == pytest.approx(1.0, abs=1e-6)
    peak = np.exp(mixture_log_density(modes[:1], modes, std))[0]
    assert peak == pytest.approx(1 / (2 * math.pi * std**2 * 8), rel=1e-9)


# --- the same output before and after a refactor ------------------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_STUDIES = {  # tests/golden/<name>/ was written by report.py before it became report/
    "synthetic": dict(
        losses=("minimax", "nonsaturating", "wasserstein"),
        ks=(1, 5),
        ratios=(1.0, 4.0),
        widths=((64, 64), (128, 64)),
        replicas=2,
    ),
    "div": dict(losses=("hinge",), ratios=(0.5, 1.0), samples=False),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_STUDIES))
def test_tables_and_findings_are_byte_identical_to_golden(tmp_path: Path, name: str) -> None:
    folder = write_study(tmp_path, name=name, **GOLDEN_STUDIES[name])
    out = build_report(folder, fmt="png", progress=None)
    for file in ("summary.csv", "outcomes.csv", "findings.md"):
        assert (out / file).read_bytes() == (GOLDEN / name / file).read_bytes(), file


# --- figures show the tables' numbers -----------------------------------------------------


def test_phase_diagram_cells_equal_summary_csv(study: Path, report: Path) -> None:
    """Each cell's annotation is the majority outcome and count summary.csv gives its trial."""
    from ganstudy.report.figures.grid import fig_phase
    from ganstudy.report.style import OUTCOME_SHORT

    s = load_study(study)
    fig, _ = fig_phase(s)
    drawn = sorted(t.get_text() for ax in fig.axes for t in ax.texts if "/" in t.get_text())
    summary = pd.read_csv(report.parent / "summary.csv")
    trials = pd.read_parquet(study / "trials.parquet")
    # One trial per cell here (every swept setting is an axis or a panel), so the cells are
    # the trials, each annotated "<outcome>\n<votes>/<replicas>".
    cell_keys = [c for c in ("loss", "k", "lr_d", "d_width") if trials[c].nunique() > 1]
    assert trials.drop_duplicates("trial_id").groupby(cell_keys).size().max() == 1
    expected = sorted(
        f"{OUTCOME_SHORT[row.majority]}{'?' * (getattr(row, row.majority) < row.replicas)}"
        f"\n{getattr(row, row.majority)}/{row.replicas}"
        for row in summary.itertuples()
    )
    assert any("?" in t for t in expected) and any("?" not in t for t in expected)
    assert drawn == expected


def test_js_trajectories_plot_the_history_means(tmp_path: Path) -> None:
    """The js_binned lines are the per-(k, lr_d, step) means of history.parquet over
    replicas: one line per configuration (colour k, line style lr_d/lr_g), none pooled."""
    from ganstudy.report.figures.trajectories import fig_js

    folder = write_study(tmp_path, name="traj", losses=("minimax", "hinge"), samples=False)
    fig, _ = fig_js(load_study(folder))
    history = pd.read_parquet(folder / "history.parquet")
    trials = pd.read_parquet(folder / "trials.parquet").drop_duplicates("trial_id")
    h = history.merge(trials[["trial_id", "loss", "k", "lr_d"]], on="trial_id")
    axes = np.array(fig.axes).reshape(3, 2)  # rows: js_binned, js_d, js_probe; cols: losses
    for j, loss in enumerate(("minimax", "hinge")):
        lines = [ln for ln in axes[0, j].get_lines() if len(ln.get_xdata()) > 2]
        got = sorted((tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in lines)
        means = h[h["loss"] == loss].groupby(["k", "lr_d", "step"])["js_binned"].mean()
        want = sorted(
            (tuple(m.index.get_level_values("step")), tuple(m.to_numpy()))
            for _, m in means.groupby(level=["k", "lr_d"])
        )
        assert len(got) == len(want) == 4
        for (gx, gy), (wx, wy) in zip(got, want, strict=True):
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_allclose(gy, wy, rtol=1e-12)


def test_coverage_vs_capacity_with_one_loss(tmp_path: Path) -> None:
    """One hue level (one loss) used to divide by zero in seaborn's dodge."""
    folder = write_study(
        tmp_path, name="cap", losses=("minimax",), widths=((64, 64), (128, 64)), samples=False
    )
    out = build_report(folder, fmt="png", progress=None)
    assert (out / "06b_coverage_vs_capacity.png").read_bytes().startswith(PNG_MAGIC)


def test_samples_are_drawn_by_the_targets_picture(tmp_path: Path) -> None:
    """curves: curves over the target's x; gaussian1d: a histogram; ring8: a scatter;
    digits: one image mosaic per panel."""
    from ganstudy.engine.targets import make_target
    from ganstudy.report.figures.samples import fig_samples

    pictures = (
        ("curves", "lines"),
        ("gaussian1d", "patches"),
        ("ring8", "collections"),
        ("digits", "images"),
    )
    for target, artist in pictures:
        folder = write_study(tmp_path, name=target, losses=("minimax",), ks=(1,), target=target)
        fig, caption = fig_samples(load_study(folder))
        ax = fig.axes[0]
        assert len(getattr(ax, artist)) > 0, target
        if target == "curves":
            x = make_target("curves").x.numpy()
            np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), x)
            assert "curves" in caption
        if target == "digits":
            mosaic = ax.images[0].get_array()  # 6 x 6 images of 8 x 8, 1-pixel gaps
            assert mosaic.shape == (6 * 9 - 1, 6 * 9 - 1) and "images" in caption


# --- partial, running, damaged, unwritable ------------------------------------------------


def _interrupt(folder: Path) -> pd.DataFrame:
    """Make a study look interrupted: its last trial pending (never ran: no trial id, as
    results.build_tables writes it), the one before interrupted halfway (history to
    mid-training, no final values)."""
    trials = pd.read_parquet(folder / "trials.parquet")
    history = pd.read_parquet(folder / "history.parquet")
    ids = sorted(trials["trial_id"].unique())
    metrics = [c for c in history.columns if c not in ("trial_id", "replica", "step")]
    for trial_id, status in ((ids[-1], "pending"), (ids[-2], "interrupted")):
        rows = trials["trial_id"] == trial_id
        trials.loc[rows, metrics] = np.nan
        trials.loc[rows, "outcome"] = None
        trials.loc[rows, "status"] = status
    history = history[
        (history["trial_id"] != ids[-1])
        & ((history["trial_id"] != ids[-2]) | (history["step"] <= 200))
    ]
    trials["trial_id"] = trials["trial_id"].astype(object).where(trials["status"] != "pending")
    trials.to_parquet(folder / "trials.parquet")
    history.to_parquet(folder / "history.parquet")
    return trials


def test_interrupted_study_says_it_is_partial(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="cut", losses=("minimax", "hinge"), samples=False)
    trials = _interrupt(folder)
    done = int((trials["status"] == "finished").sum())
    index = build_report(folder, progress=None)
    sentence = f"Partial study: {done} of {len(trials)} runs finished (2 interrupted, 2 pending)"
    assert findings(load_study(folder))[0].startswith(sentence)
    assert (index.parent / "findings.md").read_text().startswith(f"## The answer\n\n- {sentence}")
    html = index.read_text(encoding="utf-8")
    assert html.index(f"<div class='answer'><p>{sentence}") < html.index("<img")  # first screen
    assert (index.parent / "03_phase_diagram.png").exists()
    summary = pd.read_csv(index.parent / "summary.csv")
    assert len(summary) == len(trials.drop_duplicates(["loss", "k", "lr_d"]))
    pending = summary["trial_id"] == "not started 1"
    assert pending.sum() == 1 and summary.loc[pending, "js_binned_mean"].isna().all()
    assert summary.loc[pending, "replicas"].item() == 2


def test_complete_study_is_not_called_partial(study: Path, report: Path) -> None:
    assert "Partial study" not in report.read_text()
    assert not any("Partial" in line for line in findings(load_study(study)))


def one_line_error(capsys: pytest.CaptureFixture[str], code: int, *args: object) -> str:
    assert report_command(*args) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganstudy: error: "), captured.err
    assert len(lines[0]) < 400  # no unbounded input echoed back
    return lines[0]


def _swap(folder: Path) -> None:
    (folder / "trials.parquet").write_bytes((folder / "history.parquet").read_bytes())


def _truncate(folder: Path) -> None:
    data = (folder / "history.parquet").read_bytes()
    (folder / "history.parquet").write_bytes(data[: len(data) // 3])


def _spec_list(folder: Path) -> None:
    (folder / "spec.yaml").write_text("- " + "k" * 5000 + "\n")


def _spec_binary(folder: Path) -> None:
    (folder / "spec.yaml").write_bytes(b"\xff\xfe\x00name: x")


def _running(folder: Path) -> None:
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01T00:00"}
    (folder / LOCK_NAME).write_text(json.dumps(lock))


def _no_swept_column(folder: Path) -> None:
    trials = pd.read_parquet(folder / "trials.parquet")
    trials.drop(columns=["k"]).to_parquet(folder / "trials.parquet")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_swap, "trials.parquet: damaged, not a trials table"),
        (_truncate, "history.parquet: damaged, not a readable parquet file"),
        (_spec_list, "spec.yaml: damaged, holds a list"),
        (_spec_binary, "spec.yaml: damaged, not UTF-8 text"),
        (_running, "the study is still running (pid"),
        (_no_swept_column, "trials.parquet: damaged, no column for k, which spec.yaml sweeps"),
    ],
)
def test_damaged_or_running_study_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage, words: str
) -> None:
    folder = write_study(tmp_path, name="bad", losses=("minimax",), samples=False)
    damage(folder)
    line = one_line_error(capsys, 2, folder, None, "html")
    assert words in line, line
    assert not (folder / "report").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_history_only_page_names_what_the_spec_swept(tmp_path: Path) -> None:
    """Without trials.parquet the page must not claim a grid study swept nothing."""
    folder = write_study(tmp_path, name="h", losses=("minimax", "hinge"), samples=False)
    (folder / "trials.parquet").unlink()
    body = " ".join(parse(build_report(folder, progress=None)).text)
    assert "Swept (per spec.yaml): k, loss, lr_d" in body
    assert "nothing (a single configuration)" not in body


def test_failed_write_leaves_the_old_report_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from matplotlib.figure import Figure

    folder = write_study(tmp_path, name="disk", losses=("minimax",), samples=False)
    index = build_report(folder, progress=None)
    before = {p.name: p.read_bytes() for p in index.parent.iterdir()}
    calls = []

    def full_disk(self, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) == 3:  # some PNGs written, then the disk fills up
            raise OSError(28, "No space left on device")
        return save(self, fname, *args, **kwargs)

    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", full_disk)
    line = one_line_error(capsys, 1, folder, None, "html")
    assert f"{folder / 'report'}: No space left on device" in line
    assert {p.name: p.read_bytes() for p in index.parent.iterdir()} == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_output_under_a_file_is_exit_2_and_unwritable_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_study(tmp_path, name="ro", losses=("minimax",), samples=False)
    (tmp_path / "a_file").write_text("")
    # Under a file is a wrong --out (exit 2, as `run --results` under a file), not a fault.
    line = one_line_error(capsys, 2, folder, tmp_path / "a_file" / "report", "html")
    assert str(tmp_path / "a_file" / "report") in line and "runs through a file" in line
    if os.geteuid() != 0:  # root writes through permission bits
        (tmp_path / "locked").mkdir(mode=0o555)
        line = one_line_error(capsys, 1, folder, tmp_path / "locked" / "report", "html")
        assert "Permission denied" in line
        assert list((tmp_path / "locked").iterdir()) == []


def test_a_new_report_replaces_the_old_one_whole(tmp_path: Path) -> None:
    folder = write_study(tmp_path, name="again", losses=("minimax",), ks=(1,))
    index = build_report(folder, progress=None)
    assert (index.parent / "07_sample_snapshots.png").exists()
    (folder / "samples.parquet").unlink()
    index = build_report(folder, progress=None)
    assert not (index.parent / "07_sample_snapshots.png").exists()  # no stale figure
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_out_folder_with_other_files_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_study(tmp_path, name="mine", losses=("minimax",), samples=False)
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("keep me")
    line = one_line_error(capsys, 2, folder, tmp_path / "thesis", "html")
    assert "chapter1.tex" in line
    assert [p.name for p in (tmp_path / "thesis").iterdir()] == ["chapter1.tex"]


@pytest.mark.parametrize("name", ["index.html", "summary.csv", "01_phase_diagram.png"])
def test_out_folder_ganstudy_never_marked_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Files named like a report's are still a user's unless ganstudy marked the folder."""
    folder = write_study(tmp_path, name="mine", losses=("minimax",), samples=False)
    site = tmp_path / "site"
    site.mkdir()
    (site / name).write_text("my own page")
    line = one_line_error(capsys, 2, folder, site, "html")
    assert f"{site}: not a report folder ganstudy wrote (no .ganstudy-report" in line
    assert [p.name for p in site.iterdir()] == [name]
    assert (site / name).read_text() == "my own page"
    index = build_report(folder, out=tmp_path / "new", progress=None)  # a new folder: marked
    assert (index.parent / ".ganstudy-report").is_file()
    build_report(folder, out=tmp_path / "new", progress=None)  # marked: replaced, exit 0


def test_study_interrupted_before_any_run_claims_nothing(tmp_path: Path) -> None:
    """All runs pending, no history: the report renders and says so, and claims no
    agreement between replicas that never ran."""
    folder = write_study(tmp_path, name="none", losses=("minimax", "hinge"))
    trials = pd.read_parquet(folder / "trials.parquet")
    metrics = [c for c in pd.read_parquet(folder / "history.parquet") if c not in RUN_KEYS]
    trials[metrics] = np.nan
    trials["outcome"], trials["status"], trials["trial_id"] = None, "pending", None
    trials.to_parquet(folder / "trials.parquet")
    for name in ("history", "samples"):
        pd.DataFrame().to_parquet(folder / f"{name}.parquet")
    index = build_report(folder, progress=None)
    text = [line for line in (index.parent / "findings.md").read_text().splitlines() if line]
    assert text[:2] == ["## The answer", text[1]]
    assert text[1].startswith(f"- Partial study: 0 of {len(trials)} runs finished")
    assert text[2] == "- No run has an outcome yet, so the study answers nothing so far."
    assert "- 8 configurations, 16 runs (trial × replica): no outcome 16/16." in text
    assert not any("agreed" in line for line in text)
    assert (index.parent / "03_phase_diagram.png").exists()


def test_wilson_intervals_match_the_closed_form_and_stay_in_range() -> None:
    from ganstudy.report.findings import wilson

    # Textbook values (Wilson 1927; e.g. Newcombe 1998, table I): 5/10 and 0/10 at 95%.
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=5e-5)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=5e-5)
    for n in range(0, 21):
        low, high = wilson(n, 20)
        assert 0.0 <= low <= n / 20 <= high <= 1.0


def test_the_answer_states_shares_with_their_intervals(study: Path) -> None:
    """The answer gives the converged share of all runs and per value of each swept setting
    with its Wilson interval, and calls two values apart only where the intervals are."""
    from ganstudy.report.findings import answer, wilson

    s = load_study(study)
    lines = answer(s)
    trials = pd.read_parquet(study / "trials.parquet")

    def share(runs: pd.DataFrame) -> tuple[int, int, str]:
        n, total = int((runs["outcome"] == "converged").sum()), len(runs)
        low, high = wilson(n, total)
        return n, total, f"{n}/{total} runs ({100 * low:.0f}–{100 * high:.0f}%)"

    assert lines[0].startswith(f"D and G stayed in balance (converged) in {share(trials)[2]}")
    by_loss = {loss: share(runs) for loss, runs in trials.groupby("loss")}
    best = max(by_loss, key=lambda k: by_loss[k][0] / by_loss[k][1])
    worst = min(by_loss, key=lambda k: by_loss[k][0] / by_loss[k][1])
    line = next(x for x in lines if x.startswith("By loss:"))
    if len({n / total for n, total, _ in by_loss.values()}) == 1:  # e.g. the smoke study: 0
        assert line == "By loss: the same share converged at every value."
    else:
        assert f"{by_loss[best][2]} at loss={best}" in line
        assert f"{by_loss[worst][2]} at loss={worst}" in line
    apart = wilson(*by_loss[best][:2])[0] > wilson(*by_loss[worst][:2])[1]
    verdicts = [x for x in lines if x.startswith(("Apart beyond", "At these run counts"))]
    assert any(f"loss ({best} over {worst})" in x for x in verdicts) == apart
    assert lines[-1] == "Ranges in % are 95% Wilson intervals over runs."


def test_the_answer_names_every_value_tied_for_most_and_least(tmp_path: Path) -> None:
    """Values of a setting with the same share are all named (the real losses study had
    minimax tied with least_squares and read as if least_squares alone converged most)."""
    from ganstudy.report.findings import answer, wilson

    s = load_study(write_study(tmp_path, name="ties", samples=False))
    s.runs["outcome"] = np.where(s.runs["loss"] == "wasserstein", "converged", "oscillating")

    def share(loss: str, outcome: str) -> str:
        runs = s.runs[s.runs["loss"] == loss]
        n, total = int((runs["outcome"] == outcome).sum()), len(runs)
        low, high = wilson(n, total)
        return f"{n}/{total} runs ({100 * low:.0f}–{100 * high:.0f}%)"

    lines = answer(s)
    assert (
        f"By loss: converged in {share('wasserstein', 'converged')} at loss=wasserstein, in "
        f"{share('minimax', 'converged')} each at loss=minimax and nonsaturating."
    ) in lines
    # k splits oscillating 2/3 : 2/3, loss 1 : 1 : 0, so loss is where it was commonest.
    assert (
        f"Each failure was commonest with oscillating in {share('minimax', 'oscillating')} "
        "each at loss=minimax and nonsaturating."
    ) in lines
    # Tied between settings (the smoke study: minimax's runs and k=1's are the same 4/4).
    two = load_study(
        write_study(tmp_path, name="cross", losses=("minimax", "nonsaturating"), ks=(1, 2),
                    ratios=(1.0,), samples=False)
    )  # fmt: skip
    odd = (two.runs["loss"] == "nonsaturating") & (two.runs["k"] == 2)
    two.runs["outcome"] = np.where(odd, "oscillating", "not_fitted")
    n = len(two.runs) // 2
    low, high = wilson(n, n)
    odd_low, odd_high = wilson(n // 2, n)
    assert (
        f"Each failure was commonest with not_fitted in {n}/{n} runs ({100 * low:.0f}–"
        f"{100 * high:.0f}%) at loss=minimax and in {n}/{n} runs ({100 * low:.0f}–"
        f"{100 * high:.0f}%) at k=1; oscillating in {n // 2}/{n} runs ({100 * odd_low:.0f}–"
        f"{100 * odd_high:.0f}%) at loss=nonsaturating and in {n // 2}/{n} runs "
        f"({100 * odd_low:.0f}–{100 * odd_high:.0f}%) at k=2."
    ) in answer(two)
    s.runs["outcome"] = "not_fitted"  # as every run of the real stacked study: no "where"
    lines = answer(s)
    assert (
        "Each failure was commonest with not_fitted alike at every value of every setting." in lines
    )
    assert not any(line.startswith("By ") and "each at" in line for line in lines)


def test_settings_beyond_the_answers_three_are_said_to_move_it_no_more(tmp_path: Path) -> None:
    """Four swept settings: the answer names the three whose converged share differs most
    between values (computed here from the runs) and says of the fourth, which moved it
    less but did move it, that it changed the share no more than these."""
    from ganstudy.report.findings import answer

    s = load_study(write_study(tmp_path, name="four", **GOLDEN_STUDIES["synthetic"]))
    r = s.runs.assign(**{"lr_d/lr_g": s.runs["lr_d"] / s.runs["lr_g"]})
    r["d_width/g_width"] = r["d_width"] / r["g_width"]
    k5 = r["k"] == 5
    converged = (
        (r["loss"] == "minimax")  # with the next term: gaps of 0.458 by k, 0.375 by loss
        | (r["k"] == 1)
        | (r["lr_d/lr_g"] == 1) & (r["replica"] == 0) & k5  # 0.125 by the lr ratio
        | (r["d_width/g_width"] == 2)
        & (r["replica"] == 1)
        & k5
        & (r["lr_d/lr_g"] == 4)
        & (r["loss"] == "wasserstein")  # 0.042 by the width ratio
    )
    s.runs["outcome"] = np.where(converged, "converged", "oscillating")
    r["outcome"] = s.runs["outcome"]
    gaps = {}
    for c in ("loss", "k", "lr_d/lr_g", "d_width/g_width"):
        share = (r["outcome"] == "converged").groupby(r[c]).mean()
        gaps[c] = share.max() - share.min()
    *top, last = sorted(gaps, key=gaps.get, reverse=True)
    assert gaps[top[-1]] > gaps[last] > 0, gaps  # the fixture keeps the four apart
    lines = answer(s)
    assert [x.split(":")[0] for x in lines if x.startswith("By ")] == [f"By {c}" for c in top]
    assert (
        f"{last} changed the share of balanced runs no more than these (see the findings below)."
    ) in lines


def test_on_images_a_probe_above_js_binned_is_no_error(tmp_path: Path) -> None:
    """On an image target js_binned is the JS of class histograms, itself a lower bound: a
    js_probe above it is not called estimation noise; on a toy it is."""
    study = load_study(write_study(tmp_path, name="img", samples=False))
    study.hist["js_probe"] = study.hist["js_binned"] + 0.1
    toy = next(line for line in findings(study) if line.startswith("js_probe lay above"))
    assert "estimation noise" in toy and "the reference js_binned" in toy
    study.runs["target"] = "digits"  # the kind follows the target trained
    image = next(line for line in findings(study) if line.startswith("js_probe lay above"))
    assert "estimation noise" not in image and "no error on images" in image
    assert "reference" not in image
