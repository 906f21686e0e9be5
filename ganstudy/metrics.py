"""Measurements of a GAN: pure functions, tensors in, per-replica numbers out.

All JS estimates are in nats, in [0, log 2]. See DESIGN.md for the theory:
`js_d` is the discriminator-based lower bound (V(D,G) + log 4)/2, `js_probe` the bound
from a freshly trained classifier, `js_binned` the reference from a histogram against the
target's exact cell masses. Every function takes replica-batched tensors (R, N, ...) and
returns (R,) tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ganstudy.models import BatchedMLP, leaky_relu, make_optimizer
from ganstudy.targets import Binning, Curves, GaussianMixture, Target

LOG2 = math.log(2.0)


def discriminator_outputs(
    real: torch.Tensor, fake: torch.Tensor, probability: bool
) -> dict[str, torch.Tensor]:
    """D's outputs on real and fake points, (R, N) raw outputs each.

    critic_* are the raw outputs (always). d_* are probabilities sigmoid(output) and js_d the
    bound (V(D,G) + log 4)/2, only where the loss makes D's output a logit; NaN otherwise,
    since a critic value is no probability.
    """
    stats = {"critic_real": real.mean(-1), "critic_fake": fake.mean(-1)}
    if probability:
        p_real, p_fake = torch.sigmoid(real), torch.sigmoid(fake)
        stats |= {
            "d_real": p_real.mean(-1),
            "d_fake": p_fake.mean(-1),
            "d_real_std": p_real.std(-1),
            "d_fake_std": p_fake.std(-1),
            "js_d": js_from_logits(real, fake),
        }
    else:
        nan = torch.full_like(stats["critic_real"], math.nan)
        stats |= dict.fromkeys(["d_real", "d_fake", "d_real_std", "d_fake_std", "js_d"], nan)
    return stats


def js_from_logits(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(V(D,G) + log 4)/2 with D = sigmoid(logit), floored at 0.

    A lower bound on JS, tight only for the optimal D. V can fall below -log 4 for a poor D;
    max(0, bound) is still a valid lower bound and keeps the column in [0, log 2].
    """
    value = F.logsigmoid(real).mean(-1) + F.logsigmoid(-fake).mean(-1)  # V(D, G)
    return ((value + 2 * LOG2) / 2).clamp(min=0.0)


