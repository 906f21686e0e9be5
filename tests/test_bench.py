"""`ganstudy bench`: the quick mode runs and its JSON has every figure; the FLOP count of a
step against a hand count. No test asserts a speed."""

from __future__ import annotations

import json

import pytest

from ganstudy import bench
from ganstudy.config import TrialConfig

FIGURES = ("reference", "replicas", "hardware", "metrics", "study")


def test_step_flops_against_a_hand_count():
    # G: 2 -> 4 -> 2 is 2·(2·4 + 4·2) = 32 FLOPs a point; D: 2 -> 4 -> 1 is 2·(2·4 + 4·1) = 24.
    config = TrialConfig(
        target="ring8", z_dim=2, g_width=4, g_depth=1, d_width=4, d_depth=1, batch_size=3, k=2,
        replicas=5,
    )  # fmt: skip
    d_step = 32 * 3 + 3 * 24 * (2 * 3)  # G forward on B; D forward + backward on 2B
    g_step = 3 * 32 * 3 + 2 * 24 * 3  # G forward + backward; D forward + input gradients
    assert bench.step_flops(config) == 5 * (2 * d_step + g_step)


def test_reference_loop_trains_the_same_shapes():
    config = bench.bench_config(16, 8)
    ref = bench.ReferenceGAN(config, bench.resolve_device("cpu"))
    assert [tuple(p.shape) for p in ref.G.parameters()] == [
        (16, 8),
        (16,),
        (16, 16),
        (16,),
        (2, 16),
        (2,),
    ]
    before = [p.detach().clone() for p in ref.D.parameters()]
    ref.train(2)
    assert all(not p.equal(q) for p, q in zip(before, ref.D.parameters(), strict=True))


def check_figures(result: dict, study: bool) -> None:
    assert set(result["figures"]) == set(FIGURES)
    f, settings = result["figures"], result["settings"]
    assert {(r["width"], r["batch"]) for r in f["reference"]["rows"]} >= {(32, 64), (128, 256)}
    assert {r["replicas"] for r in f["replicas"]["rows"]} >= {1, 8, 32}
    assert f["hardware"]["ceiling_gflops"]["median"] > 0
    assert {r["what"] for r in f["hardware"]["rows"]} >= {"reference", "trainer_r1"}
    assert f["metrics"]["rows"][0]["eval_every"] == TrialConfig().eval_every
    for summary in (
        *(r["ratio"] for r in f["reference"]["rows"]),
        *(r["speedup"] for r in f["replicas"]["rows"]),
        *(r["fraction"] for r in f["hardware"]["rows"]),
        *(r["cost"] for r in f["metrics"]["rows"]),
    ):  # every figure is a median of interleaved rounds, with its spread
        assert summary["min"] <= summary["median"] <= summary["max"]
        assert len(summary["rounds"]) in (settings["rounds"], settings["metric_rounds"])
    figures_with_targets = {t["figure"] for t in result["targets"]}
    assert figures_with_targets == set(FIGURES) if study else set(FIGURES) - {"study"}
    for target in result["targets"]:
        assert target["met"] == (target["margin"] >= 0)
    if study:
        for key in ("ratio", "ratio_with_start", "ratio_at_target_s", "pool_ratio", "ray_start_s"):
            assert f["study"][key]["median"] > 0, key
        assert f["study"]["trials"] >= 2 and f["study"]["slots"] >= 1
    assert result["environment"]["threads"] >= 1


def test_quick_bench_without_the_study_figure():
    result = bench.run_bench(quick=True, study=False)
    check_figures(result, study=False)
    assert result["figures"]["study"] == {"skipped": "study=False"}
    table = bench.format_table(result)
    assert "targets (issue 6)" in table and ("PASS" in table or "MISS" in table)
    json.dumps(bench._finite(result), allow_nan=False)  # plain JSON, no NaN


@pytest.mark.slow
def test_quick_bench_command_prints_and_writes_json_with_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.bench_command(quick=True, as_json=True, out=str(out)) == 0
    printed = json.loads(capsys.readouterr().out)  # stdout is the JSON alone (Ray kept out)
    assert printed == json.loads(out.read_text())
    assert "error" not in printed["figures"]["study"], printed["figures"]["study"]
    check_figures(printed, study=True)


def test_bench_command_refuses_an_out_file_in_a_missing_folder(tmp_path, capsys):
    assert bench.bench_command(quick=True, as_json=False, out=str(tmp_path / "no" / "b.json")) == 2
    assert "--out" in capsys.readouterr().err
