"""The steps an iteration is made of, for R replicas: D's and G's gradient steps, the
losses and penalties they take, and the remedies. The schedules that order them (Algorithm
1's k D steps then g_steps G steps; `updates: simultaneous`) are trainer.py's.

- `pack: m` (PacGAN, Lin et al. 2018): D judges m samples at once. A batch (R, B, *shape)
  becomes B // m packs (R, B // m, m·shape[0], *shape[1:]): concatenated features for the
  MLP, stacked channels for DCGAN (B % m samples sit out). The data drawn is unchanged
  (m = 1 is a view of the same tensor: today's D exactly); a gradient penalty's mixing
  weights are the first B // m of the batch's, one per pack, and its norm runs over the
  whole pack. G's loss is over the B // m packs of its own B fakes.
- `unroll: n` (Unrolled GAN, Metz et al. 2017): G's loss is taken against D after n
  differentiable updates of D (its own objective, penalties and clipping included, with
  the D optimizer's update rule and current state written out), and G's gradient flows
  through those updates. The unrolled D is a copy: D itself trains only in its k steps.
  The unrolled steps reuse the real batch of the iteration's last D step and the G step's
  own fakes, as Metz et al.'s reference code feeds one batch to every unrolled step.

Replicas stay independent throughout: losses are summed over the replica axis, and every
optimizer (also the written-out one) acts element-wise. A fused group (fusing.py) is more
replicas of the same kind: `ReplicaSettings` gives each loss its members' rows and each
replica its own penalty weights and clip value. A penalty is computed for every replica
once any needs it, with weight 0 where its own configuration has none (a batched D cannot
run on a subset of its replicas); its extra D forward then leaves the spectral-norm vectors
of those replicas alone (`ReplicaModule.sn_advance`), so each member trains exactly as alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch.func import functional_call

from ganstudy.config import TrialConfig
from ganstudy.engine.losses import Loss, get_loss, gradient_penalty, r1_penalty
from ganstudy.engine.models import ReplicaModule
from ganstudy.engine.optim import along
from ganstudy.fusing import penalties
from ganstudy.fusing import per_replica as replicas_of

Critic = Callable[[torch.Tensor], torch.Tensor]  # (R, B', *packed shape) -> (R, B', 1)


@dataclass
class ReplicaSettings:
    """The fusable settings (fusing.FUSABLE) as a step uses them, replica by replica."""

    losses: tuple[tuple[Loss, slice], ...]  # each loss and its replicas' rows, in order
    gp_weight: torch.Tensor | None  # (R,), 0 where the loss has no GP; None: no replica's has
    r1: torch.Tensor | None  # (R,) R1 weights; None: every replica's is 0
    clip: torch.Tensor | None  # (R,), inf where the loss does not clip; None: none clips
    # The replicas ((R,) bool) that pay the GP / R1, where not all do (else None): only
    # they advance their spectral-norm vectors in the penalty's forward. Fixed at the start,
    # so a step never reads a device value back.
    gp_replicas: torch.Tensor | None = None
    r1_replicas: torch.Tensor | None = None

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Each replica's D loss (R,) of its raw outputs real, fake (R, B')."""
        if len(self.losses) == 1:
            return self.losses[0][0].d_loss(real, fake)
        return torch.cat([loss.d_loss(real[rows], fake[rows]) for loss, rows in self.losses])

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """Each replica's G loss (R,) of D's raw outputs on its fakes (R, B')."""
        if len(self.losses) == 1:
            return self.losses[0][0].g_loss(fake)
        return torch.cat([loss.g_loss(fake[rows]) for loss, rows in self.losses])


