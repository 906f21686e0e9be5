"""`ganstudy report`: render every figure, the tables and the page into the report folder.

The folder is written whole or not at all: everything is rendered into a hidden folder
beside the target and renamed into place at the end, replacing an older report only then,
so a full or read-only disk leaves the previous report (or nothing), never half a report.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import seaborn as sns

from ganstudy.messages import IO_FAULT, clip_middle, detail, fail
from ganstudy.report.compare import COMPARE_FILES, names, render
from ganstudy.report.figures import FIGURES
from ganstudy.report.findings import (
    answer,
    findings_markdown,
    grouped,
    outcome_table,
    summary_table,
)
from ganstudy.report.page import Rendered, page
from ganstudy.report.study import Study, find_latest_study, load_study
from ganstudy.report.style import DPI, Skip
from ganstudy.study.results import (
    REPORT_DIR,
    REPORT_MARK,
    ResultsError,
    check_study_folder,
    clip,
    lock_holder,
    report_sibling,
)

Format = Literal["html", "png"]
# Every file a report folder holds; a folder with anything else is not replaced, and one
# without REPORT_MARK is not a report ganstudy wrote (a user's own index.html).
REPORT_FILES = frozenset(
    {f"{entry.key}.png" for entry in FIGURES}
    | {"summary.csv", "outcomes.csv", "findings.md", "index.html", REPORT_MARK}
    | set(COMPARE_FILES)
)


class OutputError(OSError):
    """The report could not be written (read-only or full disk); the message names where."""


def build_report(
    study_dir: str | Path | None = None,
    *,
    out: Path | None = None,
    fmt: Format = "html",
    progress: Callable[[str], None] | None = print,
) -> Path:
    """Render a study's figures, summary.csv and (fmt="html") a self-contained index.html.

    study_dir: a `results/<name>` folder; None picks the most recently written one under
    ./results. out: where to write (default `<study_dir>/report`). Returns the index.html
    path, or the output folder for fmt="png". Raises ResultsError / ResultsError for bad
    input (not a study, a damaged table, a study still running) before writing anything,
    and OutputError when the output cannot be written (nothing half-written is left).
    """
    if fmt not in ("html", "png"):
        raise ResultsError(f"format: got {clip(repr(fmt), 40)}; expected html or png")
    study = open_study(find_latest_study() if study_dir is None else Path(study_dir))
    out = Path(out) if out is not None else study.path / REPORT_DIR
    _check_replaceable(out)
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    staging = report_sibling(out, "tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        _render(study, staging, fmt, say)
        _replace(staging, out)
    except OSError as err:
        why = f"cannot write the report to {clip_middle(out)}: {err.strerror or detail(err)}"
        raise OutputError(err.errno, why) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when renamed into place
    say(f"report {study.name}: done in {time.perf_counter() - start:.1f}s")
    return out if fmt == "png" else out / "index.html"


def open_study(folder: Path) -> Study:
    """A study folder's tables, loaded for a report: ResultsError for a folder that is not a
    study, is damaged or is still being written by a run."""
    check_study_folder(folder)  # a file's path holds no lock: not "still running"
    holder = lock_holder(folder)
    if holder is not None:
        # Tables of a running study are mid-write: no report until the run lets go.
        raise ResultsError(
            f"{clip_middle(folder)}: the study is still running ({holder}); "
            "report it when the run ends"
        )
    return load_study(folder)


def build_comparison(
    study_dirs: list[Path],
    *,
    out: Path | None = None,
    fmt: Format = "html",
    progress: Callable[[str], None] | None = print,
) -> Path:
    """Several studies side by side (report/compare.py): outcome rates and final metrics of
    the settings they share, one colour per study, written whole into `out` (default
    `compare-<A>-<B>...` beside the first study). Returns index.html, or the folder for
    fmt="png". Errors as build_report's."""
    if fmt not in ("html", "png"):
        raise ResultsError(f"format: got {clip(repr(fmt), 40)}; expected html or png")
    studies = [open_study(Path(folder)) for folder in study_dirs]
    if out is None:
        out = studies[0].path.parent / clip("compare-" + "-".join(names(studies)), 120)
    out = Path(out)
    _check_replaceable(out)
    say = progress or (lambda _msg: None)
    say(f"compare {', '.join(names(studies))}")
    staging = report_sibling(out, "tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        (staging / REPORT_MARK).write_text(
            "A ganstudy report folder: `ganstudy report` replaces it.\n"
        )
        with sns.axes_style("ticks"), sns.plotting_context("notebook", font_scale=0.8):
            render(studies, staging, fmt)
        _replace(staging, out)
    except OSError as err:
        why = f"cannot write the report to {clip_middle(out)}: {err.strerror or detail(err)}"
        raise OutputError(err.errno, why) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out if fmt == "png" else out / "index.html"


