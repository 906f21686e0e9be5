"""The quadratic-curve family: a target whose density lives on a line in R^points."""

from __future__ import annotations

import torch

from ganstudy.engine.targets.base import Binning, Target


class Curves(Target):
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

    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n curves (n, points), float64 on the generator's device, and the a-bin of each."""
        device = generator.device
        a = self.a_low + (self.a_high - self.a_low) * torch.rand(
            n, 1, generator=generator, device=device, dtype=torch.float64
        )
        return a * self.constant("basis", device) - 1.0, self._a_bin(a[:, 0])

    def fit(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Least-squares a of each curve (..., points) and its rms residual."""
        basis = self.constant("basis", y.device, y.dtype)
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

    def binned_points(self, samples: torch.Tensor) -> torch.Tensor:
        """The fitted a of each curve, (R, N, 1): js_binned compares distributions of a."""
        return self.fit(samples)[0].unsqueeze(-1)

    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The bin of the fitted a (n_a_bins equal bins of [1, 2]); high quality where the
        rms residual from the family is at most quality_rms and a lies in [1, 2]
        (`quality_sigmas` does not apply: curves have no std)."""
        a, rms = self.fit(samples)
        good = (rms <= self.quality_rms) & (a >= self.a_low) & (a <= self.a_high)
        return self._a_bin(a), good

    def _a_bin(self, a: torch.Tensor) -> torch.Tensor:
        """Index of the equal-width bin of [a_low, a_high] holding each a (clamped)."""
        edges = torch.linspace(
            self.a_low, self.a_high, self.n_modes + 1, device=a.device, dtype=a.dtype
        )
        return (torch.bucketize(a, edges, right=True) - 1).clamp(0, self.n_modes - 1)


def curves(scale: float | None = None, std: float | None = None) -> Curves:
    """Quadratic curves on 15 points (see `Curves`); scale and std do not apply."""
    if scale is not None or std is not None:
        raise ValueError("target_scale / target_std do not apply to the curves target; omit them")
    return Curves()
