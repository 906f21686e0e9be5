"""Sampled studies in the report: log-spaced bins and value ranges (known inputs, known
outputs), and an Optuna study's report with Optuna's own views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from report_fixtures import write_study

from ganstudy.report import build_report, load_study
from ganstudy.report.cells import cells
from ganstudy.report.page import swept_line
from ganstudy.report.sampled import MAX_BINS, Bin, bins_note, log_bins, value_summary
from ganstudy.report.study import Study
from ganstudy.study.results import OPTUNA_FILE


def study_with(runs: pd.DataFrame, algorithm: str) -> Study:
    """A bare Study around a runs table, searched by `algorithm`."""
    spec = {"name": "x", "search": {"algorithm": algorithm}}
    s = Study(
        path=Path("."),
        name="x",
        spec=spec,
        environment={},
        trials=None,
        history=None,
        samples=None,
    )
    s.runs = runs
    return s


def test_log_bins_are_powers_of_two_when_the_range_is_narrow():
    values = pd.Series([0.3, 0.5, 1.0, 1.5, 2.0, 3.9999999999999, 4.0, np.nan])
    bins = log_bins(values)
    assert list(bins[:7]) == [
        Bin(0.25, 0.5),
        Bin(0.5, 1.0),
        Bin(1.0, 2.0),
        Bin(1.0, 2.0),
        Bin(2.0, 4.0),
        Bin(4.0, 8.0),  # a rounding error below an edge counts as the edge
        Bin(4.0, 8.0),
    ]
    assert pd.isna(bins.iloc[7])
    assert [str(b) for b in bins[:2]] == ["1/4–1/2", "1/2–1"]


def test_log_bins_widen_to_at_most_max_bins():
    # Ratios of two log-uniform rates in [1e-4, 1e-2]: four decades, 2^-13 .. 2^13 or so.
    values = pd.Series([0.012, 0.05, 0.3, 1.0, 2.5, 9.0, 40.0, 85.0])
    bins = log_bins(values)
    assert bins.nunique() <= MAX_BINS
    # 2^m with m = 3 is the first width that fits: [2^-9, 2^-6) ... [2^6, 2^9).
    assert {b.hi / b.lo for b in bins} == {8.0}
    assert bins.iloc[0] == Bin(2.0**-9, 2.0**-6) and bins.iloc[-1] == Bin(64.0, 512.0)
    assert str(Bin(0.125, 1.0)) == "1/8–1" and str(Bin(1.0, 8.0)) == "1–8"


def test_integer_bins_name_the_integers_they_hold():
    bins = log_bins(pd.Series(range(1, 21)))  # k = 1 .. 20
    assert [str(b) for b in sorted(set(bins))] == ["1", "2–3", "4–7", "8–15", "16–31"]


def test_values_at_or_below_zero_are_not_binned():
    values = pd.Series([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert log_bins(values) is values


def test_value_summary_is_a_range_for_a_sampled_setting_and_a_set_for_a_grid():
    values = pd.Series([1e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3, 8e-3, 9.6e-3])
    sampled = study_with(pd.DataFrame({"lr_d": values}), "optuna")
    assert value_summary(sampled, "lr_d", values) == "lr_d ∈ [0.0001, 0.0096] (8 distinct)"
    grid = study_with(pd.DataFrame({"lr_d": values}), "grid")
    assert value_summary(grid, "lr_d", values).startswith("lr_d ∈ {0.0001, 0.00025, 0.0005,")
    few = pd.Series([1, 5, 1, 2])
    assert value_summary(sampled, "k", few) == "k ∈ {1, 2, 5}"  # few values: listed
    words = pd.Series(["hinge", "minimax", "hinge"])
    assert value_summary(sampled, "loss", words) == "loss ∈ {hinge, minimax}"


def sampled_study(tmp_path: Path, algorithm: str) -> Path:
    """A synthetic study of 10 lr ratios and one k, its spec saying `algorithm`."""
    ratios = (0.05, 0.09, 0.2, 0.35, 0.7, 1.3, 2.6, 5.0, 11.0, 19.0)
    folder = write_study(
        tmp_path, name=f"s_{algorithm}", losses=("minimax",), ks=(1,), ratios=ratios
    )
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    spec["search"] = {"algorithm": algorithm, "num_samples": len(ratios)}
    spec["params"]["lr_d"] = {"loguniform": [1e-5, 1e-2]}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def test_a_sampled_study_bins_its_lr_ratio_and_summarises_its_range(tmp_path: Path):
    s = load_study(sampled_study(tmp_path, "random"))
    ys = cells(s)["_y"]
    assert all(isinstance(b, Bin) for b in ys)
    # 0.05 .. 19: exponents -4.3 .. 4.2, 2^2-wide bins from [1/64, 1/16) to [16, 64).
    assert sorted(set(ys)) == [
        Bin(1 / 64, 1 / 16),
        Bin(1 / 16, 1 / 4),
        Bin(1 / 4, 1.0),
        Bin(1.0, 4.0),
        Bin(4.0, 16.0),
        Bin(16.0, 64.0),
    ]
    assert "lr_d ∈ [1e-05, 0.0038] (10 distinct)" in swept_line(s)
    note = bins_note(s, {"lr_ratio": s.runs["lr_ratio"]})
    assert "lr_d/lr_g was sampled (10 distinct values)" in note and "factor of 4" in note


def test_a_grid_keeps_every_value_as_its_own_cell(tmp_path: Path):
    folder = write_study(tmp_path, name="g", losses=("minimax",), ks=(1,), ratios=(1.0, 4.0))
    s = load_study(folder)
    assert sorted(set(cells(s)["_y"])) == [1.0, 4.0]
    assert bins_note(s, {"lr_ratio": s.runs["lr_ratio"]}) == ""


def test_an_optuna_studys_report_has_optunas_views(tmp_path: Path):
    """Optuna's history and importances are drawn from optuna.db, which stays unchanged;
    a study without one says why they are skipped."""
    optuna = pytest.importorskip("optuna")
    folder = sampled_study(tmp_path, "optuna")
    runs = pd.read_parquet(folder / "trials.parquet").groupby("trial_id").first()
    storage = f"sqlite:///{folder / OPTUNA_FILE}"
    study = optuna.create_study(study_name=folder.name, storage=storage, direction="minimize")
    lr = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    k = optuna.distributions.IntDistribution(1, 5)
    for i, (_, run) in enumerate(runs.iterrows()):
        params = {"lr_d": float(run["lr_d"]), "k": 1 + i % 5}
        distributions = {"lr_d": lr, "k": k}
        if i % 3 == 2:  # as ASHA's stopped trials are: no final value
            trial = optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                state=optuna.trial.TrialState.PRUNED,
                intermediate_values={1: float(run["js_binned"])},
            )
        else:
            trial = optuna.trial.create_trial(
                params=params, distributions=distributions, value=float(run["js_binned"])
            )
        study.add_trial(trial)
    before = (folder / OPTUNA_FILE).read_bytes()

    import matplotlib

    style = dict(matplotlib.rcParams)
    out = build_report(folder, progress=None)
    for key in ("03b_sampled_runs", "10_optuna_history", "11_optuna_importance"):
        assert (out.parent / f"{key}.png").stat().st_size > 5_000, key
    html = out.read_text(encoding="utf-8")
    assert "Optuna&#x27;s trials: 7 COMPLETE, 3 PRUNED." in html
    assert (folder / OPTUNA_FILE).read_bytes() == before  # read-only
    assert dict(matplotlib.rcParams) == style  # Optuna's ggplot style did not leak

    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []
    (folder / OPTUNA_FILE).unlink()
    html = build_report(folder, progress=None).read_text(encoding="utf-8")
    listed = html.split("<li id='10_optuna_history'>", 1)[1].split("</li>", 1)[0]
    assert f"the study folder has no {OPTUNA_FILE}, Optuna" in listed
