"""The interface every model family speaks: replica-batched modules and the family itself.

A replica module holds R independent networks: every parameter has a leading replica axis
(R, ...), inputs are (R, B, ...) and outputs (R, B, ...). Replica r is initialised from its
own generator, so replica r of an R-replica module equals a 1-replica module built from that
generator alone. The trainer speaks only to `ReplicaModule` and `ModelFamily`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.engine.targets import Target


class ReplicaModule(nn.Module, ABC):
    """R independent networks as one module; every parameter is (R, ...).

    Subclasses implement `forward` on (R, B, ...) inputs; the per-replica helpers below
    work for any such module because they only rely on the leading replica axis.
    """

    # Whether a sample's output depends on the other samples of its batch (BatchNorm with
    # batch statistics). The trainer then gives D real and fake batches in separate calls
    # and evaluates in chunks of batch_size; False: samples are independent.
    batch_statistics: bool = False
    # Which replicas ((R,) bool) advance their spectral-norm vectors in a training forward;
    # None: all (updates.advancing sets it around a penalty only some replicas pay).
    sn_advance: torch.Tensor | None = None

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, ...) -> (R, B, ...): replica r's network applied to x[r]."""

    @property
    def replicas(self) -> int:
        """R, the length of every parameter's leading axis."""
        return next(self.parameters()).shape[0]

    def clamp_(self, limit: float | torch.Tensor) -> None:
        """Clip every parameter to [-limit, limit] (WGAN's Lipschitz constraint); `limit`
        may be one value per replica, (R,) (inf: that replica is not clipped)."""
        with torch.no_grad():
            for p in self.parameters():
                if isinstance(limit, torch.Tensor):
                    bound = limit.reshape(-1, *([1] * (p.dim() - 1)))  # (R, 1, ...)
                    p.clamp_(-bound, bound)
                else:
                    p.clamp_(-limit, limit)

    def replica_grad_norm(self) -> torch.Tensor:
        """L2 norm of each replica's full gradient, (R,); zero where no gradient exists."""
        first = next(self.parameters())
        total = torch.zeros(self.replicas, device=first.device, dtype=first.dtype)
        for p in self.parameters():
            if p.grad is not None:
                total = total + p.grad.pow(2).flatten(1).sum(1)
        return total.sqrt()

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, ...) -> (R, B, F): a discriminator's features before its linear output
        layer, so that `forward(x) == head(hidden(x))` (the projection discriminator of a
        conditional GAN reads them). A family without the split cannot be conditional."""
        raise NotImplementedError(f"{type(self).__name__} has no hidden/head split")

    @property
    def hidden_width(self) -> int:
        """F, the last axis of `hidden`'s output."""
        raise NotImplementedError(f"{type(self).__name__} has no hidden/head split")

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """(R, B, F) -> (R, B, 1): the linear output layer on `hidden`'s features."""
        raise NotImplementedError(f"{type(self).__name__} has no hidden/head split")

    def scalar(self) -> torch.Tensor | None:
        """The module's one parameter per replica, (R,), where it has exactly one (the
        Dirac-GAN's θ and ψ: the trainer reports them); None for every real network."""
        return None

    def sigma(self, i: int, w: torch.Tensor) -> torch.Tensor:
        """Largest singular value (R,) of each replica's w (R, out, in), for spectral norm:
        one power iteration per training forward on the buffer `sn_u{i}` (R, out), as
        torch.nn.utils.spectral_norm does (u and v carry no gradient)."""
        u = getattr(self, f"sn_u{i}")  # (R, out)
        with torch.no_grad():
            v = F.normalize(torch.einsum("roi,ro->ri", w, u), dim=-1)
            if self.training:
                advanced = F.normalize(torch.einsum("roi,ri->ro", w, v), dim=-1)
                if self.sn_advance is not None:  # the others keep theirs (see sn_advance)
                    advanced = torch.where(self.sn_advance[:, None], advanced, u)
                u = advanced
                getattr(self, f"sn_u{i}").copy_(u)
                v = F.normalize(torch.einsum("roi,ro->ri", w, u), dim=-1)
        return torch.einsum("ro,roi,ri->r", u, w, v)

    def replica_finite(self) -> torch.Tensor:
        """Whether every parameter of each replica is finite, (R,) bool."""
        first = next(self.parameters())
        ok = torch.ones(self.replicas, dtype=torch.bool, device=first.device)
        for p in self.parameters():
            ok &= torch.isfinite(p).flatten(1).all(1)
        return ok


class ModelFamily(ABC):
    """How one family (MLP, DCGAN, ...) builds G and D and counts their FLOPs.

    G maps noise (R, B, z_dim) to samples (R, B, *target.shape); D maps samples to one raw
    output per sample, (R, B, 1) (a logit or a critic value). D honours
    `config.d_spectral_norm` (per replica) or the family refuses the config. Parameters are
    created in float64; the trainer casts them to the trial's device and dtype.
    """

    name: ClassVar[str]  # the `model` value users write in YAML

    @abstractmethod
    def generator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> ReplicaModule:
        """G for `config` and `target`, replica r drawn from init_generators[r]."""

    @abstractmethod
    def discriminator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> ReplicaModule:
        """D for `config` and `target`, replica r drawn from init_generators[r]."""

    @abstractmethod
    def flops_per_step(self, config: TrialConfig, target_dim: int) -> float:
        """Matmul FLOPs of one iteration of Algorithm 1 (k D-steps, one G-step), all
        replicas (nanoGPT style: forward + backward ~ 3x the forward)."""
