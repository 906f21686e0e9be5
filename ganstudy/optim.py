"""The optimizers of replica-batched parameters, one learning rate (and betas, momentum)
per replica where a fused group needs them.

Every parameter is (R, ...). Adam and SGD act element-wise, so one torch optimizer over
the batched parameters equals one optimizer per replica as long as the replicas share
their hyperparameters: `make_optimizer` gives torch's (fused kernel where it has one).
A fused group's members differ in lr, betas or momentum, and a per-replica learning rate
cannot be folded into Adam's gradient (Adam divides the scale out again), so
`ReplicaAdam` / `ReplicaSGD` write torch's update rules out with (R,) hyperparameter
tensors broadcast over each parameter's replica axis. Their state has torch's keys
(`step`, `exp_avg`, `exp_avg_sq`; `momentum_buffer`), so checkpoints look alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

ADAM_EPS = 1e-8  # torch.optim.Adam's default, which every trial has used


def make_optimizer(
    cls: type[torch.optim.Optimizer], params: Iterable[torch.nn.Parameter], **settings: Any
) -> torch.optim.Optimizer:
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


def replica_optimizer(
    kind: str, params: Iterable[torch.nn.Parameter], settings: dict[str, Sequence[float]]
) -> torch.optim.Optimizer:
    """The optimizer of `kind` ("adam" or "sgd") for replica-batched `params`, with one
    value per replica of each setting (`lr`, and `beta1`, `beta2` or `momentum`): torch's
    own when every replica has the same values, else the written-out per-replica one."""
    shared = {name: values[0] for name, values in settings.items()}
    if all(len(set(values)) == 1 for values in settings.values()):
        if kind == "adam":
            betas = (shared["beta1"], shared["beta2"])
            return make_optimizer(torch.optim.Adam, params, lr=shared["lr"], betas=betas)
        return make_optimizer(torch.optim.SGD, params, lr=shared["lr"], momentum=shared["momentum"])
    cls = ReplicaAdam if kind == "adam" else ReplicaSGD
    return cls(params, **settings)


def set_hyperparameters(optimizer: torch.optim.Optimizer, **settings: Sequence[float]) -> None:
    """Write per-replica settings (`lr`, `beta1`, `beta2`, `momentum`, one value per
    replica) into an optimizer made by `replica_optimizer` (after its load_state_dict,
    which restores the checkpoint's)."""
    for group in optimizer.param_groups:
        if isinstance(optimizer, ReplicaOptimizer):
            like = group["params"][0]  # a loaded group's tensors may sit on another device
            for name, values in settings.items():
                if name in group:
                    group[name] = torch.tensor(values, dtype=like.dtype, device=like.device)
            continue
        group["lr"] = settings["lr"][0]
        if "betas" in group:
            group["betas"] = (settings["beta1"][0], settings["beta2"][0])
        else:
            group["momentum"] = settings["momentum"][0]


def along(values: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Per-replica values (R,) shaped (R, 1, ...) to broadcast over p (R, ...)."""
    return values.reshape(-1, *([1] * (p.dim() - 1)))


class ReplicaOptimizer(torch.optim.Optimizer):
    """An optimizer whose hyperparameters are (R,) tensors, one value per replica."""

    def __init__(self, params: Iterable[torch.nn.Parameter], **settings: Sequence[float]):
        params = list(params)
        like = params[0]
        defaults = {
            name: torch.tensor(list(values), dtype=like.dtype, device=like.device)
            for name, values in settings.items()
        }
        if any(len(v) != like.shape[0] for v in defaults.values()):
            raise ValueError(f"one value per replica ({like.shape[0]}) of each setting")
        super().__init__(params, defaults)


class ReplicaAdam(ReplicaOptimizer):
    """torch.optim.Adam's update (eps 1e-8, no weight decay, no amsgrad) with per-replica
    lr, beta1, beta2: the formulas of torch's single-tensor implementation."""

    def __init__(
        self, params, *, lr: Sequence[float], beta1: Sequence[float], beta2: Sequence[float]
    ):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2)

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102 - torch's signature
        for group in self.param_groups:
            lr, beta1, beta2 = group["lr"], group["beta1"], group["beta2"]  # (R,) each
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # torch's initial state
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                step = float(state["step"])
                grad, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(grad, along(1 - beta1, p))
                v.mul_(along(beta2, p)).add_(grad * grad * along(1 - beta2, p))
                step_size = lr / (1 - beta1**step)  # (R,)
                correction2 = (1 - beta2**step).sqrt()  # (R,)
                denom = (v.sqrt() / along(correction2, p)).add_(ADAM_EPS)
                p.sub_(m / denom * along(step_size, p))


class ReplicaSGD(ReplicaOptimizer):
    """torch.optim.SGD's update (no dampening, weight decay or Nesterov) with per-replica
    lr and momentum; a replica of momentum 0 steps by -lr·grad exactly."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        *,
        lr: Sequence[float],
        momentum: Sequence[float],
    ):
        super().__init__(params, lr=lr, momentum=momentum)

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102 - torch's signature
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]  # (R,) each
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:  # torch's first step: the buffer is the gradient
                    buf = state["momentum_buffer"] = p.grad.clone()
                else:
                    buf.mul_(along(momentum, p)).add_(p.grad)
                p.sub_(buf * along(lr, p))
