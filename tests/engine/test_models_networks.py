"""The papers' MLPs: activations (maxout included), G's BatchNorm, hidden biases and the
N(0, σ) init, each against a forward pass written by hand; the defaults are today's MLP."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganstudy.config import ConfigError, TrialConfig
from ganstudy.engine.models import get_family
from ganstudy.engine.models.mlp import Layers, discriminator_mlp, generator_mlp
from ganstudy.engine.targets import make_target


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_default_init_is_nn_linears_drawn_w_then_b_per_layer():
    """Today's init, pinned: U(±1/sqrt(fan_in)) for W then b, layer by layer, float64."""
    g = generator_mlp(3, 5, 2, 2, gens(7))
    ref = torch.Generator().manual_seed(7)
    for w, b, fan_in in zip(g.weights, g.biases, [3, 5, 5], strict=True):
        bound = 1 / math.sqrt(fan_in)
        w_ref = (torch.rand(w.shape[1:], generator=ref, dtype=torch.float64) * 2 - 1) * bound
        b_ref = (torch.rand(b.shape[1:], generator=ref, dtype=torch.float64) * 2 - 1) * bound
        assert torch.equal(w[0], w_ref) and torch.equal(b[0], b_ref)
    # Layers() is the same network as passing nothing.
    same = generator_mlp(3, 5, 2, 2, gens(7), layers=Layers())
    for a, b in zip(g.parameters(), same.parameters(), strict=True):
        assert torch.equal(a, b)


def hand_forward(net, x: torch.Tensor, act) -> torch.Tensor:
    """One replica's forward written out: x @ W (+ b), `act` on hidden layers."""
    biases = iter(net.biases)
    h = x
    for i, w in enumerate(net.weights):
        h = h @ w[0]
        if net.has_bias[i]:
            h = h + next(biases)[0]
        if i < len(net.weights) - 1:
            h = act(h)
    return h


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "maxout"])
def test_activations_against_a_forward_by_hand(name):
    x = torch.randn(1, 6, 2, dtype=torch.float64)
    layers = Layers(activation=name, pieces=3, hidden_bias=False, init_std=0.3)
    d = discriminator_mlp(2, 4, 2, gens(0), layers=layers)
    acts = {
        "relu": F.relu,
        "leaky_relu": lambda h: F.leaky_relu(h, 0.2),
        "tanh": torch.tanh,
        "maxout": lambda h: h.reshape(*h.shape[:-1], -1, 3).amax(-1),
    }
    torch.testing.assert_close(d(x)[0], hand_forward(d, x[0], acts[name]), rtol=0, atol=1e-14)
    if name == "maxout":  # width units of 3 pieces each
        assert [w.shape[-1] for w in d.weights] == [12, 12, 1]


def test_init_std_draws_normal_weights_and_zero_biases():
    d = discriminator_mlp(200, 300, 1, gens(1), layers=Layers(init_std=0.02))
    w = d.weights[0].detach()
    assert abs(float(w.std()) - 0.02) < 0.0005 and abs(float(w.mean())) < 0.0005
    assert all(not b.any() for b in d.biases)


def test_hidden_bias_off_keeps_only_the_output_bias():
    g = generator_mlp(3, 5, 3, 2, gens(0), layers=Layers(hidden_bias=False))
    assert g.has_bias == [False, False, False, True] and len(g.biases) == 1


def test_generator_batch_norm_normalises_each_replicas_batch():
    g = generator_mlp(3, 6, 2, 2, gens(0, 1), layers=Layers(batch_norm=True))
    assert g.batch_statistics
    z = torch.randn(2, 64, 3, dtype=torch.float64)
    hidden = {}
    pre = torch.baddbmm(g.biases[0], z, g.weights[0])  # (R, B, 6) before BatchNorm
    normed = (pre - pre.mean(1, keepdim=True)) / torch.sqrt(
        pre.var(1, keepdim=True, correction=0) + 1e-5
    )
    hidden["first"] = F.relu(normed)
    h = torch.baddbmm(g.biases[1], hidden["first"], g.weights[1])
    h = F.relu(
        (h - h.mean(1, keepdim=True)) / torch.sqrt(h.var(1, keepdim=True, correction=0) + 1e-5)
    )
    out = torch.baddbmm(g.biases[2], h, g.weights[2])
    torch.testing.assert_close(g(z), out, rtol=0, atol=1e-12)
    # A sample's output depends on its batch: the trainer must keep batches apart.
    assert not torch.allclose(g(z[:, :32])[:, :4], g(z)[:, :4])


def test_family_reads_the_config():
    target = make_target("ring8")
    c = TrialConfig(
        g_activation="tanh",
        d_activation="maxout",
        maxout_pieces=4,
        g_batch_norm=True,
        hidden_bias=False,
        init_std=0.05,
        d_width=7,
    )
    family = get_family("mlp")
    g, d = family.generator(c, target, gens(0)), family.discriminator(c, target, gens(0))
    assert g.layers.activation == "tanh" and g.batch_norm and not d.batch_norm
    assert d.weights[0].shape == (1, 2, 28) and not any(d.has_bias[:-1])


@pytest.mark.parametrize(
    "setting", [dict(g_activation="tanh"), dict(init_std=0.02), dict(g_batch_norm=True)]
)
def test_network_settings_are_refused_for_other_families(setting):
    with pytest.raises(ConfigError, match="model=mlp only") as info:
        TrialConfig(model="dcgan", target="digits", **setting)
    assert info.value.key == next(iter(setting))