def _render(study: Study, out: Path, fmt: Format, say: Callable[[str], None]) -> None:
    (out / REPORT_MARK).write_text("A ganstudy report folder: `ganstudy report` replaces it.\n")
    rendered = []
    for i, entry in enumerate(FIGURES, 1):
        say(f"report {study.name}: [{i}/{len(FIGURES)}] {entry.title}")
        item = Rendered(entry.key, entry.title)
        png = out / f"{entry.key}.png"
        try:
            with sns.axes_style("ticks"), sns.plotting_context("notebook", font_scale=0.8):
                fig, item.caption = entry.draw(study)
                fig.savefig(png, dpi=DPI)
            item.png = png
        except Skip as skip:
            item.skipped = str(skip)
        rendered.append(item)
    summary = summary_table(study)
    outcomes = outcome_table(study)
    summary.to_csv(out / "summary.csv", index=False)
    outcomes.to_csv(out / "outcomes.csv", index=False)
    (out / "findings.md").write_text(findings_markdown(study), encoding="utf-8")
    if fmt == "html":
        html = page(study, rendered, summary, outcomes, answer(study), grouped(study))
        (out / "index.html").write_text(html, encoding="utf-8")


def _check_replaceable(out: Path) -> None:
    """Refuse (bad input) an --out that is a file, lies under a file, or is a folder holding
    more than a report."""
    if out.is_symlink() and not out.exists():  # rename() cannot put a folder there
        raise ResultsError(
            f"{clip_middle(out)}: a link to nothing ({clip_middle(os.readlink(out), 80)}); "
            "choose another --out"
        )
    if out.exists() and not out.is_dir():
        raise ResultsError(f"{clip_middle(out)}: exists and is not a folder; choose another --out")
    # mkdir under a file fails with "File exists" or "Not a directory": name the file.
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise ResultsError(
                f"{clip_middle(out)}: the path runs through a file ({clip_middle(parent, 80)}); "
                "choose another --out"
            )
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and REPORT_MARK not in held:
        raise ResultsError(
            f"{clip_middle(out)}: not a report folder ganstudy wrote (no {REPORT_MARK}; it holds "
            f"{clip(held[0], 60)}); choose another --out, the report replaces its whole folder"
        )
    foreign = [name for name in held if name not in REPORT_FILES]
    if foreign:
        raise ResultsError(
            f"{clip_middle(out)}: holds files that are not a report's (e.g. "
            f"{clip(foreign[0], 60)}); choose another --out, the report replaces its folder"
        )


def _replace(staging: Path, out: Path) -> None:
    """Rename the finished report into place; an older one goes only after that."""
    old = report_sibling(out, "old")
    if out.exists():
        os.rename(out, old)
    try:
        os.rename(staging, out)
    except OSError:
        if old.exists():
            os.rename(old, out)  # put the previous report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def report_command(
    study_dir: str | Path | list[str | Path] | None, out: str | Path | None, fmt: Format
) -> int:
    """`ganstudy report [STUDY ...]`: one study's report, or with several studies their
    comparison; print its path. One line on stderr and exit 2 for bad input (not a study,
    damaged, still running), exit 1 for an I/O fault."""
    if isinstance(study_dir, list | tuple):
        dirs = [Path(d) for d in study_dir]
        study_dir = dirs[0] if len(dirs) == 1 else (None if not dirs else dirs)

    def progress(line: str) -> None:
        # Progress is a courtesy: a stdout that fails (`| head -1`, a full disk) must not be
        # taken for the report's own folder failing. The final path print still reports it.
        nonlocal printing
        if printing:
            try:
                print(line, flush=True)
            except OSError:
                printing = False

    printing = True
    target = Path(out) if out is not None else None
    try:
        if isinstance(study_dir, list):
            path = build_comparison(study_dir, out=target, fmt=fmt, progress=progress)
        else:
            path = build_report(study_dir, out=target, fmt=fmt, progress=progress)
    except ResultsError as err:
        return fail(str(err))
    except OSError as err:
        # An OutputError names the report folder itself; other faults (reading) name a file.
        named = isinstance(err, OutputError) or not err.filename
        where = "" if named else f"{clip_middle(err.filename)}: "
        return fail(f"{where}{err.strerror or detail(err)}", IO_FAULT)
    print(path)
    return 0
