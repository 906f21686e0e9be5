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


def test_modes_kept_medians_leave_not_fitted_runs_out_and_count_them(folder):
    """A G off the data hits modes by chance: the medians per setting value are over the runs
    not labelled not_fitted, and each value says how many of those it left out."""
    from ganstudy.report.occupancy import modes_kept

    s = load_study(folder)
    off = (s.runs["k"] == 5) & (s.runs["loss"] == "minimax")
    s.runs.loc[off, "outcome"] = "not_fitted"
    s.runs.loc[off, "modes_captured"] = 0.0  # would pull the medians at k=5 and minimax down
    (line,) = [x for x in modes_kept(s) if x.startswith("Modes kept at the end")]
    assert "over runs but not_fitted ones (G off the data), counted apart" in line
    for setting, value in (("k", 5), ("loss", "minimax"), ("k", 1)):
        at = s.runs[s.runs[setting] == value]
        on = at.loc[at["outcome"] != "not_fitted", "modes_captured"]
        n_off = int((at["outcome"] == "not_fitted").sum())
        spread = f"{on.median():g} [{on.min():g}–{on.max():g}] (n={len(on)}"
        assert f"{value}: {spread}" + (f", {n_off} not_fitted left out)" if n_off else ")") in line
    # Where every run of a value is off the data, their counts are what there is, so named.
    s.runs.loc[s.runs["loss"] == "minimax", "outcome"] = "not_fitted"
    (line,) = [x for x in modes_kept(s) if x.startswith("Modes kept at the end")]
    off = s.runs.loc[s.runs["loss"] == "minimax", "modes_captured"]
    assert f"minimax: not_fitted only: {off.median():g} [{off.min():g}–{off.max():g}]" in line
    s.runs["outcome"] = "not_fitted"  # stacked digits at 3000 steps: every run
    (line,) = [x for x in modes_kept(s) if x.startswith("Modes kept at the end")]
    assert "over runs (every one not_fitted: G off the data by the label's rule)" in line
    assert "not_fitted only" not in line and "on the data" not in line


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


def _onsets_of_every_kind(folder):
    """The fixture with three runs that lost modes: one on the data (mode_collapse, onset
    200), a cloud that never fitted it (not_fitted, onset 100) and one that diverged
    (onset 300, no modes at the end); every other run lost none."""
    trials = pd.read_parquet(folder / "trials.parquet")
    trials["collapse_onset"] = math.nan
    converged = trials.index[trials["outcome"] == "converged"]
    collapsed, cloud, broke = converged[0], converged[2], converged[4]
    trials.loc[collapsed, ["outcome", "collapse_onset"]] = ["mode_collapse", 200.0]
    trials.loc[cloud, ["outcome", "collapse_onset"]] = ["not_fitted", 100.0]
    trials.loc[broke, ["outcome", "collapse_onset"]] = ["diverged", 300.0]
    trials.loc[broke, "modes_captured"] = math.nan
    trials.to_parquet(folder / "trials.parquet")
    history = pd.read_parquet(folder / "history.parquet")
    run = (history["trial_id"] == trials.loc[broke, "trial_id"]) & (
        history["replica"] == trials.loc[broke, "replica"]
    )
    history.loc[run & (history["step"] == history["step"].max()), "modes_captured"] = math.nan
    history.to_parquet(folder / "history.parquet")
    return load_study(folder), trials


def test_collapse_onsets_count_only_runs_on_the_data(folder):
    """A not_fitted cloud hits modes by chance and a diverged run broke: neither onset is a
    collapse. The findings, the onset grid and the modes-kept figure count the one
    mode_collapse run, and say which runs they left out and how many."""
    s, trials = _onsets_of_every_kind(folder)
    left = trials["outcome"].isin(["not_fitted", "diverged", "d_dominates"])
    n_dominated = int((trials["outcome"] == "d_dominates").sum())
    assert n_dominated  # the fixture's minimax runs at k=5

    text = " ".join(findings(s))
    assert f"1 of the {int((~left).sum())} runs labelled mode_collapse" in text
    assert "ended with fewer modes than they had held (collapse_onset defined), at step 200" in text
    assert "left out: 1 diverged (" in text and f"{n_dominated} d_dominates (" in text
    assert "1 not_fitted (" in text

    fig, caption = fig_onset_grid(s)
    cells = [t.get_text() for ax in fig.axes for t in ax.texts]
    heads = [c.split("\n")[0] for c in cells]
    assert "200" in heads and "100" not in heads and "300" not in heads
    assert all(not c.endswith("/0") for c in cells)  # a cell whose runs all left out: said so
    # Every run is either counted in its cell's k/n or in its cell's "m left out".
    counted = sum(int(c.split("\n")[1].split("/")[1]) for c in cells if "/" in c)
    out = sum(int(c.split("\n")[-1].split()[0]) for c in cells if c.endswith("left out"))
    assert (counted, out) == (int((~left).sum()), int(left.sum()))
    assert "left out: 1 diverged" in caption and "1 not_fitted" in caption
    assert f"{n_dominated} d_dominates" in caption

    fig, caption = fig_modes_kept(s)
    assert "hollow dots are the runs left out" in caption and "1 not_fitted" in caption
    assert "diverged" not in caption  # its modes_captured is NaN: it is not drawn at all
    reasons = [r for p in pick_runs(s) for r in p.reasons if "onset" in r]
    assert reasons and all("step 200" in r for r in reasons)


def test_a_study_whose_every_onset_is_left_out_says_so(folder):
    trials = pd.read_parquet(folder / "trials.parquet")
    trials["outcome"] = "not_fitted"
    trials["collapse_onset"] = 100.0
    trials.to_parquet(folder / "trials.parquet")
    s = load_study(folder)
    text = " ".join(findings(s))
    assert "no run's collapse onset counts" in text
    assert f"left out: {len(trials)} not_fitted" in text
    fig, _ = fig_onset_grid(s)
    cells = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert cells and all(c.startswith("none\ncounted") for c in cells)
    assert not any(ax.get_label() == "<colorbar>" for ax in fig.axes)  # no onset to colour


def test_mode_hopping_is_picked_only_among_runs_on_the_data(folder):
    """A cloud that never fitted the data drops and regains 'modes' by chance: it is not
    shown as 'a G moving between modes'."""
    s = load_study(folder)
    assert any("most mode hopping" in r for p in pick_runs(s) for r in p.reasons)
    s.runs.loc[s.runs["outcome"] == "mode_collapse", "outcome"] = "not_fitted"  # the hoppers
    assert not any("most mode hopping" in r for p in pick_runs(s) for r in p.reasons)
