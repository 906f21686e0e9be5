"""Losses against their formulas on hand-computed inputs; the saturation of the minimax
generator loss; gradient penalty and R1 against their closed forms on linear and quadratic D."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudy.config import LossName
from ganstudy.engine.losses import LOSSES, get_loss, gradient_penalty, r1_penalty

# Logits / critic values: real [0, 2], fake [-1, 1] (one replica, a batch of two).
REAL = torch.tensor([[0.0, 2.0]], dtype=torch.float64)
FAKE = torch.tensor([[-1.0, 1.0]], dtype=torch.float64)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values) -> float:
    return sum(values) / len(values)


# Each loss written out from its paper's formula, on plain Python floats.
D_REAL = [sigmoid(0.0), sigmoid(2.0)]  # 0.5, 0.8808
D_FAKE = [sigmoid(-1.0), sigmoid(1.0)]  # 0.2689, 0.7311
EXPECTED = {
    # -V(D, G) = -[E log D(x) + E log(1 - D(G(z)))]
    "bce_d": -(mean([math.log(p) for p in D_REAL]) + mean([math.log(1 - p) for p in D_FAKE])),
    "minimax_g": mean([math.log(1 - p) for p in D_FAKE]),  # E log(1 - D(G(z))), minimised
    "nonsaturating_g": -mean([math.log(p) for p in D_FAKE]),  # -E log D(G(z))
    "wasserstein_d": mean([-1.0, 1.0]) - mean([0.0, 2.0]),  # E f(G(z)) - E f(x) = -1
    "wasserstein_g": -mean([-1.0, 1.0]),  # -E f(G(z)) = 0
    # E max(0, 1 - f(x)) + E max(0, 1 + f(G(z))) = (1 + 0)/2 + (0 + 2)/2
    "hinge_d": 0.5 + 1.0,
    # ½E(f(x) - 1)² + ½E f(G(z))² = ½·(1 + 1)/2 + ½·(1 + 1)/2
    "least_squares_d": 0.5 * mean([1.0, 1.0]) + 0.5 * mean([1.0, 1.0]),
    # ½E(f(G(z)) - 1)² = ½·(4 + 0)/2
    "least_squares_g": 0.5 * mean([4.0, 0.0]),
}


def test_hand_computed_numbers():
    """The expected values above, checked once more against digits worked out by hand."""
    assert EXPECTED["bce_d"] == pytest.approx((0.693147 + 0.126928) / 2 + (0.313262 + 1.313262) / 2)
    assert EXPECTED["minimax_g"] == pytest.approx(-(0.313262 + 1.313262) / 2)
    assert EXPECTED["nonsaturating_g"] == pytest.approx((1.313262 + 0.313262) / 2)
    assert EXPECTED["wasserstein_d"] == -1.0
    assert EXPECTED["hinge_d"] == 1.5


@pytest.mark.parametrize(
    ("name", "d_key", "g_key"),
    [
        ("minimax", "bce_d", "minimax_g"),
        ("nonsaturating", "bce_d", "nonsaturating_g"),
        ("wasserstein", "wasserstein_d", "wasserstein_g"),
        ("wgan_gp", "wasserstein_d", "wasserstein_g"),
        ("hinge", "hinge_d", "wasserstein_g"),
        ("least_squares", "least_squares_d", "least_squares_g"),
    ],
)
def test_loss_matches_formula(name, d_key, g_key):
    loss = get_loss(name)
    d = loss.d_loss(REAL, FAKE)
    g = loss.g_loss(FAKE)
    assert d.shape == g.shape == (1,)
    assert float(d[0]) == pytest.approx(EXPECTED[d_key], rel=1e-12)
    assert float(g[0]) == pytest.approx(EXPECTED[g_key], rel=1e-12, abs=1e-15)


def test_losses_are_per_replica():
    """Replicas are rows: each row's loss is that row's alone."""
    real = torch.cat([REAL, REAL.flip(-1) * 3])
    fake = torch.cat([FAKE, FAKE - 2])
    for loss in LOSSES.values():
        both_d, both_g = loss.d_loss(real, fake), loss.g_loss(fake)
        for r in range(2):
            assert torch.equal(both_d[r : r + 1], loss.d_loss(real[r : r + 1], fake[r : r + 1]))
            assert torch.equal(both_g[r : r + 1], loss.g_loss(fake[r : r + 1]))


def test_bce_is_stable_for_extreme_logits():
    real = torch.tensor([[200.0, -200.0]], dtype=torch.float64)
    fake = torch.tensor([[-200.0, 200.0]], dtype=torch.float64)
    # -log sigmoid(-200) = 200 exactly in floating point; a naive log(sigmoid) would be inf.
    assert float(get_loss("minimax").d_loss(real, fake)[0]) == pytest.approx(200.0)
    assert float(get_loss("nonsaturating").g_loss(fake)[0]) == pytest.approx(100.0)


def test_bce_discriminator_optimum_is_density_ratio():
    """For fixed p_data, p_g on two points, the expected D loss is stationary (and, being
    convex in the logit, minimal) at logit log(p/q), i.e. D* = p/(p+q) (Goodfellow et al.,
    Prop. 1), where it equals log 4 - 2·JS(p || q)."""
    p = torch.tensor([0.7, 0.3], dtype=torch.float64)
    q = torch.tensor([0.2, 0.8], dtype=torch.float64)
    loss = get_loss("minimax")

    def expected_loss(logit):
        # A batch mean is an expectation: repeat each point in proportion to its probability.
        real = torch.cat([logit[0].repeat(7), logit[1].repeat(3)])[None]
        fake = torch.cat([logit[0].repeat(2), logit[1].repeat(8)])[None]
        return loss.d_loss(real, fake)[0]

    optimum = (p / q).log().requires_grad_(True)
    value = expected_loss(optimum)
    (grad,) = torch.autograd.grad(value, optimum)
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64), rtol=0, atol=1e-15)
    with torch.no_grad():
        for nudge in ([0.1, 0.0], [0.0, -0.1]):
            assert float(expected_loss(optimum + torch.tensor(nudge))) > float(value.detach())
    m = (p + q) / 2
    js = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    assert float(value.detach()) == pytest.approx(math.log(4) - 2 * float(js), rel=1e-12)


def _g_grad(name: str, logit: float) -> float:
    fake = torch.tensor([[logit]], dtype=torch.float64, requires_grad=True)
    get_loss(name).g_loss(fake).sum().backward()
    return float(fake.grad[0, 0])


def test_minimax_saturates_where_nonsaturating_does_not():
    """At D(G(z)) = sigmoid(-6) ≈ 0.0025 (D rejects the fake confidently), the paper's
    log(1 - D(G(z))) gives the generator almost no gradient; -log D(G(z)) gives ~1."""
    minimax, nonsat = _g_grad("minimax", -6.0), _g_grad("nonsaturating", -6.0)
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l); d/dl -log sigmoid(l) = -(1 - sigmoid(l)).
    assert minimax == pytest.approx(-sigmoid(-6.0), rel=1e-12)
    assert nonsat == pytest.approx(-(1 - sigmoid(-6.0)), rel=1e-12)
    assert abs(minimax) < 0.003 and abs(nonsat) > 0.99
    assert abs(nonsat) / abs(minimax) > 400
    # Both push the logit up (descent direction +), and they agree at D(G(z)) = 1/2.
    assert minimax < 0 and nonsat < 0
    assert _g_grad("minimax", 0.0) == pytest.approx(_g_grad("nonsaturating", 0.0))


def linear_d(weights: torch.Tensor):
    """R linear discriminators x -> x·w_r + 1 on (R, B, dim) inputs."""
    return lambda x: x @ weights[:, :, None] + 1.0


def test_gradient_penalty_on_linear_discriminators():
    """A linear D has gradient w everywhere: the penalty is (||w|| - 1)^2 exactly, 0 for a
    unit-norm (1-Lipschitz) w, (n - 1)^2 for norm n."""
    unit = torch.tensor([0.6, 0.8], dtype=torch.float64)
    norms = torch.tensor([1.0, 3.0, 0.25], dtype=torch.float64)
    weights = norms[:, None] * unit  # (3, 2)
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(3, 64, 2, generator=gen, dtype=torch.float64)
    fake = torch.randn(3, 64, 2, generator=gen, dtype=torch.float64)
    mix = torch.rand(3, 64, 1, generator=gen, dtype=torch.float64)
    gp = gradient_penalty(linear_d(weights), real, fake, mix)
    torch.testing.assert_close(gp, (norms - 1) ** 2, rtol=1e-12, atol=1e-14)
    assert float(gp[0]) == pytest.approx(0.0, abs=1e-14)
    assert float(gp[1]) == pytest.approx(4.0)


def test_gradient_penalty_interpolates_mix_real_plus_rest_fake():
    """With D(x) = ||x||²/2 the gradient is x itself, so the penalty reveals where it was
    taken: x_hat = mix·real + (1 - mix)·fake."""
    real = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]], dtype=torch.float64)
    fake = torch.zeros_like(real)
    mix = torch.tensor([[[0.5], [0.25]]], dtype=torch.float64)
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).sum(-1, keepdim=True), real, fake, mix)
    # ||x_hat|| = 1.5 and 1.0: penalties 0.25 and 0, mean 0.125.
    assert float(gp.detach()[0]) == pytest.approx(0.125, rel=1e-12)


def test_gradient_penalty_is_differentiable_in_d():
    """The penalty must train D (create_graph): its gradient w.r.t. w is 2(||w|| - 1)·w/||w||."""
    w = torch.tensor([[3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    real = torch.ones(1, 8, 2, dtype=torch.float64)
    gp = gradient_penalty(linear_d(w), real, -real, torch.full((1, 8, 1), 0.3).double())
    gp.sum().backward()
    torch.testing.assert_close(w.grad, 2 * (5.0 - 1) * w.detach() / 5.0)


def test_r1_penalty_on_linear_and_quadratic_discriminators():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(2, 100, 2, generator=gen, dtype=torch.float64)
    weights = torch.tensor([[0.6, 0.8], [3.0, -1.0]], dtype=torch.float64)
    # Linear D: grad = w, so E||grad||² = ||w||².
    torch.testing.assert_close(
        r1_penalty(linear_d(weights), real), weights.pow(2).sum(-1), rtol=1e-12, atol=0
    )
    # D(x) = ||x||²/2: grad = x, so the penalty is the mean squared norm of the real points.
    quad = r1_penalty(lambda x: 0.5 * x.pow(2).sum(-1, keepdim=True), real)
    torch.testing.assert_close(quad, real.pow(2).sum(-1).mean(-1), rtol=1e-12, atol=0)


def test_penalties_take_the_norm_over_every_axis_of_an_image():
    """On (R, B, C, H, W) inputs the gradient norm is over C, H and W together (a norm over
    the last axis alone would be per image row). Checked against per-sample gradients taken
    one at a time with torch.func.grad, flattened and normed by hand."""
    gen = torch.Generator().manual_seed(2)
    R, B, shape = 2, 5, (3, 4, 4)
    w = torch.randn(R, *shape, generator=gen, dtype=torch.float64)

    def critic(x: torch.Tensor) -> torch.Tensor:
        # Nonlinear so that the gradient depends on where it is taken: (R, B, C, H, W) -> (R, B, 1)
        return torch.tanh(x * w[:, None]).flatten(2).sum(-1, keepdim=True)

    real = torch.randn(R, B, *shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(R, B, *shape, generator=gen, dtype=torch.float64)
    mix = torch.rand(R, B, 1, 1, 1, generator=gen, dtype=torch.float64)

    def sample_grad(r: int, x: torch.Tensor) -> torch.Tensor:
        """Gradient of replica r's D at one image x (C, H, W), computed alone."""
        return torch.func.grad(lambda v: torch.tanh(v * w[r]).sum())(x)

    expected_gp, expected_r1 = (
        torch.zeros(R, dtype=torch.float64),
        torch.zeros(R, dtype=torch.float64),
    )
    for r in range(R):
        for b in range(B):
            x_hat = mix[r, b] * real[r, b] + (1 - mix[r, b]) * fake[r, b]
            norm_hat = float(sample_grad(r, x_hat).reshape(-1).pow(2).sum().sqrt())
            expected_gp[r] += (norm_hat - 1.0) ** 2 / B
            expected_r1[r] += float(sample_grad(r, real[r, b]).reshape(-1).pow(2).sum()) / B
    gp = gradient_penalty(critic, real, fake, mix)
    r1 = r1_penalty(critic, real)
    torch.testing.assert_close(gp.detach(), expected_gp, rtol=1e-12, atol=0)
    torch.testing.assert_close(r1.detach(), expected_r1, rtol=1e-12, atol=0)


def test_registry_matches_config_and_flags():
    assert set(LOSSES) == set(LossName.__args__)
    assert {n for n, loss in LOSSES.items() if loss.probability} == {"minimax", "nonsaturating"}
    assert [n for n, loss in LOSSES.items() if loss.clip_weights] == ["wasserstein"]
    assert [n for n, loss in LOSSES.items() if loss.gradient_penalty] == ["wgan_gp"]


def test_unknown_loss_lists_known_names():
    with pytest.raises(ValueError, match="unknown loss 'wgan'") as error:
        get_loss("wgan")
    for name in LOSSES:
        assert name in str(error.value)
