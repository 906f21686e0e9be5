"""The stacked_digits target: three independent digits as channels, 1,000 modes read off by
the per-channel classifier; real held-out stacks cover them all at PacGAN's sample count,
their js_binned against the exact product masses is near 0, and a one-class generator has
exactly one mode."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudy.engine import metrics
from ganstudy.engine.targets import StackedDigits, make_target
from ganstudy.engine.targets.digits import _data

PACGAN_SAMPLES = 26_000  # PacGAN (Lin et al. 2018) counts Stacked MNIST modes in 26,000


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def stacked() -> StackedDigits:
    target = make_target("stacked_digits")
    assert isinstance(target, StackedDigits)
    return target


def test_shape_labels_and_channels(stacked):
    x, y = stacked.sample_labeled(2000, gen(1))
    assert stacked.shape == (3, 8, 8) and stacked.dim == 192 and stacked.n_modes == 1000
    assert x.shape == (2000, 192) and y.shape == (2000,) and 0 <= int(y.min())
    assert int(y.max()) < 1000 and len(set(y.tolist())) > 800
    data = _data()
    channels = x.reshape(2000, 3, 64)
    for c, place in enumerate((100, 10, 1)):  # channel c is a training image of digit y_c
        nearest = torch.cdist(channels[:, c], data["train_x"]).min(-1)
        assert float(nearest.values.max()) == 0.0
        assert torch.equal(data["train_y"][nearest.indices], (y // place) % 10)
    assert torch.equal(stacked.sample(2000, gen(1)), x)
    with pytest.raises(ValueError, match="stacked_digits"):
        make_target("stacked_digits", std=1.0)


def test_bin_masses_are_the_products_of_class_frequencies(stacked):
    binning = stacked.binning()
    masses = stacked.bin_masses(binning)
    assert binning.n_cells == 1000 and masses.shape == (1001,) and float(masses[-1]) == 0.0
    freq = torch.bincount(_data()["train_y"], minlength=10).double() / len(_data()["train_y"])
    assert float(masses[472]) == pytest.approx(float(freq[4] * freq[7] * freq[2]), rel=1e-12)
    assert masses.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_real_held_out_stacks_cover_all_modes_and_js_binned_is_small(stacked):
    x, y = stacked.held_out_sample(PACGAN_SAMPLES)
    assert x.shape == (PACGAN_SAMPLES, 192)
    which, good = stacked.assign_modes(x, 3.0)
    # Each channel right 96.9% of the time: about 91% of the stacks have the right mode.
    assert float((which == y).double().mean()) > 0.88
    assert 0.7 < float(good.double().mean()) < 0.9  # 0.92³ = 0.78 high quality
    coverage = metrics.mode_coverage(x[None], stacked)
    assert float(coverage["modes_captured"][0]) >= 995  # 1,000 measured
    binning = stacked.binning()
    js = metrics.js_binned(stacked.binned_points(x[None]), binning, stacked.bin_masses(binning))
    # Plug-in bias of 1,000 cells in 26,000 samples is ~1000 / (8·26000) = 0.005 nats.
    assert float(js[0]) < 0.02


def test_a_one_class_generator_has_one_mode(stacked):
    x, _ = stacked.held_out()
    which, good = stacked.assign_modes(x.repeat(1, 3), 3.0)  # each digit in every channel
    threes = x[(which == 333) & good]  # (n, 64) digits read confidently as a 3
    fake = threes.repeat(1, 3)[None]  # (1, n, 192): a 3 in every channel
    coverage = metrics.mode_coverage(fake, stacked)
    assert float(coverage["modes_captured"][0]) == 1
    assert float(coverage["mode_kl"][0]) == pytest.approx(math.log(1000), rel=1e-12)
    binning = stacked.binning()
    p = stacked.bin_masses(binning)
    js = metrics.js_binned(stacked.binned_points(fake), binning, p)
    m = float(p[333])  # JS(p, δ_333) by hand, m = (p + δ)/2
    expected = 0.5 * (
        sum(float(pi) * math.log(2.0) for i, pi in enumerate(p[:1000]) if i != 333)
        + m * math.log(m / (0.5 * m + 0.5))
        + math.log(1.0 / (0.5 * m + 0.5))
    )
    assert float(js[0]) == pytest.approx(expected, rel=1e-9)
