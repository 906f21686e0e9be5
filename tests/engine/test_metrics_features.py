"""fd, precision and recall against known answers: equal sets give fd 0 and precision =
recall = 1, a shift of d adds exactly |d|², noise grows fd monotonically, fd equals
scipy's matrix square root, a collapsed generator has a low recall; per replica."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstudy.engine import metrics
from ganstudy.engine.targets import make_target
from ganstudy.engine.targets.digits import _data


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def correlated(n: int, dim: int, seed: int) -> torch.Tensor:
    """n points (n, dim) of a fixed correlated Gaussian (the mixing matrix from seed 0)."""
    mix = torch.randn(dim, dim, generator=gen(0), dtype=torch.float64) / dim**0.5
    return torch.randn(n, dim, generator=gen(seed), dtype=torch.float64) @ mix + 0.3


def test_fd_of_a_set_with_itself_is_zero_and_a_shift_adds_its_square():
    real = correlated(1000, 8, 1)
    assert abs(float(metrics.frechet_distance(real, real[None])[0])) < 1e-9
    shift = torch.linspace(-1, 1, 8, dtype=torch.float64)
    fd = metrics.frechet_distance(real, (real + 0.5 * shift)[None])
    assert float(fd[0]) == pytest.approx(float((0.5 * shift).pow(2).sum()), rel=1e-9)
    other = correlated(1000, 8, 2)  # the same distribution: only sampling noise
    assert 0 < float(metrics.frechet_distance(real, other[None])[0]) < 0.05


def test_fd_grows_monotonically_with_shift_and_noise():
    real = correlated(2000, 16, 1)
    fake = correlated(2000, 16, 2)
    noise = torch.randn(2000, 16, generator=gen(3), dtype=torch.float64)
    levels = [0.0, 0.1, 0.2, 0.5, 1.0, 2.0]
    shifted = torch.stack([fake + a for a in levels])  # (6, N, F): one replica per level
    noised = torch.stack([fake + a * noise for a in levels])
    for batch in (shifted, noised):
        fd = metrics.frechet_distance(real, batch).tolist()
        assert all(b > a for a, b in zip(fd, fd[1:], strict=False)), fd


def test_fd_equals_scipys_matrix_square_root():
    linalg = pytest.importorskip("scipy.linalg")
    real = correlated(500, 12, 1).numpy()
    fake = (correlated(500, 12, 2) * 1.3 + 0.2).numpy()
    mu_r, mu_g = real.mean(0), fake.mean(0)
    cov_r, cov_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = linalg.sqrtm(cov_r @ cov_g)
    expected = ((mu_r - mu_g) ** 2).sum() + np.trace(cov_r + cov_g - 2 * np.real(root))
    got = metrics.frechet_distance(torch.from_numpy(real), torch.from_numpy(fake)[None])
    assert float(got[0]) == pytest.approx(expected, abs=1e-8, rel=0)


def test_precision_recall_known_cases_and_replicas():
    real = correlated(800, 4, 1)
    same = metrics.precision_recall(real, real[None])
    assert float(same["precision"][0]) == 1.0 and float(same["recall"][0]) == 1.0
    other = metrics.precision_recall(real, correlated(800, 4, 2)[None])
    assert float(other["precision"][0]) > 0.85 and float(other["recall"][0]) > 0.85
    # Collapsed: every fake near one real point. Realistic (precision 1), covers nothing.
    collapsed = real[:1] + 0.01 * torch.randn(800, 4, generator=gen(5), dtype=torch.float64)
    one = metrics.precision_recall(real, collapsed[None])
    assert float(one["precision"][0]) > 0.95 and float(one["recall"][0]) < 0.02
    # Far away: neither.
    far = metrics.precision_recall(real, (correlated(800, 4, 3) + 10)[None])
    assert float(far["precision"][0]) == 0.0 and float(far["recall"][0]) == 0.0
    # Radii of the real set given up front: the same answer.
    radii = metrics.kth_neighbour_radius(real[None])[0]
    given = metrics.precision_recall(real, collapsed[None], real_radii=radii)
    assert all(torch.equal(given[key], one[key]) for key in ("precision", "recall"))
    # Replicas are independent: the batch equals each alone.
    batch = torch.stack([correlated(800, 4, 2), collapsed, correlated(800, 4, 3) + 10])
    together = metrics.precision_recall(real, batch)
    for r in range(3):
        alone = metrics.precision_recall(real, batch[r : r + 1])
        for key in ("precision", "recall"):
            assert float(together[key][r]) == float(alone[key][0])


def test_on_digits_real_against_real_and_a_one_class_generator():
    digits = make_target("digits")
    real = digits.held_out_features(metrics.FEATURE_POINTS)  # (360, 10): the logits
    assert real.shape == (360, 10)
    # The 1,437 distinct training images (a draw with replacement repeats images, and a
    # repeated point's k-NN ball shrinks to nothing: the recall would be lower).
    train = digits.features(_data()["train_x"])[None]
    fd_real = float(metrics.frechet_distance(real, train)[0])
    pr = metrics.precision_recall(real, train)
    x, _ = digits.held_out()
    which, _ = digits.assign_modes(x, 3.0)
    threes = digits.features(x[which == 3])[None]  # a generator of 3s only
    fd_one = float(metrics.frechet_distance(real, threes)[0])
    one = metrics.precision_recall(real, threes)
    assert fd_real < 0.05 * fd_one
    assert float(pr["precision"][0]) > 0.85 and float(pr["recall"][0]) > 0.85  # 0.91, 0.90
    assert float(one["recall"][0]) < 0.2
    assert make_target("ring8").features(torch.zeros(2, 2)) is None


def test_stacked_features_concatenate_the_channels():
    stacked = make_target("stacked_digits")
    x = stacked.sample(5, gen(2))
    feats = stacked.features(x)
    assert feats.shape == (5, 30)
    digits = make_target("digits")
    assert torch.equal(feats[:, 10:20], digits.features(x[:, 64:128]))


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _precision_recall_by_hand(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """Kynkäänniemi et al.'s definitions with the README's k = 3, written out: a point's
    ball reaches its 3rd nearest other point of its own set; the sets compared at equal
    size (the first min(N, M) points of each, as the README says)."""
    n = min(len(real), len(fake))
    real, fake = real[:n], fake[:n]
    radius_real = np.sort(_distances(real, real), 1)[:, 3]  # [:, 0] is the point itself
    radius_fake = np.sort(_distances(fake, fake), 1)[:, 3]
    cross = _distances(fake, real)  # (fake, real)
    precision = (cross <= radius_real[None, :]).any(1).mean()
    recall = (cross <= radius_fake[:, None]).any(0).mean()
    return float(precision), float(recall)


def test_the_trainer_reports_them_for_images_and_nan_for_the_toys(monkeypatch):
    from ganstudy.columns import BY_NAME, METRIC_COLUMNS, why_nan
    from ganstudy.config import TrialConfig
    from ganstudy.engine.sample_metrics import SampleMetrics
    from ganstudy.engine.trainer import Trainer

    small = dict(
        g_width=8,
        d_width=8,
        z_dim=4,
        batch_size=16,
        eval_batch=128,
        eval_samples=300,
        coverage_samples=200,
        steps=4,
        eval_every=2,
        device="cpu",
        replicas=2,
    )
    assert {"fd", "precision", "recall"} <= set(METRIC_COLUMNS)
    assert all(BY_NAME[name].needs_features for name in ("fd", "precision", "recall"))
    assert "image targets" in why_nan("fd")
    toy = list(Trainer(TrialConfig(target="ring8", **small)).run())[-1].rows
    assert all(row[k] != row[k] for row in toy for k in ("fd", "precision", "recall"))

    fakes = []  # the generated points each eval measured
    measure = SampleMetrics._feature_metrics
    monkeypatch.setattr(
        SampleMetrics,
        "_feature_metrics",
        lambda self, fake: fakes.append(fake) or measure(self, fake),
    )
    trainer = Trainer(TrialConfig(target="digits", model="dcgan", **small))
    rows = [row for evaluation in trainer.run() for row in evaluation.rows]
    real_features = trainer.evaluator.sample_metrics._real_features
    assert real_features.shape == (360, 10)  # every held-out digit, once
    # Each number again from its definition: the classifier's features of every held-out
    # digit and of the eval's 300 generated images, fd as in scipy's test above.
    digits = make_target("digits")
    real = digits.held_out_features(metrics.FEATURE_POINTS).double().numpy()
    assert len(fakes) == 3 and fakes[0].shape[:2] == (2, 300)
    for e, fake in enumerate(fakes):
        for r in range(2):
            row = rows[2 * e + r]
            features = digits.features(fake[r]).double().numpy()
            mu_r, mu_g = real.mean(0), features.mean(0)
            cov_r, cov_g = np.cov(real, rowvar=False), np.cov(features, rowvar=False)
            root = scipy_linalg().sqrtm(cov_r @ cov_g)
            fd = ((mu_r - mu_g) ** 2).sum() + np.trace(cov_r + cov_g - 2 * np.real(root))
            assert row["fd"] == pytest.approx(fd, rel=1e-6)
            precision, recall = _precision_recall_by_hand(real, features)
            assert (row["precision"], row["recall"]) == pytest.approx((precision, recall))
    # An untrained G is far from the data; each replica is measured on its own.
    assert rows[0]["fd"] != rows[1]["fd"]


def scipy_linalg():
    return pytest.importorskip("scipy.linalg")


def test_js_probe_in_feature_space_real_against_real_and_a_one_class_generator(monkeypatch):
    """js_probe on digits' features: two draws of the real data ~0, a generator of one
    class (1 of 10 modes, JS at least that of its class histogram) far above; and the
    trainer's js_probe is the probe on the features of its eval points, not the pixels."""
    from ganstudy.config import TrialConfig
    from ganstudy.engine.trainer import Trainer

    digits = make_target("digits")
    real = digits.features(digits.sample(2048, gen(1)))  # (2048, 10)
    other = digits.features(digits.sample(2048, gen(2)))
    x = _data()["train_x"]
    which, _ = digits.assign_modes(x, 3.0)
    threes = x[which == 3]
    one = digits.features(threes[torch.randint(len(threes), (2048,), generator=gen(3))])
    fakes = torch.stack([other, one])  # (2, 2048, 10): one replica per case
    reals = torch.stack([real, real])
    js = metrics.js_probe(reals[:, :1024], fakes[:, :1024], reals[:, 1024:], fakes[:, 1024:])
    assert float(js[0]) < 0.02  # the same distribution: only the probe's noise
    # A single class: its class histogram alone has JS 0.53 nats against the real one, the
    # probe (a lower bound, 0.685 at most) measures 0.47.
    assert float(js[1]) > 0.4

    config = TrialConfig(
        target="digits",
        model="dcgan",
        g_width=8,
        d_width=8,
        z_dim=4,
        batch_size=16,
        eval_batch=128,
        eval_samples=300,
        coverage_samples=200,
        steps=2,
        eval_every=2,
        device="cpu",
        dtype="float64",
    )
    trainer = Trainer(config)
    seen = []
    original = metrics.js_probe

    def spy(*points: torch.Tensor) -> torch.Tensor:
        seen.append(points)
        return original(*points)

    monkeypatch.setattr(metrics, "js_probe", spy)
    trainer.evaluate()
    assert all(p.shape[-1] == 10 for p in seen[0])  # the 10 logits, not 64 pixels
