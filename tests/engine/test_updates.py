"""updates.py: the schedules' semantics, PacGAN's packing and the Unrolled GAN's look-ahead,
each against an independent computation; the defaults are today's Algorithm 1 exactly."""

from __future__ import annotations

import copy

import pytest
import torch
from helpers import TINY_MLP

from ganstudy.config import TrialConfig
from ganstudy.engine import updates
from ganstudy.engine.losses import get_loss, gradient_penalty, r1_penalty
from ganstudy.engine.trainer import Trainer

TINY = TINY_MLP | dict(
    g_width=8, d_width=8, batch_size=16, eval_samples=1000, coverage_samples=200, steps=40
)


def tiny(**changes) -> TrialConfig:
    return TrialConfig(**(TINY | changes))


def params(t: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in [*t.generator.parameters(), *t.discriminator.parameters()]]


def algorithm1_iteration(t: Trainer, batch: dict[str, torch.Tensor]) -> None:
    """The trainer's iteration before schedules and remedies existed (k D steps, one G
    step), verbatim: the reference that the defaults must equal bit for bit."""
    c, D, G, B = t.config, t.discriminator, t.generator, t.config.batch_size
    for j in range(c.k):
        real = batch["real"][j]
        with torch.no_grad():
            fake = G(batch["z_d"][j])
        out = D(torch.cat([real, fake], dim=1))[..., 0]
        objective = get_loss(t.config.loss).d_loss(out[:, :B], out[:, B:])
        if get_loss(t.config.loss).gradient_penalty:
            objective = objective + c.gp_weight * gradient_penalty(D, real, fake, batch["mix"][j])
        if c.r1 > 0:
            objective = objective + 0.5 * c.r1 * r1_penalty(D, real)
        t.opt_d.zero_grad(set_to_none=True)
        objective.sum().backward()
        t.opt_d.step()
        if get_loss(t.config.loss).clip_weights:
            D.clamp_(c.clip)
    with updates.frozen(D):
        loss_g = get_loss(t.config.loss).g_loss(D(G(batch["z_g"][0]))[..., 0])
        t.opt_g.zero_grad(set_to_none=True)
        loss_g.sum().backward()
    t.opt_g.step()


@pytest.mark.parametrize(
    "extra",
    [dict(), dict(k=2, loss="wgan_gp", d_spectral_norm=True), dict(loss="wasserstein", r1=1.0)],
)
def test_defaults_are_todays_algorithm_1_bit_for_bit(extra):
    """pack 1, unroll 0, g_steps 1, alternating: exactly the old loop."""
    config = tiny(**extra, replicas=2)
    ours, ref = Trainer(config), Trainer(config)
    ours.train(20)
    for step in range(20):
        algorithm1_iteration(ref, ref.streams.draw(step))
    for a, b in zip(params(ours), params(ref), strict=True):
        assert torch.equal(a, b)


def test_simultaneous_takes_both_gradients_at_the_same_parameters():
    """SGD without momentum: D moves by -lr·∇D and G by -lr·∇G, both gradients taken at
    the iteration's starting parameters (computed here by hand); alternating differs."""
    config = tiny(optimizer="sgd", momentum=0.0, lr_d=0.1, lr_g=0.1, dtype="float64")
    t = Trainer(config.replace(updates="simultaneous"))
    t.train(3)
    G0, D0 = copy.deepcopy(t.generator), copy.deepcopy(t.discriminator)
    batch = t.streams.draw(3)
    t.train(1)
    real, B = batch["real"][0], config.batch_size
    out = D0(torch.cat([real, G0(batch["z_d"][0]).detach()], 1))[..., 0]
    grad_d = torch.autograd.grad(
        get_loss(t.config.loss).d_loss(out[:, :B], out[:, B:]).sum(), D0.parameters()
    )
    grad_g = torch.autograd.grad(
        get_loss(t.config.loss).g_loss(D0(G0(batch["z_g"][0]))[..., 0]).sum(), G0.parameters()
    )
    for module, start, grads in ((t.discriminator, D0, grad_d), (t.generator, G0, grad_g)):
        for p, p0, g in zip(module.parameters(), start.parameters(), grads, strict=True):
            torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * g, rtol=0, atol=1e-14)

    alternating = Trainer(config)
    alternating.train(4)
    assert not torch.equal(params(alternating)[0], params(t)[0])


