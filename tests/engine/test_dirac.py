"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018) against its theory.

p_data = δ₀, G = θ (p_g = δ_θ), D(x) = ψ·x; plain SGD with step h for both players. With
the minimax loss, D's loss is log 2 + softplus(ψθ) (+ γ/2·ψ² with R1 of weight γ: ∇ₓD = ψ)
and G's is −softplus(ψθ), so one step is

    ψ ← ψ − h (θ σ(ψθ) + γ ψ),    θ ← θ + h ψ σ(ψθ).

Around the equilibrium (0, 0), σ = 1/2 and the gradient field is linear with Jacobian
A = [[0, 1/2], [−1/2, −γ]], eigenvalues λ = (−γ ± sqrt(γ² − 1)) / 2: purely imaginary
without R1 (no convergence: a rotation), real part −γ/2 (γ ≤ 1) or (−γ + sqrt(γ² − 1))/2
(γ > 1) with it. The discrete steps are the maps M_sim = I + hA (simultaneous: spectral
radius sqrt(1 + h²/4) > 1 without R1, so the distance grows) and M_alt = G-step · D-step
(alternating: determinant 1 without R1, eigenvalues on the unit circle, the distance stays
about constant). Each test below derives these numbers and compares the trainer's run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganstudy.columns import BY_NAME, why_nan
from ganstudy.config import ConfigError, TrialConfig
from ganstudy.engine.trainer import Trainer

H = 0.1  # SGD step of both players


def dirac(**changes) -> TrialConfig:
    base = dict(
        target="dirac",
        model="dirac",
        loss="minimax",
        optimizer="sgd",
        momentum=0.0,
        lr_d=H,
        lr_g=H,
        batch_size=1,  # every sample is the same number: one is the whole batch
        eval_batch=128,
        eval_samples=256,
        coverage_samples=256,
        device="cpu",
        dtype="float64",
        steps=10_000,
    )
    return TrialConfig(**(base | changes))


def trajectory(config: TrialConfig, steps: int) -> np.ndarray:
    """(θ, ψ) after each of `steps` iterations, (steps, 2)."""
    t = Trainer(config)
    points = []
    for _ in range(steps):
        t.train(1)
        points.append(torch.stack([t.generator.scalar()[0], t.discriminator.scalar()[0]]))
    return torch.stack(points).numpy()


def distance(points: np.ndarray) -> np.ndarray:
    return np.hypot(points[:, 0], points[:, 1])


def jacobian(gamma: float) -> np.ndarray:
    """The gradient field's Jacobian at (0, 0) in (θ, ψ), per unit of step."""
    return np.array([[0.0, 0.5], [-0.5, -gamma]])


def step_map(updates: str, gamma: float, h: float = H) -> np.ndarray:
    """The linearised map of one iteration: simultaneous I + hA; alternating D then G."""
    if updates == "simultaneous":
        return np.eye(2) + h * jacobian(gamma)
    d_step = np.array([[1.0, 0.0], [-h / 2, 1 - h * gamma]])  # ψ moves, θ stays
    g_step = np.array([[1.0, h / 2], [0.0, 1.0]])  # θ moves with the new ψ
    return g_step @ d_step


def fitted_rate(d: np.ndarray, lo: float, hi: float) -> float:
    """Least-squares slope of log distance per step where lo < distance < hi."""
    steps = np.nonzero((d > lo) & (d < hi))[0]
    assert len(steps) > 100, "too few steps in the window to fit a rate"
    return float(np.polyfit(steps, np.log(d[steps]), 1)[0])


# ------------------------------------------------------------------- no regulariser
def test_minimax_alternating_gradient_steps_circle_at_constant_distance():
    radius = np.abs(np.linalg.eigvals(step_map("alternating", 0.0)))
    assert np.allclose(radius, 1.0)  # the theory: neither in nor out
    d = distance(trajectory(dirac(updates="alternating"), 1000))
    assert d.max() / d.min() < 1.05  # about 8 turns around (0, 0) at ~1.4
    assert abs(d[-1] - math.sqrt(2)) < 0.05


def test_minimax_simultaneous_gradient_steps_spiral_out_at_the_predicted_rate():
    rho = max(np.abs(np.linalg.eigvals(step_map("simultaneous", 0.0))))
    assert rho == pytest.approx(math.sqrt(1 + H**2 / 4))
    far = distance(trajectory(dirac(updates="simultaneous"), 1000))
    assert far[-1] > 1.5 * far[0] and np.all(np.diff(far) > 0)  # grows, every step
    # Near the equilibrium the linearisation holds: the fitted growth rate is log ρ.
    near = distance(
        trajectory(dirac(updates="simultaneous", dirac_theta=0.01, dirac_psi=0.01), 500)
    )
    assert fitted_rate(near, 0.0, 1.0) == pytest.approx(math.log(rho), rel=0.03)


