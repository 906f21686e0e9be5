"""The `dirac` family: the Dirac-GAN's players (Mescheder, Geiger & Nowozin 2018, §2.2).

G is one parameter θ per replica: every sample is θ (p_g = δ_θ), whatever the noise. D is
linear without bias, D(x) = ψ·x, one parameter ψ per replica: a logit for the probability
losses, a critic value for the others. Both start at DIRAC_INIT = (θ, ψ) = (1, 1), the
starting point of the paper's Figure 2 (config's `dirac_theta` / `dirac_psi` move it).

The unique equilibrium is (θ, ψ) = (0, 0). The modules expose their parameter as
`scalar()` (R,), which the trainer reports as the `theta` and `psi` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ganstudy.engine.models.base import ModelFamily, ReplicaModule

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.engine.targets import Target


class DiracGenerator(ReplicaModule):
    """(R, B, z_dim) noise -> (R, B, 1), every sample θ_r."""

    def __init__(self, theta: float, replicas: int):
        super().__init__()
        self.theta = nn.Parameter(torch.full((replicas, 1, 1), float(theta), dtype=torch.float64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(z.shape[0], z.shape[1], 1)  # (R, B, 1)

    def scalar(self) -> torch.Tensor:
        """θ per replica, (R,)."""
        return self.theta.detach()[:, 0, 0]


class DiracDiscriminator(ReplicaModule):
    """(R, B, 1) -> (R, B, 1): ψ_r · x."""

    def __init__(self, psi: float, replicas: int):
        super().__init__()
        self.psi = nn.Parameter(torch.full((replicas, 1, 1), float(psi), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.psi * x  # (R, B, 1)

    def scalar(self) -> torch.Tensor:
        """ψ per replica, (R,)."""
        return self.psi.detach()[:, 0, 0]


class DiracFamily(ModelFamily):
    """G = θ, D(x) = ψ·x; no randomness in the init (the init generators are not used)."""

    name = "dirac"

    def generator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> DiracGenerator:
        return DiracGenerator(config.dirac_theta, len(init_generators))

    def discriminator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> DiracDiscriminator:
        return DiracDiscriminator(config.dirac_psi, len(init_generators))

    def flops_per_step(self, config: TrialConfig, target_dim: int) -> float:
        """One multiply per sample per D pass (2B per D step, B for the G step)."""
        b = config.batch_size
        return float(config.replicas * (config.k * 2 * b + config.g_steps * b))
