"""Targets: seeded sampling, moments, exact bin masses and densities against independent
numerical integration, and the curve family's least-squares fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mnist_files import write_idx  # tests/mnist_files.py

from ganstudy.config import DATA_TARGETS, IMAGE_SHAPES, TargetName
from ganstudy.engine.targets import TARGETS, Curves, GaussianMixture, Target, make_target

ALL = list(TARGETS)
MIXTURES = ["gaussian1d", "mixture1d", "ring8", "grid25"]


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> str:
    """Synthetic MNIST files for the targets read from data_dir (tests/mnist_files.py)."""
    return str(write_idx(tmp_path_factory.mktemp("mnist")))


def build(name: str, data_dir: str) -> Target:
    """make_target(name), with data_dir for the targets that read files."""
    return make_target(name, data_dir=data_dir if name in DATA_TARGETS else None)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registry_matches_config_names():
    assert set(TARGETS) == set(TargetName.__args__)


def test_unknown_target_lists_known_names():
    with pytest.raises(ValueError, match="unknown target 'ring9'") as error:
        make_target("ring9")
    for name in ALL:
        assert name in str(error.value)


def test_curves_reject_scale_and_std():
    with pytest.raises(ValueError, match="curves"):
        make_target("curves", scale=2.0)


@pytest.mark.parametrize("name", ALL)
def test_sampling_is_seeded(name, mnist_dir):
    target = build(name, mnist_dir)
    a = target.sample(500, gen(3))
    b = target.sample(500, gen(3))
    c = target.sample(500, gen(4))
    assert a.shape == (500, target.dim) and a.dtype == torch.float64
    assert torch.equal(a, b)
    if name == "dirac":  # δ₀: every sample is 0, whatever the seed
        assert not a.any() and not c.any()
    else:
        assert not torch.allclose(a, c)


# (mean per dimension, variance per dimension) of each target at its defaults, by hand:
# a mixture's variance is the mode std² plus the variance of the mode positions.
MOMENTS = {
    "gaussian1d": ([4.0], [1.25**2]),
    "mixture1d": ([0.0], [0.4**2 + 2 * 3.0**2 / 3]),  # modes -3, 0, 3
    "ring8": ([0.0, 0.0], [0.02**2 + 2.0**2 / 2] * 2),  # E cos² = 1/2 over 8 angles
    "grid25": ([0.0, 0.0], [0.05**2 + (16 + 4 + 0 + 4 + 16) / 5] * 2),
}


@pytest.mark.parametrize("name", list(MOMENTS))
def test_mixture_sample_moments(name):
    target = make_target(name)
    n = 200_000
    x = target.sample(n, gen(0))
    mean, var = (torch.tensor(v, dtype=torch.float64) for v in MOMENTS[name])
    # 5 standard errors: the mean's SE is sqrt(var/n); the sample variance's is
    # sqrt((kurtosis - 1)/n)·var, at most sqrt(2/n)·var here (kurtosis 3 for one Gaussian,
    # below 3 for these mixtures).
    assert torch.all((x.mean(0) - mean).abs() < 5 * (var / n).sqrt())
    assert torch.all((x.var(0) - var).abs() < 5 * math.sqrt(2 / n) * var)
    if target.dim == 2:  # isotropic layouts: no correlation between the coordinates
        cov = torch.cov(x.T)[0, 1]
        assert abs(cov) < 5 * var[0] / math.sqrt(n)


def test_curves_sample_moments():
    target = make_target("curves")
    n = 200_000
    y = target.sample(n, gen(0))
    basis = target.x**2 + 1
    # y = a·(x² + 1) − 1 with a ~ U(1, 2): mean 1.5·basis − 1, variance basis²/12.
    assert torch.allclose(y.mean(0), 1.5 * basis - 1, atol=5 * basis.max() / math.sqrt(12 * n))
    assert torch.allclose(y.var(0), basis**2 / 12, rtol=0.02)


@pytest.mark.parametrize("name", ALL)
def test_bin_masses_sum_to_one(name, mnist_dir):
    target = build(name, mnist_dir)
    binning = target.binning()
    masses = target.bin_masses(binning)
    assert masses.shape == (binning.n_cells + 1,)
    assert torch.all(masses >= 0)
    assert masses.sum().item() == pytest.approx(1.0, abs=1e-12)
    # The box is the modes' range plus 5 stds per side: almost nothing lies outside.
    assert masses[-1] < 1e-5


def _cell_bounds(binning, flat: int) -> list[tuple[float, float]]:
    """Unravel a flat cell index (row-major over the dimensions) into per-dimension bounds."""
    sizes = [len(e) - 1 for e in binning.edges]
    bounds = []
    for d in reversed(range(len(sizes))):
        i = flat % sizes[d]
        flat //= sizes[d]
        bounds.append((float(binning.edges[d][i]), float(binning.edges[d][i + 1])))
    return bounds[::-1]


def _integrate_cell(target: GaussianMixture, bounds, points: int = 16) -> float:
    """Gauss-Legendre integral of exp(log_prob) over a box (independent of the CDF formula)."""
    nodes, weights = np.polynomial.legendre.leggauss(points)
    axes, axis_weights = [], []
    for lo, hi in bounds:
        axes.append(torch.from_numpy(0.5 * (hi - lo) * nodes + 0.5 * (hi + lo)))
        axis_weights.append(torch.from_numpy(0.5 * (hi - lo) * weights))
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (points, ..., dim)
    w = axis_weights[0]
    for extra in axis_weights[1:]:
        w = w[..., None] * extra
    return float((target.log_prob(grid).exp() * w).sum())


@pytest.mark.parametrize("name", MIXTURES)
def test_bin_masses_match_numerical_integration(name):
    target = make_target(name)
    binning = target.binning()
    masses = target.bin_masses(binning)
    mode, std = target.modes[0], target.std
    # Cells at a mode, 0.3 and 1.7 stds away, and in the tail (2.9 stds): distinct masses.
    offsets = [0.0, 0.3, -1.7, 2.9]
    for offset in offsets:
        point = mode + offset * std
        flat = int(binning.index(point[None])[0])
        assert flat < binning.n_cells
        bounds = _cell_bounds(binning, flat)
        # The unravelled cell holds the point: index() and the mass layout agree.
        assert all(lo <= float(p) < hi for p, (lo, hi) in zip(point, bounds, strict=True))
        expected = _integrate_cell(target, bounds)
        assert float(masses[flat]) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["gaussian1d", "ring8"])
def test_bin_masses_match_monte_carlo(name):
    """The histogram of many samples has each cell's exact mass (binomial tolerance)."""
    target = make_target(name)
    binning = target.binning()
    masses = target.bin_masses(binning)
    n = 400_000
    index = binning.index(target.sample(n, gen(7)))
    freq = torch.bincount(index, minlength=binning.n_cells + 1).double() / n
    se = (masses * (1 - masses) / n).sqrt()
    assert torch.all((freq - masses).abs() <= 5 * se + 2 / n)


