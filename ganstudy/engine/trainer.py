"""Algorithm 1 of Goodfellow et al. (2014), for `replicas` seeds of one configuration at once.

    for each iteration:
        for j in 1..k:        draw m real samples and m noise samples, and ascend D's objective
        for i in 1..g_steps:  draw m noise samples, and descend G's loss against that D

Every parameter has a leading replica axis, losses are summed over replicas (so each
replica's gradient is its own) and one element-wise optimizer steps them all: R replicas
train exactly as R lone runs. The pieces of a step (losses, penalties, pack, unroll) are
updates.py's; each replica's randomness streams.py's; the measurements evaluation.py's.
The trainer is a plain Python object: no Ray, YAML or files.

    trainer = Trainer(TrialConfig(target="ring8", k=2))
    for evaluation in trainer.run():
        print(evaluation.rows)

Given several configurations that differ only in fusable settings (fusing.py), it trains
them all as one model: `Trainer([config_a, config_b])` holds 2·replicas replicas, member
m's at rows [m·R, (m+1)·R), and each of its eval rows names its `member`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ganstudy.config import TrialConfig, to_dict
from ganstudy.engine.devices import describe_device, resolve_device
from ganstudy.engine.evaluation import Evaluation, Evaluator
from ganstudy.engine.hostmemory import keep_freed_memory
from ganstudy.engine.models import ReplicaModule, make_models
from ganstudy.engine.optim import replica_optimizer, set_hyperparameters
from ganstudy.engine.streams import STREAM_INIT, ReplicaStreams, mixed_seed, replica_seeds
from ganstudy.engine.targets import make_target
from ganstudy.engine.threads import threads_setting, torch_threads
from ganstudy.engine.updates import (
    Players,
    Stats,
    d_apply,
    d_gradient,
    g_gradient,
    replica_settings,
    zeros_like_replicas,
)
from ganstudy.fusing import check_members, per_replica


class Trainer:
    """Trains one TrialConfig's replicas, or a fused group's; see the module docstring."""

    def __init__(self, config: TrialConfig | Sequence[TrialConfig], *, threads: int | None = None):
        # Torch threads for training and evals (threads.py): `threads`, else $GANSTUDY_THREADS,
        # else 1; set while this trainer works, torch's own setting restored after.
        self.threads = threads_setting(threads)
        members = (config,) if isinstance(config, TrialConfig) else tuple(config)
        check_members(members)
        self.members = members
        # The settings every member shares (shapes, schedule, evaluation); the fusable ones
        # (fusing.FUSABLE) are read per member, never from here.
        self.config = c = members[0]
        self.replicas = len(members) * c.replicas  # all of the group's, member-major
        self.seeds = replica_seeds(members)
        self.device = resolve_device(c.device)
        if self.device.type == "cpu":
            keep_freed_memory()  # no page faults on each step's fresh tensors (hostmemory.py)
        self.dtype = getattr(torch, c.dtype)
        if self.device.type == "cuda" and self.dtype == torch.float64:
            warnings.warn(
                "dtype float64 on a GPU runs at a fraction of float32's speed on most cards; "
                "use dtype: float32 unless you need float64's exactness",
                stacklevel=2,
            )
        self.target = make_target(c.target, c.target_scale, c.target_std, c.data_dir)
        inits = [torch.Generator().manual_seed(mixed_seed(s, STREAM_INIT)) for s in self.seeds]
        self.generator, self.discriminator = make_models(
            c.replace(replicas=self.replicas), self.target, inits
        )
        self.generator.to(self.device, self.dtype)
        self.discriminator.to(self.device, self.dtype)
        self.opt_g = self._optimizer(self.generator, "lr_g")
        self.opt_d = self._optimizer(self.discriminator, "lr_d")
        self.streams = ReplicaStreams(members, self.target, self.device, self.dtype)
        settings = replica_settings(members, self.device, self.dtype)
        self.players = Players(
            c, settings, self.generator, self.discriminator, self.opt_g, self.opt_d
        )
        self.evaluator = Evaluator(
            members,
            self.target,
            self.seeds,
            self.streams.label_frequencies,
            self.device,
            self.dtype,
        )
        self.step = 0  # iterations done
        self.d_updates = 0  # D optimizer steps done (k per iteration)
        self.g_updates = 0  # G optimizer steps done (g_steps per iteration)
        self.history: list[dict[str, Any]] = []  # every eval row so far, all replicas
        self._reset_window()

    # ============================================================================ Algorithm 1
    def train(self, steps: int) -> None:
        """Run `steps` iterations (no evaluation, no host sync)."""
        c = self.config
        with torch_threads(self.threads):
            for _ in range(steps):
                batch = self.streams.draw(self.step)  # this iteration's real batches and noise
                # Gradient norms are measured only on the iteration just before an eval.
                measure = (self.step + 1) % c.eval_every == 0 or self.step + 1 == c.steps
                if c.updates == "alternating":
                    stats = self.alternating_iteration(batch, measure)
                else:
                    stats = self.simultaneous_iteration(batch, measure)
                self._add_to_window(stats)
                self.d_updates += c.k
                self.g_updates += c.g_steps
                self.step += 1

    def alternating_iteration(self, batch: dict[str, torch.Tensor], measure: bool) -> Stats:
        """Algorithm 1: k D steps, each on its own real batch and fresh noise, then g_steps
        G steps, each on fresh noise against the D just updated."""
        p, c = self.players, self.config
        stats = Stats(zeros_like_replicas(p.discriminator), zeros_like_replicas(p.discriminator))
        for j in range(c.k):
            stats.loss_d += d_gradient(p, batch, j)  # D's loss (R,); its gradient in .grad
            if measure and j == c.k - 1:
                stats.grad_norm_d = p.discriminator.replica_grad_norm().detach()
            d_apply(p)  # optimizer step (and weight clipping where the loss clips)
        for i in range(c.g_steps):
            stats.loss_g += g_gradient(p, batch, i)  # G's loss (R,); D frozen
            if measure and i == c.g_steps - 1:
                stats.grad_norm_g = p.generator.replica_grad_norm().detach()
            p.opt_g.step()
        return stats

    def simultaneous_iteration(self, batch: dict[str, torch.Tensor], measure: bool) -> Stats:
        """`updates: simultaneous`: in round j, D (if j < k) and G (if j < g_steps) take
        their gradients at the same parameters, then both step. With k = g_steps = 1 this is
        simultaneous gradient descent (Mescheder et al. 2017, 2018)."""
        p, c = self.players, self.config
        stats = Stats(zeros_like_replicas(p.discriminator), zeros_like_replicas(p.discriminator))
        for j in range(max(c.k, c.g_steps)):
            d_round, g_round = j < c.k, j < c.g_steps
            if d_round:
                stats.loss_d += d_gradient(p, batch, j)
            if g_round:
                stats.loss_g += g_gradient(p, batch, j)
            if d_round:
                if measure and j == c.k - 1:
                    stats.grad_norm_d = p.discriminator.replica_grad_norm().detach()
                d_apply(p)
            if g_round:
                if measure and j == c.g_steps - 1:
                    stats.grad_norm_g = p.generator.replica_grad_norm().detach()
                p.opt_g.step()
        return stats

    def run(self) -> Iterator[Evaluation]:
        """Evaluate at step 0 (on a fresh trainer), then train to each eval step and evaluate,
        up to `steps`. A restored trainer continues from its step."""
        c = self.config
        if not self.history:
            yield self.evaluate()
        while self.step < c.steps:
            next_eval = min((self.step // c.eval_every + 1) * c.eval_every, c.steps)
            self.train(next_eval - self.step)
            yield self.evaluate()

    def evaluate(self) -> Evaluation:
        """All metrics for every replica at the current step (evaluation.py; its own
        randomness, so measuring never changes training)."""
        with torch_threads(self.threads):
            evaluation = self.evaluator.evaluate(
                self.generator, self.discriminator, self.step, self._window_values(), self.history
            )
        self.history.extend(evaluation.rows)
        self._reset_window()
        return evaluation

    # ========================================================================== plumbing
    # The loss window: D's and G's losses summed since the last eval, and the gradient
    # norms of the iteration before it, as the eval reports them.
    def _add_to_window(self, stats: Stats) -> None:
        self._loss_sum_d += stats.loss_d
        self._loss_sum_g += stats.loss_g
        if stats.grad_norm_d is not None:
            self._grad_norm_d = stats.grad_norm_d
        if stats.grad_norm_g is not None:
            self._grad_norm_g = stats.grad_norm_g
        self._window_steps += 1

    def _window_values(self) -> dict[str, torch.Tensor]:
        """loss_d and loss_g per D / G step since the last eval (NaN before any step), and
        the last measured gradient norms, (R,) each."""
        c, steps = self.config, self._window_steps
        if steps == 0:
            loss_d, loss_g = self._loss_sum_d * math.nan, self._loss_sum_g * math.nan
        else:
            loss_d = self._loss_sum_d / (steps * c.k)
            loss_g = self._loss_sum_g / (steps * c.g_steps)
        return {
            "loss_d": loss_d,
            "loss_g": loss_g,
            "grad_norm_d": self._grad_norm_d,
            "grad_norm_g": self._grad_norm_g,
        }

    def _reset_window(self) -> None:
        zeros = torch.zeros(self.replicas, device=self.device, dtype=self.dtype)
        self._loss_sum_d, self._loss_sum_g = zeros.clone(), zeros.clone()
        self._window_steps = 0
        self._grad_norm_d = torch.full_like(zeros, math.nan)
        self._grad_norm_g = torch.full_like(zeros, math.nan)

    def _optimizer_settings(self, lr: str) -> dict[str, list[float]]:
        """Each replica's optimizer settings (lr = "lr_d" or "lr_g"), member by member."""
        names = ("beta1", "beta2") if self.config.optimizer == "adam" else ("momentum",)
        rows = per_replica(self.members)
        return {"lr": [getattr(m, lr) for m in rows]} | {
            name: [getattr(m, name) for m in rows] for name in names
        }

    def _optimizer(self, module: ReplicaModule, lr: str) -> torch.optim.Optimizer:
        # Adam and SGD act element-wise, so one optimizer over the batched parameters equals
        # one optimizer per replica (optim.py: per-replica settings where members differ).
        settings = self._optimizer_settings(lr)
        return replica_optimizer(self.config.optimizer, module.parameters(), settings)

    def _optimizer(self, module: ReplicaModule, lr: str) -> torch.optim.Optimizer:
        # Adam and SGD act element-wise, so one optimizer over the batched parameters equals
        # one optimizer per replica (optim.py: per-replica settings where members differ).
        settings = self._optimizer_settings(lr)
        return replica_optimizer(self.config.optimizer, module.parameters(), settings)

    def _apply_optimizer_settings(self) -> None:
        """Write the members' lr, betas / momentum into the optimizers (an optimizer's
        load_state_dict restores the checkpoint's, which would undo a PBT mutation)."""
        set_hyperparameters(self.opt_d, **self._optimizer_settings("lr_d"))
        set_hyperparameters(self.opt_g, **self._optimizer_settings("lr_g"))

    # ------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-exactly: models, optimizers, RNG, step, history."""
        return {
            "config": to_dict(self.config),
            "members": [to_dict(m) for m in self.members],
            "step": self.step,
            "d_updates": self.d_updates,
            "g_updates": self.g_updates,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "streams": self.streams.state_dict(),
            "window": {
                "loss_sum_d": self._loss_sum_d,
                "loss_sum_g": self._loss_sum_g,
                "steps": self._window_steps,
                "grad_norm_d": self._grad_norm_d,
                "grad_norm_g": self._grad_norm_g,
            },
            "history": self.history,
            "device": describe_device(self.device),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict. The optimizer settings (learning rates, betas, momentum) stay
        this trainer's config's, so a PBT clone restored from another trial's checkpoint
        trains with its own perturbed values."""
        self.step = state["step"]
        self.d_updates = state["d_updates"]
        self.g_updates = state.get("g_updates", state["step"])  # older checkpoints: g_steps 1
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self._apply_optimizer_settings()
        self.streams.load_state_dict(state["streams"], state["step"])
        window = state["window"]
        self._loss_sum_d = window["loss_sum_d"].to(self.device)
        self._loss_sum_g = window["loss_sum_g"].to(self.device)
        self._window_steps = window["steps"]
        self._grad_norm_d = window["grad_norm_d"].to(self.device)
        self._grad_norm_g = window["grad_norm_g"].to(self.device)
        self.history = list(state["history"])
