"""Metrics against theory: the three JS estimates on distributions whose JS is known by
numerical integration, mode coverage on hand-built sample sets, and the outcome labels."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from helpers import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from ganstudy.engine import metrics
from ganstudy.engine.targets import Target, make_target

LOG2 = math.log(2)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal_logpdf(x, mean: float, std: float):
    """log N(x; mean, std²) for numpy arrays or torch tensors."""
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def true_js(log_p, log_q, lo: float, hi: float, points: int = 400_001) -> float:
    """JS(p || q) in nats by the trapezoid rule on a fine 1-D grid (numpy only)."""
    x = np.linspace(lo, hi, points)
    p, q = np.exp(log_p(x)), np.exp(log_q(x))
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = 0.5 * np.where(p > 0, p * np.log(p / m), 0.0)
        integrand += 0.5 * np.where(q > 0, q * np.log(q / m), 0.0)
    return float(np.trapezoid(integrand, x))


def gaussian(mean: float, std: float, n: int, seed: int) -> torch.Tensor:
    return mean + std * torch.randn(1, n, 1, generator=gen(seed), dtype=torch.float64)


def test_true_js_reference_is_right():
    """The integrator itself: JS of identical laws is 0, of far-apart ones log 2, and for
    N(0,1) vs N(1,1) it agrees with a Monte Carlo estimate on a million points each."""
    same = true_js(lambda x: normal_logpdf(x, 0, 1), lambda x: normal_logpdf(x, 0, 1), -20, 20)
    assert same == pytest.approx(0.0, abs=1e-12)
    far = true_js(lambda x: normal_logpdf(x, 0, 1), lambda x: normal_logpdf(x, 40, 1), -20, 60)
    assert far == pytest.approx(LOG2, abs=1e-9)
    js = true_js(lambda x: normal_logpdf(x, 0, 1), lambda x: normal_logpdf(x, 1, 1), -20, 20)
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 1_000_000), rng.normal(1, 1, 1_000_000)
    # log q/p = x - 1/2, so log(p/m) = log 2 - log(1 + e^(x - 1/2)) and symmetrically for q.
    mc = 0.5 * np.mean(LOG2 - np.log1p(np.exp(x - 0.5)))
    mc += 0.5 * np.mean(LOG2 - np.log1p(np.exp(0.5 - y)))
    assert js == pytest.approx(mc, abs=2e-3)


# (name, log p_data, sampler of p_data, log p_g, sampler of p_g, integration range)
MIX = make_target("mixture1d")
JS_CASES = {
    "N(0,1) vs N(1,1.5)": (
        lambda x: normal_logpdf(x, 0.0, 1.0),
        lambda n, s: gaussian(0.0, 1.0, n, s),
        lambda x: normal_logpdf(x, 1.0, 1.5),
        lambda n, s: gaussian(1.0, 1.5, n, s),
    ),
    "N(0,1) vs N(2,1)": (
        lambda x: normal_logpdf(x, 0.0, 1.0),
        lambda n, s: gaussian(0.0, 1.0, n, s),
        lambda x: normal_logpdf(x, 2.0, 1.0),
        lambda n, s: gaussian(2.0, 1.0, n, s),
    ),
    "mixture1d vs N(0,2)": (
        # log_prob takes points (..., 1) and drops the point axis; keep shapes like the others.
        lambda x: (
            MIX.log_prob(torch.as_tensor(x)[..., None]).numpy()
            if isinstance(x, np.ndarray)
            else MIX.log_prob(x)[..., None]
        ),
        lambda n, s: MIX.sample(n, gen(s))[None],
        lambda x: normal_logpdf(x, 0.0, 2.0),
        lambda n, s: gaussian(0.0, 2.0, n, s),
    ),
}


@pytest.mark.parametrize("case", list(JS_CASES))
def test_js_d_with_optimal_discriminator_matches_true_js(case):
    """With the analytic D* (logit = log p_data - log p_g), (V(D*,G) + log 4)/2 = JS."""
    log_p, sample_p, log_q, sample_q = JS_CASES[case]
    reference = true_js(log_p, log_q, -30, 30)
    n = 200_000
    real, fake = sample_p(n, 1), sample_q(n, 2)  # (1, n, 1)

    def logit(x):
        return (log_p(x) - log_q(x))[..., 0]  # (1, n)

    estimate = float(metrics.js_from_logits(logit(real), logit(fake))[0])
    assert estimate == pytest.approx(reference, rel=0.01)

    # Any other D gives a lower bound (up to Monte Carlo noise): too timid, too bold, biased.
    # The raw bound is tested, not the clamped column: a clamp at 0 would hide any error.
    for worse in (
        lambda x: 0.5 * logit(x),
        lambda x: 2.0 * logit(x),
        lambda x: logit(x) + 1.0,
    ):
        raw = float(metrics.js_from_logits(worse(real), worse(fake), clamp=False)[0])
        assert raw < reference - 0.003
        clamped = float(metrics.js_from_logits(worse(real), worse(fake))[0])
        assert clamped == max(raw, 0.0)


def test_js_from_logits_of_indifferent_d_is_zero():
    """D = 1/2 everywhere (the global optimum's D*) gives V = -log 4: JS estimate 0."""
    zeros = torch.zeros(3, 10, dtype=torch.float64)
    assert torch.equal(metrics.js_from_logits(zeros, zeros), torch.zeros(3, dtype=torch.float64))
    raw = metrics.js_from_logits(zeros, zeros, clamp=False)
    torch.testing.assert_close(raw, torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-15)


def numpy_js(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)
    kl = lambda a, b: sum(ai * math.log(ai / bi) for ai, bi in zip(a, b, strict=True) if ai > 0)  # noqa: E731
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_js_from_masses_against_numpy_formula():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(12), size=4)
    q = rng.dirichlet(np.ones(12), size=4)
    p[:, :3] = 0  # empty cells on one side, on both sides
    q[:, 2:5] = 0
    p /= p.sum(1, keepdims=True)
    q /= q.sum(1, keepdims=True)
    got = metrics.js_from_masses(torch.from_numpy(p), torch.from_numpy(q)).numpy()
    expected = [numpy_js(p[r], q[r]) for r in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    swapped = metrics.js_from_masses(torch.from_numpy(q), torch.from_numpy(p)).numpy()
    np.testing.assert_allclose(swapped, got, rtol=1e-12)
    same = metrics.js_from_masses(torch.from_numpy(p), torch.from_numpy(p))
    assert torch.all(same.abs() < 1e-15)
    disjoint = metrics.js_from_masses(
        torch.tensor([0.5, 0.5, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.25, 0.75])
    )
    assert float(disjoint) == pytest.approx(LOG2, rel=1e-7)


def test_histogram_counts_per_replica_and_outside():
    binning = make_target("gaussian1d").binning()
    lo, hi = float(binning.edges[0][0]), float(binning.edges[0][-1])
    points = torch.tensor(
        [[[lo], [lo], [hi - 1e-9], [hi + 1.0]], [[lo - 1.0], [4.0], [4.0], [4.0]]],
        dtype=torch.float64,
    )
    hist = metrics.histogram(points, binning)
    n = binning.n_cells
    assert hist.shape == (2, n + 1)
    torch.testing.assert_close(hist.sum(-1), torch.ones(2, dtype=torch.float64))
    assert float(hist[0, 0]) == 0.5 and float(hist[0, n - 1]) == 0.25
    assert float(hist[0, n]) == 0.25  # beyond the last edge: outside
    assert float(hist[1, n]) == 0.25
    cell_of_4 = int(binning.index(torch.tensor([[4.0]], dtype=torch.float64))[0])
    assert float(hist[1, cell_of_4]) == 0.75


@pytest.mark.parametrize("name", ["mixture1d", "ring8", "grid25"])
def test_js_binned_equals_js_of_the_full_histogram(name):
    """js_binned sums over occupied cells only; the dense formula over every cell agrees,
    for samples near, partly off and entirely off the target."""
    target = make_target(name)
    binning = target.binning()
    masses = target.bin_masses(binning)
    near = target.sample(5000, gen(1)) + 0.05 * torch.randn(5000, target.dim, generator=gen(2))
    wide = 3.0 * torch.randn(5000, target.dim, generator=gen(3), dtype=torch.float64)
    far = near + 1000.0  # all in the "outside" cell, which holds only ~1e-6 of the target
    points = torch.stack([near, wide, far])
    # Unclamped both: a clamp at log 2 would hide an overshoot of the far samples' JS.
    dense = metrics._js_all_cells(masses[None], metrics.histogram(points, binning))
    got = metrics.js_binned(points, binning, masses, clamp=False)
    torch.testing.assert_close(got, dense, rtol=0, atol=1e-12)
    assert float(got[2]) == pytest.approx(LOG2, abs=1e-5)


@pytest.mark.parametrize("name", ["gaussian1d", "mixture1d", "ring8", "grid25"])
def test_js_binned_of_target_against_itself_is_small(name):
    target = make_target(name)
    binning = target.binning()
    samples = target.sample(400_000, gen(11))[None]
    # Unclamped: the plug-in JS of two distributions is > 0 (its bias is ~ cells / (8 N)).
    js = float(metrics.js_binned(samples, binning, target.bin_masses(binning), clamp=False)[0])
    assert 0 < js < 0.01


def test_js_binned_of_curves_against_itself_is_small():
    target = make_target("curves")
    binning = target.binning()
    points = target.binned_points(target.sample(200_000, gen(3))[None])
    js = float(metrics.js_binned(points, binning, target.bin_masses(binning), clamp=False)[0])
    assert 0 < js < 0.01


@pytest.mark.parametrize("name", ["gaussian1d", "ring8"])
def test_js_binned_of_disjoint_distributions_is_log2(name):
    target = make_target(name)
    binning = target.binning()
    masses = target.bin_masses(binning)
    far = 1000.0 + target.sample(50_000, gen(0))[None]  # outside the box entirely
    # Inside the box but where p_data has no mass: the gap below the 1-D mode (4.8 stds
    # away), the centre of the ring (100 stds from every mode).
    centre = -2.0 if name == "gaussian1d" else 0.0
    inside = centre + 0.1 * torch.randn(1, 50_000, target.dim, generator=gen(1)).double()
    for points in (far, inside):
        # The raw sum: the column's clamp at log 2 would hide an overshoot.
        js = float(metrics.js_binned(points, binning, masses, clamp=False)[0])
        assert js == pytest.approx(LOG2, abs=0.01)


def test_js_binned_grid_has_the_readmes_cells_per_std():
    """README: 20 cells per mode std in 1-D, 2 in 2-D. gaussian1d (mean 4, std 1.25): cells
    0.0625 wide from 4 - 5 stds = -2.25, so [4, 4.0625) is a cell; ring8 (std 0.02): 0.01.
    All of G's samples in that one cell against N(4, 1.25²): with the cell's exact mass m,
    JS = ½ log(2 / (1 + m)) + ½ m log(2m / (1 + m)) + ½ (1 - m) log 2."""
    target = make_target("gaussian1d")
    binning = target.binning()
    widths = np.diff(binning.edges[0].numpy())
    np.testing.assert_allclose(widths, 0.0625, rtol=1e-9)
    assert float(binning.edges[0][0]) == pytest.approx(-2.25, abs=1e-12)
    ring = make_target("ring8").binning()
    for edges in ring.edges:
        np.testing.assert_allclose(np.diff(edges.numpy()), 0.01, rtol=1e-6)
    cdf = lambda x: 0.5 * (1 + math.erf((x - 4.0) / (1.25 * math.sqrt(2))))  # noqa: E731
    m = cdf(4.0625) - cdf(4.0)
    expected = 0.5 * math.log(2 / (1 + m)) + 0.5 * m * math.log(2 * m / (1 + m))
    expected += 0.5 * (1 - m) * LOG2
    points = torch.full((1, 1000, 1), 4.03, dtype=torch.float64)
    got = float(metrics.js_binned(points, binning, target.bin_masses(binning), clamp=False)[0])
    assert got == pytest.approx(expected, abs=1e-9)


def test_js_binned_matches_true_js_of_two_gaussians():
    """gaussian1d = N(4, 1.25²) against samples of N(5, 1.25²): the binned JS (20 cells per
    std) is the integrated JS to a few thousandths (binning loses little, plug-in bias is
    ~cells/(8N))."""
    target = make_target("gaussian1d")
    binning = target.binning()
    reference = true_js(
        lambda x: normal_logpdf(x, 4.0, 1.25), lambda x: normal_logpdf(x, 5.0, 1.25), -30, 40
    )
    samples = gaussian(5.0, 1.25, 400_000, 5)
    js = float(metrics.js_binned(samples, binning, target.bin_masses(binning))[0])
    assert js == pytest.approx(reference, abs=0.003)


def _probe(real_mean, real_std, fake_mean, fake_std, n=2000, seed=0, clamp=True):
    """js_probe on n train + n held-out points per class."""
    real = gaussian(real_mean, real_std, 2 * n, seed)
    fake = gaussian(fake_mean, fake_std, 2 * n, seed + 1)
    return metrics.js_probe(real[:, :n], fake[:, :n], real[:, n:], fake[:, n:], clamp=clamp)


def test_js_probe_is_close_to_true_js_when_easily_separable():
    reference = true_js(lambda x: normal_logpdf(x, 0, 1), lambda x: normal_logpdf(x, 6, 1), -30, 30)
    probe = float(_probe(0.0, 1.0, 6.0, 1.0)[0])
    assert abs(probe - reference) < 0.05
    assert probe <= reference + 0.01  # a lower bound up to held-out sampling noise


def test_js_probe_of_separated_samples_is_the_pseudo_count_ceiling():
    """Every neighbour of every point has its own class: P(right class) = (k + a) / (k + 2a)
    for every k, so cross-validation picks the largest k and the bound is exactly
    log 2 - log((k + 2a) / (k + a)). The README's numbers, written out: k up to 32, votes
    smoothed by a = 0.25."""
    probe = float(_probe(0.0, 1.0, 100.0, 1.0)[0])
    assert probe == pytest.approx(math.log(2) - math.log(32.5 / 32.25), abs=1e-12)


def test_js_probe_is_close_below_true_js_for_overlapping_distributions():
    """A smooth difference (N(0,1) vs N(1,1.5), JS 0.099 nats): large k is needed, and the
    cross-validated choice gets within 0.03 nats of the truth."""
    reference = true_js(
        lambda x: normal_logpdf(x, 0, 1), lambda x: normal_logpdf(x, 1, 1.5), -30, 30
    )
    probe = float(_probe(0.0, 1.0, 1.0, 1.5)[0])
    # Held-out CE over 2·2000 points has a standard error of about 0.01 nats.
    assert reference - 0.03 < probe <= reference + 0.02


def test_js_probe_of_identical_distributions_is_near_zero():
    assert float(_probe(0.0, 1.0, 0.0, 1.0)[0]) < 0.02
    # The raw bound too, from both sides: a probe far below chance would hide under the clamp.
    assert abs(float(_probe(0.0, 1.0, 0.0, 1.0, clamp=False)[0])) < 0.02


def test_js_probe_matches_a_direct_nearest_neighbour_computation(monkeypatch):
    """The batched, chunked computation gives what a plain loop over points does: sort each
    point's float64 distances (leaving the point itself out when it is a training point),
    choose k by leave-one-out cross-entropy, score the held-out points with it."""
    monkeypatch.setattr(metrics, "PROBE_CHUNK", 7 * 300)  # many uneven chunks
    g = gen(3)
    n = 150
    real = torch.randn(2, 2 * n, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(2, 2 * n, 2, generator=g, dtype=torch.float64) * 1.5 + 0.4
    got = metrics.js_probe(real[:, :n], fake[:, :n], real[:, n:], fake[:, n:])
    a = metrics.PROBE_PSEUDO_COUNT

    def cross_entropy(points, train, k, leave_out):
        total = 0.0
        for i, x in enumerate(points):
            order = ((train - x) ** 2).sum(-1).argsort().tolist()
            if leave_out:
                order.remove(i)
            p_real = (sum(j < n for j in order[:k]) + a) / (k + 2 * a)
            total -= math.log(p_real if i < n else 1 - p_real)
        return total / len(points)

    for r in range(2):
        mean, std = real[r, :n].mean(0), real[r, :n].std(0)
        train = (torch.cat([real[r, :n], fake[r, :n]]) - mean) / std
        test = (torch.cat([real[r, n:], fake[r, n:]]) - mean) / std
        k = min(metrics.PROBE_NEIGHBOURS, key=lambda k: cross_entropy(train, train, k, True))
        expected = max(0.0, math.log(2) - cross_entropy(test, train, k, False))
        assert float(got[r]) == pytest.approx(expected, abs=1e-12)


def test_js_probe_chooses_small_k_for_sharp_modes_and_large_k_for_smooth_differences():
    """Sharp modes: 250 narrow modes (std 0.002, spacing 0.1) holding 4 real points each,
    and 4 fake points on each of 250 modes half-way between. A point's 3 nearest neighbours
    are its own mode's, its next 8 the other class's: k = 4 votes 3 of 4 right, any larger
    k mostly wrong, so the smallest k wins. Smooth difference: N(0, 1) against N(0.5, 1),
    where every k's votes are noisy and the largest k averages best. Both replicas in one
    call, each choosing its own k."""
    n = 1000
    centres = (torch.arange(250, dtype=torch.float64) * 0.1).repeat_interleave(4)[None, :, None]
    sharp_real = centres + 0.002 * torch.randn(1, n, 1, generator=gen(2)).double()
    sharp_fake = centres + 0.05 + 0.002 * torch.randn(1, n, 1, generator=gen(4)).double()
    smooth_real, smooth_fake = gaussian(0.0, 1.0, n, 5), gaussian(0.5, 1.0, n, 6)
    k = metrics.probe_neighbours(
        torch.cat([sharp_real, smooth_real]), torch.cat([sharp_fake, smooth_fake])
    )
    assert k.tolist() == [4, 32]  # the README's smallest and largest k


def test_js_probe_replicas_are_independent():
    """Probes of a replica batch equal probes run one replica at a time."""
    n = 500
    real = torch.cat([gaussian(0, 1, 2 * n, 1), gaussian(3, 1, 2 * n, 2)])
    fake = torch.cat([gaussian(1, 1.5, 2 * n, 3), gaussian(3, 1, 2 * n, 4)])
    args = lambda r, f: (r[:, :n], f[:, :n], r[:, n:], f[:, n:])  # noqa: E731
    together = metrics.js_probe(*args(real, fake))
    for r in range(2):
        alone = metrics.js_probe(*args(real[r : r + 1], fake[r : r + 1]))
        torch.testing.assert_close(together[r : r + 1], alone, rtol=0, atol=1e-12)


def test_discriminator_outputs_probability_and_critic():
    real = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
    fake = torch.tensor([[-1.0, 1.0]], dtype=torch.float64)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    stats = metrics.discriminator_outputs(real, fake, probability=True)
    assert float(stats["d_real"][0]) == pytest.approx((sig(0) + sig(2)) / 2)
    assert float(stats["d_fake"][0]) == pytest.approx((sig(-1) + sig(1)) / 2)
    assert float(stats["d_real_std"][0]) == pytest.approx(abs(sig(2) - sig(0)) / math.sqrt(2))
    assert float(stats["critic_real"][0]) == 1.0 and float(stats["critic_fake"][0]) == 0.0
    value = (math.log(sig(0)) + math.log(sig(2))) / 2 + (
        math.log(1 - sig(-1)) + math.log(1 - sig(1))
    ) / 2
    assert float(stats["js_d"][0]) == pytest.approx(max(0.0, (value + math.log(4)) / 2))
    critic = metrics.discriminator_outputs(real, fake, probability=False)
    for name in ("d_real", "d_fake", "d_real_std", "d_fake_std", "js_d"):
        assert math.isnan(float(critic[name][0])), name
    assert float(critic["critic_real"][0]) == 1.0


# ----------------------------------------------------------------------------- coverage
RING = make_target("ring8")


def coverage(points: torch.Tensor, target=RING, **kwargs) -> dict[str, float]:
    return {
        k: float(v[0]) for k, v in metrics.mode_coverage(points[None], target, **kwargs).items()
    }


def test_coverage_all_modes():
    points = RING.modes.repeat(10, 1)  # 10 samples at each of the 8 modes
    stats = coverage(points)
    assert stats == {"modes_captured": 8.0, "high_quality_frac": 1.0, "mode_kl": 0.0}


def test_coverage_one_mode():
    stats = coverage(RING.modes[3].repeat(80, 1))
    assert stats["modes_captured"] == 1.0
    assert stats["high_quality_frac"] == 1.0
    assert stats["mode_kl"] == pytest.approx(math.log(8))


def test_coverage_off_mode_noise():
    angles = torch.rand(500, generator=gen(0), dtype=torch.float64) * 2 * math.pi
    points = torch.stack([angles.cos(), angles.sin()], 1)  # radius 1: 50 stds from any mode
    stats = coverage(points)
    assert stats["modes_captured"] == 0.0
    assert stats["high_quality_frac"] == 0.0
    assert math.isnan(stats["mode_kl"])


def test_coverage_quality_radius_and_min_count():
    std = RING.std
    inside = RING.modes[0] + torch.tensor([2.9 * std, 0.0], dtype=torch.float64)
    outside = RING.modes[1] + torch.tensor([0.0, 3.1 * std], dtype=torch.float64)
    stats = coverage(torch.stack([inside, outside]))
    assert stats["modes_captured"] == 1.0 and stats["high_quality_frac"] == 0.5
    assert coverage(torch.stack([outside]), quality_sigmas=3.2)["modes_captured"] == 1.0
    # Two samples on each of modes 0..3: captured with min_count 2, not with 3.
    points = RING.modes[:4].repeat(2, 1)
    assert coverage(points, min_count=2)["modes_captured"] == 4.0
    assert coverage(points, min_count=3)["modes_captured"] == 0.0


def test_coverage_kl_against_formula():
    counts = [5, 3, 2, 0, 0, 0, 0, 0]
    points = torch.cat([RING.modes[i].repeat(c, 1) for i, c in enumerate(counts) if c])
    freq = np.array(counts) / sum(counts)
    expected = sum(f * math.log(f * 8) for f in freq if f > 0)
    assert coverage(points)["mode_kl"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("name", "chance"), [("ring8", 1 - math.exp(-4.5)), ("gaussian1d", None)])
def test_coverage_of_real_samples_matches_gaussian_theory(name, chance):
    """Real samples: every mode captured, and the high-quality fraction is the probability
    of a Gaussian sample within 3 stds: 1 - exp(-9/2) in 2-D (a chi with 2 dof), erf(3/√2)
    in 1-D."""
    target = make_target(name)
    chance = chance if chance is not None else math.erf(3 / math.sqrt(2))
    n = 20_000
    stats = coverage(target.sample(n, gen(2)), target)
    assert stats["modes_captured"] == target.n_modes
    assert stats["high_quality_frac"] == pytest.approx(chance, abs=4 * math.sqrt(0.011 / n))
    assert stats["mode_kl"] < 0.01


def test_coverage_of_curves():
    curves = make_target("curves")
    real = curves.sample(2500, gen(0))
    stats = coverage(real, curves)
    assert stats["modes_captured"] == 10.0 and stats["high_quality_frac"] == 1.0
    assert stats["mode_kl"] < 0.01
    basis = curves.x**2 + 1
    one_a = (1.05 * basis - 1).repeat(50, 1)  # every curve in the first a-bin
    stats = coverage(one_a, curves)
    assert stats["modes_captured"] == 1.0 and stats["mode_kl"] == pytest.approx(math.log(10))
    outside_family = 2.5 * basis - 1  # a fits exactly but lies outside [1, 2]
    wiggly = 1.5 * basis - 1 + 0.2 * torch.sin(3 * curves.x)  # rms residual 0.2·0.7 > 0.05
    stats = coverage(torch.stack([outside_family, wiggly]), curves)
    assert stats["modes_captured"] == 0.0 and stats["high_quality_frac"] == 0.0
    assert math.isnan(stats["mode_kl"])


def test_binned_points_of_curves_are_fitted_a():
    curves = make_target("curves")
    a = torch.tensor([1.2, 1.7], dtype=torch.float64)
    y = (a[:, None] * (curves.x**2 + 1) - 1)[None]
    torch.testing.assert_close(curves.binned_points(y), a[None, :, None])


class EveryOtherMode(Target):
    """A target that no metric knows by class: sample i belongs to mode i % 4 and is high
    quality unless its first coordinate is negative."""

    name, dim, picture, modes, std = "every_other", 1, "points", None, None
    n_modes = 4

    def sample_labeled(self, n, generator):
        raise NotImplementedError

    def binning(self):
        raise NotImplementedError

    def bin_masses(self, binning):
        raise NotImplementedError

    def assign_modes(self, samples, quality_sigmas):
        index = torch.arange(samples.shape[-2]).expand(samples.shape[:-1]) % self.n_modes
        return index, samples[..., 0] >= 0


def test_mode_coverage_reads_the_target_only_through_its_interface():
    """mode_coverage uses Target.assign_modes, whatever the class: 8 samples, modes
    0, 1, 2, 3, 0, 1, 2, 3, the two of mode 3 and one of mode 0 of low quality."""
    x = torch.tensor([1.0, 1, 1, -1, -1, 1, 1, -1], dtype=torch.float64)[None, :, None]
    stats = {k: float(v[0]) for k, v in metrics.mode_coverage(x, EveryOtherMode()).items()}
    assert stats["modes_captured"] == 3.0
    assert stats["high_quality_frac"] == pytest.approx(5 / 8)
    freq = [1 / 5, 2 / 5, 2 / 5]  # modes 0, 1, 2 of the 5 high-quality samples; mode 3 none
    assert stats["mode_kl"] == pytest.approx(sum(f * math.log(f * 4) for f in freq))


# ------------------------------------------------------------------------------ outcome
def row(**overrides) -> dict[str, float]:
    """A healthy eval row of a probability loss on ring8 after training; override what a
    case needs."""
    base = {
        "step": 1000,
        "critic_real": 0.1,
        "critic_fake": -0.1,
        "d_real": 0.52,
        "d_fake": 0.48,
        "js_probe": 0.02,
        "js_binned": 0.05,
        "grad_norm_g": 0.5,
        "modes_captured": 8.0,
        "high_quality_frac": 0.95,
        "dirac_distance": math.nan,
    }
    return base | overrides


def history(n: int = 9, **overrides) -> list[dict[str, float]]:
    rows = [row(step=0, grad_norm_g=math.nan, js_binned=0.69)]  # step 0: no gradient yet
    return rows + [row(step=100 * i, **overrides) for i in range(1, n)]


def test_outcome_converged():
    assert metrics.classify_outcome(history(), 8) == "converged"


def test_outcome_diverged():
    rows = history()
    rows[-1] = {key: math.nan for key in rows[-1]}
    assert metrics.classify_outcome(rows, 8) == "diverged"
    rows[-1] = row(critic_real=math.inf)
    assert metrics.classify_outcome(rows, 8) == "diverged"


# A JS reference still far from the data (above converged_js = 0.3), where D can dominate.
FAR = 0.5


def test_outcome_d_dominates_with_vanishing_generator_gradient():
    rows = history(js_binned=FAR)
    rows[3]["grad_norm_g"] = 2.0  # the peak
    # D wins (gap 0.9 >= 0.6) and G's gradient fell to 1% of its peak; modes lost too,
    # but the vanishing gradient is the cause and takes precedence.
    rows[-1] = row(d_real=0.95, d_fake=0.05, grad_norm_g=0.02, modes_captured=2.0, js_binned=FAR)
    assert metrics.classify_outcome(rows, 8) == "d_dominates"


def test_outcome_d_dominates_when_the_gradient_vanished_before_the_first_eval():
    # Saturated minimax: by the first eval G's gradient is already 1e-5 and never peaks;
    # the absolute floor still calls it vanished. Its samples are off the data too, but
    # the cause, D winning, comes first.
    rows = [row(step=0, grad_norm_g=math.nan, js_binned=0.69)]
    rows += [
        row(step=s, d_real=1.0, d_fake=0.0, grad_norm_g=g, modes_captured=0.0, js_binned=FAR)
        for s, g in ((100, 3e-5), (200, 4e-5), (300, 1e-5))
    ]
    rows[-1]["high_quality_frac"] = 0.0
    assert metrics.classify_outcome(rows, 8) == "d_dominates"
    rows[-1]["grad_norm_g"] = 0.5  # a healthy gradient: D wins, but not by saturation
    assert metrics.classify_outcome(rows, 8) == "not_fitted"
    rows[-1]["high_quality_frac"] = 0.9  # on the data, 0 of 8 modes captured
    assert metrics.classify_outcome(rows, 8) == "mode_collapse"


def test_outcome_d_dominates_for_critic_losses_via_probe():
    nan_d = {"d_real": math.nan, "d_fake": math.nan}
    rows = history(js_binned=FAR, **nan_d)
    rows[-1] = row(js_probe=0.6, grad_norm_g=0.01, js_binned=FAR, **nan_d)
    assert metrics.classify_outcome(rows, 8) == "d_dominates"


def test_outcome_mode_collapse():
    rows = history(modes_captured=3.0)
    assert metrics.classify_outcome(rows, 8) == "mode_collapse"
    # One-mode targets cannot collapse onto fewer modes.
    assert metrics.classify_outcome(history(modes_captured=1.0), 1) == "converged"


def test_outcome_oscillating():
    rows = history(12)
    for i, value in zip(range(8, 12), [0.05, 0.4, 0.06, 0.35], strict=True):
        rows[i]["js_binned"] = value
    assert metrics.classify_outcome(rows, 8) == "oscillating"
    # A swing before the last third does not count.
    rows = history(12)
    rows[2]["js_binned"] = 0.5
    assert metrics.classify_outcome(rows, 8) == "converged"


def test_outcome_not_converged_when_stable_but_far():
    """All modes, on the data, no oscillation, gradient alive, but p_g still far from p_data
    (JS above 0.3): not converged, which is not D dominating (its gradient did not vanish),
    even where D separates the data."""
    rows = history(js_binned=0.4, d_real=0.8, d_fake=0.3)
    assert metrics.classify_outcome(rows, 8) == "not_converged"
    separating = history(js_binned=0.4, d_real=0.95, d_fake=0.05)  # gradient still alive
    assert metrics.classify_outcome(separating, 8) == "not_converged"


def test_outcome_uses_js_probe_where_js_binned_is_undefined():
    rows = history(js_binned=math.nan, js_probe=0.05)
    assert metrics.classify_outcome(rows, 8) == "converged"
    rows = history(js_binned=math.nan, js_probe=0.5)
    assert metrics.classify_outcome(rows, 8) == "not_converged"


# ---- The README's numbers ("Outcome labels"), written out here as literals: a change of a
# threshold must change this file too (issue 24: a changed d_gap or converged_js survived
# every fast test while these tests read the constants they checked).
README_THRESHOLDS = {
    "d_gap": 0.6,
    "probe_separates": 0.45,
    "g_grad_vanished": 0.1,
    "g_grad_floor": 1e-3,
    "fitted_quality": 0.1,
    "fitted_quality_images": 0.5,
    "oscillation_range": 0.1,
    "converged_js": 0.3,
}
EPS = 1e-9


def test_outcome_thresholds_are_the_readmes_numbers():
    assert metrics.OUTCOME_THRESHOLDS == README_THRESHOLDS


def test_readme_outcome_rules_state_each_threshold():
    """Each threshold's number stands in the README's "Outcome labels" section beside its
    name, so the prose and the code say the same."""

    readme = (REPO / "README.md").read_text()
    section = readme.split("### Outcome labels", 1)[1].split("\n## ", 1)[0]
    for name, value in README_THRESHOLDS.items():
        stated = re.search(rf"([0-9.e-]+)\s+\(`{name}`", section)
        assert stated is not None, f"the README's outcome rules do not state {name}"
        assert float(stated.group(1)) == value, name


@pytest.mark.parametrize(("gap", "separates"), [(0.6 - EPS, False), (0.6, True), (0.6 + EPS, True)])
def test_outcome_boundary_d_gap(gap, separates):
    """D separates at d_real - d_fake >= 0.6 (with a vanished gradient: d_dominates)."""
    rows = history(js_binned=FAR)
    rows[-1] = row(d_real=gap, d_fake=0.0, grad_norm_g=1e-5, js_binned=FAR)
    assert metrics.classify_outcome(rows, 8) == ("d_dominates" if separates else "not_converged")


@pytest.mark.parametrize(
    ("probe", "separates"), [(0.45 - EPS, False), (0.45, True), (0.45 + EPS, True)]
)
def test_outcome_boundary_probe_separates(probe, separates):
    """For critic losses the probe separates at js_probe >= 0.45."""
    nan_d = {"d_real": math.nan, "d_fake": math.nan}
    rows = history(js_binned=FAR, **nan_d)
    rows[-1] = row(js_probe=probe, js_binned=FAR, grad_norm_g=1e-5, **nan_d)
    assert metrics.classify_outcome(rows, 8) == ("d_dominates" if separates else "not_converged")


@pytest.mark.parametrize(("grad", "vanished"), [(0.2 - EPS, True), (0.2, True), (0.2 + EPS, False)])
def test_outcome_boundary_g_grad_vanished(grad, vanished):
    """Vanished at grad_norm_g <= 0.1 of its peak (peak 2.0: at 0.2)."""
    rows = history(js_binned=FAR)
    rows[3]["grad_norm_g"] = 2.0
    rows[-1] = row(d_real=0.95, d_fake=0.05, grad_norm_g=grad, js_binned=FAR)
    assert metrics.classify_outcome(rows, 8) == ("d_dominates" if vanished else "not_converged")


@pytest.mark.parametrize(
    ("grad", "vanished"), [(1e-3 - EPS, True), (1e-3, True), (1e-3 + EPS, False)]
)
def test_outcome_boundary_g_grad_floor(grad, vanished):
    """Below a peak of 3e-3, 0.1 of it is under the floor 1e-3: the floor decides."""
    rows = history(d_real=0.95, d_fake=0.05, grad_norm_g=3e-3, js_binned=FAR)
    rows[-1]["grad_norm_g"] = grad
    assert metrics.classify_outcome(rows, 8) == ("d_dominates" if vanished else "not_converged")


def test_vanishing_floor_applies_when_no_finite_peak_exists():
    assert metrics.vanishing_threshold(math.nan) == 1e-3
    assert metrics.vanishing_threshold(math.inf) == 1e-3
    assert metrics.vanishing_threshold(1.0) == 0.1
    assert metrics.vanishing_threshold(1e-6) == 1e-3


@pytest.mark.parametrize(("js", "far"), [(0.3 - EPS, False), (0.3, False), (0.3 + EPS, True)])
def test_outcome_boundary_d_dominates_needs_js_above_converged_js(js, far):
    """D separates and G's gradient vanished: d_dominates only while the JS reference is
    above 0.3 (converged_js, rule 2; the README said 0.1 until issue 26), else the G at
    the data is converged."""
    rows = history(js_binned=js)
    rows[3]["grad_norm_g"] = 2.0
    rows[-1] = row(d_real=0.95, d_fake=0.05, grad_norm_g=0.01, js_binned=js)
    assert metrics.classify_outcome(rows, 8) == ("d_dominates" if far else "converged")


@pytest.mark.parametrize(
    ("quality", "fitted"), [(0.1 - EPS, False), (0.1, True), (0.1 + EPS, True)]
)
def test_outcome_boundary_fitted_quality(quality, fitted):
    """Fewer than 0.1 of the samples high quality: not_fitted, whatever the modes."""
    rows = history(modes_captured=3.0, high_quality_frac=quality)
    assert metrics.classify_outcome(rows, 8) == ("mode_collapse" if fitted else "not_fitted")
    every_mode = history(high_quality_frac=quality)
    assert metrics.classify_outcome(every_mode, 8) == ("converged" if fitted else "not_fitted")


def test_outcome_step_zero_is_not_fitted_and_the_dirac_game_never_is():
    """An untrained G (step 0) has fitted nothing, even where its cloud sits on a mode at
    high quality (grid25's centre); the Dirac-GAN's one point is labelled by its dynamics."""
    first = [row(step=0, grad_norm_g=math.nan, js_binned=0.61, modes_captured=1.0)]
    assert metrics.classify_outcome(first, 25) == "not_fitted"
    game = [row(step=0, grad_norm_g=math.nan, js_binned=0.69, dirac_distance=1.4)]
    game[0].update(modes_captured=0.0, high_quality_frac=0.0)
    assert metrics.classify_outcome(game, 1) == "not_converged"
    off = history(js_binned=0.69, high_quality_frac=0.0, modes_captured=0.0, dirac_distance=1.4)
    assert metrics.classify_outcome(off, 1) == "not_converged"


@pytest.mark.parametrize(
    ("top", "oscillates"), [(0.1 - EPS, False), (0.1, False), (0.1 + EPS, True)]
)
def test_outcome_boundary_oscillation_range(top, oscillates):
    """Oscillating where the last third ranges over more than 0.1 nats."""
    rows = history(9, js_binned=0.0)
    rows[7]["js_binned"] = top  # the last third: rows 6, 7, 8
    assert metrics.classify_outcome(rows, 8) == ("oscillating" if oscillates else "converged")


def test_oscillation_needs_three_evals_in_the_last_third():
    """The last third holds len // 3 evals and must hold 3: 8 evals never oscillate."""
    for n, expected in ((8, "converged"), (9, "oscillating")):
        rows = history(n, js_binned=0.0)
        rows[-2]["js_binned"] = 0.5
        assert metrics.classify_outcome(rows, 8) == expected, n


@pytest.mark.parametrize(("js", "converged"), [(0.3 - EPS, True), (0.3, True), (0.3 + EPS, False)])
def test_outcome_boundary_converged_js(js, converged):
    rows = history(js_binned=js)
    assert metrics.classify_outcome(rows, 8) == ("converged" if converged else "not_converged")


@pytest.mark.parametrize(("captured", "label"), [(7.0, "mode_collapse"), (8.0, "converged")])
def test_outcome_boundary_modes(captured, label):
    assert metrics.classify_outcome(history(modes_captured=captured), 8) == label


T = metrics.OUTCOME_THRESHOLDS


@settings(max_examples=300, deadline=None)
@given(
    # Histories near each boundary: an end level, small or large swings around it, all or
    # most modes, a gradient that may fall, D outputs that may separate, samples on or off
    # the data.
    level=st.floats(0.0, 0.69),
    swing=st.sampled_from([0.0, 0.02, 0.2]),
    noise=st.lists(st.floats(-1.0, 1.0), min_size=15, max_size=15),
    n=st.integers(8, 15),
    grad=st.lists(st.floats(1e-6, 20.0), min_size=15, max_size=15),
    d_real=st.floats(0.0, 1.0),
    d_fake=st.floats(0.0, 1.0),
    modes=st.sampled_from([8, 8, 8, 7, 1]),
    quality=st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.95]),
)
def test_each_label_holds_its_defining_condition(
    level, swing, noise, n, grad, d_real, d_fake, modes, quality
):
    """Whatever a (finite) history, the label it gets is true of it, as the README states
    each: d_dominates only where D separates, G's gradient vanished and JS is still above
    converged_js; not_fitted only where few samples are on the data; mode_collapse only on
    the data; not_converged only where every mode is held on the data, the end is not
    oscillating and JS is above converged_js."""
    js = [min(max(level + swing * x, 0.0), 0.69) for x in noise[:n]]
    rows = [row(step=0, grad_norm_g=math.nan, js_binned=js[0])] + [
        row(step=100 * i, js_binned=js[i], grad_norm_g=grad[i]) for i in range(1, n)
    ]
    rows[-1].update(
        d_real=d_real, d_fake=d_fake, modes_captured=float(modes), high_quality_frac=quality
    )
    label = metrics.classify_outcome(rows, 8)
    peak = max(r["grad_norm_g"] for r in rows[1:])
    separates = d_real - d_fake >= T["d_gap"]
    vanished = rows[-1]["grad_norm_g"] <= metrics.vanishing_threshold(peak)
    tail = js[n - n // 3 :]
    swings = len(tail) >= 3 and max(tail) - min(tail) > T["oscillation_range"]
    far = js[-1] > T["converged_js"]
    on_data = quality >= 0.1  # fitted_quality (fd NaN: a toy)
    assert (label == "d_dominates") == (separates and vanished and far), label
    if label != "d_dominates":
        assert (label == "not_fitted") == (not on_data), label
    if label == "mode_collapse":
        assert modes < 8 and on_data
    if label == "oscillating":
        assert modes == 8 and swings and on_data
    if label == "converged":
        assert modes == 8 and not swings and js[-1] <= T["converged_js"] and on_data
    if label == "not_converged":
        assert modes == 8 and not swings and far and on_data
        assert not (separates and vanished)


def test_a_g_at_the_data_is_not_dominated_whatever_its_gradient():
    """The Dirac-GAN at its equilibrium: D's outputs differ (a probe tells 0 from 1e-11) and
    G's gradient is 0, but G is at the data: converged, not d_dominates."""
    rows = [row(step=0, grad_norm_g=math.nan, js_binned=0.6, dirac_distance=1.4)]
    rows += [
        row(step=100 * i, js_binned=0.6 * 0.5**i, grad_norm_g=2.0 * 0.5**i, dirac_distance=0.5)
        for i in range(1, 12)
    ]
    rows[-1].update(d_real=0.9, d_fake=0.1, js_binned=0.0, grad_norm_g=0.0)
    assert metrics.classify_outcome(rows, 1) == "converged"
    rows[-1].update(js_binned=0.5)  # the same D and G gradient, G far from the data
    assert metrics.classify_outcome(rows, 1) == "d_dominates"


def test_outcome_labels_are_the_documented_set():
    assert set(metrics.OUTCOMES) == {
        "converged",
        "mode_collapse",
        "not_fitted",
        "d_dominates",
        "oscillating",
        "not_converged",
        "diverged",
    }


@pytest.mark.parametrize(
    ("quality", "fitted"), [(0.5 - EPS, False), (0.5, True), (0.5 + EPS, True)]
)
def test_outcome_boundary_fitted_quality_on_images(quality, fitted):
    """On an image target (fd finite) fitted needs high_quality_frac >= 0.5: a classifier
    is sure of noise, and js_binned sees only a class histogram that blobs can balance. The
    toys (fd NaN) ask for 0.1 only."""
    image = {"fd": 5.0, "high_quality_frac": quality, "modes_captured": 10.0}
    rows = history(**image)
    assert metrics.classify_outcome(rows, 10) == ("converged" if fitted else "not_fitted")
    toy = history(fd=math.nan, high_quality_frac=quality)
    assert metrics.classify_outcome(toy, 8) == "converged"