@pytest.mark.parametrize("name", ["gaussian1d", "mixture1d"])
def test_log_prob_integrates_to_one_1d(name):
    target = make_target(name)
    lo = float(target.modes.min()) - 10 * target.std
    hi = float(target.modes.max()) + 10 * target.std
    x = np.linspace(lo, hi, 20_001)
    density = target.log_prob(torch.from_numpy(x)[:, None]).exp().numpy()
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=1e-9)
    # And against the mixture density written out directly in numpy.
    modes = target.modes[:, 0].numpy()
    direct = np.mean(
        np.exp(-0.5 * ((x[:, None] - modes) / target.std) ** 2)
        / (target.std * math.sqrt(2 * math.pi)),
        axis=1,
    )
    np.testing.assert_allclose(density, direct, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_log_prob_integrates_to_one_2d(name):
    target = make_target(name)
    # The trapezoid rule on a Gaussian converges spectrally: std/2 spacing is plenty.
    h = target.std / 2
    half = float(target.modes.abs().max()) + 10 * target.std
    axis = torch.arange(-half, half + h / 2, h, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1)
    total = float(target.log_prob(grid).exp().sum()) * h * h
    assert total == pytest.approx(1.0, abs=1e-9)


def test_nearest_mode_distance_in_stds():
    target = make_target("ring8")
    point = target.modes[2] + torch.tensor([0.0, 2.5 * target.std], dtype=torch.float64)
    idx, dist = target.nearest_mode(point[None])
    assert int(idx[0]) == 2
    assert float(dist[0]) == pytest.approx(2.5)


def test_curves_fit_recovers_a_of_real_samples():
    target = make_target("curves")
    assert isinstance(target, Curves)
    y = target.sample(5000, gen(1))
    a, rms = target.fit(y)
    assert torch.all(rms < 1e-12)
    assert torch.all((a >= 1.0) & (a <= 2.0))
    # The fitted a rebuilds each curve exactly.
    torch.testing.assert_close(a[:, None] * (target.x**2 + 1) - 1, y, rtol=0, atol=1e-12)
    # And a ~ U(1, 2).
    assert float(a.mean()) == pytest.approx(1.5, abs=0.02)
    assert float(a.var()) == pytest.approx(1 / 12, rel=0.05)


def test_curves_fit_is_least_squares():
    """For y = a·basis − 1 + e with e orthogonal to basis, the fit returns a and rms(e)."""
    target = make_target("curves")
    basis = target.x**2 + 1
    a_true = torch.tensor([1.0, 1.37, 2.0, 0.5], dtype=torch.float64)
    e = torch.sin(3 * target.x)  # odd, so orthogonal to the even basis
    assert abs(float(e @ basis)) < 1e-12
    y = a_true[:, None] * basis - 1 + 0.1 * e
    a, rms = target.fit(y)
    torch.testing.assert_close(a, a_true, rtol=0, atol=1e-12)
    expected_rms = float((0.1 * e).pow(2).mean().sqrt())
    torch.testing.assert_close(rms, torch.full_like(rms, expected_rms), rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- interface
@pytest.mark.parametrize("name", ALL)
def test_every_target_speaks_the_interface(name, mnist_dir):
    target = build(name, mnist_dir)
    assert isinstance(target, Target)
    assert math.prod(target.shape) == target.dim
    assert target.picture in ("points", "curves", "images")
    # Image targets (C, H, W) are declared in config too (model=dcgan validates by them).
    assert (len(target.shape) == 3) == (name in IMAGE_SHAPES)
    if len(target.shape) == 1:
        assert target.shape == (target.dim,)
    assert (target.modes is None) == (target.std is None)
    if target.modes is not None:
        assert target.modes.shape == (target.n_modes, target.dim)


@pytest.mark.parametrize("name", ALL)
def test_sample_is_the_labeled_sample_without_labels(name, mnist_dir):
    target = build(name, mnist_dir)
    x, labels = target.sample_labeled(500, gen(3))
    assert torch.equal(target.sample(500, gen(3)), x)
    assert labels.shape == (500,) and labels.dtype == torch.long
    assert 0 <= int(labels.min()) and int(labels.max()) < target.n_modes


@pytest.mark.parametrize("name", MIXTURES)
def test_mixture_labels_are_the_modes_the_samples_came_from(name):
    """Each sample lies within 5 stds of the mode its label names, and assign_modes, which
    only sees x, recovers the label wherever the sample is nearer its own mode than half the
    closest spacing of modes (7.5 stds for mixture1d, 40 for grid25 and ring8)."""
    target = make_target(name)
    x, labels = target.sample_labeled(4000, gen(4))
    dist = (x - target.modes[labels]).norm(dim=-1) / target.std
    assert float(dist.max()) < 5
    which, good = target.assign_modes(x, quality_sigmas=5.0)
    near = dist < 3.5
    assert float(near.double().mean()) > 0.99  # 3.5 stds: 1 - 5e-4 (1-D), 1 - 2e-3 (2-D)
    assert torch.equal(which[near], labels[near]) and bool(good.all())
    # Quality is the distance in stds: at 1 std about 39% (2-D) / 68% (1-D) are within.
    _, within_one = target.assign_modes(x, quality_sigmas=1.0)
    expected = 1 - math.exp(-0.5) if target.dim == 2 else math.erf(1 / math.sqrt(2))
    assert float(within_one.double().mean()) == pytest.approx(expected, abs=0.03)


def test_curve_labels_are_the_a_bins():
    """A curve's label is the bin of its a among 10 equal bins of [1, 2], the same bin
    assign_modes finds from the curve alone."""
    target = make_target("curves")
    y, labels = target.sample_labeled(2000, gen(5))
    a, _ = target.fit(y)
    assert torch.equal(labels, ((a - 1.0) * 10).floor().long().clamp(0, 9))
    which, good = target.assign_modes(y, quality_sigmas=3.0)
    assert torch.equal(which, labels) and bool(good.all())
