"""The `mlp` family: generator and discriminator MLPs with a leading replica axis.

Every parameter has shape (R, ...): R independently initialised networks evaluated with one
batched matmul per layer. Replica r is initialised from its own generator, so replica r of
an R-replica model equals a 1-replica model built from that generator alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.models.base import ModelFamily, ReplicaModule

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.targets import Target

Activation = Callable[..., torch.Tensor]  # (x, inplace=False) -> activation(x), as F.relu


def leaky_relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace)  # DCGAN's discriminator slope


class BatchedMLP(ReplicaModule):
    """R independent MLPs: (R, B, sizes[0]) -> (R, B, sizes[-1])."""

    def __init__(
        self,
        sizes: Sequence[int],
        init_generators: Sequence[torch.Generator],
        activation: Activation,
        spectral_norm: bool = False,
        out_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.sizes = list(sizes)
        self.out_shape = out_shape  # each output reshaped to this (an image), else flat
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, sizes[0]) -> (R, B, sizes[-1]); an input (R, B, *shape) is flattened first
        and the output reshaped to (R, B, *out_shape) where given (the MLP on images)."""
        if x.dim() > 3:
            x = x.flatten(2)  # (R, B, dim)
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
        if self.out_shape is not None:
            x = x.reshape(*x.shape[:2], *self.out_shape)  # (R, B, *out_shape)
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


def generator_mlp(
    z_dim: int,
    width: int,
    depth: int,
    out_dim: int,
    init_generators: Sequence[torch.Generator],
    out_shape: tuple[int, ...] | None = None,
) -> BatchedMLP:
    """G: z -> x, `depth` hidden ReLU layers of `width`, linear output (reshaped to
    `out_shape` where the target's samples are not flat)."""
    sizes = [z_dim] + [width] * depth + [out_dim]
    return BatchedMLP(sizes, init_generators, F.relu, out_shape=out_shape)


def discriminator_mlp(
    in_dim: int,
    width: int,
    depth: int,
    init_generators: Sequence[torch.Generator],
    spectral_norm: bool = False,
) -> BatchedMLP:
    """D: x -> one raw output (a logit or a critic value), LeakyReLU(0.2) hidden layers."""
    return BatchedMLP([in_dim] + [width] * depth + [1], init_generators, leaky_relu, spectral_norm)


def mlp_flops(sizes: Sequence[int], n: int) -> float:
    """Matmul FLOPs of one forward pass of an MLP with layer `sizes` on n inputs."""
    return 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


class MLPFamily(ModelFamily):
    """G and D are BatchedMLPs `g_width` x `g_depth` / `d_width` x `d_depth` (the toys')."""

    name = "mlp"

    def generator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> BatchedMLP:
        c = config
        shape = target.shape if len(target.shape) > 1 else None  # images: (R, B, C, H, W)
        return generator_mlp(c.z_dim, c.g_width, c.g_depth, target.dim, init_generators, shape)

    def discriminator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> BatchedMLP:
        c = config
        # PacGAN: D reads `pack` samples' features concatenated (updates.pack).
        return discriminator_mlp(
            c.pack * target.dim, c.d_width, c.d_depth, init_generators, c.d_spectral_norm
        )

    def flops_per_step(self, config: TrialConfig, target_dim: int) -> float:
        """Matmul FLOPs of one iteration (k D-steps, g_steps G-steps), all replicas.

        A layer's backward is two matmuls of its forward's size (weight and input
        gradients); the first layer's input gradient is never needed (its input is data or
        noise), so autograd skips it. Per D-step: G forward without gradient (B points), D
        forward + backward on B real + B fake (2B). The G-step: G forward + backward (B), D
        forward + input gradients only (B; D is frozen). This is what torch's
        FlopCounterMode counts on one trainer step at R = 1 (tests/test_bench.py). Not
        counted: bias adds, activations, losses, the optimizer, the double backward of GP
        and R1, spectral norm's power iteration, unrolled D steps (README: their cost).
        """
        c = config
        g = [c.z_dim] + [c.g_width] * c.g_depth + [target_dim]
        d = [c.pack * target_dim] + [c.d_width] * c.d_depth + [1]  # D reads packs
        b, n = c.batch_size, c.batch_size // c.pack  # samples; packs D judges per batch
        d_step = mlp_flops(g, b) + 3 * mlp_flops(d, 2 * n) - mlp_flops(d[:2], 2 * n)
        g_step = 3 * mlp_flops(g, b) - mlp_flops(g[:2], b) + 2 * mlp_flops(d, n)
        return c.replicas * (c.k * d_step + c.g_steps * g_step)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    # Drawn in float64 so the same numbers seed float32 and float64 runs alike.
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
