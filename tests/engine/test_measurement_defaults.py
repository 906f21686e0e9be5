"""The eval's defaults let a perfect generator score perfectly (issue 26): real held-out data
counts every mode of a 1,000-mode stack at the default coverage_samples, and real images
read precision and recall near their ceiling against the 360 held-out digits."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudy.config import TrialConfig, default_coverage_samples
from ganstudy.engine import metrics
from ganstudy.engine.targets import TARGETS, make_target


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_coverage_samples_default_follows_the_targets_modes():
    # 26 per mode (PacGAN's 26,000 for 1,000 modes), never below VEEGAN's 2,500.
    assert TrialConfig(target="stacked_digits", model="dcgan").coverage_samples == 26000
    assert TrialConfig(target="ring8").coverage_samples == 2500
    assert TrialConfig(target="grid25").coverage_samples == 2500
    assert TrialConfig(target="digits", model="dcgan").coverage_samples == 2500
    assert TrialConfig(target="ring8", coverage_samples=300).coverage_samples == 300
    for name, factory in TARGETS.items():
        assert default_coverage_samples(name) == max(2500, 26 * factory(None, None).n_modes)


def test_real_held_out_stacks_capture_every_mode_at_the_default():
    """Real held-out digit stacks, counted as the eval counts a G's samples: all 1,000 modes
    at the default (844 at the old 2,500, as the closed form expects from the per-mode
    rates), and mode_kl near its plug-in bias instead of 0.32."""
    stacked = make_target("stacked_digits")
    n = TrialConfig(target="stacked_digits", model="dcgan").coverage_samples
    x, _ = stacked.held_out_sample(n)
    counts = metrics.mode_counts(x[None], stacked)  # (1, 1000)
    at_default = metrics.coverage_of_counts(counts, n)
    assert at_default["modes_captured"].item() == 1000
    assert at_default["mode_kl"].item() < 0.1
    # The first 2,500 of them: each mode is missed with probability (1 - rate)^2500, the
    # rate of high-quality samples in it estimated from all n.
    rate = counts[0].double() / n
    expected = float((1 - (1 - rate) ** 2500).sum())
    small = metrics.coverage_of_counts(metrics.mode_counts(x[None, :2500], stacked), 2500)
    assert expected < 900
    assert small["modes_captured"].item() == pytest.approx(expected, abs=4 * math.sqrt(expected))


def test_real_digits_read_near_perfect_precision_and_recall():
    """The eval's reference (the 360 held-out digits) against an independent real sample of
    the eval's size (2,048 draws of the training distribution): precision and recall are
    compared at equal sizes, so real data reads about 0.9 each (k = 3 balls leave a tenth
    of a fresh real sample outside); it read recall 0.725 with 2,048 against 360. fd of
    real data is its sampling bias, under 1% of a one-class generator's."""
    digits = make_target("digits")
    real = digits.held_out_features(metrics.FEATURE_POINTS)  # (360, 10)
    radii = metrics.kth_neighbour_radius(real[None])[0]
    fake = digits.features(digits.sample(metrics.FEATURE_POINTS, gen(1)))[None]  # (1, 2048, 10)
    pr = metrics.precision_recall(real, fake, real_radii=radii)
    assert pr["precision"].item() > 0.85 and pr["recall"].item() > 0.85
    # Equal sizes: the first 360 fakes, exactly.
    first = metrics.precision_recall(real, fake[:, :360])
    assert all(torch.equal(pr[key], first[key]) for key in ("precision", "recall"))
    x, y = digits.held_out()
    threes = digits.features(x[y == 3])[None]
    fd_real = metrics.frechet_distance(real, fake).item()
    assert fd_real < 0.01 * metrics.frechet_distance(real, threes).item()


def test_a_smaller_fake_set_is_compared_with_as_many_real_points():
    """Fewer fakes than real points: the first as many real points, their radii recomputed
    (the radii given for the whole real set would be too small)."""
    real = torch.randn(400, 3, generator=gen(0), dtype=torch.float64)
    fake = torch.randn(1, 100, 3, generator=gen(1), dtype=torch.float64)
    radii = metrics.kth_neighbour_radius(real[None])[0]
    given = metrics.precision_recall(real, fake, real_radii=radii)
    alone = metrics.precision_recall(real[:100], fake)
    assert all(torch.equal(given[key], alone[key]) for key in ("precision", "recall"))
