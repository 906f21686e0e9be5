"""The report's figures in page order: file key, heading, drawing function.

Each function takes the Study and returns (figure, caption) or raises `style.Skip(reason)`.
Adding a figure is one module (or one function in its family's module) and one line here.
"""

from __future__ import annotations

from ganstudy.report.figures.calibration import fig_calibration
from ganstudy.report.figures.capacity import fig_coverage_capacity
from ganstudy.report.figures.grid import fig_final_heatmaps, fig_phase
from ganstudy.report.figures.occupancy import fig_modes_kept, fig_occupancy, fig_onset_grid
from ganstudy.report.figures.samples import fig_samples
from ganstudy.report.figures.trajectories import fig_coverage, fig_d_outputs, fig_grad_norms, fig_js
from ganstudy.report.style import FigureEntry

FIGURES: tuple[FigureEntry, ...] = (
    FigureEntry("01_js_trajectories", "1. JS divergence trajectories", fig_js),
    FigureEntry("02_d_outputs", "2. Discriminator outputs", fig_d_outputs),
    FigureEntry("03_phase_diagram", "3. Phase diagram: balance or collapse?", fig_phase),
    FigureEntry("03b_collapse_onset", "3b. Collapse onset over the grid", fig_onset_grid),
    FigureEntry("04_final_heatmaps", "4. Final metric heatmaps", fig_final_heatmaps),
    FigureEntry("05_estimator_calibration", "5. Estimator calibration", fig_calibration),
    FigureEntry("06_mode_coverage", "6. Mode coverage over training", fig_coverage),
    FigureEntry(
        "06b_coverage_vs_capacity", "6b. Mode coverage vs capacity ratio", fig_coverage_capacity
    ),
    FigureEntry("06c_modes_kept", "6c. Modes kept per configuration", fig_modes_kept),
    FigureEntry("07_sample_snapshots", "7. Sample snapshots", fig_samples),
    FigureEntry("08_grad_norms", "8. Gradient norms", fig_grad_norms),
    FigureEntry("09_mode_occupancy", "9. Mode occupancy over time", fig_occupancy),
)
HEADLINE = "03_phase_diagram"  # shown first on the page
