"""Fused groups (fusing.py, optim.py): configurations that differ in fusable settings train
as one batched model, and every member equals its configuration trained alone."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from helpers import TINY_MLP as TRAINER_TINY

from ganstudy import fusing
from ganstudy.columns import METRIC_COLUMNS
from ganstudy.config import ConfigError, TrialConfig
from ganstudy.engine.optim import ReplicaAdam, ReplicaSGD, make_optimizer, replica_optimizer
from ganstudy.engine.trainer import Trainer

# test_trainer's tiny models in float64: members must equal lone runs to 1e-10.
TINY = TRAINER_TINY | dict(eval_samples=1000, dtype="float64", replicas=2, steps=30, eval_every=15)


def tiny(**changes) -> TrialConfig:
    return TrialConfig(**(TINY | changes))


def member_state(t: Trainer, m: int) -> dict[str, torch.Tensor]:
    """Member m's rows of every parameter and buffer of G and D."""
    rows = slice(m * t.config.replicas, (m + 1) * t.config.replicas)
    out = {f"g.{k}": v[rows] for k, v in t.generator.state_dict().items()}
    return out | {f"d.{k}": v[rows] for k, v in t.discriminator.state_dict().items()}


def same(a: float, b: float, tol: float = 1e-10) -> bool:
    return (a != a and b != b) or abs(a - b) <= tol * max(1.0, abs(b))


def assert_members_equal_lone_runs(members: list[TrialConfig]) -> Trainer:
    """Train `members` fused and each alone: every weight, optimizer moment and history
    number of each member alike (1e-10). Returns the fused trainer."""
    fused = Trainer(members)
    list(fused.run())
    for m, config in enumerate(members):
        alone = Trainer(config)
        list(alone.run())
        fused_state, own = member_state(fused, m), member_state(alone, 0)
        for name, value in own.items():
            torch.testing.assert_close(fused_state[name], value, rtol=0, atol=1e-10, msg=name)
        rows = [row for row in fused.history if row["member"] == m]
        assert len(rows) == len(alone.history) > 0
        for row, ref in zip(rows, alone.history, strict=True):
            assert row["replica"] == ref["replica"] and row["seed"] == ref["seed"]
            assert row["outcome"] == ref["outcome"]
            for name in METRIC_COLUMNS:
                # fd goes through eigendecompositions that magnify 1e-12 feature
                # differences (test_models_dcgan): 1e-8 relative.
                tol = 1e-8 if name == "fd" else 1e-10
                assert same(row[name], ref[name], tol), (m, name, row[name], ref[name])
    return fused


# Every loss in one group, with its own learning rates, betas, penalties, clip and seed.
LOSS_GROUP = [
    dict(loss="nonsaturating", lr_d=1e-3, lr_g=2e-3, seed=0),
    dict(loss="wgan_gp", lr_d=3e-4, gp_weight=5.0, beta1=0.0, beta2=0.9, seed=3),
    dict(loss="minimax", lr_d=5e-3, r1=1.0, seed=0),
    dict(loss="wasserstein", lr_d=1e-3, clip=0.05, seed=7),
    dict(loss="hinge", r1=0.3, beta1=0.9, seed=11),
    dict(loss="least_squares", lr_g=5e-4, seed=2),
    dict(loss="wgan_gp", r1=0.5, seed=4),
]


@pytest.mark.parametrize("extra", [dict(k=1), dict(k=2, d_spectral_norm=True)])
def test_every_loss_rate_and_penalty_in_one_group_equals_its_lone_run(extra):
    members = [tiny(**extra, **settings) for settings in LOSS_GROUP]
    fused = assert_members_equal_lone_runs(members)
    assert fused.replicas == 2 * len(members)
    # The optimizer is the written-out per-replica one: the members' rates differ.
    assert isinstance(fused.opt_d, ReplicaAdam) and isinstance(fused.opt_g, ReplicaAdam)


def test_sgd_group_with_its_own_rates_and_momenta():
    members = [
        tiny(optimizer="sgd", lr_d=0.05, lr_g=0.02, momentum=0.9, seed=1),
        tiny(optimizer="sgd", lr_d=0.01, lr_g=0.05, momentum=0.0, seed=1, r1=0.2),
        tiny(optimizer="sgd", lr_d=0.02, lr_g=0.01, momentum=0.5, seed=9, loss="hinge"),
    ]
    fused = assert_members_equal_lone_runs(members)
    assert isinstance(fused.opt_d, ReplicaSGD)


def test_dcgan_group_with_batch_norm_and_spectral_norm():
    image = dict(
        target="digits", model="dcgan", g_width=4, d_width=4, batch_size=16, eval_batch=128,
        eval_samples=400, coverage_samples=200, steps=12, eval_every=6,
    )  # fmt: skip
    members = [
        tiny(**image, loss="hinge", lr_d=2e-4, d_spectral_norm=True, r1=0.5, seed=0),
        tiny(**image, loss="wgan_gp", lr_d=1e-3, d_spectral_norm=True, seed=5),
    ]
    assert_members_equal_lone_runs(members)


