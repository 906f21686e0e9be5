"""GAN loss formulations, registered by the names users write in YAML.

A loss is a pair of pure functions of D's raw outputs, (R, B) tensors, returning one loss
per replica (R,): `d_loss(real, fake)` for the discriminator, `g_loss(fake)` for the
generator. Adding a loss is one line in columns.LOSSES (its name, whether D outputs a
probability, whether it clips D's weights or adds a gradient penalty), one pair of
functions and one entry in _FUNCTIONS. Penalties that need D itself (gradient penalty, R1)
live in `gradient_penalty` / `r1_penalty`, switched on by the flags of the `Loss` record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganstudy.columns import LOSS_NAMES
from ganstudy.columns import LOSSES as LOSS_INFO

DLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GLoss = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    name: str
    d_loss: DLoss
    g_loss: GLoss
    probability: bool  # D's output is a logit of P(real): D(x) = sigmoid(output)
    clip_weights: bool = False  # clip D's weights to [-clip, clip] after each D step
    gradient_penalty: bool = False  # add gp_weight * (||grad D(x_hat)|| - 1)^2


# -log D(x) = softplus(-logit), -log(1 - D(x)) = softplus(logit): stable for any logit.
def bce_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-[E log D(x) + E log(1 - D(G(z)))]: minus the value function V(D, G)."""
    return F.softplus(-real).mean(-1) + F.softplus(fake).mean(-1)


def minimax_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """E log(1 - D(G(z))), the paper's saturating generator objective (minimised)."""
    return -F.softplus(fake).mean(-1)


def nonsaturating_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """-E log D(G(z)): the paper's practical fix, strong gradients when D rejects fakes."""
    return F.softplus(-fake).mean(-1)


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean(-1) - real.mean(-1)


def wasserstein_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean(-1)


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean(-1) + F.relu(1.0 + fake).mean(-1)


def least_squares_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN with targets a=0 (fake), b=1 (real) (Mao et al. 2017)."""
    return 0.5 * (real - 1.0).pow(2).mean(-1) + 0.5 * fake.pow(2).mean(-1)


def least_squares_g_loss(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean(-1)


# The functions of each loss named in columns.LOSSES (where its name and flags are
# declared): (d_loss, g_loss).
_FUNCTIONS: dict[str, tuple[DLoss, GLoss]] = {
    "minimax": (bce_d_loss, minimax_g_loss),
    "nonsaturating": (bce_d_loss, nonsaturating_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
    "wgan_gp": (wasserstein_d_loss, wasserstein_g_loss),
    "hinge": (hinge_d_loss, wasserstein_g_loss),
    "least_squares": (least_squares_d_loss, least_squares_g_loss),
}
if set(_FUNCTIONS) != set(LOSS_NAMES):  # a loss declared without functions, or the reverse
    raise ImportError(f"losses.py and columns.LOSSES disagree: {sorted(_FUNCTIONS)}")

LOSSES: dict[str, Loss] = {
    info.name: Loss(
        info.name,
        *_FUNCTIONS[info.name],
        probability=info.probability,
        clip_weights=info.clip_weights,
        gradient_penalty=info.gradient_penalty,
    )
    for info in LOSS_INFO
}


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    return LOSSES[name]


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mix: torch.Tensor,
) -> torch.Tensor:
    """WGAN-GP: E (||grad_x D(x_hat)|| - 1)^2 at x_hat = mix*real + (1-mix)*fake, per replica.

    real, fake: (R, B, ...) (a vector or an image per sample); mix: (R, B, 1, ...) uniform
    in [0, 1], one weight per sample. The norm is over every axis of a sample.
    """
    x_hat = (mix * real + (1.0 - mix) * fake).requires_grad_(True)
    out = discriminator(x_hat)  # (R, B, 1)
    # Each sample's output depends only on its own input, so the gradient of the sum
    # gives every per-sample gradient at once.
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)  # (R, B, ...)
    return (grad.flatten(2).norm(dim=-1) - 1.0).pow(2).mean(-1)


def r1_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on real data (R, B, ...), per replica,
    the norm over every axis of a sample. The caller applies the weight r1/2."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)
    return grad.flatten(2).pow(2).sum(-1).mean(-1)
