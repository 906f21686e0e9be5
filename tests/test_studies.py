"""Every shipped study (each file in studies/), shrunk, end to end: `ganstudy run` on an
embedded local Ray, then `ganstudy report` (slow: each study starts Ray).

What is shrunk: steps, eval_every, replicas, widths and the metric sample sizes; every grid
or choice keeps its first and last values (a swept width keeps two small widths, so a width
ratio is still swept), grids only while the grid stays within MAX_GRID trials (later
grids keep their first value); num_samples at most 3; ASHA's grace period and PBT's interval
one eval. Everything else (target, losses, k, optimizer settings, search, scheduler) is the
file's own, so a setting a study file uses that breaks a trial, the tables or a figure fails
here; a file target's data_dir (mnist.yaml's placeholder) points at tiny synthetic IDX
files, and a GPU study runs on the CPU. Measured: the whole module (7 studies, one Ray) in
122 s on the project's shared 2-core machine at load average 5-7, before the 3 image
studies.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from mnist_files import shipped_copy  # tests/mnist_files.py

from ganstudy.cli import main
from ganstudy.config import IMAGE_SHAPES
from ganstudy.report.figures import FIGURES
from ganstudy.study.results import load_results
from ganstudy.study.spec import StudySpec, load_spec, spec_from_dict

STUDIES = sorted((REPO / "studies").glob("*.yaml"))
STEPS, EVERY, REPLICAS = 60, 30, 2  # 3 evals per (trial, replica): steps 0, 30, 60
WIDTHS = (8, 16)
MAX_GRID = 8  # grids keep 2 values each (TrialConfig field order) while the product is <= this
# The figure each study is there for must be drawn, not skipped, even at the reduced size.
MUST_DRAW = {
    "balance": ["03_phase_diagram", "04_final_heatmaps"],
    "capacity": ["03_phase_diagram", "06b_coverage_vs_capacity"],
    "losses": ["01_js_trajectories", "06_mode_coverage"],
    "critics": ["01_js_trajectories", "06_mode_coverage"],
    "dirac": ["01b_dirac_plane", "01c_dirac_distance", "08_grad_norms"],
    "tpe": ["03_phase_diagram", "03b_sampled_runs", "10_optuna_history"],
    "remedies": ["06c_modes_kept", "09_mode_occupancy", "03c_collapse_onset"],
    "digits": ["03_phase_diagram", "04_final_heatmaps", "06d_classifier_metrics"],
    "stacked": ["03_phase_diagram", "06b_coverage_vs_capacity"],
    "mnist": ["03_phase_diagram", "06d_classifier_metrics"],
    "pacgan_ring": ["06_mode_coverage", "06c_modes_kept"],
    "pacgan_grid": ["06_mode_coverage", "06c_modes_kept"],
}
ALWAYS = ["01_js_trajectories", "02_d_outputs", "07_sample_snapshots", "08_grad_norms"]
# Figures a study must skip (with its reason): dirac sweeps neither k nor lr_d/lr_g, and a
# point mass has one mode and one sample.
MUST_SKIP = {
    "dirac": [
        *("03_phase_diagram", "04_final_heatmaps", "05_estimator_calibration"),
        *("06_mode_coverage", "07_sample_snapshots"),
    ]
}


@pytest.fixture(scope="module")
def ray_once():
    """One embedded Ray for every study here (run_study uses a Ray already running and
    leaves it running): Ray's start-up, paid once, is most of a reduced study's time."""
    from ganstudy.run import session

    started = session.start()
    yield
    if started:
        session.stop()


@pytest.fixture(scope="module")
def synthetic_mnist(tmp_path_factory) -> Path:
    """A folder for tiny synthetic MNIST-format IDX files (no MNIST on the test machine)."""
    return tmp_path_factory.mktemp("data")


def shipped(path: Path, folder: Path) -> StudySpec:
    """The study at `path`; a file target's placeholder data_dir (studies/mnist.yaml's) is
    pointed at synthetic IDX files in `folder`."""
    return load_spec(shipped_copy(path, folder))


def test_every_study_file_is_covered(synthetic_mnist):
    """A new study file gets its entry in MUST_DRAW or is knowingly left to ALWAYS."""
    names = {shipped(path, synthetic_mnist).name for path in STUDIES}
    assert set(MUST_DRAW) <= names, sorted(set(MUST_DRAW) - names)
    assert {"smoke", "balance", "capacity", "losses", "pbt", "tpe", "dirac"} <= names


def reduced(path: Path, data_dir: Path) -> dict:
    """The study at `path`, shrunk as the module docstring says (a dict for spec_from_dict)."""
    study = shipped(path, data_dir).to_dict()
    study.update(steps=STEPS, eval_every=EVERY, replicas=REPLICAS, storage=None)
    # A GPU study (mnist.yaml) runs on the CPU here: a trial asking for a GPU share would
    # wait for ever on a machine without one.
    study["resources"] = {**study["resources"], "gpu": 0}
    params = study["params"]
    # 32x32 images (mnist.yaml) cost several times an 8x8 or 2-D trial: a quarter of the grid.
    target = study.get("target") or params.get("target")
    shape = IMAGE_SHAPES.get(target, (1, 8, 8)) if isinstance(target, str) else (1, 8, 8)
    max_grid = MAX_GRID // 4 if shape[-1] >= 32 else MAX_GRID
    trials = 1
    for key, value in params.items():
        if isinstance(value, dict):
            ((kind, args),) = value.items()
            if kind in ("grid", "choice"):
                keep = 2 if kind == "choice" or trials * 2 <= max_grid else 1
                args = list(WIDTHS) if key in ("d_width", "g_width") else args
                params[key] = {kind: [args[0], args[-1]][:keep] if len(args) > 1 else args}
                trials *= keep if kind == "grid" else 1
    for key in ("d_width", "g_width"):
        if not isinstance(params[key], dict):
            params[key] = WIDTHS[-1]
    params.update(eval_samples=2000, eval_batch=256, coverage_samples=500)
    search = study["search"]
    if search["algorithm"] != "grid":
        search["num_samples"] = min(search["num_samples"], 3)
    scheduler = study["scheduler"]
    if scheduler["name"] == "asha":
        scheduler["grace_period"] = EVERY
    if scheduler["name"] == "pbt":
        scheduler["perturbation_interval"] = EVERY
    return study


@pytest.mark.slow
@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_shipped_study_runs_through_tables_and_report(
    path: Path, tmp_path, capsys, synthetic_mnist, ray_once
):
    study = reduced(path, synthetic_mnist)
    spec = spec_from_dict(study, source=str(path))
    file = tmp_path / path.name
    file.write_text(yaml.safe_dump(study, sort_keys=False))
    out = tmp_path / spec.name
    assert main(["run", str(file), "--results", str(out), "--quiet"]) == 0, capsys.readouterr().err

    tables = load_results(out)
    trials, history = tables.trials, tables.history
    assert len(trials) == spec.num_trials() * REPLICAS
    assert trials["trial_id"].nunique() == spec.num_trials()
    assert not (trials["status"] == "error").any(), trials[["trial_id", "status"]]
    stopped_early = spec.scheduler.name == "asha"  # ASHA stops trials on purpose
    assert set(trials["status"]) <= ({"finished", "stopped"} if stopped_early else {"finished"})
    # A row per (trial, replica, eval): steps 0, EVERY, ... up to where the trial stopped.
    assert not history.duplicated(["trial_id", "replica", "step"]).any()
    for (trial, replica), rows in history.groupby(["trial_id", "replica"]):
        done = trials.loc[
            (trials["trial_id"] == trial) & (trials["replica"] == replica), "steps_done"
        ].item()
        steps = sorted(rows["step"])
        if spec.scheduler.name == "pbt":  # a trial's own evals; an exploit may skip some
            assert set(steps) <= set(range(0, STEPS + 1, EVERY)) and steps[-1] == done
        else:
            assert steps == list(range(0, done + 1, EVERY)), (trial, replica, steps)
    assert history.groupby(["trial_id", "replica"]).ngroups == len(trials)
    assert history["js_binned"].notna().all() and history["js_probe"].notna().all()
    assert tables.samples.groupby(["trial_id", "replica", "step"]).ngroups == len(history)
    # Each eval's mode counts sum to at most its coverage samples and threshold to its
    # modes_captured (a missing row is a count of 0).
    captured = (
        tables.modes[tables.modes["count"] >= study["params"].get("coverage_min_count", 1)]
        .groupby(["trial_id", "replica", "step"])
        .size()
    )
    keyed = history.set_index(["trial_id", "replica", "step"])["modes_captured"].dropna()
    assert (captured.reindex(keyed.index, fill_value=0) == keyed).all()

    assert main(["report", str(out)]) == 0, capsys.readouterr().err
    report = out / "report"
    html = (report / "index.html").read_text(encoding="utf-8")
    for name in ("summary.csv", "outcomes.csv", "findings.md"):
        assert (report / name).stat().st_size > 0, name
    drawn = {p.stem for p in report.glob("*.png")}
    for entry in FIGURES:
        if entry.key in drawn:
            heading = f"<h3 id='{entry.key}'>"
            assert heading in html, entry.key
            section = html.split(heading, 1)[1].split("<h3 ", 1)[0]
            assert (report / f"{entry.key}.png").stat().st_size > 5_000, entry.key
            assert "<img src='data:image/png" in section, entry.key
        else:  # listed once, at the end, with the reason
            assert re.search(rf"<li id='{entry.key}'><strong>[^<]+</strong>: .+\.</li>", html)
    skip = set(MUST_SKIP.get(spec.name, []))
    must = (set(ALWAYS) - skip) | set(MUST_DRAW.get(spec.name, []))
    assert must <= drawn, sorted(must - drawn)
    assert not skip & drawn, sorted(skip & drawn)


def test_the_readmes_own_study_file_validates_as_printed():
    """The study file the README's "Start here" shows a newcomer is a valid study, and the
    sizes it states hold (12 trials x 3 replicas)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Start here")
    block = readme[readme.index("```yaml\n", start) + len("```yaml\n") :]
    spec = spec_from_dict(yaml.safe_load(block[: block.index("```")]), "README.md")
    assert spec.name == "my_study" and spec.num_trials() == 12
    assert spec.fixed["replicas"] == 3 and set(spec.dimensions) == {"loss", "k", "lr_d"}
