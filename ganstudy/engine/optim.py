"""The optimizers of replica-batched parameters, one learning rate (and betas, momentum)
per replica where a fused group needs them.

Every parameter is (R, ...). Adam and SGD act element-wise, so one torch optimizer over
the batched parameters equals one optimizer per replica as long as the replicas share
their hyperparameters: `make_optimizer` gives torch's (fused kernel where it has one).
A fused group's members differ in lr, betas or momentum, and a per-replica learning rate
cannot be folded into Adam's gradient (Adam divides the scale out again), so
`ReplicaAdam` calls torch's Adam once per distinct setting, on views of the rows of the
replicas that have it, and `ReplicaSGD` writes torch's update rule out with (R,)
hyperparameter tensors broadcast over each parameter's replica axis (four ops). Their
state has torch's keys (`step`, `exp_avg`, `exp_avg_sq`; `momentum_buffer`), so
checkpoints look alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch.optim.adam import adam

ADAM_EPS = 1e-8  # torch.optim.Adam's default, which every trial has used
# Devices with torch's fused Adam kernel (torch >= 2.4), which ReplicaAdam calls.
FUSED_ADAM_DEVICES = ("cpu", "cuda")


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
            for name, values in settings.items():
                if name in group:
                    group[name] = _per_replica(values)
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
    """An optimizer whose hyperparameters are one value per replica: each group holds them
    as tuples of floats (exactly what was asked for, and what a checkpoint stores)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], **settings: Sequence[float]):
        params = list(params)
        replicas = params[0].shape[0]
        defaults = {name: _per_replica(values) for name, values in settings.items()}
        if any(len(v) != replicas for v in defaults.values()):
            raise ValueError(f"one value per replica ({replicas}) of each setting")
        super().__init__(params, defaults)


def _per_replica(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


class ReplicaAdam(ReplicaOptimizer):
    """torch.optim.Adam (eps 1e-8, no weight decay, no amsgrad) with per-replica lr, beta1,
    beta2: torch's own update (`torch.optim.adam.adam`, its fused kernel on the CPU and
    CUDA) called once per distinct (lr, beta1, beta2), on views of the rows of the replicas
    that have it. A fused group's members are whole configurations, so a run of such rows
    is at least one member's `replicas` rows.

    Why not torch's update rule written out once with (R,) hyperparameter tensors, as
    before: that is ~10 passes over every parameter and ~20 small ops on (R,) vectors per
    parameter: 1.0-1.8 ms a step for D at R = 15, width 128, three learning rates in five
    runs, against 0.75-0.95 ms this way (one thread, hostmemory on; one fused call over
    all rows, as where every replica shares its settings: 0.2 ms; the rest is building
    the views and adam()'s own step counting). It is the kernel a trainer alone uses, and
    each replica's rows come out bit for bit as there, in float64 and float32, a view that
    spans several members included (tests/test_fusing.py). The state is torch's (`step`,
    `exp_avg`, `exp_avg_sq` over all R rows), as before, so checkpoints are unchanged.
    """

    def __init__(
        self, params, *, lr: Sequence[float], beta1: Sequence[float], beta2: Sequence[float]
    ):
        super().__init__(params, lr=lr, beta1=beta1, beta2=beta2)

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102 - torch's signature
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            states = []
            for p in params:
                state = self.state[p]
                if not state:  # torch's initial state
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                states.append(state)
            device = params[0].device  # a group's parameters share one (the trainer's)
            cuts, shared = _runs(group["lr"], group["beta1"], group["beta2"])
            tensors = (
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
            )
            views = [[t.tensor_split(cuts) for t in kind] for kind in tensors]  # [kind][p][run]
            steps = torch.stack([s["step"] for s in states]).to(device)  # (parameters,)
            for (lr, beta1, beta2), runs in shared.items():
                p_, g_, m_, v_ = ([each[r] for r in runs for each in kind] for kind in views)
                adam(
                    p_,
                    g_,
                    m_,
                    v_,
                    [],
                    # adam() advances the steps it is given: each view gets its own.
                    list(steps.repeat(len(runs)).unbind()),
                    foreach=False,
                    fused=device.type in FUSED_ADAM_DEVICES,
                    amsgrad=False,
                    beta1=beta1,
                    beta2=beta2,
                    lr=lr,
                    weight_decay=0.0,
                    eps=ADAM_EPS,
                    maximize=False,
                )
            for state in states:
                state["step"] += 1


def _runs(*settings: tuple[float, ...]) -> tuple[list[int], dict[tuple[float, ...], list[int]]]:
    """The runs of consecutive replicas that share every setting, as (the rows where a run
    starts, the first excepted; each distinct combination -> the indexes of its runs)."""
    cuts: list[int] = []
    shared: dict[tuple[float, ...], list[int]] = {}
    last = None
    for r, values in enumerate(zip(*settings, strict=True)):
        if r > 0 and values == last:
            continue  # the run goes on
        if r > 0:
            cuts.append(r)
        shared.setdefault(values, []).append(len(cuts))
        last = values
    return cuts, shared


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
        self._tensors: dict[tuple, torch.Tensor] = {}  # settings as (R,) tensors, made once

    def _tensor(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        key = (values, like.dtype, like.device)
        if key not in self._tensors:
            self._tensors[key] = torch.tensor(values, dtype=like.dtype, device=like.device)
        return self._tensors[key]

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: D102 - torch's signature
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                lr, momentum = self._tensor(group["lr"], p), self._tensor(group["momentum"], p)
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:  # torch's first step: the buffer is the gradient
                    buf = state["momentum_buffer"] = p.grad.clone()
                else:
                    buf.mul_(along(momentum, p)).add_(p.grad)
                p.sub_(buf * along(lr, p))
