"""The `dcgan` family (Radford et al. 2016) for image targets, with a leading replica axis.

Depth follows the resolution: `depth = log2(resolution / 4)` stride-2 blocks (8x8 -> 1,
16x16 -> 2, 32x32 -> 3), so that G starts and D ends at 4x4. `g_width` / `d_width` are base
channel counts; `g_depth` / `d_depth` are MLP settings that config refuses for dcgan.

- G: z (R, B, z_dim) -> linear to 4x4 x g_width·2^(depth-1) -> BatchNorm + ReLU -> depth
  stride-2 `conv_transpose2d` (kernel 4, padding 1), each halving the channels and followed
  by BatchNorm + ReLU, the last going to the target's channels with tanh: (R, B, C, H, W).
- D: x (R, B, C, H, W) -> depth stride-2 convs (kernel 4, padding 1) from d_width channels,
  doubling, each followed by LeakyReLU(0.2); BatchNorm on every block but the first (the
  DCGAN convention), and on none when D is spectrally normalised (Miyato et al. 2018 drop
  it) or a gradient penalty is on (wgan_gp, r1 > 0: the penalty needs each sample's output
  to depend on that sample alone; Gulrajani et al. 2017 drop it too) -> linear to (R, B, 1).

Replicas: grouped convolutions. The replica axis is folded into the channels,
(R, B, C, H, W) -> (B, R·C, H, W), and each layer is one convolution with `groups=R` over
the stacked weights (R·Cout, Cin, 4, 4), so replica r's channels only meet replica r's
weights. Why not `torch.func.vmap`: grouped convolutions are plain autograd (GP and R1's
double backward included) and, measured once (G then D forward + backward, batch 64, width
32, float32, 2 loaded CPU threads; README, "DCGAN on digits"), faster at 8x8: 71 / 50 / 27
steps/s at R = 1 / 4 / 8 against vmap's 60 / 34 / 22; at 32x32 both ran at 1-6 steps/s,
within that machine's noise.

BatchNorm always normalises with the statistics of the batch it is given, per replica and
channel over (B, H, W), in training and in evaluation alike (as many GAN codes sample with
G in training mode); there are no running statistics. So a sample's output depends on its
batch: the modules say so with `batch_statistics`, and the trainer then passes real and
fake batches to D separately (DCGAN's own training loop) and evaluates in chunks of
`batch_size`, the batches training saw.

Spectral norm is per replica as in the MLP: one power iteration per training forward on each
weight reshaped to (Cout, Cin·4·4), `u` buffers (R, Cout). Init per replica from its own
generator (DCGAN's): conv and linear weights N(0, 0.02), BatchNorm scales N(1, 0.02),
biases 0; a layer followed by BatchNorm has no bias (BatchNorm's shift replaces it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ganstudy.config import IMAGE_SHAPES, dcgan_channels, dcgan_depth
from ganstudy.engine.models.base import ModelFamily, ReplicaModule
from ganstudy.fusing import penalties

if TYPE_CHECKING:
    from ganstudy.config import TrialConfig
    from ganstudy.engine.targets import Target

KERNEL = 4  # stride-2 blocks with kernel 4, padding 1 double / halve H and W exactly
INIT_STD = 0.02  # DCGAN's N(0, 0.02) weights and N(1, 0.02) BatchNorm scales
BN_EPS = 1e-5


def _normal(shape: tuple[int, ...], mean: float, gens: Sequence[torch.Generator]) -> nn.Parameter:
    """(R, *shape) N(mean, INIT_STD²), replica r drawn from gens[r] (float64)."""
    draws = [torch.randn(shape, generator=g, dtype=torch.float64) for g in gens]
    return nn.Parameter(mean + INIT_STD * torch.stack(draws))


def _zeros(shape: tuple[int, ...], replicas: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(replicas, *shape, dtype=torch.float64))


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(R, B, C, H, W) -> (B, R·C, H, W): replicas as channel groups."""
    r, b, c, h, w = x.shape
    return x.transpose(0, 1).reshape(b, r * c, h, w)


