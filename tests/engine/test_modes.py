"""Watching collapse happen: each mode's occupancy per eval (Evaluation.modes, modes.parquet)
and collapse_onset in trials.parquet."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ganstudy.config import TrialConfig
from ganstudy.engine import metrics
from ganstudy.engine.targets import make_target
from ganstudy.engine.trainer import Trainer
from ganstudy.study.results import (
    TrialRecord,
    build_tables,
    collapse_onset,
    load_results,
    write_tables,
)

CONFIG = dict(
    target="ring8", g_width=16, d_width=16, z_dim=4, batch_size=32, eval_batch=256,
    eval_samples=2000, coverage_samples=300, device="cpu", steps=40, eval_every=20,
    replicas=3, coverage_min_count=3, target_std=0.3,
)  # fmt: skip
N = CONFIG["coverage_samples"]


@pytest.fixture(scope="module")
def evaluations() -> list:
    """Each eval with the very samples the trainer counted (recorded on their way in)."""
    counted = []
    real = metrics.mode_counts

    def recording(samples, *args, **kwargs):
        counted.append(samples.detach().clone().double().numpy())
        return real(samples, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics, "mode_counts", recording)
        done = list(Trainer(TrialConfig(**CONFIG)).run())
    assert len(counted) == len(done)
    return list(zip(done, counted, strict=True))


def test_counts_sum_to_the_high_quality_samples_and_threshold_to_modes_captured(evaluations):
    for evaluation, _ in evaluations:
        counts = evaluation.modes
        assert counts.shape == (3, 8) and counts.dtype == np.int64
        for row, replica_counts in zip(evaluation.rows, counts, strict=True):
            # The counts are the high-quality samples, each in one mode.
            assert replica_counts.sum() == pytest.approx(row["high_quality_frac"] * N)
            assert row["modes_captured"] == (replica_counts >= 3).sum()
    assert any(e.modes.sum() > 0 for e, _ in evaluations)  # the check is not vacuous


def test_counts_match_a_nearest_mode_count_by_hand(evaluations):
    """Independent of Target.assign_modes: nearest centre, within 3 stds of it."""
    centres = make_target("ring8", None, 0.3).modes.numpy()  # (8, 2)
    for evaluation, counted in evaluations:
        assert counted.shape == (3, N, 2)
        for replica, points in enumerate(counted):
            dist = np.linalg.norm(points[:, None, :] - centres[None], axis=-1)  # (N, 8)
            nearest, good = dist.argmin(1), dist.min(1) <= 3 * 0.3
            by_hand = np.bincount(nearest[good], minlength=8)
            np.testing.assert_array_equal(evaluation.modes[replica], by_hand)
            captured = evaluation.rows[replica]["modes_captured"]
            assert captured == (by_hand >= CONFIG["coverage_min_count"]).sum()


def test_mode_coverage_is_its_counts_thresholded():
    target = make_target("grid25", None, None)
    x = target.sample(600, torch.Generator().manual_seed(0))[None].float()
    x[:, :100] += 1.0  # between modes: low quality, counted nowhere
    counts = metrics.mode_counts(x, target)
    stats = metrics.mode_coverage(x, target, min_count=20)
    # ~1% of real 2-D Gaussian samples lie beyond 3 stds: low quality too.
    assert 480 < counts.sum() <= 500
    assert stats["high_quality_frac"].item() == pytest.approx(counts.sum().item() / 600)
    assert stats["modes_captured"].item() == (counts >= 20).sum().item()


def record(modes: dict, history: list[dict]) -> TrialRecord:
    return TrialRecord("t0", {"replicas": 2}, "finished", None, 1.0, history=history, modes=modes)


def test_modes_table_is_long_nonzero_ints_and_round_trips(tmp_path):
    counts = {0: np.array([[0, 5, 0], [2, 0, 0]]), 10: np.array([[0, 0, 0], [1, 1, 7]])}
    history = [{"step": s, "replica": r, "modes_captured": 1.0} for s in (0, 10) for r in (0, 1)]
    tables = build_tables([record(counts, history)])
    modes = tables["modes"]
    assert list(modes.columns) == ["trial_id", "replica", "step", "mode", "count"]
    assert modes[["replica", "step", "mode", "count"]].values.tolist() == [
        [0, 0, 1, 5], [1, 0, 0, 2], [1, 10, 0, 1], [1, 10, 1, 1], [1, 10, 2, 7],
    ]  # fmt: skip
    assert all(pd.api.types.is_integer_dtype(modes[c]) for c in ("replica", "mode", "count"))
    (tmp_path / "spec.yaml").write_text("name: s\n")
    write_tables([record(counts, history)], None, tmp_path)
    pd.testing.assert_frame_equal(load_results(tmp_path).modes, modes)


def test_a_study_without_modes_parquet_still_loads(tmp_path):
    history = [{"step": 0, "replica": 0, "modes_captured": 1.0}]
    (tmp_path / "spec.yaml").write_text("name: s\n")
    write_tables([record({}, history)], None, tmp_path)
    (tmp_path / "modes.parquet").unlink()  # as a study run before the table existed
    res = load_results(tmp_path)
    assert res.modes.empty and "modes" in res.missing and len(res.trials) == 1


@pytest.mark.parametrize(
    ("modes", "onset"),
    [
        ([8, 8, 8, 8], math.nan),  # never fewer
        ([1, 4, 8, 8], math.nan),  # still rising: the end is at the peak
        ([2, 8, 8, 3, 3], 30),  # the eval after the last one at the peak
        ([8, 3, 8, 2, 1], 30),  # a recovery to the peak restarts the count
        ([2, 8, 5, 7, 6], 20),  # partial recoveries below the peak do not
        ([8, 7], 10),  # one mode lost at the last eval
        ([0, 0, 0], math.nan),  # nothing ever captured
        ([5, math.nan, 8, math.nan], math.nan),  # NaN evals (diverged) left out
        ([5, 8, math.nan, 4], 30),
        ([6], math.nan),
    ],
)
def test_collapse_onset_of_hand_made_histories(modes, onset):
    steps = [10 * i for i in range(len(modes))]
    got = collapse_onset(steps, modes)
    assert (math.isnan(got) and math.isnan(onset)) or got == onset
    # The definition, checked literally: the first s with every later value below the
    # maximum before s.
    finite = [(s, m) for s, m in zip(steps, modes, strict=True) if not math.isnan(m)]
    literal = next(
        (
            s
            for i, (s, _) in enumerate(finite)
            if i > 0 and all(m < max(v for _, v in finite[:i]) for _, m in finite[i:])
        ),
        math.nan,
    )
    assert (math.isnan(got) and math.isnan(literal)) or got == literal


def test_collapse_onset_reaches_the_trials_table():
    history = [
        {"step": s, "replica": r, "modes_captured": float(m)}
        for r, series in enumerate([[3, 8, 4], [3, 8, 8]])
        for s, m in zip((0, 10, 20), series, strict=True)
    ]
    trials = build_tables([record({}, history)])["trials"]
    assert trials["collapse_onset"].iloc[0] == 20 and math.isnan(trials["collapse_onset"].iloc[1])


def test_no_occupied_mode_is_an_empty_table_not_a_missing_one(tmp_path):
    history = [{"step": 0, "replica": r, "modes_captured": 0.0} for r in (0, 1)]
    (tmp_path / "spec.yaml").write_text("name: s\n")
    write_tables([record({0: np.zeros((2, 3), np.int64)}, history)], None, tmp_path)
    res = load_results(tmp_path)
    assert "modes" not in res.missing and res.modes.empty
    assert list(res.modes.columns) == ["trial_id", "replica", "step", "mode", "count"]
    assert not any("modes" in note for note in res.notes)
