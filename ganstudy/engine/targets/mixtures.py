"""Gaussian-mixture targets: known density, modes and exact masses of a fine grid.

`bin_masses` gives the exact probability of each cell of the grid, which is what
`js_binned` compares generated histograms against.
"""

from __future__ import annotations

import math

import torch

from ganstudy.engine.targets.base import Binning, Target

# Cells per mode std in the js_binned grid, by dimension: fine enough that binning loses
# little JS, coarse enough that 20k samples fill the cells a well-trained generator covers
# (the plug-in bias of a binned JS is about occupied_cells / (8 * samples)).
CELLS_PER_STD = {1: 20, 2: 2}


class GaussianMixture(Target):
    """Equal-weight mixture of isotropic Gaussians with a shared std."""

    picture = "points"  # how the report draws samples: histogram (1-D) or scatter (2-D)

    def __init__(self, name: str, modes: torch.Tensor, std: float):
        self.name = name
        self.modes = modes.to(torch.float64)  # (n_modes, dim)
        self.std = float(std)
        self.dim = modes.shape[1]

    @property
    def n_modes(self) -> int:
        return self.modes.shape[0]

    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples (n, dim), float64 on the generator's device, and the mode each came from."""
        device = generator.device
        which = torch.randint(self.n_modes, (n,), generator=generator, device=device)
        noise = torch.randn(n, self.dim, generator=generator, device=device, dtype=torch.float64)
        return self.constant("modes", device)[which] + self.std * noise, which

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p_data(x) for x (..., dim)."""
        modes = self.constant("modes", x.device, x.dtype)
        sq = ((x.unsqueeze(-2) - modes) ** 2).sum(-1)  # (..., n_modes)
        log_norm = -0.5 * self.dim * math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(-0.5 * sq / self.std**2, dim=-1) + log_norm - math.log(self.n_modes)

    def binning(self) -> Binning:
        """Grid over the modes' bounding box plus 5 stds, CELLS_PER_STD cells per std."""
        pad = 5 * self.std
        width = self.std / CELLS_PER_STD[self.dim]
        edges = []
        for d in range(self.dim):
            lo = float(self.modes[:, d].min()) - pad
            hi = float(self.modes[:, d].max()) + pad
            cells = math.ceil((hi - lo) / width)
            edges.append(torch.linspace(lo, lo + cells * width, cells + 1, dtype=torch.float64))
        return Binning(tuple(edges))

    def bin_masses(self, binning: Binning) -> torch.Tensor:
        """Exact p_data mass of each cell, then the mass outside the box: (n_cells + 1,)."""
        # Isotropic Gaussians factorise over dimensions, so a cell's mass is a product of
        # 1-D normal CDF differences: exact, no Monte Carlo.
        total = torch.zeros(binning.n_cells, dtype=torch.float64)
        for mode in self.modes:
            mass = torch.ones(1, dtype=torch.float64)
            for d, edges in enumerate(binning.edges):
                cdf = _normal_cdf((edges - mode[d]) / self.std)
                mass = (mass.unsqueeze(-1) * (cdf[1:] - cdf[:-1])).flatten()
            total += mass / self.n_modes
        outside = (1.0 - total.sum()).clamp(min=0.0)
        return torch.cat([total, outside.reshape(1)])

    def nearest_mode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(index of nearest mode, distance to it in units of std) for x (..., dim)."""
        modes = self.constant("modes", x.device, x.dtype)
        dist = torch.cdist(x.reshape(-1, self.dim), modes)  # (N, n_modes)
        d_min, idx = dist.min(-1)
        shape = x.shape[:-1]
        return idx.reshape(shape), (d_min / self.std).reshape(shape)

    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest mode; high quality within `quality_sigmas` stds of it (VEEGAN)."""
        which, dist = self.nearest_mode(samples)
        return which, dist <= quality_sigmas


def gaussian1d(scale: float | None = None, std: float | None = None) -> GaussianMixture:
    """One Gaussian, the setting of the paper's Figure 1: mean 4, std 1.25 by default
    (the widely copied "GAN in 50 lines" toy), so G must move its mass away from 0."""
    return GaussianMixture(
        "gaussian1d", torch.tensor([[scale or 4.0]], dtype=torch.float64), std or 1.25
    )


def mixture1d(scale: float | None = None, std: float | None = None) -> GaussianMixture:
    """Three 1-D modes at −s, 0, s (s = 3 by default) with std 0.4: separated by > 7 stds."""
    s = scale or 3.0
    return GaussianMixture(
        "mixture1d", torch.tensor([[-s], [0.0], [s]], dtype=torch.float64), std or 0.4
    )


def ring8(scale: float | None = None, std: float | None = None) -> GaussianMixture:
    """8 Gaussians on a circle of radius 2, std 0.02: the 2-D ring of Unrolled GAN
    (Metz et al. 2017) and VEEGAN (Srivastava et al. 2017)."""
    radius = scale or 2.0
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    modes = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture("ring8", modes, std or 0.02)


def grid25(scale: float | None = None, std: float | None = None) -> GaussianMixture:
    """5×5 Gaussians at (−4 + 2i, −4 + 2j) (spacing 2), std 0.05: the 2-D grid of VEEGAN and
    PacGAN (Lin et al. 2018, which uses std 0.05)."""
    spacing = scale or 2.0
    axis = (torch.arange(5, dtype=torch.float64) - 2) * spacing
    modes = torch.cartesian_prod(axis, axis)
    return GaussianMixture("grid25", modes, std or 0.05)


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
