"""The dcgan family: shapes and depth by resolution, the config errors, replicas equal lone
networks (BatchNorm and spectral norm included), DCGAN's init, FLOPs against torch's
counter, and the trainer on digits: replicas trained together equal lone runs, and
checkpoints resume bit-exactly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_DCGAN, Digits16, assert_replicas_equal_lone_runs, same, state
from helpers import tiny as helpers_tiny
from torch.utils.flop_counter import FlopCounterMode

from ganstudy import config as config_module
from ganstudy.bench.flops import step_flops
from ganstudy.config import ConfigError, TrialConfig, dcgan_depth
from ganstudy.engine import trainer as trainer_module
from ganstudy.engine.evaluation import SNAPSHOT_POINTS
from ganstudy.engine.models import DCGANDiscriminator, DCGANGenerator, get_family
from ganstudy.engine.models.dcgan import image_shape
from ganstudy.engine.targets import make_target
from ganstudy.engine.trainer import Trainer

TINY = TINY_DCGAN


def tiny(**changes) -> TrialConfig:
    return helpers_tiny(TINY, **changes)


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


# ---------------------------------------------------------------------- shapes and depth
@pytest.mark.parametrize(("side", "depth"), [(8, 1), (16, 2), (32, 3)])
def test_depth_follows_resolution_and_shapes(side, depth):
    shape = (3, side, side)
    g = DCGANGenerator(5, 4, shape, gens(0, 1))
    d = DCGANDiscriminator(4, shape, gens(0, 1))
    assert dcgan_depth(side) == depth == len(g.weights) == len(d.weights)
    x = g(torch.randn(2, 7, 5, dtype=torch.float64))
    assert x.shape == (2, 7, *shape) and float(x.detach().abs().max()) <= 1.0  # tanh
    assert d(x).shape == (2, 7, 1)
    # Channels halve in G from 4·2^(depth-1) and double in D from 4; BN on D's blocks 1..
    assert [w.shape[1] for w in g.weights] == [4 * 2 ** (depth - 1 - i) for i in range(depth)]
    assert [w.shape[1] for w in d.weights] == [4 * 2**i for i in range(depth)]
    assert len(d.norm_weights) == depth - 1 and d.batch_statistics == (depth > 1)
    assert g.batch_statistics


@pytest.mark.parametrize("side", [4, 6, 12, 24, 0])
def test_a_resolution_that_is_not_4_times_a_power_of_2_is_refused(side, monkeypatch):
    assert dcgan_depth(side) == 0
    with pytest.raises(ValueError, match="4·2\\^n"):
        DCGANGenerator(4, 4, (1, side, side), gens(0))
    monkeypatch.setitem(config_module.IMAGE_SHAPES, "digits", (1, side, side))
    with pytest.raises(ConfigError) as error:
        TrialConfig(target="digits", model="dcgan")
    assert error.value.key == "target" and "4·2^n" in str(error.value)
    assert "\n" not in str(error.value)


def test_dcgan_on_points_and_mlp_depths_are_config_errors():
    with pytest.raises(ConfigError) as error:
        TrialConfig(target="ring8", model="dcgan")
    assert error.value.key == "model" and "image target" in str(error.value)
    for key in ("g_depth", "d_depth"):
        with pytest.raises(ConfigError) as error:
            TrialConfig(target="digits", model="dcgan", **{key: 3})
        assert error.value.key == key and "log2(resolution / 4)" in str(error.value)
    TrialConfig(target="digits", model="dcgan", g_depth=2)  # the default itself is fine
    with pytest.raises(ValueError, match="dcgan needs an image target"):
        image_shape(make_target("ring8"))  # the family's own guard (targets built by hand)


# ---------------------------------------------------------------------------- replicas
def assert_replica_equals_alone(together, alone, x, r: int) -> None:
    for (name, batched), single in zip(
        together.state_dict().items(), alone.state_dict().values(), strict=True
    ):
        assert torch.equal(batched[r], single[0]), name
    torch.testing.assert_close(together(x)[r], alone(x[r : r + 1])[0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_replica_r_equals_a_network_built_from_its_generator_alone(spectral_norm):
    shape = (2, 16, 16)  # depth 2: BatchNorm in G and in D (without spectral norm)
    g_all, g_one = DCGANGenerator(3, 4, shape, gens(5, 6, 7)), DCGANGenerator(3, 4, shape, gens(6))
    assert_replica_equals_alone(g_all, g_one, torch.randn(3, 9, 3, dtype=torch.float64), 1)
    d_all = DCGANDiscriminator(4, shape, gens(5, 6, 7), spectral_norm)
    d_one = DCGANDiscriminator(4, shape, gens(6), spectral_norm)
    assert d_all.batch_statistics != spectral_norm
    x = torch.randn(3, 9, *shape, dtype=torch.float64)
    assert_replica_equals_alone(d_all, d_one, x, 1)
    # Gradients too: each replica's are its own network's.
    (d_all(x).pow(2).sum()).backward()
    (d_one(x[1:2]).pow(2).sum()).backward()
    for (name, a), b in zip(d_all.named_parameters(), d_one.parameters(), strict=True):
        torch.testing.assert_close(a.grad[1], b.grad[0], rtol=0, atol=1e-13, msg=name)


def test_batch_norm_uses_each_replicas_batch_statistics_in_eval_too():
    """G's first BatchNorm normalises each replica's channel over (B, 4, 4) of its own
    batch, in training and evaluation alike (no running statistics)."""
    g = DCGANGenerator(3, 4, (1, 8, 8), gens(0, 1))
    z = torch.randn(2, 6, 3, dtype=torch.float64)
    h = torch.bmm(z, g.project).reshape(2, 6, -1, 4, 4)  # (R, B, C, 4, 4)
    mean = h.mean((1, 3, 4), keepdim=True)
    var = h.var((1, 3, 4), unbiased=False, keepdim=True)
    w, b = g.norm_weights[0][:, None, :, None, None], g.norm_biases[0][:, None, :, None, None]
    h = F.relu((h - mean) / (var + 1e-5).sqrt() * w + b)
    expected = torch.stack(
        [torch.tanh(F.conv_transpose2d(h[r], g.weights[0][r], g.out_bias[r], 2, 1)) for r in (0, 1)]
    )
    for mode in (g.train, g.eval):
        mode()
        torch.testing.assert_close(g(z), expected, rtol=0, atol=1e-13)


def test_dcgan_init():
    d = DCGANDiscriminator(16, (1, 32, 32), gens(0, 1))
    g = DCGANGenerator(8, 16, (1, 32, 32), gens(0, 1))
    convs = torch.cat([w.detach().flatten() for w in [*d.weights, *g.weights]])
    assert abs(float(convs.std()) - 0.02) < 1e-3 and abs(float(convs.mean())) < 1e-3
    scales = torch.cat([w.detach().flatten() for w in [*d.norm_weights, *g.norm_weights]])
    assert abs(float(scales.mean()) - 1) < 5e-3 and abs(float(scales.std()) - 0.02) < 5e-3
    biases = [*d.biases, *d.norm_biases, *g.norm_biases, d.out_bias, g.out_bias]
    assert all(float(b.detach().abs().max()) == 0 for b in biases)
    assert not torch.equal(d.weights[0][0], d.weights[0][1])  # replicas differ


def test_spectral_norm_is_each_conv_weights_largest_singular_value():
    d = DCGANDiscriminator(4, (1, 16, 16), gens(0, 1), spectral_norm=True).double()
    x = torch.randn(2, 3, 1, 16, 16, dtype=torch.float64)
    for _ in range(300):  # one power iteration per training forward
        d(x)
    for i, w in enumerate([*d.weights, d.out_weight]):
        exact = torch.linalg.matrix_norm(w.detach().flatten(2), ord=2)  # (R,) of (Cout, Cin·16)
        torch.testing.assert_close(d.sigma(i, w.detach().flatten(2)), exact, rtol=1e-8, atol=0)
    d.eval()
    before = d.sn_u0.clone()
    d(x)
    assert torch.equal(d.sn_u0, before)  # u moves only in training mode


def test_penalties_drop_batch_norm_from_d():
    """wgan_gp and R1 differentiate each sample's output by its own input alone: D keeps
    no BatchNorm then (on 16x16 images, where it would have one)."""
    target = Digits16()
    family = get_family("dcgan")
    for changes, normed in [({}, True), ({"loss": "wgan_gp"}, False), ({"r1": 1.0}, False)]:
        d = family.discriminator(tiny(**changes), target, gens(0))
        assert d.batch_statistics == normed, changes


# ------------------------------------------------------------------------------- FLOPs
@pytest.mark.parametrize(("k", "extra"), [(1, {}), (2, {}), (2, dict(g_steps=2, pack=2))])
def test_flops_per_step_equals_torchs_flop_counter_on_one_trainer_step(k, extra):
    config = tiny(k=k, replicas=1, steps=5, **extra)
    t = Trainer(config)
    t.train(1)  # fill the randomness block first: the count is of one step only
    with FlopCounterMode(display=False) as counter:
        t.train(1)
    assert counter.get_total_flops() == step_flops(config)
    assert get_family("dcgan").flops_per_step(config.replace(replicas=3), 64) == 3 * step_flops(
        config
    )


# ----------------------------------------------------------------------------- trainer
REPLICA_CASES = {
    "k1": dict(k=1),
    "k2": dict(k=2),
    "spectral_norm_k2": dict(k=2, d_spectral_norm=True),
    "wgan_gp": dict(loss="wgan_gp"),
    "r1": dict(r1=1.0, loss="minimax"),
    "spectral_norm": dict(d_spectral_norm=True),
    "d_batch_norm_16x16": dict(k=2, target16=True),
    # PacGAN's stacked channels and the Unrolled GAN's functional look-ahead through grouped
    # convolutions, D's BatchNorm included (16x16), and with R1's double backward.
    "pack2_unroll1_16x16": dict(pack=2, unroll=1, target16=True),
    "pack2_unroll2_r1_simultaneous": dict(pack=2, unroll=2, r1=1.0, updates="simultaneous"),
}


@pytest.mark.parametrize("case", list(REPLICA_CASES))
def test_replicas_trained_together_equal_replicas_trained_alone(case, monkeypatch):
    changes = dict(REPLICA_CASES[case])
    if changes.pop("target16", False):
        monkeypatch.setattr(trainer_module, "make_target", lambda *_: Digits16())
    config = tiny(**changes, dtype="float64", steps=40, eval_every=20, replicas=2, seed=5)
    together = assert_replicas_equal_lone_runs(config)
    if case.endswith("16x16"):
        assert together.discriminator.batch_statistics
    assert [row["step"] for row in together.history] == [0, 0, 20, 20, 40, 40]


CHECKPOINT_CASES = {
    "default_float32": dict(),
    "k2_spectral_wgan_gp": dict(k=2, d_spectral_norm=True, loss="wgan_gp"),
    "sgd_r1_float64": dict(optimizer="sgd", r1=0.5, dtype="float64"),
}


@pytest.mark.parametrize("first_steps", [21, 32])  # mid-block, and exactly at a block edge
@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_checkpoint_resume_is_bit_exact(case, first_steps, tmp_path):
    config = tiny(**CHECKPOINT_CASES[case], steps=40, replicas=2)
    straight = Trainer(config)
    straight.train(40)
    first = Trainer(config)
    first.train(first_steps)
    torch.save(first.state_dict(), tmp_path / "ckpt.pt")
    resumed = Trainer(config)
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt"))
    resumed.train(40 - first_steps)
    sa, sb = state(resumed), state(straight)
    assert all(torch.equal(sa[name], sb[name]) for name in sa)
    a, b = resumed.evaluate().rows[0], straight.evaluate().rows[0]
    assert all(same(a[k], b[k], 0.0) for k in a if isinstance(a[k], float))


def test_trainer_runs_dcgan_on_digits_with_finite_metrics():
    t = Trainer(tiny(steps=30, eval_every=30, replicas=2))
    evaluations = list(t.run())
    assert evaluations[-1].samples.shape == (2, SNAPSHOT_POINTS, 64)
    for row in evaluations[-1].rows:
        for name in ("js_d", "js_probe", "js_binned", "loss_d", "loss_g", "grad_norm_g"):
            assert row[name] == row[name] and abs(row[name]) < 1e6, name
        assert row["n_modes"] == 10
