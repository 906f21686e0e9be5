"""The report's figures in page order: file key, heading, drawing function.

The page numbers the figures it draws in this order (the headline first), so headings
carry no numbers and captions name other figures, never by number.

Each function takes the Study and returns (figure, caption) or raises `style.Skip(reason)`.
Adding a figure is one module (or one function in its family's module) and one line here.
"""

from __future__ import annotations

from ganstudy.report.figures.calibration import fig_calibration
from ganstudy.report.figures.capacity import fig_coverage_capacity
from ganstudy.report.figures.dirac import fig_dirac_distance, fig_dirac_plane
from ganstudy.report.figures.grid import fig_final_heatmaps, fig_phase
from ganstudy.report.figures.occupancy import fig_modes_kept, fig_occupancy, fig_onset_grid
from ganstudy.report.figures.outcomes import fig_outcome_rates
from ganstudy.report.figures.samples import fig_samples
from ganstudy.report.figures.search import (
    fig_optuna_history,
    fig_optuna_importance,
    fig_sampled_runs,
)
from ganstudy.report.figures.trajectories import (
    fig_classifier_metrics,
    fig_coverage,
    fig_d_outputs,
    fig_grad_norms,
    fig_js,
    fig_other_metrics,
)
from ganstudy.report.style import FigureEntry

FIGURES: tuple[FigureEntry, ...] = (
    FigureEntry("01_js_trajectories", "JS divergence trajectories", fig_js),
    FigureEntry("01b_dirac_plane", "Dirac-GAN: trajectories in the (θ, ψ) plane", fig_dirac_plane),
    FigureEntry("01c_dirac_distance", "Dirac-GAN: distance to equilibrium", fig_dirac_distance),
    FigureEntry("02_d_outputs", "Discriminator outputs", fig_d_outputs),
    FigureEntry("03_phase_diagram", "Phase diagram: balance or collapse?", fig_phase),
    FigureEntry("03b_sampled_runs", "Sampled search: every run", fig_sampled_runs),
    FigureEntry("03c_collapse_onset", "Collapse onset over the grid", fig_onset_grid),
    FigureEntry("03d_outcome_rates", "Outcome rates per setting", fig_outcome_rates),
    FigureEntry("04_final_heatmaps", "Final metric heatmaps", fig_final_heatmaps),
    FigureEntry("05_estimator_calibration", "Estimator calibration", fig_calibration),
    FigureEntry("06_mode_coverage", "Mode coverage over training", fig_coverage),
    FigureEntry("06b_coverage_vs_capacity", "Mode coverage vs capacity", fig_coverage_capacity),
    FigureEntry("06c_modes_kept", "Modes kept per configuration", fig_modes_kept),
    FigureEntry(
        "06d_classifier_metrics", "Classifier metrics over training", fig_classifier_metrics
    ),
    FigureEntry("07_sample_snapshots", "Sample snapshots", fig_samples),
    FigureEntry("08_grad_norms", "Gradient norms", fig_grad_norms),
    FigureEntry("08b_other_metrics", "Other measured metrics", fig_other_metrics),
    FigureEntry("09_mode_occupancy", "Mode occupancy over time", fig_occupancy),
    FigureEntry("10_optuna_history", "Optuna: optimisation history", fig_optuna_history),
    FigureEntry("11_optuna_importance", "Optuna: parameter importances", fig_optuna_importance),
)
# Shown first on the page: the first of these that was drawn (the Dirac-GAN study has no
# k × lr grid, its (θ, ψ) figure is its headline), else the first figure drawn.
HEADLINES = ("03_phase_diagram", "01b_dirac_plane")
