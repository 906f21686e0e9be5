"""Target distributions: seeded sampling, known densities, modes and exact bin masses.

Every target samples with an explicit `torch.Generator`, so the same seed gives the same
data. Targets whose density is known also give the exact probability of each cell of a
fine grid (`bin_masses`), which is what `js_binned` compares generated histograms against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Cells per mode std in the js_binned grid, by dimension: fine enough that binning loses
# little JS, coarse enough that 20k samples fill the cells a well-trained generator covers
# (the plug-in bias of a binned JS is about occupied_cells / (8 * samples)).
CELLS_PER_STD = {1: 20, 2: 2}


@dataclass(frozen=True)
class Binning:
    """A regular grid over a box: `edges[d]` are the cell edges along dimension d."""

    edges: tuple[torch.Tensor, ...]

    def index(self, points: torch.Tensor) -> torch.Tensor:
        """Flat cell index of each point (..., dim); points outside the box get `n_cells`."""
        flat = torch.zeros(points.shape[:-1], dtype=torch.long, device=points.device)
        inside = torch.ones(points.shape[:-1], dtype=torch.bool, device=points.device)
        for d, edges in enumerate(self.edges):
            edges = edges.to(points.device, points.dtype)
            coord = points[..., d].contiguous()
            cell = (
                torch.bucketize(coord, edges, right=True) - 1
            )  # cell i: edges[i] <= x < edges[i+1]
            inside &= (cell >= 0) & (cell < len(edges) - 1)
            flat = flat * (len(edges) - 1) + cell.clamp(0, len(edges) - 2)
        return torch.where(inside, flat, self.n_cells)

    @property
    def n_cells(self) -> int:
        return math.prod(len(e) - 1 for e in self.edges)


class GaussianMixture:
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

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples (n, dim), float64 on the generator's device."""
        device = generator.device
        which = torch.randint(self.n_modes, (n,), generator=generator, device=device)
        noise = torch.randn(n, self.dim, generator=generator, device=device, dtype=torch.float64)
        return self.modes.to(device)[which] + self.std * noise

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p_data(x) for x (..., dim)."""
        modes = self.modes.to(x.device, x.dtype)
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
        modes = self.modes.to(x.device, x.dtype)
        dist = torch.cdist(x.reshape(-1, self.dim), modes)  # (N, n_modes)
        d_min, idx = dist.min(-1)
        shape = x.shape[:-1]
        return idx.reshape(shape), (d_min / self.std).reshape(shape)


class Curves:
    """The quadratic-curve family of the classic toy demo: y = a·x² + (a − 1), a ~ U(1, 2).

    Each sample is the curve evaluated on `points` fixed x in [−1, 1]. Its density lives on
    a line in R^points, so there is no log_prob; instead every curve maps to its
    least-squares `a`, and quality, coverage and js_binned are measured over `a`.
    """

    name = "curves"
    picture = "curves"  # the report draws samples as curves over the x abscissae
    a_low, a_high = 1.0, 2.0
    n_a_bins = 10  # coverage "modes": equal-width bins of a in [1, 2]
    js_a_bins = 50  # finer bins of a for js_binned
    quality_rms = 0.05  # a curve is high quality if its rms residual from the family is below

    def __init__(self, points: int = 15):
        self.x = torch.linspace(-1.0, 1.0, points, dtype=torch.float64)
        self.basis = self.x**2 + 1.0  # y + 1 = a * (x² + 1)
        self.dim = points
        self.modes = None
        self.std = None

    @property
    def n_modes(self) -> int:
        return self.n_a_bins

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        a = self.a_low + (self.a_high - self.a_low) * torch.rand(
            n, 1, generator=generator, device=device, dtype=torch.float64
        )
        return a * self.basis.to(device) - 1.0

    def fit(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Least-squares a of each curve (..., points) and its rms residual."""
        basis = self.basis.to(y.device, y.dtype)
        a = ((y + 1.0) * basis).sum(-1) / (basis**2).sum()
        residual = (y + 1.0) - a.unsqueeze(-1) * basis
        return a, residual.pow(2).mean(-1).sqrt()

    def binning(self) -> Binning:
        return Binning(
            (torch.linspace(self.a_low, self.a_high, self.js_a_bins + 1, dtype=torch.float64),)
        )

    def bin_masses(self, binning: Binning) -> torch.Tensor:
        cells = binning.n_cells
        return torch.cat([torch.full((cells,), 1.0 / cells, dtype=torch.float64), torch.zeros(1)])


Target = GaussianMixture | Curves


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


def curves(scale: float | None = None, std: float | None = None) -> Curves:
    """Quadratic curves on 15 points (see `Curves`); scale and std do not apply."""
    if scale is not None or std is not None:
        raise ValueError("target_scale / target_std do not apply to the curves target; omit them")
    return Curves()


TARGETS = {f.__name__: f for f in (gaussian1d, mixture1d, ring8, grid25, curves)}


def make_target(name: str, scale: float | None = None, std: float | None = None) -> Target:
    """The target called `name` (a key of TARGETS) with optional scale and std."""
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[name](scale, std)


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
