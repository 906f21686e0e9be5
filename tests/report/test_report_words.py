"""The report's words follow the target, its first screen answers, its figures come in
order, and several studies compare side by side (issue 26)."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from report_fixtures import write_study

from ganstudy.report import FIGURES, build_report, findings, load_study
from ganstudy.report.build import report_command
from ganstudy.report.compare import fig_outcomes, palette, shared
from ganstudy.report.figures.calibration import fig_calibration
from ganstudy.report.figures.trajectories import fig_coverage, fig_js
from ganstudy.report.findings import answer, summary_table, wilson
from ganstudy.report.page import _table_html
from ganstudy.report.style import num
from ganstudy.report.words import IMAGE, TOY, study_kind

# Sentences true of a toy with a known density only: on images js_binned (the JS of class
# histograms) is a lower bound like js_probe, and quality is the classifier's confidence.
TOY_ONLY = (
    "js_binned is the reference",
    "reference js_binned",
    "(reference, nats)",
    "exceeded the reference",
    "impossible",
    "estimation noise",
    "of a mode",
    "3σ",
)


def _texts(fig) -> list[str]:
    """Every piece of text drawn on a figure: titles, labels, annotations, legends."""
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits-shaped study (report_fixtures: fd, precision, recall; js_probe above
    js_binned, as on real digits runs) with its HTML report built."""
    folder = write_study(
        tmp_path_factory.mktemp("results"),
        name="digits",
        losses=("minimax", "nonsaturating"),
        target="digits",
        n_samples=40,
    )
    build_report(folder, progress=None)
    return folder


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_study(
        tmp_path_factory.mktemp("results"), name="toy", losses=("minimax",), samples=False
    )


def test_image_report_has_no_toy_only_words(digits: Path, toy: Path) -> None:
    """The digits page (findings, captions) and the calibration figure's own text carry none
    of the toy-only phrases; the same code on a toy says them (the list can fail)."""
    image, ring = load_study(digits), load_study(toy)
    assert (study_kind(image), study_kind(ring)) == (IMAGE, TOY)
    page = (digits / "report" / "index.html").read_text(encoding="utf-8")
    said = [phrase for phrase in TOY_ONLY if phrase in page]
    assert said == [], said
    fig, caption = fig_calibration(image)
    drawn = " ".join([caption, *_texts(fig)])
    assert [p for p in TOY_ONLY if p in drawn] == []
    assert not any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)
    # The toy: the reference is named and the area above y = x shaded.
    fig, caption = fig_calibration(ring)
    toy_words = " ".join(
        [caption, *_texts(fig), fig_js(ring)[1], fig_coverage(ring)[1], *findings(ring)]
    )
    assert {"js_binned is the reference", "impossible", "of a mode", "3σ"} <= {
        p for p in TOY_ONLY if p in toy_words
    }
    assert any(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)


def test_image_findings_never_fall_below_by_a_negative(digits: Path) -> None:
    """js_probe sits 0.2 nats above js_binned on the digits fixture: said as 'lay above' with
    a positive number, and the median equals the direct pandas one."""
    s = load_study(digits)
    line = next(x for x in findings(s) if x.startswith("js_probe"))
    h = s.hist.dropna(subset=["js_binned", "js_probe"])
    by_k = (h["js_probe"] - h["js_binned"]).groupby(h["k"]).median()
    assert line.startswith("js_probe lay above js_binned by a median of ")
    for k, v in by_k.items():
        assert v > 0 and f"{num(v)} nats at k={k}" in line
    assert not re.search(r"below [^;]*by a median of -", " ".join(findings(s)))
    assert "no error on images" in line


def test_number_formatter_keeps_significant_digits() -> None:
    assert num(1.3e-9) == "1.3e-09"
    assert num(0.4567) == "0.457"
    assert num(-0.494) == "-0.494"
    assert num(12345.6) == "12346"
    assert num(2.0) == "2"
    assert num(float("nan")) == "–"


def test_a_tiny_metric_is_not_printed_as_zero(toy: Path) -> None:
    s = load_study(toy)
    s.runs["js_binned"] = s.runs["js_binned"] * 1e-8  # ~1e-9 nats
    html = _table_html(summary_table(s), s)
    assert "e-09" in html or "e-10" in html
    assert "0.0000" not in html