def replica_settings(
    members: Sequence[TrialConfig], device: torch.device, dtype: torch.dtype
) -> ReplicaSettings:
    """ReplicaSettings of a group (each member `replicas` rows, in order; one config alone
    is a group of one)."""
    per_replica = replicas_of(members)
    losses: list[tuple[Loss, slice]] = []
    for start, member in enumerate(per_replica):  # runs of one loss share one call
        if losses and losses[-1][0].name == member.loss:
            losses[-1] = (losses[-1][0], slice(losses[-1][1].start, start + 1))
        else:
            losses.append((get_loss(member.loss), slice(start, start + 1)))

    def tensor(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, device=device, dtype=dtype)

    pays = [penalties(m) for m in per_replica]  # as alone: GP at any weight, R1 if r1 > 0
    pays_gp, pays_r1 = [gp for gp, _ in pays], [r1 for _, r1 in pays]
    gp = [m.gp_weight if paid else 0.0 for m, paid in zip(per_replica, pays_gp, strict=True)]
    clip = [m.clip if get_loss(m.loss).clip_weights else math.inf for m in per_replica]

    def some(pays: list[bool]) -> torch.Tensor | None:
        return None if all(pays) else torch.tensor(pays, device=device)

    return ReplicaSettings(
        losses=tuple(losses),
        gp_weight=tensor(gp) if any(pays_gp) else None,
        r1=tensor([m.r1 for m in per_replica]) if any(pays_r1) else None,
        clip=tensor(clip) if any(c < math.inf for c in clip) else None,
        gp_replicas=some(pays_gp),
        r1_replicas=some(pays_r1),
    )


@dataclass
class Players:
    """What an iteration updates: the shared config (shapes, schedule), the per-replica
    settings, G and D and their optimizers."""

    config: TrialConfig
    settings: ReplicaSettings
    generator: ReplicaModule
    discriminator: ReplicaModule
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


