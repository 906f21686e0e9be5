"""The report's view of collapse: which runs the occupancy figure picks and why, collapse
onsets (from trials.parquet or recomputed), the modes-kept findings, old studies."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from report_fixtures import write_study

from ganstudy.report import findings, load_study
from ganstudy.report.figures.occupancy import fig_modes_kept, fig_occupancy, fig_onset_grid
from ganstudy.report.occupancy import drops, occupancy, onsets, pick_runs
from ganstudy.report.style import Skip


@pytest.fixture
def folder(tmp_path):
    return write_study(tmp_path, name="s", losses=("minimax", "nonsaturating"), ks=(1, 5))


def test_occupancy_is_dense_and_thresholds_to_modes_captured(folder):
    s = load_study(folder)
    for trial_id, replica in s.runs[["trial_id", "replica"]].itertuples(index=False):
        table = occupancy(s, trial_id, replica)
        assert list(table.index) == list(range(8))  # every mode, 0 where no row was stored
        h = s.hist[(s.hist["trial_id"] == trial_id) & (s.hist["replica"] == replica)]
        captured = (table >= 1).sum().to_numpy()
        assert list(captured) == list(h.sort_values("step")["modes_captured"].astype(int))


def test_the_most_hopping_run_is_picked_and_says_why(folder):
    s = load_study(folder)
    picks = pick_runs(s)
    # In the fixture only mode_collapse runs move their window of modes from eval to eval.
    hopper = picks[0]
    assert "most mode hopping" in hopper.reasons[0]
    run = s.runs[(s.runs["trial_id"] == hopper.trial_id) & (s.runs["replica"] == hopper.replica)]
    assert run["outcome"].item() == "mode_collapse"
    assert len({(p.trial_id, p.replica) for p in picks}) == len(picks) <= 4
    assert any("most modes at the end" in r for p in picks for r in p.reasons)


def test_drops_count_captured_then_not():
    table = pd.DataFrame([[5, 0, 5, 0], [0, 5, 5, 5], [1, 1, 1, 1]], columns=[0, 10, 20, 30])
    assert drops(table, threshold=2) == 2  # mode 0 twice; mode 2 never captured at 2
    assert drops(table, threshold=1) == 2


def test_onsets_are_recomputed_for_a_study_without_the_column(folder):
    history = pd.read_parquet(folder / "history.parquet")
    history.loc[history["step"] == history["step"].max(), "modes_captured"] -= 1  # lose one
    history.to_parquet(folder / "history.parquet")
    s = load_study(folder)
    assert "collapse_onset" not in s.runs
    got = onsets(s)
    last = history["step"].max()
    lost = history.groupby(["trial_id", "replica"])["modes_captured"].apply(
        lambda m: m.iloc[-1] < m.max()
    )
    assert all(got[key] == last for key in lost[lost].index)
    assert got[~got.index.isin(lost[lost].index)].isna().all()
    fig_onset_grid(s)  # draws with onsets


def test_findings_give_modes_kept_with_their_spread(folder):
    text = " ".join(findings(load_study(folder)))
    assert "Modes kept at the end on ring8 (8 modes), median [range] over runs" in text
    assert "loss minimax:" in text and "k 1:" in text and "(n=" in text
    assert "each replica's modes at the end" in text


def test_a_study_without_modes_parquet_skips_only_the_occupancy(folder):
    (folder / "modes.parquet").unlink()
    s = load_study(folder)
    assert any("modes.parquet is missing" in note for note in s.notes)
    with pytest.raises(Skip, match="modes.parquet"):
        fig_occupancy(s)
    fig_modes_kept(s)
    fig_onset_grid(s)  # no run lost a mode: every cell says "never"


def test_collapse_onset_in_trials_is_used_as_is(folder):
    trials = pd.read_parquet(folder / "trials.parquet")
    trials["collapse_onset"] = [100.0] + [math.nan] * (len(trials) - 1)
    trials.to_parquet(folder / "trials.parquet")
    s = load_study(folder)
    got = onsets(s)
    assert got.iloc[0] == 100 and got.iloc[1:].isna().all()
    picks = pick_runs(s)
    assert any("latest collapse onset (step 100)" in r for p in picks for r in p.reasons)


def test_a_swept_target_gets_its_own_panel_and_findings(folder):
    trials = pd.read_parquet(folder / "trials.parquet")
    trials.loc[trials["k"] == 5, "target"] = "grid25"  # as if the study swept the target
    trials.to_parquet(folder / "trials.parquet")
    s = load_study(folder)
    assert "target" in s.swept
    fig, _ = fig_modes_kept(s)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()][:2] == [
        "grid25 (8 modes)",
        "ring8 (8 modes)",
    ]
    text = " ".join(findings(s))
    assert "Modes kept at the end on grid25" in text and "Modes kept at the end on ring8" in text


def test_collapse_onset_picks_skip_runs_that_never_fitted_the_data(folder):
    """A not_fitted G gains and drops "modes" with stray samples: its onset is no collapse,
    so the latest/earliest onset picks come from the other runs."""
    s = load_study(folder)
    first, second = s.runs.index[:2]
    s.runs["collapse_onset"] = math.nan
    s.runs.loc[[first, second], "collapse_onset"] = [100.0, 300.0]
    latest = tuple(s.runs.loc[second, ["trial_id", "replica"]])

    def reasons(key):
        return [r for p in pick_runs(s) if (p.trial_id, p.replica) == key for r in p.reasons]

    assert "latest collapse onset (step 300)" in reasons(latest)
    s.runs.loc[second, "outcome"] = "not_fitted"
    assert not any("collapse onset" in r for r in reasons(latest))
