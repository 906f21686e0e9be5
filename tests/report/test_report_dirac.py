"""The report of a Dirac-GAN study: the (θ, ψ) figure drawn from theta and psi, and the
figures that say nothing about a point mass skipped with their reason."""

from __future__ import annotations

from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest
from report_fixtures import write_dirac_study

from ganstudy.report import build_report, load_study
from ganstudy.report.figures.dirac import SKIPS, fig_dirac_distance, fig_dirac_plane
from ganstudy.report.figures.outcomes import fig_outcome_rates
from ganstudy.report.figures.search import fig_sampled_runs
from ganstudy.report.figures.trajectories import fig_js
from ganstudy.report.style import Skip


def dirac_study(tmp_path: Path) -> Path:
    """Two configurations of 2 replicas: minimax circles at radius √2, nonsaturating spirals
    in to 1e-4 of its start (report_fixtures.write_dirac_study)."""
    return write_dirac_study(tmp_path)


def test_dirac_plane_has_a_panel_per_configuration_and_says_which_converged(tmp_path: Path):
    s = load_study(dirac_study(tmp_path))
    fig, caption = fig_dirac_plane(s)
    drawn = [ax for ax in fig.axes if ax.lines]
    assert len(drawn) == 2  # one panel per configuration
    for ax in drawn:
        # Per replica: the path, its start and its end; the equilibrium star, the axes.
        assert len(ax.lines) == 2 * 3 + 1 + 2
        (star,) = [line for line in ax.lines if line.get_marker() == "*"]
        assert list(star.get_xdata()) == [0] and list(star.get_ydata()) == [0]
    # The distance reached is said, not only its ratio to the start: 1.41e-4 is (0, 0).
    assert (
        "Measured, of 4 runs starting at distance 1.41 (median): 2 reach the equilibrium, "
        "ending at distance 0.000141, under 1% of their start distance (every "
        "configuration with loss in {nonsaturating}); 0 end farther out than they started; "
        "2 in between, ending at distance 1.41"
    ) in caption


def test_dirac_report_skips_what_a_point_mass_cannot_show(tmp_path: Path):
    out = build_report(dirac_study(tmp_path), progress=None)
    assert (out.parent / "01b_dirac_plane.png").stat().st_size > 5_000
    html = out.read_text(encoding="utf-8")
    for key, reason in [
        ("06_mode_coverage", "coverage"),
        ("05_estimator_calibration", "calibration"),
        ("07_sample_snapshots", "samples"),
        ("03_phase_diagram", "grid"),
        ("04_final_heatmaps", "grid"),
    ]:
        assert not (out.parent / f"{key}.png").exists(), key
        # Listed once, at the end, with the reason; no stub where the figure would be.
        assert html.count(f"id='{key}'") == 1
        item = html.split(f"<li id='{key}'>", 1)[1].split("</li>", 1)[0]
        assert html_escape(SKIPS[reason]) + "." in item
        assert html.index(f"<li id='{key}'>") > html.index("<h2 id='not-drawn'>")
    assert "js_binned is log 2 until |θ| &lt; 0.025" in html  # JS figure says how to read it
    assert (out.parent / "01c_dirac_distance.png").stat().st_size > 5_000
    # Without a phase diagram the page opens with the (θ, ψ) figure, under the answer.
    assert html.index("<section id='answer'>") < html.index("<h3 id='01b_dirac_plane'>")
    assert html.index("<h3 id='01b_dirac_plane'>") < html.index("<h2>Findings")
    findings = (out.parent / "findings.md").read_text(encoding="utf-8")
    assert (
        "Dirac-GAN, distance to the equilibrium (0, 0) at the end, of 4 runs starting at "
        "distance 1.41 (median): 2 reach the equilibrium, ending at distance 0.000141" in findings
    )
    assert "within 1%" not in findings


def test_dirac_captions_claim_only_what_the_figures_show(tmp_path: Path):
    """On the Dirac-GAN a converged run's js_probe stays at log 2, so the JS caption does not
    call a curve that stalls high a failed run; no phase diagram is drawn, so the outcome
    rates and the sampled-runs note do not send the reader to one; the distance figure says
    its replicas coincide only where they do."""
    folder = dirac_study(tmp_path)
    s = load_study(folder)
    _, js = fig_js(s)
    assert "stalls high" not in js
    _, rates = fig_outcome_rates(s)
    assert "phase diagram" not in rates and "(θ, ψ) figure" in rates
    with pytest.raises(Skip) as skipped:
        fig_sampled_runs(s)
    assert "phase diagram" not in str(skipped.value)
    _, distance = fig_dirac_distance(s)
    assert "median over replicas, which coincide here" in distance

    history = pd.read_parquet(folder / "history.parquet")
    history.loc[history["replica"] == 1, "dirac_distance"] *= 1.5
    history.to_parquet(folder / "history.parquet")
    _, distance = fig_dirac_distance(load_study(folder))
    assert "coincide" not in distance and "which differ by up to 33.3% here" in distance
