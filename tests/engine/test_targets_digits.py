"""The digits target: images in [-1, 1] of shape (1, 8, 8), a fixed disjoint held-out
split, a classifier that reads the classes off held-out images, and js_binned / mode
coverage that hold real data at 0 / 10 modes and a one-class generator at its known JS."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudy.engine import metrics
from ganstudy.engine.targets import Target, make_target
from ganstudy.engine.targets.digits import QUALITY_CONFIDENCE, Digits, _data


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits() -> Digits:
    target = make_target("digits")
    assert isinstance(target, Digits) and isinstance(target, Target)
    return target


def test_shape_range_and_labels(digits):
    x, y = digits.sample_labeled(3000, gen(1))
    assert digits.shape == (1, 8, 8) and digits.dim == 64 and digits.n_modes == 10
    assert x.shape == (3000, 64) and x.dtype == torch.float64 and y.dtype == torch.long
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))
    assert torch.equal(digits.sample(3000, gen(1)), x)  # seeded
    assert not torch.equal(digits.sample(3000, gen(2)), x)
    assert digits.picture == "images" and digits.modes is None and digits.std is None
    with pytest.raises(ValueError, match="digits"):
        make_target("digits", scale=2.0)


def test_split_is_disjoint_stratified_and_deterministic(digits):
    data = _data()
    train, test = data["train_x"], data["test_x"]
    assert len(train) + len(test) == 1797 and len(test) == 360
    # No held-out image is a training image (exact duplicates do not exist in the set).
    assert torch.cdist(test, train).min() > 0
    counts = torch.bincount(data["test_y"], minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # stratified: ~36 each
    # Training samples come from the training split only.
    x = digits.sample(2000, gen(3))
    assert float(torch.cdist(x, train).min(-1).values.max()) == 0.0
    _data.cache_clear()  # loaded again: the same split
    assert torch.equal(_data()["test_x"], test)


def test_classifier_reads_held_out_classes(digits):
    x, y = digits.held_out()
    which, good = digits.assign_modes(x, quality_sigmas=3.0)
    accuracy = float((which == y).double().mean())
    assert accuracy >= 0.95, accuracy  # 0.969 with scikit-learn 1.9
    # Most real images are confidently classified (92% at QUALITY_CONFIDENCE = 0.8).
    assert float(good.double().mean()) > 0.85
    probs = digits.class_probabilities(x)
    assert torch.equal(good, probs.max(-1).values >= QUALITY_CONFIDENCE)


def test_js_binned_of_real_held_out_images_is_about_zero(digits):
    x, _ = digits.held_out()
    binning = digits.binning()
    masses = digits.bin_masses(binning)
    assert binning.n_cells == 10 and masses.shape == (11,) and float(masses[-1]) == 0.0
    assert masses.sum().item() == pytest.approx(1.0, abs=1e-12)
    js = metrics.js_binned(digits.binned_points(x[None]), binning, masses)
    # Misclassified held-out images (3%) and 360 samples' plug-in bias: well under 0.01.
    assert float(js[0]) < 0.01
    coverage = metrics.mode_coverage(x[None], digits)
    assert float(coverage["modes_captured"][0]) == 10


def test_js_binned_of_a_one_class_generator_is_its_known_value(digits):
    x, _ = digits.held_out()
    which, _ = digits.assign_modes(x, 3.0)
    threes = x[which == 3][None]  # (1, n, 64): every sample read as a 3
    binning = digits.binning()
    p = digits.bin_masses(binning)[:10].tolist()  # the real class masses
    # JS(p, δ_3) by hand: m = (p + δ_3) / 2.
    kl_p = sum(pi * math.log(pi / (0.5 * pi + 0.5 * (i == 3))) for i, pi in enumerate(p))
    kl_q = math.log(1.0 / (0.5 * p[3] + 0.5))
    expected = 0.5 * (kl_p + kl_q)
    js = metrics.js_binned(digits.binned_points(threes), binning, digits.bin_masses(binning))
    assert float(js[0]) == pytest.approx(expected, rel=1e-12)
    assert 0.5 < expected < 0.55  # 0.526 for exactly uniform masses
    coverage = metrics.mode_coverage(threes, digits)
    assert float(coverage["modes_captured"][0]) == 1


def test_probe_ignores_constant_pixels_scale(digits):
    """Real corner pixels are constant (std 0): their scale is floored, so generated images
    off by 0.01 there are not told apart from real ones by the probe."""
    real = digits.sample(1024, gen(5))[None]
    fake = digits.sample(1024, gen(6))[None].clone()
    constant = real[0].std(0) == 0
    assert int(constant.sum()) >= 1
    fake[..., constant] += 0.01
    js = metrics.js_probe(real[:, :512], fake[:, :512], real[:, 512:], fake[:, 512:])
    assert float(js[0]) < 0.05


def test_the_mlp_trains_on_digits_too():
    """The MLP sees flat 64-pixel rows; its G's output takes the target's (1, 8, 8)."""
    from ganstudy.config import TrialConfig
    from ganstudy.engine.trainer import Trainer

    config = TrialConfig(
        target="digits",
        g_width=8,
        d_width=8,
        z_dim=4,
        batch_size=16,
        eval_batch=128,
        eval_samples=300,
        coverage_samples=200,
        steps=10,
        eval_every=10,
        device="cpu",
    )
    t = Trainer(config)
    assert t.generator(torch.zeros(1, 3, 4)).shape == (1, 3, 1, 8, 8)
    row = list(t.run())[-1].rows[0]
    assert all(row[k] == row[k] for k in ("js_probe", "js_binned", "loss_d", "loss_g"))


def test_eval_samples_default_by_target():
    """eval_samples None: the toys' 20,000 fakes, 250 per mode for a 10-class image target
    (its 11-cell histogram's plug-in bias ~ 11 / (8 · 2500) nats), a stack's capped at 20,000."""
    from ganstudy.config import DEFAULT_EVAL_SAMPLES, TrialConfig

    assert TrialConfig().eval_samples is None
    assert make_target("ring8").default_eval_samples == DEFAULT_EVAL_SAMPLES == 20000
    assert make_target("digits").default_eval_samples == 2500
    assert make_target("stacked_digits").default_eval_samples == 20000
