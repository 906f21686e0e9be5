"""Batched replica MLPs: replica independence, initialisation, spectral normalisation
against the exact largest singular value, and the per-replica helpers."""

from __future__ import annotations

import math

import torch

from ganstudy.models import discriminator_mlp, generator_mlp


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
        torch.testing.assert_close(d._sigma(i, w.detach()), exact, rtol=1e-8, atol=0)
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