def _unfold(x: torch.Tensor, replicas: int) -> torch.Tensor:
    """(B, R·C, H, W) -> (R, B, C, H, W)."""
    b, rc, h, w = x.shape
    return x.reshape(b, replicas, rc // replicas, h, w).transpose(0, 1)


def _batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Batch statistics per replica and channel over (B, H, W): x (B, R·C, H, W), weight
    and bias (R, C). No running statistics: evaluation normalises the same way."""
    return F.batch_norm(x, None, None, weight.flatten(), bias.flatten(), True, 0.0, BN_EPS)


def _depth(shape: tuple[int, int, int]) -> int:
    """Stride-2 blocks for images of `shape` (C, H, W); ValueError where H is not 4·2^n."""
    depth = dcgan_depth(shape[1])
    if not depth:
        raise ValueError(f"dcgan needs square images of 4·2^n pixels, got {shape}")
    return depth


class DCGANGenerator(ReplicaModule):
    """R DCGAN generators: (R, B, z_dim) -> (R, B, C, H, W) in [-1, 1]."""

    batch_statistics = True  # BatchNorm after the projection and every block but the last

    def __init__(
        self,
        z_dim: int,
        width: int,
        shape: tuple[int, int, int],
        init_generators: Sequence[torch.Generator],
    ):
        super().__init__()
        channels = shape[0]
        self.depth = _depth(shape)
        gens, replicas = init_generators, len(init_generators)
        # Channels at 4x4, 8x8, ...: width·2^(depth-1) halving to width, then the image's.
        self.channels = [*reversed(dcgan_channels(width, self.depth)), channels]
        first = self.channels[0]
        self.project = _normal((z_dim, 16 * first), 0.0, gens)  # (R, z, 16·C0)
        self.norm_weights = nn.ParameterList([_normal((first,), 1.0, gens)])  # (R, C)
        self.norm_biases = nn.ParameterList([_zeros((first,), replicas)])
        self.weights = nn.ParameterList()  # conv_transpose: (R, Cin, Cout, 4, 4)
        for i, (c_in, c_out) in enumerate(zip(self.channels[:-1], self.channels[1:], strict=True)):
            self.weights.append(_normal((c_in, c_out, KERNEL, KERNEL), 0.0, gens))
            if i < self.depth - 1:
                self.norm_weights.append(_normal((c_out,), 1.0, gens))
                self.norm_biases.append(_zeros((c_out,), replicas))
        self.out_bias = _zeros((channels,), replicas)  # (R, C): the last layer has no BN

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(R, B, z_dim) -> (R, B, C, H, W)."""
        replicas, batch = z.shape[:2]
        x = torch.bmm(z, self.project)  # (R, B, 16·C0)
        x = _fold(x.reshape(replicas, batch, -1, 4, 4))  # (B, R·C0, 4, 4)
        x = F.relu(_batch_norm(x, self.norm_weights[0], self.norm_biases[0]))
        for i, w in enumerate(self.weights):
            c_in, c_out = w.shape[1:3]
            bias = self.out_bias.flatten() if i == self.depth - 1 else None
            x = F.conv_transpose2d(
                x, w.reshape(replicas * c_in, c_out, KERNEL, KERNEL), bias, 2, 1, groups=replicas
            )  # (B, R·Cout, 2H, 2W)
            if i < self.depth - 1:
                x = F.relu(_batch_norm(x, self.norm_weights[i + 1], self.norm_biases[i + 1]))
        return _unfold(torch.tanh(x), replicas)  # (R, B, C, H, W)


class DCGANDiscriminator(ReplicaModule):
    """R DCGAN discriminators: (R, B, C, H, W) -> (R, B, 1) raw outputs."""

    def __init__(
        self,
        width: int,
        shape: tuple[int, int, int],
        init_generators: Sequence[torch.Generator],
        spectral_norm: bool = False,
        batch_norm: bool = True,
    ):
        super().__init__()
        channels = shape[0]
        self.depth = _depth(shape)
        gens, replicas = init_generators, len(init_generators)
        self.spectral_norm = spectral_norm
        # BatchNorm on blocks 1.. (never the first, DCGAN's rule); see the module docstring.
        self.norm_blocks = self.depth - 1 if batch_norm and not spectral_norm else 0
        self.batch_statistics = self.norm_blocks > 0
        self.channels = [channels, *dcgan_channels(width, self.depth)]
        self.weights = nn.ParameterList()  # conv: (R, Cout, Cin, 4, 4)
        self.biases = nn.ParameterList()  # (R, Cout) where no BatchNorm follows
        self.norm_weights = nn.ParameterList()
        self.norm_biases = nn.ParameterList()
        for i, (c_in, c_out) in enumerate(zip(self.channels[:-1], self.channels[1:], strict=True)):
            self.weights.append(_normal((c_out, c_in, KERNEL, KERNEL), 0.0, gens))
            if self._normed(i):
                self.norm_weights.append(_normal((c_out,), 1.0, gens))
                self.norm_biases.append(_zeros((c_out,), replicas))
            else:
                self.biases.append(_zeros((c_out,), replicas))
            self._add_u(i, c_out, gens)
        self.out_weight = _normal((1, 16 * self.channels[-1]), 0.0, gens)  # (R, 1, 16·C)
        self.out_bias = _zeros((1, 1), replicas)  # (R, 1, 1)
        self._add_u(self.depth, 1, gens)

    def _normed(self, i: int) -> bool:
        return 1 <= i <= self.norm_blocks

    def _add_u(self, i: int, rows: int, gens: Sequence[torch.Generator]) -> None:
        if self.spectral_norm:
            u = torch.stack([torch.randn(rows, generator=g, dtype=torch.float64) for g in gens])
            self.register_buffer(f"sn_u{i}", F.normalize(u, dim=-1))  # (R, rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, C, H, W) -> (R, B, 1)."""
        return self.head(self.hidden(x))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(R, B, C, H, W) -> (R, B, 16·C_last): the conv blocks' output, flattened (the
        features a projection discriminator reads)."""
        replicas, batch = x.shape[:2]
        x = _fold(x)  # (B, R·C, H, W)
        biases, norms = iter(self.biases), 0
        for i, w in enumerate(self.weights):
            if self.spectral_norm:
                w = w / self.sigma(i, w.flatten(2))[:, None, None, None, None]
            normed = self._normed(i)
            bias = None if normed else next(biases).flatten()
            x = F.conv2d(x, w.flatten(0, 1), bias, 2, 1, groups=replicas)  # (B, R·Cout, H/2, W/2)
            if normed:
                x = _batch_norm(x, self.norm_weights[norms], self.norm_biases[norms])
                norms += 1
            x = F.leaky_relu(x, 0.2)
        return _unfold(x, replicas).reshape(replicas, batch, -1)  # (R, B, 16·C)

    @property
    def hidden_width(self) -> int:
        return 16 * self.channels[-1]  # 4x4 pixels of the last block's channels

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """(R, B, 16·C_last) -> (R, B, 1): the linear output."""
        w = self.out_weight
        if self.spectral_norm:
            w = w / self.sigma(self.depth, w)[:, None, None]
        return torch.baddbmm(self.out_bias, h, w.mT)  # (R, B, 1)


def image_shape(target: Target) -> tuple[int, int, int]:
    """The target's (C, H, W), or the one-line error config gives for a non-image target."""
    if len(target.shape) != 3:
        raise ValueError(
            f"model: dcgan needs an image target, got {target.name} with samples of shape "
            f"{target.shape}; use model=mlp or an image target"
        )
    return target.shape  # type: ignore[return-value]


