"""Model families: the registry, the ReplicaModule helpers on any replica module, and the
MLP family (replica independence, initialisation, spectral normalisation against the exact
largest singular value and against torch's own, FLOPs against bench's count)."""

from __future__ import annotations

import math

import pytest
import torch

from ganstudy.config import FAMILY_RULES, ConfigError, ModelName, TrialConfig
from ganstudy.engine.models import (
    FAMILIES,
    ReplicaModule,
    discriminator_mlp,
    generator_mlp,
    get_family,
    make_models,
)
from ganstudy.engine.targets import make_target


def gens(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_replica_r_equals_a_model_built_from_its_generator_alone():
    together = discriminator_mlp(3, 16, 2, gens(5, 6, 7), spectral_norm=True)
    alone = discriminator_mlp(3, 16, 2, gens(6), spectral_norm=True)
    for (name, batched), single in zip(
        together.state_dict().items(), alone.state_dict().values(), strict=True
    ):
        assert torch.equal(batched[1], single[0]), name
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    together.double().eval()
    alone.double().eval()
    torch.testing.assert_close(together(x)[1], alone(x[1:2])[0], rtol=0, atol=1e-14)


def test_init_is_nn_linear_default_per_layer():
    g = generator_mlp(8, 64, 2, 2, gens(0, 1))
    for w, b in zip(g.weights, g.biases, strict=True):
        bound = 1 / math.sqrt(w.shape[1])
        assert w.abs().max() <= bound and b.abs().max() <= bound
        # Uniform on [-bound, bound]: variance bound²/3 (the output layer has only 2·64·2).
        assert abs(float(w.detach().var()) / (bound**2 / 3) - 1) < 0.2
    assert not torch.equal(g.weights[0][0], g.weights[0][1])  # replicas differ


def test_shapes_and_activations():
    # Parameters are created in float64 (the trainer casts them to the trial's dtype).
    g = generator_mlp(4, 8, 3, 2, gens(0, 1, 2))
    assert g.weights[0].dtype == torch.float64
    assert g(torch.zeros(3, 5, 4, dtype=torch.float64)).shape == (3, 5, 2)
    d = discriminator_mlp(2, 8, 1, gens(0))
    x = torch.randn(1, 7, 2, dtype=torch.float64)
    w0, b0, w1, b1 = d.weights[0], d.biases[0], d.weights[1], d.biases[1]
    h = torch.nn.functional.leaky_relu(x @ w0 + b0, 0.2)
    torch.testing.assert_close(d(x), h @ w1 + b1)


def test_spectral_norm_converges_to_largest_singular_value():
    d = discriminator_mlp(2, 32, 2, gens(0, 1), spectral_norm=True).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    for _ in range(200):  # one power iteration per training-mode forward
        d(x)
    for i, w in enumerate(d.weights):
        exact = torch.linalg.matrix_norm(w.detach(), ord=2)  # (R,)
        torch.testing.assert_close(d.sigma(i, w.detach().mT), exact, rtol=1e-8, atol=0)
    # So the normalised network is 1-Lipschitz per layer: its output matches the explicit
    # computation with W / sigma_max.
    d.eval()
    h = x
    for i, (w, b) in enumerate(zip(d.weights, d.biases, strict=True)):
        w = w / torch.linalg.matrix_norm(w, ord=2)[:, None, None]
        h = h @ w + b
        if i < len(d.weights) - 1:
            h = torch.nn.functional.leaky_relu(h, 0.2)
    torch.testing.assert_close(d(x), h, rtol=1e-7, atol=1e-9)


def test_spectral_norm_state_moves_only_in_training_mode():
    d = discriminator_mlp(2, 8, 1, gens(0), spectral_norm=True)
    before = d.sn_u0.clone()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    d.eval()
    d(x)
    assert torch.equal(d.sn_u0, before)
    d.train()
    d(x)
    assert not torch.equal(d.sn_u0, before)


def test_replica_grad_norm_and_finite():
    d = discriminator_mlp(2, 8, 2, gens(0, 1, 2)).double()
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    (d(x) ** 2).sum().backward()
    expected = torch.stack(
        [sum(p.grad[r].pow(2).sum() for p in d.parameters()).sqrt() for r in range(3)]
    )
    torch.testing.assert_close(d.replica_grad_norm(), expected, rtol=1e-12, atol=0)
    assert d.replica_finite().tolist() == [True, True, True]
    with torch.no_grad():
        d.biases[1][2, 0, 3] = math.inf
    assert d.replica_finite().tolist() == [True, True, False]


def test_clamp():
    d = discriminator_mlp(2, 8, 2, gens(0, 1))
    d.clamp_(0.01)
    assert all(p.abs().max() <= 0.01 for p in d.parameters())


# ------------------------------------------------------------------------------ registry
def test_registry_matches_config_names():
    assert set(FAMILIES) == set(ModelName.__args__)
    assert all(FAMILIES[name].name == name for name in FAMILIES)


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="unknown model 'resnet'") as error:
        get_family("resnet")
    for name in FAMILIES:
        assert name in str(error.value)