class _Blocks(HTMLParser):
    """The page's order: tags with their id/class, and img alts, as a flat list."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        self.answer: list[str] = []
        self._p_in_answer = False
        self._answer_open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.seen.append((tag, a.get("id") or a.get("class") or a.get("alt") or ""))
        if tag == "div" and a.get("class") == "answer":
            self._answer_open = True
        if tag == "p" and self._answer_open:
            self._p_in_answer = True
            self.answer.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._p_in_answer = False
        if tag == "div":
            self._answer_open = False

    def handle_data(self, data: str) -> None:
        if self._p_in_answer:
            self.answer[-1] += data


def _blocks(path: Path) -> _Blocks:
    parser = _Blocks()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_first_screen_answers_then_shows_the_phase_diagram(digits: Path) -> None:
    page = _blocks(digits / "report" / "index.html")
    body = page.seen[[t for t, _ in page.seen].index("h1") + 1 :]
    assert body[0] == ("section", "answer")  # the first block after the title
    assert page.answer == answer(load_study(digits))
    first_heading = next(x for x in body if x[0] == "h3")
    first_img = next(i for i, x in enumerate(body) if x[0] == "img")
    assert first_heading == ("h3", "03_phase_diagram")
    assert body.index(("div", "answer")) < first_img < body.index(("h2", ""))
    # The answer states the converged share with its Wilson interval, from the tables.
    runs = pd.read_parquet(digits / "trials.parquet")
    n, total = int((runs["outcome"] == "converged").sum()), len(runs)
    low, high = wilson(n, total)
    assert (
        f"D and G stayed in balance (converged) in {n}/{total} runs "
        f"({100 * low:.0f}–{100 * high:.0f}%)" in page.answer[0]
    )


def test_figures_are_numbered_in_page_order_and_the_rest_listed_once_at_the_end(
    digits: Path,
) -> None:
    html = (digits / "report" / "index.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h3 id='([^']+)'>Figure (\d+)\. ", html)
    assert [int(n) for _, n in headings] == list(range(1, len(headings) + 1))
    keys = [key for key, _ in headings]
    registry = [entry.key for entry in FIGURES]
    assert keys[0] == "03_phase_diagram"
    assert keys[1:] == [k for k in registry if k in keys[1:]]  # the rest in registry order
    folder = digits / "report"
    assert set(keys) == {k for k in registry if (folder / f"{k}.png").exists()}
    not_drawn = [k for k in registry if k not in keys]
    assert not_drawn, "a digits study draws no Dirac or Optuna figure"
    end = html.index("<h2 id='not-drawn'>")
    assert all(html.index(f"id='{k}'") > end for k in not_drawn)
    assert all(html.count(f"id='{k}'") == 1 for k in registry if f"id='{k}'" in html)
    assert sorted(re.findall(r"<li id='([^']+)'>", html[end:])) == sorted(not_drawn)
    assert "Skipped" not in html


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A balance-like study (3 losses, k 1 and 5) and one sharing two of its losses at k=1."""
    root = tmp_path_factory.mktemp("results")
    a = write_study(
        root, name="wide", losses=("minimax", "nonsaturating", "wasserstein"), samples=False
    )
    b = write_study(
        root,
        name="narrow",
        losses=("minimax", "nonsaturating"),
        ks=(1,),
        replicas=3,
        seed=5,
        samples=False,
    )
    return a, b


def test_compare_draws_the_shared_settings_one_colour_per_study(pair: tuple[Path, Path]) -> None:
    studies = [load_study(p) for p in pair]
    sh = shared(studies)
    # loss and lr_d/lr_g are swept by both; k only by "wide": pooled there, and said so.
    assert sh.settings == ["loss", "lr_ratio"]
    assert any(d.startswith("k: wide {1, 5}; narrow {1}") for d in sh.differs)
    assert not any("wasserstein" in g for g in sh.groups)
    assert sh.dropped == {"wide": 8, "narrow": 0}  # wasserstein's 4 configs x 2 replicas
    colors = palette(list(sh.runs))
    fig, caption = fig_outcomes(sh, colors)
    for ax in fig.axes[: len(set(sh.runs["wide"]["outcome"]) | {"converged"})]:
        lines = [c for c in ax.containers]  # one errorbar container per study
        drawn = {tuple(np.round(c.lines[0].get_color(), 6)) for c in lines}
        assert len(lines) == 2 and len(drawn) == 2
        assert [t.get_text() for t in ax.get_xticklabels()] == sh.groups
    assert "k: wide {1, 5}; narrow {1}" in caption


