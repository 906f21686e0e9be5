"""The FLOP model: matmul FLOPs of one trainer iteration, counted analytically.

One function, `step_flops(config)`, is all the bench uses, so that it can later ask the
model family for its own count instead (an MLP-only count lives here until then).
"""

from __future__ import annotations

from collections.abc import Sequence

from ganstudy.config import TrialConfig
from ganstudy.targets import make_target


def mlp_flops(sizes: Sequence[int], n: int) -> float:
    """Matmul FLOPs (2 per multiply-add) of one forward pass of an MLP with layer `sizes`
    on n inputs."""
    return 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def first_layer_flops(sizes: Sequence[int], n: int) -> float:
    """Matmul FLOPs of the first layer alone (forward, n inputs)."""
    return 2.0 * n * sizes[0] * sizes[1]


def step_flops(config: TrialConfig) -> float:
    """Matmul FLOPs of one iteration of Algorithm 1 (k D-steps, one G-step), all replicas.

    A layer's backward is two matmuls of its forward's size: the gradient of its weights
    and the gradient of its input; the first layer's input gradient is never needed (its
    input is data or noise), so autograd skips it. Per D-step: G forward without gradient
    (B points), D forward + backward on B real + B fake (2B). The G-step: G forward +
    backward (B), D forward + input gradients only (B; D is frozen, its weight gradients
    are not needed). This is what torch's FlopCounterMode counts on one trainer step at
    R = 1 (tests/test_bench.py). Not counted: bias adds, activations, losses, the optimizer,
    and the double backward of gradient penalties (WGAN-GP, R1) or spectral norm's power
    iteration (the bench's configuration has none). The reference loop is credited with
    the same (useful) FLOPs.
    """
    c = config
    dim = make_target(c.target, c.target_scale, c.target_std).dim
    g = [c.z_dim] + [c.g_width] * c.g_depth + [dim]
    d = [dim] + [c.d_width] * c.d_depth + [1]
    b = c.batch_size
    d_step = mlp_flops(g, b) + 3 * mlp_flops(d, 2 * b) - first_layer_flops(d, 2 * b)
    g_step = 3 * mlp_flops(g, b) - first_layer_flops(g, b) + 2 * mlp_flops(d, b)
    return c.replicas * (c.k * d_step + g_step)