def test_shared_settings_keep_torchs_optimizer():
    """A group whose members differ only in seed and loss steps with torch's own Adam."""
    fused = Trainer([tiny(seed=0), tiny(seed=4, loss="hinge")])
    assert type(fused.opt_d) is torch.optim.Adam


def test_fused_checkpoint_resume_is_bit_exact(tmp_path):
    members = [tiny(**settings, steps=40) for settings in LOSS_GROUP[:3]]
    straight = Trainer(members)
    straight.train(40)
    first = Trainer(members)
    first.train(21)  # mid-block
    torch.save(first.state_dict(), tmp_path / "ckpt.pt")
    resumed = Trainer(members)
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt"))
    resumed.train(19)
    for m in range(len(members)):
        a, b = member_state(straight, m), member_state(resumed, m)
        for name in a:
            assert torch.equal(a[name], b[name]), name
    for opt_a, opt_b in ((straight.opt_d, resumed.opt_d), (straight.opt_g, resumed.opt_g)):
        torch.testing.assert_close(opt_a.param_groups[0]["lr"], opt_b.param_groups[0]["lr"])


def test_a_divergent_member_leaves_the_others_alone():
    members = [tiny(**settings, steps=40) for settings in LOSS_GROUP[:3]]
    bad, clean = Trainer(members), Trainer(members)
    bad.train(20)
    clean.train(20)
    with torch.no_grad():  # member 1's first replica (row 2)
        bad.discriminator.biases[0][2, 0, 0] = math.inf
    bad.train(20)
    clean.train(20)
    assert not bool(bad.discriminator.replica_finite()[2])
    rows, ref = bad.evaluate().rows, clean.evaluate().rows
    for i, (row, expected) in enumerate(zip(rows, ref, strict=True)):
        if i == 2:
            assert row["outcome"] == "diverged" and (row["member"], row["replica"]) == (1, 0)
            continue
        for m in (0, 2):
            for name, value in member_state(clean, m).items():
                assert torch.equal(member_state(bad, m)[name], value), name
        assert all(same(row[n], expected[n], 0.0) for n in METRIC_COLUMNS), i


# ----------------------------------------------------------------------- who may fuse
def test_members_must_share_every_setting_outside_fusable():
    with pytest.raises(ConfigError, match="k: differs inside a fused group"):
        Trainer([tiny(k=1), tiny(k=2)])
    with pytest.raises(ConfigError, match="unroll"):
        fusing.check_members([tiny(unroll=1), tiny(unroll=1, lr_d=0.01)])
    assert fusing.shape_key(tiny(lr_d=0.1, loss="hinge", seed=3)) == fusing.shape_key(tiny())
    assert fusing.shape_key(tiny(d_width=32)) != fusing.shape_key(tiny())
    assert set(fusing.FUSABLE) <= set(vars(tiny()))  # every fusable name is a setting


# ----------------------------------------------------------------------- the optimizers
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_replica_optimizer_equals_torchs_per_replica(kind, dtype):
    """Each replica's rows step as torch's own optimizer with its settings, as a trainer
    alone makes it (make_optimizer): Adam bit for bit (ReplicaAdam calls torch's kernel per
    distinct setting, over the rows that have it: replicas 0, 1 and 3 here; 21 elements a
    replica, so a view of two starts replica 1 off the kernel's vector width), SGD within
    rounding (its rule written out: buf·lr, not torch's fused add)."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(5, 3, 7, generator=g, dtype=dtype)
    settings = {"lr": [1e-3, 1e-3, 1e-2, 1e-3, 0.1]} | (
        {"beta1": [0.5, 0.5, 0.0, 0.5, 0.9], "beta2": [0.999, 0.999, 0.9, 0.999, 0.99]}
        if kind == "adam"
        else {"momentum": [0.9, 0.9, 0.0, 0.9, 0.5]}
    )
    batched = torch.nn.Parameter(weight.clone())
    opt = replica_optimizer(kind, [batched], settings)
    lone = [torch.nn.Parameter(weight[r].clone()) for r in range(5)]
    refs = []
    for r, p in enumerate(lone):
        if kind == "adam":
            betas = (settings["beta1"][r], settings["beta2"][r])
            refs.append(make_optimizer(torch.optim.Adam, [p], lr=settings["lr"][r], betas=betas))
        else:
            momentum = settings["momentum"][r]
            refs.append(
                make_optimizer(torch.optim.SGD, [p], lr=settings["lr"][r], momentum=momentum)
            )
    atol = 0.0 if kind == "adam" else (1e-13 if dtype == torch.float64 else 1e-6)
    for step in range(6):
        grad = torch.randn(5, 3, 7, generator=g, dtype=dtype) * (step + 1)
        batched.grad = grad.clone()
        opt.step()
        for r, (p, ref) in enumerate(zip(lone, refs, strict=True)):
            p.grad = grad[r].clone()
            ref.step()
            torch.testing.assert_close(batched.detach()[r], p.detach(), rtol=0, atol=atol)
    # Its state round-trips through state_dict, as a checkpoint needs.
    again = replica_optimizer(kind, [torch.nn.Parameter(batched.detach().clone())], settings)
    again.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert again.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