def layer_flops(config: TrialConfig, shape: tuple[int, int, int]) -> tuple[list, list]:
    """Forward FLOPs per sample of each layer of G and of D, in order (2 per multiply-add:
    a conv is 2·Cin·Cout·16 per output pixel, a transposed conv per input pixel)."""
    c = config
    depth = dcgan_depth(shape[1])
    g_ch = [*reversed(dcgan_channels(c.g_width, depth)), shape[0]]
    d_ch = [shape[0], *dcgan_channels(c.d_width, depth)]
    g_flops = [2.0 * c.z_dim * 16 * g_ch[0]]
    g_flops += [
        2.0 * a * b * 16 * (4 * 2**i) ** 2
        for i, (a, b) in enumerate(zip(g_ch[:-1], g_ch[1:], strict=True))
    ]
    side = shape[1]
    d_flops = [
        2.0 * a * b * 16 * (side // 2 ** (i + 1)) ** 2
        for i, (a, b) in enumerate(zip(d_ch[:-1], d_ch[1:], strict=True))
    ]
    d_flops.append(2.0 * 16 * d_ch[-1])
    return g_flops, d_flops


class DCGANFamily(ModelFamily):
    """G and D as in the module docstring; `g_width` / `d_width` are base channels."""

    name = "dcgan"

    def generator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> DCGANGenerator:
        shape = image_shape(target)
        return DCGANGenerator(config.z_dim, config.g_width, shape, init_generators)

    def discriminator(
        self, config: TrialConfig, target: Target, init_generators: Sequence[torch.Generator]
    ) -> DCGANDiscriminator:
        c = config
        penalty = any(penalties(c))  # a GP or R1: no BatchNorm in D (module docstring)
        channels, height, width = image_shape(target)
        # PacGAN: D reads `pack` samples' channels stacked (updates.pack).
        return DCGANDiscriminator(
            c.d_width,
            (c.pack * channels, height, width),
            init_generators,
            c.d_spectral_norm,
            not penalty,
        )

    def flops_per_step(self, config: TrialConfig, target_dim: int) -> float:
        """Conv and matmul FLOPs of one iteration of Algorithm 1, all replicas, counted as
        the MLP's (`mlp.MLPFamily.flops_per_step`): a backward is two forwards (input and
        weight gradients) except a first layer's input gradient (data or noise). Equal to
        torch's FlopCounterMode on one trainer step (tests/engine/test_models_dcgan.py). Not
        counted: BatchNorm, activations, losses, optimizer, penalties' double backward."""
        c = config
        shape = IMAGE_SHAPES[c.target]  # target_dim alone cannot say (C, H, W)
        g, _ = layer_flops(c, shape)
        _, d = layer_flops(c, (c.pack * shape[0], *shape[1:]))  # D reads packs
        b, n = c.batch_size, c.batch_size // c.pack  # samples; packs D judges per batch
        g_all, d_all = sum(g), sum(d)
        d_step = g_all * b + 3 * d_all * 2 * n - d[0] * 2 * n
        g_step = 3 * g_all * b - g[0] * b + 2 * d_all * n
        return c.replicas * (c.k * d_step + c.g_steps * g_step)
