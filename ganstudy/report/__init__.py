"""Study tables -> seaborn figures, summary.csv and one self-contained HTML page.

`ganstudy report [STUDY_DIR]` reads a study folder only through `results.load_results`
(`trials.parquet`, `history.parquet`, `samples.parquet` or `samples/`, `modes.parquet`,
`spec.yaml`, `environment.json`), never Ray's own files, and writes `report/` beside them:
one PNG per figure, `summary.csv`, `outcomes.csv`, `findings.md` and `index.html` with the PNGs
embedded (opens offline).

With several study folders, `ganstudy report A B ...` writes one comparison instead
(compare: the settings the studies share, one colour per study).

Modules: study (loading and derived columns), words (what a target kind's estimates mean,
for captions and findings), cells (the phase-diagram grid), occupancy
(mode counts over time, the runs shown and why, the modes-kept findings), style (what
figures share), figures/ (one module per figure family; FIGURES is the ordered registry),
drawers (sample pictures by the target's `picture`), findings (tables and sentences), page
(HTML), build (rendering into place and the command).
"""

from ganstudy.report.build import OutputError, build_comparison, build_report, report_command
from ganstudy.report.drawers import DRAWERS, mixture_log_density
from ganstudy.report.figures import FIGURES
from ganstudy.report.findings import findings, outcome_table, summary_table
from ganstudy.report.study import Study, derive, find_latest_study, load_study
from ganstudy.study.results import ResultsError

__all__ = [
    "DRAWERS",
    "FIGURES",
    "OutputError",
    "Study",
    "ResultsError",
    "build_comparison",
    "build_report",
    "derive",
    "find_latest_study",
    "findings",
    "load_study",
    "mixture_log_density",
    "outcome_table",
    "report_command",
    "summary_table",
]
