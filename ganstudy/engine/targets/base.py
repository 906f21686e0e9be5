"""The interface every target speaks: seeded sampling, modes, a partition with exact masses.

Every target samples with an explicit `torch.Generator`, so the same seed gives the same
data. The metrics and the trainer read a target only through `Target`: they never switch
on its class or name. The report reads only `name`, `dim`, `n_modes`, `picture`, `modes`,
`std` (and `x` for curves).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from ganstudy.config import DEFAULT_EVAL_SAMPLES

Picture = Literal["points", "curves", "images"]  # how the report draws samples


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


class Target(ABC):
    """A data distribution ganstudy can train on and measure against.

    Subclasses set `name`, `dim`, `picture`, `modes` ((n_modes, dim) centres or None) and
    `std` (per-mode std or None), and implement the abstract methods. Samples are flat
    vectors (n, dim); `shape` is the shape of one sample as the models see it.
    """

    name: str
    dim: int
    picture: ClassVar[Picture]
    modes: torch.Tensor | None
    std: float | None

    def constant(self, name: str, device: torch.device, dtype: torch.dtype = torch.float64):
        """The tensor attribute `name` on `device` in `dtype`, copied once per (device,
        dtype) and kept: on a GPU each `.to(device)` of a CPU tensor is a host-to-device copy
        that waits for the host, and the trainer samples every few steps."""
        cache = self.__dict__.setdefault("_constants", {})
        key = (name, torch.device(device), dtype)
        if key not in cache:
            cache[key] = getattr(self, name).to(device, dtype)
        return cache[key]

    @property
    @abstractmethod
    def n_modes(self) -> int:
        """Discrete modes (classes) the target has, for mode coverage and the outcome."""

    @property
    def default_eval_samples(self) -> int:
        """Fakes per replica js_binned histograms where the config's eval_samples is None:
        DEFAULT_EVAL_SAMPLES, enough for the toys' fine grids."""
        return DEFAULT_EVAL_SAMPLES

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample as the models see it: (dim,) for the toys, (C, H, W) for an
        image target (whose `sample` still gives flat (n, dim) rows; an image target's shape
        is also declared in config.IMAGE_SHAPES)."""
        return (self.dim,)

    @abstractmethod
    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples (n, dim) float64 on the generator's device and their mode index (n,)
        (for a conditional GAN)."""

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples (n, dim), float64 on the generator's device."""
        return self.sample_labeled(n, generator)[0]

    def label_frequencies(self) -> torch.Tensor:
        """How often each label (the mode index `sample_labeled` gives, 0..n_modes-1) occurs
        in the data, (n_modes,) float64: a conditional G is asked for labels in these
        proportions. Uniform here: a mixture's modes are equally likely and a curve
        family's a-bins equally wide."""
        return torch.full((self.n_modes,), 1.0 / self.n_modes, dtype=torch.float64)

    @abstractmethod
    def binning(self) -> Binning:
        """The partition js_binned histograms `binned_points` over."""

    @abstractmethod
    def bin_masses(self, binning: Binning) -> torch.Tensor:
        """Exact p_data mass of each cell of `binning`, then the mass outside it:
        (n_cells + 1,) float64."""

    def binned_points(self, samples: torch.Tensor) -> torch.Tensor:
        """The coordinates js_binned histograms, (R, N, d) from samples (R, N, dim): the
        samples themselves unless the partition lives in another space."""
        return samples

    @abstractmethod
    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mode index (long), is high quality (bool)) of each sample (..., dim), for mode
        coverage; `quality_sigmas` is the radius in stds where a target has stds."""

    def features(self, samples: torch.Tensor) -> torch.Tensor | None:
        """A classifier's feature vectors (..., F) of samples (..., dim), the space fd,
        precision and recall compare in; None for a target without a classifier (the toys:
        those columns are NaN)."""
        return None

    def held_out_features(self, n: int) -> torch.Tensor | None:
        """Features (m <= n, F) of a fixed sample of real held-out data, float64 on the CPU
        (the reference fd, precision and recall compare generated features with); None
        where `features` is None."""
        return None