def test_each_g_step_draws_fresh_noise():
    t = Trainer(tiny(g_steps=3))
    z = t.streams.draw(0)["z_g"]  # (g_steps, R, B, z)
    assert z.shape == (3, 1, 16, 4)
    assert not torch.equal(z[0], z[1]) and not torch.equal(z[1], z[2])


# ----------------------------------------------------------------------------- PacGAN
def test_pack_concatenates_runs_of_m_samples():
    x = torch.arange(2 * 6 * 3, dtype=torch.float64).reshape(2, 6, 3)  # (R, B, dim)
    packed = updates.pack(x, 3)  # (R, 2, 9)
    assert packed.shape == (2, 2, 9)
    assert torch.equal(packed[1, 1], torch.cat([x[1, 3], x[1, 4], x[1, 5]]))
    images = torch.randn(2, 4, 1, 8, 8)  # (R, B, C, H, W)
    stacked = updates.pack(images, 2)  # (R, 2, 2, 8, 8): channels of the pack
    assert torch.equal(stacked[0, 1, 1], images[0, 3, 0])
    assert updates.pack(x, 1).data_ptr() == x.data_ptr()  # m = 1: the very tensor


def packed_iteration(t: Trainer, batch: dict[str, torch.Tensor], m: int) -> None:
    """PacGAN's iteration written out (updates.py's docstring): D's k steps on B // m packs
    of real and of fake samples, G's step on the packs of its own B fakes."""
    c, D, G = t.config, t.discriminator, t.generator
    for j in range(c.k):
        real = updates.pack(batch["real"][j], m)
        with torch.no_grad():
            fake = updates.pack(G(batch["z_d"][j]), m)
        out = D(torch.cat([real, fake], dim=1))[..., 0]
        packs = real.shape[1]
        t.opt_d.zero_grad(set_to_none=True)
        get_loss(c.loss).d_loss(out[:, :packs], out[:, packs:]).sum().backward()
        t.opt_d.step()
    with updates.frozen(D):
        loss_g = get_loss(c.loss).g_loss(D(updates.pack(G(batch["z_g"][0]), m))[..., 0])
    t.opt_g.zero_grad(set_to_none=True)
    loss_g.sum().backward()
    t.opt_g.step()


