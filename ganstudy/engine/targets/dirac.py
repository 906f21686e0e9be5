"""The Dirac-GAN's data (Mescheder, Geiger & Nowozin 2018, "Which training methods for
GANs do actually converge?"): p_data = δ₀, a point mass at 0 on the line.

With model `dirac` (G is one parameter θ, p_g = δ_θ; D(x) = ψ·x) the game's dynamics are
known in closed form; the trainer's `theta`, `psi` and `dirac_distance` columns follow
them. What the other metrics mean here:

- js_binned: the binned JS between δ₀ and the generated histogram. Cells are BIN_WIDTH
  wide with 0 at a cell's centre, so it is 0 once every fake lies within BIN_WIDTH / 2 of
  0 and log 2 when none does: an on/off reading of |θ| < BIN_WIDTH / 2, not a distance.
- modes_captured / high_quality_frac / mode_kl: one mode; a sample is high quality within
  quality_sigmas · TOLERANCE of 0 (a point mass has no std to scale by).
- js_d, d_real, d_fake, js_probe: as for any target (D(0) = 0 always: D(x) = sigmoid(0)
  on the data is 1/2 whatever ψ).
"""

from __future__ import annotations

import math

import torch

from ganstudy.engine.targets.base import Binning, Target

BIN_WIDTH = 0.05  # js_binned cell width around 0
HALF_RANGE = 5.0  # the binned box is [-5, 5]; fakes beyond it fall in the "outside" cell
TOLERANCE = 0.01  # high quality within quality_sigmas · TOLERANCE of 0


class Dirac(Target):
    """δ₀ on the real line: every sample is exactly 0."""

    picture = "points"

    def __init__(self) -> None:
        self.name = "dirac"
        self.dim = 1
        self.modes = torch.zeros(1, 1, dtype=torch.float64)  # (1, 1): the one point
        # A point mass has no spread: TOLERANCE is the radius a sample counts as on it
        # (assign_modes), and what the report draws as the mode's extent.
        self.std = TOLERANCE

    @property
    def n_modes(self) -> int:
        return 1

    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n zeros (n, 1) float64 and their mode 0; the generator is not advanced (δ₀ needs
        no randomness)."""
        device = generator.device
        zeros = torch.zeros(n, 1, dtype=torch.float64, device=device)
        return zeros, torch.zeros(n, dtype=torch.long, device=device)

    def binning(self) -> Binning:
        """Cells of BIN_WIDTH over [-HALF_RANGE, HALF_RANGE], 0 at the centre of one."""
        cells = 2 * math.ceil(HALF_RANGE / BIN_WIDTH) + 1  # odd: a middle cell around 0
        lo = -cells * BIN_WIDTH / 2
        edges = lo + BIN_WIDTH * torch.arange(cells + 1, dtype=torch.float64)
        return Binning((edges,))

    def bin_masses(self, binning: Binning) -> torch.Tensor:
        """All mass in the cell holding 0, none outside: (n_cells + 1,)."""
        masses = torch.zeros(binning.n_cells + 1, dtype=torch.float64)
        masses[binning.index(torch.zeros(1, 1, dtype=torch.float64))] = 1.0
        return masses

    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mode 0 for every sample; high quality within quality_sigmas · std (TOLERANCE) of 0."""
        distance = samples.abs().amax(-1)  # (...,)
        which = torch.zeros(distance.shape, dtype=torch.long, device=samples.device)
        return which, distance <= quality_sigmas * TOLERANCE


def dirac(scale: float | None = None, std: float | None = None) -> Dirac:
    """δ₀ (config refuses target_scale and target_std for it: the point is fixed at 0)."""
    return Dirac()
