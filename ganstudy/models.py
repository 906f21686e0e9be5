"""Generator and discriminator MLPs with a leading replica axis.

Every parameter has shape (R, ...): R independently initialised networks evaluated with one
batched matmul per layer. Replica r is initialised from its own generator, so replica r of
an R-replica model equals a 1-replica model built from that generator alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Activation = Callable[..., torch.Tensor]  # (x, inplace=False) -> activation(x), as F.relu


def leaky_relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace)  # DCGAN's discriminator slope


class BatchedMLP(nn.Module):
    """R independent MLPs: (R, B, sizes[0]) -> (R, B, sizes[-1])."""

    def __init__(
        self,
        sizes: Sequence[int],
        init_generators: Sequence[torch.Generator],
        activation: Activation,
        spectral_norm: bool = False,
    ):
        super().__init__()
        self.sizes = list(sizes)
        self.activation = activation
        self.spectral_norm = spectral_norm
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            # nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b,
            # drawn per replica from that replica's generator.
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.stack([_uniform((fan_in, fan_out), bound, g) for g in init_generators])
            b = torch.stack([_uniform((1, fan_out), bound, g) for g in init_generators])
            self.weights.append(nn.Parameter(w))  # (R, fan_in, fan_out)
            self.biases.append(nn.Parameter(b))  # (R, 1, fan_out)
            if spectral_norm:
                u = torch.stack(
                    [
                        torch.randn(fan_out, generator=g, dtype=torch.float64)
                        for g in init_generators
                    ]
                )
                self.register_buffer(f"sn_u{i}", F.normalize(u, dim=-1))  # (R, fan_out)

    @property
    def replicas(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if self.spectral_norm:
                w = w / self._sigma(i, w)[:, None, None]
            if w.shape[-1] == 1 and w.shape[0] > 1 and w.device.type == "cpu":
                # A one-output layer (D's score) of several replicas: CPU batched matmuls
                # whose result has a last axis of 1 run ~10x below their usual speed (torch
                # 2.13 / MKL); multiply-and-sum is 3-5x faster, with elementwise gradients:
                # +8-11% per step at R = 8..128. R = 1 keeps BLAS's fast matrix-vector path.
                # Same math; the dot product's summation order (last bit) may differ.
                x = torch.sum(x * w.mT, -1, keepdim=True) + b  # (R, B, 1)
            else:
                x = torch.baddbmm(b, x, w)  # (R, B, fan_out)
            if i < last:
                # In place on the fresh matmul output (whose backward does not need it): one
                # activation-sized allocation less per layer; the gradient is read from the
                # output's sign, which is the input's, so the numbers are bit-identical.
                x = self.activation(x, inplace=True)
        return x

    def _sigma(self, i: int, w: torch.Tensor) -> torch.Tensor:
        """Largest singular value of each replica's W (one power iteration per training
        forward, as torch.nn.utils.spectral_norm does; u and v carry no gradient)."""
        u = getattr(self, f"sn_u{i}")
        with torch.no_grad():
            v = F.normalize(torch.einsum("rio,ro->ri", w, u), dim=-1)
            if self.training:
                u = F.normalize(torch.einsum("rio,ri->ro", w, v), dim=-1)
                getattr(self, f"sn_u{i}").copy_(u)
                v = F.normalize(torch.einsum("rio,ro->ri", w, u), dim=-1)
        return torch.einsum("ri,rio,ro->r", v, w, u)

    def clamp_(self, limit: float) -> None:
        """Clip every weight and bias to [-limit, limit] (WGAN's Lipschitz constraint)."""
        with torch.no_grad():
            for p in self.parameters():
                p.clamp_(-limit, limit)

    def replica_grad_norm(self) -> torch.Tensor:
        """L2 norm of each replica's full gradient, (R,); zero where no gradient exists."""
        total = torch.zeros(
            self.replicas, device=self.weights[0].device, dtype=self.weights[0].dtype
        )
        for p in self.parameters():
            if p.grad is not None:
                total = total + p.grad.pow(2).flatten(1).sum(1)
        return total.sqrt()

    def replica_finite(self) -> torch.Tensor:
        """Whether every parameter of each replica is finite, (R,) bool."""
        ok = torch.ones(self.replicas, dtype=torch.bool, device=self.weights[0].device)
        for p in self.parameters():
            ok &= torch.isfinite(p).flatten(1).all(1)
        return ok


def make_optimizer(cls: type[torch.optim.Optimizer], params, **settings) -> torch.optim.Optimizer:
    """`cls(params, fused=True, **settings)` where torch has a fused kernel for the
    parameters' device (CPU and CUDA since torch 2.4), else torch's default implementation.

    Why: on the CPU torch's default is a per-tensor loop of ~10 small ops per parameter;
    the fused kernel is one pass, 20-30% of a small model's whole training step. Same
    update rule: bit-identical in float64, within an ulp per update in float32 (FMA).
    """
    params = list(params)
    try:
        return cls(params, fused=True, **settings)
    except (RuntimeError, ValueError):  # no fused kernel for this device / dtype / torch
        return cls(params, **settings)


def generator_mlp(
    z_dim: int, width: int, depth: int, out_dim: int, init_generators: Sequence[torch.Generator]
) -> BatchedMLP:
    """G: z -> x, `depth` hidden ReLU layers of `width`, linear output."""
    return BatchedMLP([z_dim] + [width] * depth + [out_dim], init_generators, F.relu)


def discriminator_mlp(
    in_dim: int,
    width: int,
    depth: int,
    init_generators: Sequence[torch.Generator],
    spectral_norm: bool = False,
) -> BatchedMLP:
    """D: x -> one raw output (a logit or a critic value), LeakyReLU(0.2) hidden layers."""
    return BatchedMLP([in_dim] + [width] * depth + [1], init_generators, leaky_relu, spectral_norm)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    # Drawn in float64 so the same numbers seed float32 and float64 runs alike.
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