@pytest.mark.parametrize("m", [4, 3])  # 3: 16 = 5 packs of 3, one sample sits out
def test_pack_trains_d_on_packs_of_m_samples(m):
    config = tiny(pack=m, k=2, dtype="float64")
    ours, ref = Trainer(config), Trainer(config)
    assert ours.discriminator.weights[0].shape == (1, m * 2, 8)  # m points of 2 features
    ours.train(5)
    for step in range(5):
        packed_iteration(ref, ref.streams.draw(step), m)
    for a, b in zip(params(ours), params(ref), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert updates.pack(torch.zeros(1, 16, 2), 3).shape == (1, 5, 6)


def test_pack_is_checked_against_the_batch():
    with pytest.raises(ValueError, match="pack"):
        tiny(pack=32)  # more than batch_size 16


# ---------------------------------------------------------------------- Unrolled GAN
def look_ahead(t: Trainer, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """D's parameters after `unroll` updates taken by a copy of the real optimizer."""
    c = t.config
    D = copy.deepcopy(t.discriminator)
    opt = t._optimizer(D, "lr_d")
    opt.load_state_dict(copy.deepcopy(t.opt_d.state_dict()))
    with torch.no_grad():
        fake = updates.pack(t.generator(batch["z_g"][0]), c.pack)
    real, mix = updates._d_batch(t.players, batch, c.k - 1)
    for _ in range(c.unroll):
        _, objective = updates.d_objective(t.players, D, real, fake, mix)
        opt.zero_grad()
        objective.sum().backward()
        opt.step()
        if get_loss(t.config.loss).clip_weights:
            D.clamp_(c.clip)
    return dict(D.named_parameters())


@pytest.mark.parametrize(
    "extra",
    [
        dict(optimizer="adam"),
        dict(optimizer="sgd", momentum=0.9, lr_d=0.05),
        dict(optimizer="adam", loss="wgan_gp", pack=2),
        dict(optimizer="sgd", momentum=0.5, loss="wasserstein", clip=0.1),
    ],
)
def test_unrolled_parameters_equal_the_optimizers_own_steps(extra):
    t = Trainer(tiny(**extra, unroll=3, dtype="float64"))
    t.train(5)  # optimizer state exists
    batch = t.streams.draw(5)
    with torch.no_grad():
        fake = updates.pack(t.generator(batch["z_g"][0]), t.config.pack)
    real, mix = updates._d_batch(t.players, batch, t.config.k - 1)
    ours, _ = updates.unrolled_parameters(t.players, real, fake, mix)
    theirs = look_ahead(t, batch)
    for name, value in theirs.items():
        torch.testing.assert_close(ours[name], value.detach(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_unrolled_generator_gradient_matches_finite_differences(optimizer):
    """G's gradient flows through the unrolled updates: d loss_g / d θ_G by central
    differences of the same look-ahead (float64) equals the trainer's G gradient."""
    t = Trainer(tiny(unroll=2, optimizer=optimizer, dtype="float64", lr_d=0.05))
    t.train(3)
    batch = t.streams.draw(3)
    updates.g_gradient(t.players, batch, 0)
    w = t.generator.weights[1]
    analytic = w.grad.clone()

    def loss() -> float:
        real, mix = updates._d_batch(t.players, batch, t.config.k - 1)
        # The look-ahead depends on G through the fakes: recompute it with G's current w.
        with torch.enable_grad():
            fake = t.generator(batch["z_g"][0])
            critic = updates.unrolled(t.players, real, fake, mix)
            return float(get_loss(t.config.loss).g_loss(critic(fake)[..., 0]).sum().detach())

    eps = 1e-6
    for index in [(0, 0, 0), (0, 3, 5), (0, 7, 2)]:
        with torch.no_grad():
            w[index] += eps
        up = loss()
        with torch.no_grad():
            w[index] -= 2 * eps
        down = loss()
        with torch.no_grad():
            w[index] += eps
        assert analytic[index].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5)
    # Without the look-ahead the gradient is another one: unrolling changed G's step.
    plain = Trainer(tiny(unroll=0, optimizer=optimizer, dtype="float64", lr_d=0.05))
    plain.load_state_dict(t.state_dict())
    updates.g_gradient(plain.players, batch, 0)
    assert not torch.allclose(plain.generator.weights[1].grad, analytic)


def test_unroll_leaves_d_and_its_optimizer_untouched():
    t = Trainer(tiny(unroll=4, d_spectral_norm=True))
    t.train(3)
    before = copy.deepcopy(t.discriminator.state_dict())
    moments = copy.deepcopy(t.opt_d.state_dict())
    updates.g_gradient(t.players, t.streams.draw(3), 0)
    for name, value in t.discriminator.state_dict().items():
        if not name.startswith("sn_u"):  # the G step's own D forward advances u, as always
            assert torch.equal(value, before[name]), name
    for key, state in t.opt_d.state_dict()["state"].items():
        for name, value in state.items():
            assert torch.equal(value, moments["state"][key][name])


def test_reported_losses_average_over_every_d_and_g_step():
    """loss_d is the mean over the window's k·steps D steps, loss_g over its g_steps·steps
    G steps (computed here from the iteration's own sums on a copy of the trainer)."""
    t = Trainer(tiny(k=2, g_steps=3, eval_every=1, dtype="float64"))
    twin = copy.deepcopy(t)
    stats = twin.alternating_iteration(twin.streams.draw(0), False)
    t.train(1)
    row = t.evaluate().rows[0]
    assert row["loss_d"] == pytest.approx(float(stats.loss_d[0]) / 2, rel=1e-12)
    assert row["loss_g"] == pytest.approx(float(stats.loss_g[0]) / 3, rel=1e-12)