# ---------------------------------------------------------------------------- R1
@pytest.mark.parametrize("updates", ["alternating", "simultaneous"])
@pytest.mark.parametrize("gamma", [0.5, 2.0])  # complex and real eigenvalues
def test_r1_converges_exponentially_at_the_linearised_rate(updates, gamma):
    eig = np.linalg.eigvals(jacobian(gamma))
    continuous = H * max(eig.real)  # gradient flow's rate per step of time h
    expected = -gamma / 2 if gamma <= 1 else (-gamma + math.sqrt(gamma**2 - 1)) / 2
    assert max(eig.real) == pytest.approx(expected)
    discrete = math.log(max(np.abs(np.linalg.eigvals(step_map(updates, gamma)))))
    d = distance(trajectory(dirac(updates=updates, r1=gamma), 600 if gamma < 1 else 1200))
    rate = fitted_rate(d, 1e-13, 1e-3)  # linear regime, above float64's floor
    assert rate == pytest.approx(discrete, rel=0.02)  # the discrete map's exact rate
    assert rate == pytest.approx(continuous, rel=0.1)  # and the flow's, to O(h)


# ------------------------------------------------------------------------- WGAN
def test_wgan_with_clipping_does_not_converge():
    """ψ is clipped to ±c; θ drifts to 0 at h·c per step, then the pair circles there with
    a distance of about c, for ever: no convergence (the paper's Figure 3)."""
    clip = 0.1
    d = distance(trajectory(dirac(loss="wasserstein", clip=clip), 1000))
    late = d[-500:]
    assert late.min() > 0.9 * clip and late.max() < 1.1 * clip
    assert abs(late[:250].mean() - late[250:].mean()) < 0.01 * clip  # not shrinking


# --------------------------------------------------------------------- nonsaturating
def test_nonsaturating_creeps_inward_slower_than_any_exponential():
    """Same linearisation as minimax (no exponential convergence), but its higher-order
    terms pull inward: what the tool measures (README) is a distance that keeps falling
    while its log-rate of fall keeps shrinking, roughly as a power of the step."""
    d = distance(trajectory(dirac(loss="nonsaturating"), 2000))
    early = fitted_rate(d[250:500], 0.0, 10.0)
    late = fitted_rate(d[1000:2000], 0.0, 10.0)
    assert early < late < 0  # falls, ever more slowly
    assert late / early < 0.5
    exponent = np.polyfit(np.log(np.arange(500, 2000)), np.log(d[500:2000]), 1)[0]
    assert -1.0 < exponent < -0.2  # a power law, not an exponential
    assert 0.1 < d[-1] < 0.5


# ----------------------------------------------------------------- columns, config
def test_eval_columns_report_theta_psi_and_the_distance():
    t = Trainer(dirac(steps=20, eval_every=10, dirac_theta=0.6, dirac_psi=-0.8))
    rows = [e.rows[0] for e in t.run()]
    assert (rows[0]["theta"], rows[0]["psi"]) == (0.6, -0.8)
    assert rows[0]["dirac_distance"] == pytest.approx(1.0)
    assert rows[-1]["theta"] == float(t.generator.scalar()[0])
    assert rows[0]["modes_captured"] == 0 and rows[0]["js_binned"] == pytest.approx(math.log(2))
    # Other models have no single parameter: NaN, with the reason the report gives.
    ring = Trainer(TrialConfig(target="ring8", g_width=8, d_width=8, eval_batch=128, steps=1))
    row = ring.evaluate().rows[0]
    assert all(math.isnan(row[name]) for name in ("theta", "psi", "dirac_distance"))
    assert BY_NAME["theta"].needs_dirac and "dirac" in why_nan("psi")


def test_equilibrium_is_measured_as_converged():
    t = Trainer(dirac(steps=1, r1=1.0, dirac_theta=0.0, dirac_psi=0.0))
    row = t.evaluate().rows[0]
    assert row["dirac_distance"] == 0.0 and row["js_binned"] == 0.0
    assert row["modes_captured"] == 1 and row["high_quality_frac"] == 1.0


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        (dict(target="ring8"), "model"),
        (dict(pack=2), "pack"),
        (dict(d_spectral_norm=True), "d_spectral_norm"),
        (dict(g_activation="tanh"), "g_activation"),
        (dict(target_scale=2.0), "target_scale"),
    ],
)
def test_config_refuses_what_does_not_apply_to_the_dirac_gan(changes, key):
    with pytest.raises(ConfigError) as info:
        dirac(**changes)
    assert info.value.key == key


def test_trial_command_prints_the_trajectory(capsys):
    from ganstudy.cli import main

    settings = ["target=dirac", "model=dirac", "r1=1", "optimizer=sgd", "momentum=0"]
    settings += ["steps=4", "eval_every=2", "eval_batch=128", "eval_samples=64", "device=cpu"]
    assert main(["trial", "--set", *settings, "updates=simultaneous", "unroll=1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "updates=simultaneous unroll=1" in lines[0] and "dirac theta=1 psi=1" in lines[0]
    assert lines[1].split()[2:5] == ["theta", "psi", "dirac_distance"]
    assert lines[2].split()[2:5] == ["1", "1", "1.414"]