@dataclass
class Stats:
    """One iteration's numbers: summed losses over its D and G steps, and the gradient
    norms of its last D and G steps where asked for (else None)."""

    loss_d: torch.Tensor  # (R,) summed over the k D steps
    loss_g: torch.Tensor  # (R,) summed over the g_steps G steps
    grad_norm_d: torch.Tensor | None = None  # (R,)
    grad_norm_g: torch.Tensor | None = None  # (R,)


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """No parameter gradients for `module` inside (D during the G step: half the backward)."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextmanager
def advancing(module: torch.nn.Module, replicas: torch.Tensor) -> Iterator[None]:
    """Only `replicas` ((R,) bool) advance their spectral-norm vectors in the forwards
    inside (a penalty's forward that the other replicas compute with weight 0)."""
    parts = [m for m in module.modules() if isinstance(m, ReplicaModule)]
    for part in parts:
        part.sn_advance = replicas
    try:
        yield
    finally:
        for part in parts:
            part.sn_advance = None


def _advancing_only(replicas: torch.Tensor | None, module: torch.nn.Module):
    """`advancing(module, replicas)`, or nothing when `replicas` is None (all)."""
    return nullcontext() if replicas is None else advancing(module, replicas)


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """(R, B, C, ...) -> (R, B // m, m·C, ...): each run of m samples as one; the last
    B % m samples sit out (m = 1: a view of x itself)."""
    r, b, c, *rest = x.shape
    n = b // m
    return x[:, : n * m].reshape(r, n, m * c, *rest)


def pack_mix(mix: torch.Tensor, m: int) -> torch.Tensor:
    """A penalty's mixing weights (R, B, 1, ...) -> (R, B // m, 1, ...): one per pack."""
    return mix[:, : mix.shape[1] // m]


def with_labels(critic: Callable, labels: torch.Tensor | None) -> Critic:
    """x -> critic(x, labels) for a conditional D (labels (R, B) of x's B samples), else
    the critic itself."""
    return critic if labels is None else (lambda x: critic(x, labels))


def generate(G: Callable, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G's samples of noise z (R, B, z_dim), for labels (R, B) if G is conditional."""
    return G(z) if labels is None else G(z, labels)


def critic_outputs(
    critic: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    batch_statistics: bool,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_labels: torch.Tensor | None = None,
    fake_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """D's raw outputs (R, n_real + n_fake) on real, then fake (R, n, ...): the one place
    that calls D on both. critic(x, labels) is D (labels None: an unconditional D). With
    batch statistics (BatchNorm) real and fake are normalised apart, as in every GAN's D
    step; otherwise one pass judges both."""
    if batch_statistics:
        return torch.cat([critic(real, real_labels), critic(fake, fake_labels)], dim=1)[..., 0]
    labels = None if real_labels is None else torch.cat([real_labels, fake_labels], dim=1)
    return critic(torch.cat([real, fake], dim=1), labels)[..., 0]


def d_objective(
    p: Players,
    critic: Callable,
    real: torch.Tensor,
    fake: torch.Tensor,
    mix: torch.Tensor | None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, loss + penalties), each (R,), of D on packed real and fake (R, B', ...);
    `labels` (R, B'): a conditional D's labels of real sample i and fake sample i alike."""
    n = real.shape[1]

    def call(x: torch.Tensor, x_labels: torch.Tensor | None) -> torch.Tensor:
        return with_labels(critic, x_labels)(x)

    out = critic_outputs(call, p.discriminator.batch_statistics, real, fake, labels, labels)
    s, D = p.settings, p.discriminator
    loss = s.d_loss(out[:, :n], out[:, n:])  # (R,)
    objective = loss
    judge = with_labels(critic, labels)
    if s.gp_weight is not None:
        with _advancing_only(s.gp_replicas, D):
            objective = objective + s.gp_weight * gradient_penalty(judge, real, fake, mix)
    if s.r1 is not None:
        with _advancing_only(s.r1_replicas, D):
            objective = objective + 0.5 * s.r1 * r1_penalty(judge, real)
    return loss, objective


def _d_batch(
    p: Players, batch: dict[str, torch.Tensor], j: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """D step j's packed real batch (R, B/m, ...) and mixing weights (or None)."""
    m = p.config.pack
    mix = pack_mix(batch["mix"][j], m) if "mix" in batch else None
    return pack(batch["real"][j], m), mix


def d_gradient(p: Players, batch: dict[str, torch.Tensor], j: int) -> torch.Tensor:
    """D's gradient of D step j into .grad (G untouched); returns D's loss (R,)."""
    G, m = p.generator, p.config.pack
    real, mix = _d_batch(p, batch, j)
    labels = batch["y_d"][j] if "y_d" in batch else None  # conditional: the real batch's
    with torch.no_grad():  # detached: trains D only
        fake = pack(generate(G, batch["z_d"][j], labels), m)  # (R, B/m, ...)
    loss, objective = d_objective(p, p.discriminator, real, fake, mix, labels)
    p.opt_d.zero_grad(set_to_none=True)
    objective.sum().backward()  # summed over replicas: each replica's gradient is its own
    return loss.detach()


def d_apply(p: Players) -> None:
    """Step D with the gradient in .grad (then clip its weights if the loss clips)."""
    p.opt_d.step()
    if p.settings.clip is not None:
        p.discriminator.clamp_(p.settings.clip)


def g_gradient(p: Players, batch: dict[str, torch.Tensor], i: int) -> torch.Tensor:
    """G's gradient of G step i into .grad (D untouched); returns G's loss (R,)."""
    c, D = p.config, p.discriminator
    labels = batch["y_g"][i] if "y_g" in batch else None  # conditional: asked-for labels
    with frozen(D):
        fake = generate(p.generator, batch["z_g"][i], labels)  # (R, B, *shape)
        critic = with_labels(D, labels)
        if c.unroll > 0:
            real, mix = _d_batch(p, batch, c.k - 1)  # the iteration's last real batch
            critic = unrolled(p, real, pack(fake, c.pack), mix)
        loss = p.settings.g_loss(critic(pack(fake, c.pack))[..., 0])  # (R,)
        p.opt_g.zero_grad(set_to_none=True)
        loss.sum().backward()
    return loss.detach()


def zeros_like_replicas(module: ReplicaModule) -> torch.Tensor:
    """Zeros (R,) on the module's device, in its dtype."""
    first = next(module.parameters())
    return first.new_zeros(first.shape[0])


# ------------------------------------------------------------------------------ unrolling
def unrolled(
    p: Players, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor | None
) -> Critic:
    """D after `unroll` differentiable updates on (real, fake) (packed, (R, B/m, ...)),
    as a function of x. Gradients flow from its parameters back into `fake`'s generator."""
    values, buffers = unrolled_parameters(p, real, fake, mix)
    return _critic_of(p.discriminator, values, buffers)


def _critic_of(D: ReplicaModule, values: dict, buffers: dict) -> Critic:
    return lambda x: functional_call(D, (values, buffers), (x,))


def unrolled_parameters(
    p: Players, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor | None
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(parameters, buffers) of D after `unroll` differentiable updates (see `unrolled`).

    D's parameters enter as detached copies, so D itself and its optimizer state are not
    changed; buffers (spectral norm's u) are cloned, so its power iteration is not
    advanced by the look-ahead either (the look-ahead's own forwards advance the copies,
    as the real D steps would). So with unroll > 0 the G step leaves D's u alone, where
    with unroll 0 its one D forward advances u once, as it always has.
    """
    c, D = p.config, p.discriminator
    names = [name for name, _ in D.named_parameters()]
    values = {name: q.detach().requires_grad_(True) for name, q in D.named_parameters()}
    buffers = {name: b.clone() for name, b in D.named_buffers()}
    group = p.opt_d.param_groups[0]
    # This look-ahead's own copy of each parameter's optimizer state (moments, step).
    slots = [dict(p.opt_d.state.get(q, {})) for q in D.parameters()]
    for _ in range(c.unroll):
        _, objective = d_objective(p, _critic_of(D, values, buffers), real, fake, mix)
        grads = torch.autograd.grad(
            objective.sum(), [values[n] for n in names], create_graph=True
        )  # differentiable: the next step and G's gradient see through this one
        new = {}
        for name, grad, slot in zip(names, grads, slots, strict=True):
            q = _optimizer_step(c, group, values[name], grad, slot)
            clip = p.settings.clip
            new[name] = q if clip is None else q.clamp(-along(clip, q), along(clip, q))
        values = new
    return values, buffers


def _optimizer_step(
    c: TrialConfig, group: dict, q: torch.Tensor, grad: torch.Tensor, slot: dict
) -> torch.Tensor:
    """D's optimizer update of q written out in differentiable ops (torch's own formulas:
    SGD with momentum as torch.optim.SGD, Adam as torch.optim.Adam with eps 1e-8); `slot`
    (this look-ahead's copy of the optimizer state) is advanced in place."""
    lr = group["lr"]
    if c.optimizer == "sgd":
        buf = slot.get("momentum_buffer")
        buf = grad if buf is None else group["momentum"] * buf + grad  # first step: the grad
        slot["momentum_buffer"] = buf
        return q - lr * buf
    beta1, beta2 = group["betas"]
    step = float(slot["step"]) + 1 if "step" in slot else 1.0
    m = beta1 * slot["exp_avg"] + (1 - beta1) * grad if "exp_avg" in slot else (1 - beta1) * grad
    v = grad * grad * (1 - beta2)
    if "exp_avg_sq" in slot:
        v = beta2 * slot["exp_avg_sq"] + v
    slot.update(step=torch.tensor(step), exp_avg=m, exp_avg_sq=v)
    # sqrt's derivative is infinite at 0 (a parameter whose gradient is exactly 0 so far):
    # a floor at the smallest normal number keeps it finite and changes no value that eps
    # (1e-8) does not already dominate.
    denom = v.clamp_min(torch.finfo(v.dtype).tiny).sqrt() / (1 - beta2**step) ** 0.5 + group["eps"]
    return q - (lr / (1 - beta1**step)) * m / denom