def test_make_models_builds_g_then_d_from_the_same_generators():
    """The mlp family's G and D equal the MLPs built by hand, G first, then D, each replica
    from its own generator (the order fixes every seed's initial weights)."""
    config = TrialConfig(z_dim=3, g_width=8, g_depth=2, d_width=6, d_depth=1, replicas=2)
    target = make_target("ring8")
    g, d = make_models(config, target, gens(4, 5))
    inits = gens(4, 5)
    g_ref = generator_mlp(3, 8, 2, target.dim, inits)
    d_ref = discriminator_mlp(target.dim, 6, 1, inits)
    for built, ref in ((g, g_ref), (d, d_ref)):
        assert isinstance(built, ReplicaModule) and built.replicas == 2
        for (name, a), b in zip(built.state_dict().items(), ref.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    assert make_models(config.replace(d_spectral_norm=True), target, gens(4, 5))[1].spectral_norm


def test_mlp_flops_per_step_by_hand():
    # G 8->128->128->2, D 2->128->128->1, B = 128, k = 1. A backward is two matmuls of the
    # forward's size, except that a first layer's input gradient is never computed.
    config = TrialConfig()
    g = 2 * (8 * 128 + 128 * 128 + 128 * 2)
    d = 2 * (2 * 128 + 128 * 128 + 128)
    g_first, d_first = 2 * 8 * 128, 2 * 2 * 128
    b = 128
    by_hand = (g * b + 3 * d * 2 * b - d_first * 2 * b) + (3 * g * b - g_first * b + 2 * d * b)
    assert get_family("mlp").flops_per_step(config, 2) == by_hand


# ----------------------------------------------------------------------- ReplicaModule
class ConvLike(ReplicaModule):
    """A replica module with 4-D and 2-D parameters, no MLP: x (R, B, 2) -> (R, B, 1)."""

    def __init__(self, replicas: int):
        super().__init__()
        self.kernel = torch.nn.Parameter(torch.randn(replicas, 3, 2, 2, dtype=torch.float64))
        self.scale = torch.nn.Parameter(torch.randn(replicas, 2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel.flatten(1).sum(-1)  # (R,)
        return (x * self.scale[:, None] * k[:, None, None]).sum(-1, keepdim=True)


def test_replica_helpers_work_for_any_replica_module():
    m = ConvLike(3)
    assert m.replicas == 3
    (m(torch.randn(3, 4, 2, dtype=torch.float64)) ** 2).sum().backward()
    expected = [
        math.sqrt(float(m.kernel.grad[r].pow(2).sum() + m.scale.grad[r].pow(2).sum()))
        for r in range(3)
    ]
    assert m.replica_grad_norm().tolist() == pytest.approx(expected, rel=1e-12)
    with torch.no_grad():
        m.kernel[2, 1, 0, 1] = math.nan
    assert m.replica_finite().tolist() == [True, True, False]
    m.clamp_(0.1)
    assert float(m.scale.detach().abs().max()) <= 0.1


def test_spectral_norm_matches_torch_parametrization_per_replica():
    """Each replica of the spectrally normalised D computes what torch's own
    parametrizations.spectral_norm computes for a lone nn.Linear stack with that replica's
    weights, once both power iterations have converged."""
    d = discriminator_mlp(3, 16, 2, gens(0, 1, 2), spectral_norm=True).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    for _ in range(300):
        d(x)
    d.eval()
    for r in range(3):
        layers: list[torch.nn.Module] = []
        for i, (w, b) in enumerate(zip(d.weights, d.biases, strict=True)):
            linear = torch.nn.Linear(w.shape[1], w.shape[2]).double()
            with torch.no_grad():
                linear.weight.copy_(w[r].T)  # nn.Linear's weight is (out, in)
                linear.bias.copy_(b[r, 0])
            layers.append(torch.nn.utils.parametrizations.spectral_norm(linear))
            if i < len(d.weights) - 1:
                layers.append(torch.nn.LeakyReLU(0.2))
        reference = torch.nn.Sequential(*layers)
        for _ in range(300):  # torch's power iteration also runs once per training forward
            reference(x[r])
        reference.eval()
        torch.testing.assert_close(d(x)[r], reference(x[r]), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- family rules (config)
# What each family refuses, written out here (not read from config.FAMILY_RULES), with a
# value other than the default for each setting.
REFUSED = {
    "mlp": {},
    "dcgan": {
        "g_activation": "tanh",
        "d_activation": "tanh",
        "g_batch_norm": True,
        "hidden_bias": False,
        "init_std": 0.1,
        "g_depth": 3,
        "d_depth": 3,
    },
    "dirac": {
        "g_activation": "tanh",
        "d_activation": "tanh",
        "g_batch_norm": True,
        "hidden_bias": False,
        "init_std": 0.1,
        "pack": 2,
        "d_spectral_norm": True,
    },
}
HOME = {"mlp": "ring8", "dcgan": "digits", "dirac": "dirac"}  # a target each family takes


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_refuses_exactly_its_declared_settings(family):
    """Every family has rules; each refused setting is one ConfigError naming it, and the
    same value is accepted by a family that does not refuse it (mlp refuses nothing)."""
    assert set(FAMILY_RULES) == set(FAMILIES) == set(REFUSED)
    assert set(FAMILY_RULES[family].refuses) == set(REFUSED[family])
    TrialConfig(model=family, target=HOME[family])
    for key, value in REFUSED[family].items():
        with pytest.raises(ConfigError) as error:
            TrialConfig(model=family, target=HOME[family], **{key: value})
        assert error.value.key == key and f"model={family}" in str(error.value)
        TrialConfig(model="mlp", target="ring8", **{key: value})


@pytest.mark.parametrize(
    "family, target", [("dcgan", "ring8"), ("dirac", "ring8"), ("dirac", "digits")]
)
def test_a_family_refuses_the_targets_it_cannot_model(family, target):
    with pytest.raises(ConfigError) as error:
        TrialConfig(model=family, target=target)
    assert error.value.key == "model" and "use model=mlp" in str(error.value)
