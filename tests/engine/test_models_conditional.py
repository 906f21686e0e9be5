"""The conditional GAN (models/conditional.py): the modules equal their definitions, labels
are drawn as documented without changing an unconditional trial's numbers, replicas trained
together equal lone runs and checkpoints resume bit-exactly (mlp and dcgan), class_accuracy
against known answers, FLOPs against torch's counter, and the refused combinations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY_DCGAN as TINY
from helpers import Digits16, assert_replicas_equal_lone_runs, same, state
from torch.utils.flop_counter import FlopCounterMode

from ganstudy.bench.flops import step_flops
from ganstudy.columns import why_nan
from ganstudy.config import ConfigError, TrialConfig
from ganstudy.engine import metrics
from ganstudy.engine import trainer as trainer_module
from ganstudy.engine.models import make_models
from ganstudy.engine.models.conditional import ConditionalGenerator, ProjectionDiscriminator
from ganstudy.engine.streams import STREAM_TRAIN, ReplicaStreams, mixed_seed
from ganstudy.engine.targets import make_target
from ganstudy.engine.trainer import Trainer

MLP = dict(target="ring8", g_width=8, d_width=8, z_dim=3, batch_size=16, eval_batch=128)
MLP |= dict(eval_samples=400, coverage_samples=200, device="cpu", conditional=True)
DCGAN = TINY | {"conditional": True}


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


# ----------------------------------------------------------------- the modules themselves
@pytest.mark.parametrize("base", ["mlp", "dcgan"])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_modules_equal_their_definitions(base, spectral_norm):
    config = TrialConfig(**(MLP if base == "mlp" else DCGAN), d_spectral_norm=spectral_norm)
    target = make_target(config.target)
    G, D = make_models(config, target, gens(0, 1))
    G.double(), D.double()
    assert isinstance(G, ConditionalGenerator) and isinstance(D, ProjectionDiscriminator)
    n = target.n_modes
    z = torch.randn(2, 5, config.z_dim, dtype=torch.float64)
    y = torch.randint(n, (2, 5))
    # G: the family's G on [z, one_hot(y)].
    x = G(z, y)
    torch.testing.assert_close(x, G.base(torch.cat([z, F.one_hot(y, n).double()], -1)))
    # D: head(φ(x)) + <V_y, φ(x)>, V_y looked up per replica; spectral norm divides V by
    # its largest singular value (the power iteration's estimate, checked against the SVD
    # once the iteration has converged).
    D.eval()  # no power-iteration step: the same u for both evaluations below
    h = D.base.hidden(x)
    assert h.shape == (2, 5, D.base.hidden_width)
    v = D.embedding
    if spectral_norm:
        D.train()
        for _ in range(200):
            D(x, y)
        D.eval()
        sigma = torch.linalg.matrix_norm(v.detach(), ord=2)  # (R,)
        torch.testing.assert_close(D.sigma(0, v).detach(), sigma, rtol=1e-6, atol=0)
        v = v / D.sigma(0, v)[:, None, None]
        h = D.base.hidden(x)
    expected = D.base.head(h) + torch.stack(
        [(v[r][y[r]] * h[r]).sum(-1, keepdim=True) for r in range(2)]
    )
    torch.testing.assert_close(D(x, y), expected)
    # The label changes D's output (the projection is not dead weight).
    assert not torch.allclose(D(x, (y + 1) % n), D(x, y))


# --------------------------------------------------------------------------------- labels
def test_labels_are_drawn_after_the_unconditional_numbers_and_in_the_data_proportions():
    config = TrialConfig(**DCGAN, replicas=2, k=2, steps=20)
    target = make_target("digits")
    conditional = ReplicaStreams(config, target, torch.device("cpu"), torch.float64)
    plain = ReplicaStreams(
        config.replace(conditional=False), target, torch.device("cpu"), torch.float64
    )
    a, b = conditional.draw(0), plain.draw(0)
    assert set(a) - set(b) == {"y_d", "y_g"}
    assert all(torch.equal(a[name], b[name]) for name in b)  # the same data and noise
    # y_d are the real batch's own labels: the same generator draws them with the images.
    g = torch.Generator().manual_seed(mixed_seed(config.seed, STREAM_TRAIN))
    images, labels = target.sample_labeled(16 * 2 * config.batch_size, g)
    # Step 0 of replica 0: its first k·B = 32 images, (k, R, B, 1, 8, 8) and (k, R, B).
    torch.testing.assert_close(a["real"][:, 0].reshape(32, 64), images[:32].double())
    assert torch.equal(a["y_d"][:, 0], labels[:32].reshape(2, 16))
    # y_g in the training split's class proportions: 16 steps x 16 = 256 draws per block;
    # over many blocks the frequencies approach the data's (binomial 4-sigma bounds).
    counts = torch.zeros(10)
    for step in range(0, 16 * 40):
        counts += torch.bincount(conditional.draw(step)["y_g"][0, 0], minlength=10)
    freq = target.label_frequencies().float()
    n = counts.sum()
    bound = 4 * (freq * (1 - freq) / n).sqrt()
    assert ((counts / n - freq).abs() <= bound).all()
    torch.testing.assert_close(freq.sum(), torch.tensor(1.0))


# ---------------------------------------------------------------------- replicas, resume
REPLICA_CASES = {
    "mlp_k1": MLP | dict(k=1),
    "mlp_k2_spectral_norm": MLP | dict(k=2, d_spectral_norm=True),
    "mlp_wgan_gp": MLP | dict(loss="wgan_gp"),
    "mlp_r1": MLP | dict(loss="minimax", r1=1.0),
    "dcgan_k1": DCGAN | dict(k=1),
    "dcgan_k2_spectral_norm": DCGAN | dict(k=2, d_spectral_norm=True),
    "dcgan_wgan_gp": DCGAN | dict(loss="wgan_gp"),
    "dcgan_r1_simultaneous": DCGAN | dict(r1=1.0, updates="simultaneous"),
    "dcgan_batch_norm_16x16": DCGAN | dict(k=2, target16=True),
}


@pytest.mark.parametrize("case", list(REPLICA_CASES))
def test_replicas_trained_together_equal_replicas_trained_alone(case, monkeypatch):
    changes = dict(REPLICA_CASES[case])
    if changes.pop("target16", False):
        monkeypatch.setattr(trainer_module, "make_target", lambda *_: Digits16())
    config = TrialConfig(**changes, dtype="float64", steps=40, eval_every=20, replicas=2, seed=5)
    together = assert_replicas_equal_lone_runs(config)
    assert all(0.0 <= row["class_accuracy"] <= 1.0 for row in together.history)


@pytest.mark.parametrize("config", [MLP | dict(k=2), DCGAN | dict(d_spectral_norm=True)])
def test_checkpoint_resume_is_bit_exact(config, tmp_path):
    config = TrialConfig(**config, steps=40, replicas=2)
    straight = Trainer(config)
    straight.train(40)
    first = Trainer(config)
    first.train(21)  # mid-block: the restore redraws the block, labels included
    torch.save(first.state_dict(), tmp_path / "ckpt.pt")
    resumed = Trainer(config)
    resumed.load_state_dict(torch.load(tmp_path / "ckpt.pt"))
    resumed.train(19)
    sa, sb = state(resumed), state(straight)
    assert all(torch.equal(sa[name], sb[name]) for name in sa)
    a, b = resumed.evaluate().rows[0], straight.evaluate().rows[0]
    assert all(same(a[k], b[k], 0.0) for k in a if isinstance(a[k], float))


# ------------------------------------------------------------------------- class_accuracy
def test_class_accuracy_against_known_answers():
    ring = make_target("ring8")
    modes = ring.modes  # (8, 2)
    labels = torch.arange(8).repeat(50)[None]  # (1, 400)
    at_modes = modes[labels]  # every sample exactly at its label's mode
    assert float(metrics.class_accuracy(at_modes, labels, ring)) == 1.0
    assert float(metrics.class_accuracy(at_modes, (labels + 1) % 8, ring)) == 0.0
    # All samples at mode 0 whatever the label: the label's share of mode 0, 1/8.
    assert float(metrics.class_accuracy(modes[:1].expand(1, 400, 2), labels, ring)) == 1 / 8
    # Digits: real held-out images with their true labels score the classifier's accuracy
    # (96.9% held out, README); a shifted label is almost never the classifier's answer.
    digits = make_target("digits")
    x, y = digits.held_out_sample(2000)
    right = float(metrics.class_accuracy(x[None], y[None], digits))
    wrong = float(metrics.class_accuracy(x[None], (y[None] + 1) % 10, digits))
    assert right > 0.95 and wrong < 0.03


def test_conditional_ring8_learns_to_generate_the_asked_for_mode():
    config = TrialConfig(**MLP | dict(g_width=32, d_width=32), steps=400, eval_every=400)
    rows = list(Trainer(config).run())[-1].rows
    # Chance is 1/8; the label reaches both players, so G puts samples at the asked mode.
    assert rows[0]["class_accuracy"] > 0.9


def test_an_unconditional_run_has_no_class_accuracy():
    config = TrialConfig(**MLP | dict(conditional=False), steps=1, eval_every=1)
    assert math.isnan(Trainer(config).evaluate().rows[0]["class_accuracy"])
    assert "conditional" in why_nan("class_accuracy")


# ---------------------------------------------------------------------- FLOPs and config
def test_flops_per_step_equals_torchs_flop_counter_on_one_trainer_step():
    for config in (TrialConfig(**MLP, steps=5), TrialConfig(**DCGAN, k=2, steps=5)):
        t = Trainer(config)
        t.train(1)  # fill the randomness block first: the count is of one step only
        with FlopCounterMode(display=False) as counter:
            t.train(1)
        assert counter.get_total_flops() == step_flops(config)


@pytest.mark.parametrize(
    ("changes", "key"),
    [(dict(pack=2), "pack"), (dict(unroll=1), "unroll"), (dict(target="dirac", model="dirac"), "")],
)
def test_refused_combinations_name_the_setting(changes, key):
    with pytest.raises(ConfigError) as error:
        TrialConfig(**MLP | changes)
    assert (key or "conditional") in str(error.value) and "\n" not in str(error.value)