def js_from_masses(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS divergence (nats) between discrete distributions along the last axis."""
    m = 0.5 * (p + q)
    # xlogy gives 0·log 0 = 0; where m = 0 both p and q are 0, so the ratio is never 0/0 used.
    m_safe = torch.where(m > 0, m, torch.ones_like(m))
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m_safe)).sum(-1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m_safe)).sum(-1)
    return (0.5 * (kl_pm + kl_qm)).clamp(0.0, LOG2)


def histogram(points: torch.Tensor, binning: Binning) -> torch.Tensor:
    """Normalised histogram (R, n_cells + 1) of points (R, N, dim); the last cell is 'outside'."""
    replicas, n = points.shape[:2]
    cells = binning.n_cells + 1
    index = binning.index(points) + cells * torch.arange(replicas, device=points.device)[:, None]
    counts = torch.bincount(index.flatten(), minlength=replicas * cells)
    return counts.reshape(replicas, cells).to(torch.float64) / n


def js_binned(points: torch.Tensor, binning: Binning, data_masses: torch.Tensor) -> torch.Tensor:
    """JS between the histogram of generated points (R, N, dim) and the exact cell masses."""
    hist = histogram(points, binning)
    return js_from_masses(data_masses.to(hist.device)[None], hist)


def js_probe(
    real_train: torch.Tensor,
    fake_train: torch.Tensor,
    real_test: torch.Tensor,
    fake_test: torch.Tensor,
    steps: int,
    width: int = 32,
    seed: int = 0,
    lr: float = 1e-2,
) -> torch.Tensor:
    """log 2 - held-out cross-entropy of a fresh classifier trained for `steps` full-batch
    Adam steps on real vs fake (balanced classes), floored at 0.

    For any classifier, log 2 - E[CE] <= JS (the same inequality as js_d), so this is a lower
    bound whatever the loss; the fixed width, budget and seed make it comparable across trials.
    Inputs are (R, N, dim); each replica gets its own probe, all trained as one batch.
    """
    replicas, _, dim = real_train.shape
    # Standardise with the real training data so one learning rate fits every target scale.
    mean = real_train.mean(1, keepdim=True)
    std = real_train.std(1, keepdim=True).clamp(min=1e-6)
    x_train = (torch.cat([real_train, fake_train], 1) - mean) / std  # (R, 2N, dim)
    y_train = torch.cat(
        [torch.ones_like(real_train[..., 0]), torch.zeros_like(fake_train[..., 0])], 1
    )
    generators = [torch.Generator().manual_seed(seed) for _ in range(replicas)]
    probe = BatchedMLP([dim, width, width, 1], generators, leaky_relu)
    probe = probe.to(real_train.device, real_train.dtype)
    optimizer = make_optimizer(torch.optim.Adam, probe.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            logits = probe(x_train)[..., 0]
            loss = (
                F.binary_cross_entropy_with_logits(logits, y_train, reduction="none").mean(-1).sum()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        real_out = probe((real_test - mean) / std)[..., 0]
        fake_out = probe((fake_test - mean) / std)[..., 0]
        cross_entropy = 0.5 * (F.softplus(-real_out).mean(-1) + F.softplus(fake_out).mean(-1))
    return (LOG2 - cross_entropy).clamp(min=0.0)


def mode_coverage(
    samples: torch.Tensor, target: Target, quality_sigmas: float = 3.0, min_count: int = 1
) -> dict[str, torch.Tensor]:
    """Mode statistics of samples (R, N, dim), VEEGAN / Unrolled-GAN convention.

    A sample is high quality if it lies within `quality_sigmas` stds of its nearest mode; a
    mode is captured if it holds at least `min_count` high-quality samples. mode_kl is
    KL(histogram of high-quality samples over modes || uniform), NaN when there are none.
    For `curves`, a "mode" is a bin of the fitted a in [1, 2] and quality is the rms
    residual from the family.
    """
    if isinstance(target, Curves):
        a, rms = target.fit(samples)
        edges = torch.linspace(
            target.a_low, target.a_high, target.n_modes + 1, device=a.device, dtype=a.dtype
        )
        which = (torch.bucketize(a, edges, right=True) - 1).clamp(0, target.n_modes - 1)
        good = (rms <= target.quality_rms) & (a >= target.a_low) & (a <= target.a_high)
    else:
        assert isinstance(target, GaussianMixture)
        which, dist = target.nearest_mode(samples)
        good = dist <= quality_sigmas
    n_modes = target.n_modes
    one_hot = F.one_hot(which, n_modes).to(samples.dtype) * good.unsqueeze(-1)  # (R, N, M)
    counts = one_hot.sum(1)  # (R, M)
    n_good = counts.sum(-1)
    freq = counts / n_good.clamp(min=1).unsqueeze(-1)
    kl = (torch.xlogy(freq, freq) + freq * math.log(n_modes)).sum(-1)
    return {
        "modes_captured": (counts >= min_count).sum(-1).to(samples.dtype),
        "high_quality_frac": good.to(samples.dtype).mean(-1),
        "mode_kl": torch.where(n_good > 0, kl, torch.full_like(kl, math.nan)),
    }


def coverage_points(samples: torch.Tensor, target: Target) -> torch.Tensor:
    """The coordinates js_binned histograms: the samples, or the fitted a for curves."""
    if isinstance(target, Curves):
        return target.fit(samples)[0].unsqueeze(-1)
    return samples


# ---------------------------------------------------------------------------------------
# Outcome labels. Every threshold lives here and is documented in the README.
# ---------------------------------------------------------------------------------------
OUTCOMES = ("converged", "mode_collapse", "d_dominates", "oscillating", "diverged")

OUTCOME_THRESHOLDS = {
    # D separates real from fake: probability gap d_real - d_fake at least this ...
    "d_gap": 0.6,
    # ... or (critic losses) a fresh probe classifier separates them this well (nats; log 2 = 0.69).
    "probe_separates": 0.45,
    # Vanishing generator gradient: final grad_norm_g below this fraction of its peak ...
    "g_grad_vanished": 0.1,
    # ... or below this absolute floor (healthy runs measure 0.1-20 on the toys; a saturated
    # minimax G can be at 1e-5 by the first eval, before any peak was seen).
    "g_grad_floor": 1e-3,
    # Oscillating: the JS reference ranges over more than this (nats) in the last third of evals.
    "oscillation_range": 0.1,
    # Converged: the JS reference (js_binned, else js_probe) at most this (nats) at the end.
    "converged_js": 0.3,
}


def classify_outcome(history: Sequence[dict[str, float]], n_modes: int) -> str:
    """One label for one replica's eval history (oldest first), checked in this order:

    1. diverged: non-finite parameters at the last eval (every metric of the row is NaN).
    2. d_dominates: D separates real from fake (d_gap, or probe_separates for critic
       losses) and the generator gradient has vanished (g_grad_vanished of its peak, or
       below g_grad_floor): the
       saturation of the minimax loss that the paper warns about.
    3. mode_collapse: the target has several modes and the generator captures fewer.
    4. oscillating: the JS reference (js_binned, else js_probe) still swings by more than
       oscillation_range over the last third of the evals.
    5. converged: the JS reference is at most converged_js: all modes, stable, close.
    6. d_dominates: otherwise: stable, all modes, but p_g still far from p_data, so an
       (optimal) D tells them apart: the generator is not winning.
    """
    t = OUTCOME_THRESHOLDS
    last = history[-1]
    if not (math.isfinite(last["critic_real"]) and math.isfinite(last["critic_fake"])):
        return "diverged"
    if math.isfinite(last["d_real"]):
        d_separates = last["d_real"] - last["d_fake"] >= t["d_gap"]
    else:
        d_separates = last["js_probe"] >= t["probe_separates"]
    # Step 0 has no gradient yet (NaN), so the peak is over the finite values.
    peak_g = max(
        (row["grad_norm_g"] for row in history if math.isfinite(row["grad_norm_g"])),
        default=math.nan,
    )
    vanished = last["grad_norm_g"] <= max(t["g_grad_vanished"] * peak_g, t["g_grad_floor"])
    if d_separates and vanished:
        return "d_dominates"
    if n_modes > 1 and last["modes_captured"] < n_modes:
        return "mode_collapse"
    reference = "js_binned" if math.isfinite(last["js_binned"]) else "js_probe"
    tail = [row[reference] for row in history[len(history) - max(len(history) // 3, 1) :]]
    if len(tail) >= 3 and max(tail) - min(tail) > t["oscillation_range"]:
        return "oscillating"
    if last[reference] <= t["converged_js"]:
        return "converged"
    return "d_dominates"
