"""The report of a Dirac-GAN study: the (θ, ψ) figure drawn from theta and psi, and the
figures that say nothing about a point mass skipped with their reason."""

from __future__ import annotations

import math
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pandas as pd
from report_fixtures import write_study

from ganstudy.report import build_report, load_study
from ganstudy.report.figures.dirac import SKIPS, fig_dirac_plane


def dirac_study(tmp_path: Path) -> Path:
    """Two configurations of 2 replicas: minimax circles at radius √2, nonsaturating spirals
    in to 1e-4 of its start (made-up numbers shaped like the Dirac-GAN's)."""
    folder = write_study(
        tmp_path,
        name="dirac",
        losses=("minimax", "nonsaturating"),
        ks=(1,),
        ratios=(1.0,),
        target="gaussian1d",
        samples=False,
    )
    trials = pd.read_parquet(folder / "trials.parquet")
    history = pd.read_parquet(folder / "history.parquet")
    trials[["target", "model"]] = "dirac"
    trial_loss = trials.drop_duplicates("trial_id").set_index("trial_id")["loss"]
    angle = history["step"] / 40.0
    shrink = np.where(
        history["trial_id"].map(trial_loss) == "minimax", 1.0, np.exp(-history["step"] / 43.4)
    )
    radius = math.sqrt(2) * shrink
    history["theta"] = radius * np.cos(angle + math.pi / 4)
    history["psi"] = radius * np.sin(angle + math.pi / 4)
    history["dirac_distance"] = np.hypot(history["theta"], history["psi"])
    last = history.sort_values("step").groupby(["trial_id", "replica"]).tail(1)
    trials = trials.drop(columns=["theta", "psi", "dirac_distance"], errors="ignore").merge(
        last[["trial_id", "replica", "theta", "psi", "dirac_distance"]],
        on=["trial_id", "replica"],
    )
    trials.to_parquet(folder / "trials.parquet", index=False)
    history.to_parquet(folder / "history.parquet", index=False)
    return folder


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
    assert "Measured, of 4 runs: 2 end within 1% of their start distance (every configuration " in (
        caption
    )
    assert "with loss in {nonsaturating}); 0 end farther out than they started; 2 in between" in (
        caption
    )


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
        section = html.split(f"<h3 id='{key}'>", 1)[1].split("<h3 ", 1)[0]
        assert "Skipped: " + html_escape(SKIPS[reason]) + ".</p>" in section
    assert "js_binned is log 2 until |θ| &lt; 0.025" in html  # JS figure says how to read it
    assert (out.parent / "01c_dirac_distance.png").stat().st_size > 5_000
    # Without a phase diagram the page opens with the (θ, ψ) figure.
    assert html.index("<h3 id='01b_dirac_plane'>") < html.index("<h2>Best configurations")
    findings = (out.parent / "findings.md").read_text(encoding="utf-8")
    assert "Dirac-GAN, distance to the equilibrium (0, 0) at the end, of 4 runs: 2 end" in findings