def test_compare_command_writes_rates_equal_to_direct_pandas(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    from ganstudy.cli import main

    out = tmp_path / "cmp"
    assert main(["report", *(str(p) for p in pair), "--out", str(out)]) == 0  # the CLI's way
    table = pd.read_csv(out / "compare.csv")
    trials = pd.read_parquet(pair[0] / "trials.parquet")
    at = trials[(trials["loss"] == "minimax") & np.isclose(trials["lr_d"] / trials["lr_g"], 4)]
    row = table[
        (table["study"] == "wide")
        & (table["group"] == "loss=minimax, lr_d/lr_g=4")
        & (table["outcome"] == "converged")
    ].iloc[0]
    n = int((at["outcome"] == "converged").sum())
    assert (row["runs"], row["total"]) == (n, len(at)) == (n, 4)
    assert math.isclose(row["low"], wilson(n, len(at))[0])
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<h1>ganstudy comparison: wide vs narrow</h1>" in html
    assert (out / "compare_outcomes.png").stat().st_size > 5000


def test_compare_with_a_bad_folder_is_one_line_exit_2_and_writes_nothing(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert report_command([str(pair[0]), str(tmp_path / "nowhere")], str(out), "html") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err and "not a study folder" in err
    assert not out.exists()


def test_general_advice_is_given_only_where_the_study_holds_what_it_names(toy: Path) -> None:
    """The phase diagram's hint speaks of a convergence boundary only where some run
    converged, and the gradient figure names the minimax loss only where minimax ran."""
    from ganstudy.report.figures.grid import fig_phase
    from ganstudy.report.figures.trajectories import fig_grad_norms

    s = load_study(toy)
    assert (s.runs["outcome"] == "converged").any() and set(s.runs["loss"]) == {"minimax"}
    assert "stops converging" in fig_phase(s)[1]
    assert "minimax" in fig_grad_norms(s)[1]
    s.runs["outcome"] = s.runs["outcome"].replace("converged", "oscillating")
    caption = fig_phase(s)[1]
    assert "stops converging" not in caption and "no run converged; look for" in caption
    s.runs["loss"] = "hinge"
    assert "minimax" not in fig_grad_norms(s)[1]


def test_a_critics_only_study_is_told_of_critics_only(tmp_path: Path) -> None:
    """WGAN and WGAN-GP (studies/critics.yaml's shape) record no D probabilities and no js_d:
    the D-output figure neither explains nor keys probability curves, and the calibration
    caption names js_probe alone and says why js_d is missing. A mixed study says both."""
    from ganstudy.report.figures.trajectories import fig_d_outputs

    critics = load_study(
        write_study(tmp_path, name="critics", losses=("wasserstein", "wgan_gp"), samples=False)
    )
    assert critics.hist["d_real"].isna().all() and critics.hist["js_d"].isna().all()
    fig, caption = fig_d_outputs(critics)
    assert "D* = 1/2" not in caption and "critic_real − critic_fake" in caption
    assert not {"D(x_real)", "D(G(z))"} & set(_texts(fig))
    _, caption = fig_calibration(critics)
    assert "js_probe (a fresh k-NN classifier) is a lower bound" in caption
    assert "js_d (" not in caption and "No js_d: this loss's D has no probability output" in caption
    mixed = load_study(write_study(tmp_path, name="mixed", samples=False))  # minimax … wasserstein
    fig, caption = fig_d_outputs(mixed)
    assert "D* = 1/2" in caption and "critic_real − critic_fake" in caption
    assert {"D(x_real)", "D(G(z))"} <= set(_texts(fig))
    _, caption = fig_calibration(mixed)
    assert "js_d (from the trial's own D) and js_probe" in caption and "No js_d" not in caption


def test_a_pbt_study_says_its_settings_changed_during_training(tmp_path: Path) -> None:
    """With exploits.parquet (a PBT study), the answer and the swept line say which settings
    the exploits changed and that runs are placed at those they last trained with; without
    it, neither says anything of PBT."""
    from ganstudy.report.page import swept_line

    folder = write_study(tmp_path, name="pbt", losses=("nonsaturating",), samples=False)
    assert not any("PBT" in line for line in answer(load_study(folder)))
    trials = pd.read_parquet(folder / "trials.parquet")["trial_id"].unique()
    exploits = pd.DataFrame(
        {"trial_id": trials[:2], "step": [100, 200], "donor": trials[2:4], "order": [0, 0],
         "checkpoint": ["a", "b"], "lr_d_before": [1e-3, 2e-3], "lr_d_after": [8e-4, 2.4e-3],
         "lr_g_before": [1e-3, 1e-3], "lr_g_after": [1.2e-3, 8e-4]}
    )  # fmt: skip
    exploits.to_parquet(folder / "exploits.parquet")
    s = load_study(folder)
    said = (
        "Under PBT lr_d and lr_g changed during training (2 exploits, exploits.parquet): each "
        "run is placed and counted at the settings it last trained with"
    )
    assert any(line.startswith(said) for line in answer(s))
    assert said in swept_line(s)
