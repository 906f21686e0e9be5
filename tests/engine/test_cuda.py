"""CUDA against the CPU (skipped without a GPU; `scripts/gpu-check.sh` runs these on one).

What holds on a GPU: every model family trains with finite rows; the same injected batches
give the same weights as on the CPU (float64, to rounding); two identical runs are equal and
a mid-block resume equals the straight run (bit-exact on one device type); a checkpoint
written on CUDA loads where CUDA is hidden, history whole.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys

import pytest
import torch

from ganstudy.config import TrialConfig
from ganstudy.engine.trainer import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

FAMILIES = {
    "mlp": dict(model="mlp", target="ring8", d_width=16, g_width=16),
    "dcgan": dict(model="dcgan", target="digits", d_width=8, g_width=8),
}


def tiny(device: str, **changes) -> TrialConfig:
    base = dict(
        device=device,
        steps=40,
        eval_every=20,
        replicas=2,
        batch_size=32,
        eval_samples=2000,
        eval_batch=256,
        dtype="float64",
    )
    return TrialConfig(**{**base, **changes})


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_trains_on_cuda_with_finite_rows(family):
    trainer = Trainer(tiny("cuda", dtype="float32", **FAMILIES[family]))
    trainer.train(40)
    rows = trainer.evaluate().rows
    assert len(rows) == 2
    for row in rows:
        for name in ("loss_d", "loss_g", "d_real", "d_fake", "js_binned"):
            assert math.isfinite(row[name]), (name, row[name])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cuda_equals_cpu_on_the_same_injected_batches(family):
    """Both trainers start from the same weights (init is drawn on the CPU) and train on the
    same batches, drawn once on the CPU: float64 weights agree to rounding."""
    cpu, gpu = (Trainer(tiny(d, **FAMILIES[family])) for d in ("cpu", "cuda"))
    batches = [copy.deepcopy(cpu.streams.draw(step)) for step in range(12)]
    for trainer in (cpu, gpu):
        device = trainer.device
        trainer.streams.draw = lambda step, d=device: {k: v.to(d) for k, v in batches[step].items()}
        trainer.train(12)
    for (name, a), (_, b) in zip(
        cpu.generator.state_dict().items(), gpu.generator.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-9, atol=1e-10, msg=name)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cuda_runs_repeat_and_resume_bit_exactly(family, tmp_path):
    config = tiny("cuda", **FAMILIES[family])
    straight, again = Trainer(config), Trainer(config)
    straight.train(40)
    again.train(40)
    first = Trainer(config)
    first.train(21)  # mid-block
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(config)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.train(19)
    for other in (again, resumed):
        for (name, a), (_, b) in zip(
            straight.generator.state_dict().items(),
            other.generator.state_dict().items(),
            strict=True,
        ):
            assert torch.equal(a, b), name


def test_a_cuda_checkpoint_loads_where_cuda_is_hidden(tmp_path):
    trainer = Trainer(tiny("cuda", **FAMILIES["mlp"]))
    for _ in range(2):
        trainer.train(20)
        trainer.evaluate()
    torch.save(trainer.state_dict(), tmp_path / "state.pt")
    history = len(trainer.history)
    code = (
        "import torch, sys; from ganstudy.engine.trainer import Trainer; "
        "from ganstudy.config import TrialConfig; "
        f"s = torch.load({str(tmp_path / 'state.pt')!r}, weights_only=True, map_location='cpu'); "
        "assert not torch.cuda.is_available(); "
        "c = dict(s['config'], device='cpu'); t = Trainer(TrialConfig(**c)); "
        "t.load_state_dict(s); t.train(5); print(len(t.history))"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.split()[-1]) == history
