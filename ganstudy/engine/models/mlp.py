"""The `mlp` family: generator and discriminator MLPs with a leading replica axis.

Every parameter has shape (R, ...): R independently initialised networks evaluated with one
batched matmul per layer. Replica r is initialised from its own generator, so replica r of
an R-replica model equals a 1-replica model built from that generator alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.engine.models.base import ModelFamily, ReplicaModule

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.engine.targets import Target

Activation = Callable[..., torch.Tensor]  # (x, inplace=False) -> activation(x), as F.relu
BN_EPS = 1e-5


def leaky_relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace)  # DCGAN's discriminator slope


def tanh(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    return x.tanh_() if inplace else x.tanh()  # tanh's backward reads its output: in place ok


# Elementwise activations by the names config accepts; maxout is a layer shape (see Layers).
ACTIVATIONS: dict[str, Activation] = {"relu": F.relu, "leaky_relu": leaky_relu, "tanh": tanh}


@dataclass(frozen=True)
class Layers:
    """How an MLP's hidden layers are built (the papers' toy networks; README): the
    defaults are the MLP's own (nn.Linear's init, biases, no BatchNorm).

    activation: a name of ACTIVATIONS or "maxout" (each hidden unit the max of `pieces`
    linear pieces, Goodfellow et al. 2013: the layer has width·pieces outputs).
    batch_norm: BatchNorm after each hidden matmul, before the activation, with the batch's
    statistics per replica (scale 1 and shift 0 to start, learned; no running statistics,
    like dcgan's). hidden_bias: biases on the hidden layers (the output layer always has
    one). init_std: weights N(0, init_std²) and zero biases, else nn.Linear's default.
    """

    activation: str = "relu"
    pieces: int = 5
    batch_norm: bool = False
    hidden_bias: bool = True
    init_std: float | None = None

    @property
    def fan_out_factor(self) -> int:
        return self.pieces if self.activation == "maxout" else 1


class BatchedMLP(ReplicaModule):
    """R independent MLPs: (R, B, sizes[0]) -> (R, B, sizes[-1])."""

    def __init__(
        self,
        sizes: Sequence[int],
        init_generators: Sequence[torch.Generator],
        activation: Activation | Layers,
        spectral_norm: bool = False,
        out_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        layers = activation if isinstance(activation, Layers) else Layers()
        self.layers = layers
        self.sizes = list(sizes)
        self.out_shape = out_shape  # each output reshaped to this (an image), else flat
        self.activation = (
            activation
            if not isinstance(activation, Layers)
            else ACTIVATIONS.get(layers.activation, F.relu)  # maxout: unused
        )
        self.maxout = layers.activation == "maxout"
        self.batch_norm = self.batch_statistics = layers.batch_norm
        self.spectral_norm = spectral_norm
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()  # one per layer that has a bias, in order
        self.has_bias: list[bool] = []
        self.bias_slots: list[int] = []  # layer i's bias is biases[bias_slots[i]]
        self.norm_weights = nn.ParameterList()  # BatchNorm scale and shift, (R, 1, width)
        self.norm_biases = nn.ParameterList()
        last = len(sizes) - 2
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            if i < last:
                fan_out *= layers.fan_out_factor  # maxout: `pieces` columns per unit
            bias = i == last or layers.hidden_bias
            w, b = _init_layer(fan_in, fan_out, bias, layers.init_std, init_generators)
            self.weights.append(nn.Parameter(w))  # (R, fan_in, fan_out)
            self.bias_slots.append(len(self.biases))
            self.has_bias.append(bias)
            if b is not None:
                self.biases.append(nn.Parameter(b))  # (R, 1, fan_out)
            if i < last and layers.batch_norm:
                replicas = len(init_generators)
                ones = torch.ones(replicas, 1, fan_out, dtype=torch.float64)
                self.norm_weights.append(nn.Parameter(ones))
                self.norm_biases.append(nn.Parameter(torch.zeros_like(ones)))
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
        x = self.head(self.hidden(x))
        if self.out_shape is not None:
            x = x.reshape(*x.shape[:2], *self.out_shape)  # (R, B, *out_shape)
        return x

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, sizes[0]) or (R, B, *shape) -> (R, B, sizes[-2]): every layer but the last,
        activations included (the features a projection discriminator reads)."""
        if x.dim() > 3:
            x = x.flatten(2)  # (R, B, dim)
        for i in range(len(self.weights) - 1):
            x = self._linear(i, x)  # (R, B, fan_out)
            if self.batch_norm:
                x = _batch_norm(x, self.norm_weights[i], self.norm_biases[i])
            if self.maxout:
                pieces = self.layers.pieces
                x = x.unflatten(-1, (-1, pieces)).amax(-1)  # (R, B, fan_out / pieces)
            else:
                # In place on the fresh matmul output (whose backward does not need it):
                # one activation-sized allocation less per layer; relu's and leaky relu's
                # gradient is read from the output's sign, which is the input's, and tanh's
                # from its output, so the numbers are bit-identical.
                x = self.activation(x, inplace=True)
        return x

    @property
    def hidden_width(self) -> int:
        return self.sizes[-2]

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """(R, B, sizes[-2]) -> (R, B, sizes[-1]): the last (linear) layer."""
        return self._linear(len(self.weights) - 1, h)

    def _linear(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Layer i's affine map (spectrally normalised where asked): (R, B, in) -> (R, B, out)."""
        w = self.weights[i]
        b = self.biases[self.bias_slots[i]] if self.has_bias[i] else None
        if self.spectral_norm:
            w = w / self.sigma(i, w.mT)[:, None, None]  # w is (R, in, out)
        if w.shape[-1] == 1 and w.shape[0] > 1 and w.device.type == "cpu":
            # A one-output layer (D's score) of several replicas: CPU batched matmuls whose
            # result has a last axis of 1 run ~10x below their usual speed (torch 2.13 /
            # MKL); multiply-and-sum is 3-5x faster, with elementwise gradients: +8-11% per
            # step at R = 8..128. R = 1 keeps BLAS's fast matrix-vector path. Same math;
            # the dot product's summation order (last bit) may differ.
            x = torch.sum(x * w.mT, -1, keepdim=True)  # (R, B, 1)
            return x + b if b is not None else x
        if b is not None:
            return torch.baddbmm(b, x, w)  # (R, B, fan_out)
        return torch.bmm(x, w)  # (R, B, fan_out)


def _batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (R, B, F) normalised per replica and feature over the batch (biased variance, as
    BatchNorm), then scaled by weight and shifted by bias (R, 1, F)."""
    mean = x.mean(1, keepdim=True)  # (R, 1, F)
    var = x.var(1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + BN_EPS) * weight + bias


def _init_layer(
    fan_in: int,
    fan_out: int,
    bias: bool,
    init_std: float | None,
    init_generators: Sequence[torch.Generator],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W (R, fan_in, fan_out), b (R, 1, fan_out) or None), replica r drawn from its own
    generator: nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W then b (the order
    the MLP always drew in), or N(0, init_std²) for W and zero biases."""
    ws, bs = [], []
    for g in init_generators:
        if init_std is None:
            bound = 1.0 / math.sqrt(fan_in)
            ws.append(_uniform((fan_in, fan_out), bound, g))
            if bias:
                bs.append(_uniform((1, fan_out), bound, g))
        else:
            ws.append(init_std * torch.randn(fan_in, fan_out, generator=g, dtype=torch.float64))
            if bias:
                bs.append(torch.zeros(1, fan_out, dtype=torch.float64))
    return torch.stack(ws), torch.stack(bs) if bias else None


def generator_mlp(
    z_dim: int,
    width: int,
    depth: int,
    out_dim: int,
    init_generators: Sequence[torch.Generator],
    out_shape: tuple[int, ...] | None = None,
    layers: Layers | None = None,
) -> BatchedMLP:
    """G: z -> x, `depth` hidden layers of `width` (ReLU unless `layers` says otherwise),
    linear output (reshaped to `out_shape` where the target's samples are not flat)."""
    sizes = [z_dim] + [width] * depth + [out_dim]
    return BatchedMLP(sizes, init_generators, layers or F.relu, out_shape=out_shape)


def discriminator_mlp(
    in_dim: int,
    width: int,
    depth: int,
    init_generators: Sequence[torch.Generator],
    spectral_norm: bool = False,
    layers: Layers | None = None,
) -> BatchedMLP:
    """D: x -> one raw output (a logit or a critic value), LeakyReLU(0.2) hidden layers
    unless `layers` says otherwise."""
    sizes = [in_dim] + [width] * depth + [1]
    return BatchedMLP(sizes, init_generators, layers or leaky_relu, spectral_norm)


def mlp_flops(sizes: Sequence[int], n: int, pieces: int = 1) -> float:
    """Matmul FLOPs of one forward pass of an MLP with layer `sizes` on n inputs; with
    maxout (`pieces` > 1) every layer but the last has `pieces` outputs per unit."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return (
        2.0
        * n
        * sum(a * b * (pieces if i < len(pairs) - 1 else 1) for i, (a, b) in enumerate(pairs))
    )


class MLPFamily(ModelFamily):
    """G and D are BatchedMLPs `g_width` x `g_depth` / `d_width` x `d_depth` (the toys')."""

    name = "mlp"

    def generator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> BatchedMLP:
        c = config
        shape = target.shape if len(target.shape) > 1 else None  # images: (R, B, C, H, W)
        layers = Layers(c.g_activation, c.maxout_pieces, c.g_batch_norm, c.hidden_bias, c.init_std)
        return generator_mlp(
            c.z_dim, c.g_width, c.g_depth, target.dim, init_generators, shape, layers
        )

    def discriminator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> BatchedMLP:
        c = config
        # PacGAN: D reads `pack` samples' features concatenated (updates.pack).
        layers = Layers(c.d_activation, c.maxout_pieces, False, c.hidden_bias, c.init_std)
        return discriminator_mlp(
            c.pack * target.dim, c.d_width, c.d_depth, init_generators, c.d_spectral_norm, layers
        )

    def flops_per_step(self, config: TrialConfig, target_dim: int) -> float:
        """Matmul FLOPs of one iteration (k D-steps, g_steps G-steps), all replicas.

        A layer's backward is two matmuls of its forward's size (weight and input
        gradients); the first layer's input gradient is never needed (its input is data or
        noise), so autograd skips it. Per D-step: G forward without gradient (B points), D
        forward + backward on B real + B fake (2B). The G-step: G forward + backward (B), D
        forward + input gradients only (B; D is frozen). This is what torch's
        FlopCounterMode counts on one trainer step at R = 1 (tests/bench/test_bench.py). Not
        counted: bias adds, activations, losses, the optimizer, the double backward of GP
        and R1, spectral norm's power iteration, unrolled D steps (README: their cost).
        """
        c = config
        g = [c.z_dim] + [c.g_width] * c.g_depth + [target_dim]
        d = [c.pack * target_dim] + [c.d_width] * c.d_depth + [1]  # D reads packs
        b, n = c.batch_size, c.batch_size // c.pack  # samples; packs D judges per batch
        pg = c.maxout_pieces if c.g_activation == "maxout" else 1
        pd = c.maxout_pieces if c.d_activation == "maxout" else 1

        def first(sizes: list[int], pieces: int, rows: int) -> float:  # no input gradient
            return 2.0 * rows * sizes[0] * sizes[1] * (pieces if len(sizes) > 2 else 1)

        d_step = mlp_flops(g, b, pg) + 3 * mlp_flops(d, 2 * n, pd) - first(d, pd, 2 * n)
        g_step = 3 * mlp_flops(g, b, pg) - first(g, pg, b) + 2 * mlp_flops(d, n, pd)
        return c.replicas * (c.k * d_step + c.g_steps * g_step)


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    # Drawn in float64 so the same numbers seed float32 and float64 runs alike.
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
