"""`ganstudy bench`: what it measures against independent counts and known durations.

Timing on callables of known duration (sleeps), the FLOP model against torch's own FLOP
counter, the reference loop's updates against the trainer's, the reported ratios against the
medians printed beside them; the quick mode end to end. No test asserts a speed.
"""

from __future__ import annotations

import json
import math
import re
import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ganstudy.bench import bench_command, format_table, result_json, run_bench
from ganstudy.bench.flops import step_flops
from ganstudy.bench.reference import ReferenceGAN, bench_config
from ganstudy.bench.targets import REFERENCE_TARGET, target_row
from ganstudy.bench.timing import Rate, interleave, ratio_summary
from ganstudy.config import BLOCK_STEPS, TrialConfig
from ganstudy.engine.models.mlp import mlp_flops
from ganstudy.engine.trainer import Trainer

FIGURES = ("reference", "replicas", "hardware", "metrics", "dcgan", "study", "fuse", "threads")
UNTARGETED = {"threads"}  # a measurement to quote, no issue's target
CPU = torch.device("cpu")


# ------------------------------------------------------------------------------- timing
def sleeper(unit_s: float):
    """Work of a known duration: n units sleep n·unit_s (one sleep, so its overshoot is
    paid once per sample, not per unit)."""
    return lambda n: time.sleep(n * unit_s)


def test_rate_of_a_known_duration_is_its_inverse():
    unit_s, sample_s = 0.002, 0.04
    rate = Rate(sleeper(unit_s), CPU, sample_s)
    # Calibrated to fill about sample_s (rounded to whole randomness blocks above one).
    assert sample_s / 2 <= rate.n * unit_s <= 2 * sample_s
    assert rate.n < BLOCK_STEPS or rate.n % BLOCK_STEPS == 0
    measured = rate()
    # A sleep never ends early, so the rate can only come out below 1 / unit_s; a loaded
    # machine's late wake-ups cost a few % of a 40 ms sample.
    assert 0.8 / unit_s <= measured <= 1.001 / unit_s


def test_interleaved_rates_of_two_known_durations_have_their_ratio():
    fast = Rate(sleeper(0.001), CPU, 0.03)
    slow = Rate(sleeper(0.003), CPU, 0.03)
    v = interleave({"fast": fast, "slow": slow}, rounds=3)
    assert len(v["fast"]) == len(v["slow"]) == 3
    figure = ratio_summary(v["fast"], v["slow"])
    assert figure["median"] == pytest.approx(3.0, rel=0.15)
    assert figure["min"] <= figure["median"] <= figure["max"]


def test_interleave_discards_a_warm_up_and_reverses_every_other_round():
    calls: list[str] = []

    def sampler(name: str):
        def sample() -> float:
            calls.append(name)
            return float(len(calls))  # the call's position: shows which calls were kept

        return sample

    v = interleave({"a": sampler("a"), "b": sampler("b"), "c": sampler("c")}, rounds=3)
    assert calls == list("abc" + "abc" + "cba" + "abc")
    assert v == {"a": [4.0, 9.0, 10.0], "b": [5.0, 8.0, 11.0], "c": [6.0, 7.0, 12.0]}


def test_ratio_summary_is_the_ratio_of_medians_within_the_per_round_spread():
    a, b = [1.0, 2.0, 9.0], [2.0, 1.0, 3.0]
    figure = ratio_summary(a, b, scale=2.0)
    # 2·median(a)/median(b) = 2·2/2; the median of the per-round ratios would be 4.
    assert figure["median"] == 2.0
    assert figure["rounds"] == [1.0, 4.0, 6.0]
    assert (figure["min"], figure["max"]) == (1.0, 6.0)


# ------------------------------------------------------------------------------- flops
def test_step_flops_against_a_hand_count():
    # G: 2 -> 4 -> 2 is 2·(2·4 + 4·2) = 32 FLOPs a point, its first layer 2·2·4 = 16;
    # D: 2 -> 4 -> 1 is 2·(2·4 + 4·1) = 24 FLOPs a point, its first layer 16.
    config = TrialConfig(
        target="ring8", z_dim=2, g_width=4, g_depth=1, d_width=4, d_depth=1, batch_size=3, k=2,
        replicas=5,
    )  # fmt: skip
    # G forward on B; D forward + weight and input gradients on 2B, less the first layer's
    # input gradient (its input is data).
    d_step = 32 * 3 + 3 * 24 * (2 * 3) - 16 * (2 * 3)
    # G forward + backward less its first layer's input gradient (its input is noise);
    # D forward + input gradients (D frozen).
    g_step = 3 * 32 * 3 - 16 * 3 + 2 * 24 * 3
    assert step_flops(config) == 5 * (2 * d_step + g_step)


def tiny_config(k: int) -> TrialConfig:
    """Unequal sizes everywhere, so a count that mixes up two of them is off."""
    return bench_config(8, 4, k=k, z_dim=3, g_depth=2, d_depth=3, device="cpu")


def counted_flops(train) -> int:
    """Matmul FLOPs torch counts (mm, addmm, bmm, baddbmm, forward and backward) in one
    call of train(1), after a first call that fills the trainer's randomness block."""
    train(1)
    with FlopCounterMode(display=False) as counter:
        train(1)
    return counter.get_total_flops()


@pytest.mark.parametrize("k", [1, 3])
def test_step_flops_equals_torchs_flop_counter_on_one_trainer_step(k):
    # R = 1: the replicas' one-output layer is multiply-and-sum on the CPU, not a matmul
    # torch's counter sees, at R > 1.
    config = tiny_config(k)
    assert counted_flops(Trainer(config).train) == step_flops(config)


@pytest.mark.parametrize(
    "extra",
    [
        dict(g_steps=2, pack=2),
        dict(updates="simultaneous", g_steps=3, pack=4),
        dict(g_activation="maxout", d_activation="maxout", maxout_pieces=3, hidden_bias=False),
    ],
)
def test_step_flops_count_g_steps_and_packs(extra):
    config = tiny_config(2).replace(**extra)
    assert counted_flops(Trainer(config).train) == step_flops(config)


@pytest.mark.parametrize("k", [1, 3])
def test_reference_loop_does_the_counted_work_plus_ds_weight_gradients_in_the_g_step(k):
    # The plain loop does not freeze D for the G-step: one D forward's worth of weight
    # gradients on B points more, which the bench does not credit it with.
    config = tiny_config(k)
    d_sizes = [2] + [config.d_width] * config.d_depth + [1]
    wasted = mlp_flops(d_sizes, config.batch_size)
    reference = ReferenceGAN(config, CPU)
    assert counted_flops(reference.train) == step_flops(config) + wasted


def count_steps(optimizer: torch.optim.Optimizer) -> list[int]:
    """A counter of the optimizer's steps, kept by a post-step hook."""
    count = [0]
    optimizer.register_step_post_hook(lambda *_: count.__setitem__(0, count[0] + 1))
    return count


@pytest.mark.parametrize("k", [1, 2, 3])
def test_reference_loop_does_the_trainers_d_and_g_updates_for_each_k(k):
    config, steps = tiny_config(k), 3
    trainer, reference = Trainer(config), ReferenceGAN(config, CPU)
    counts = {
        name: (count_steps(getattr(trainer, name)), count_steps(getattr(reference, name)))
        for name in ("opt_d", "opt_g")
    }
    trainer.train(steps)
    reference.train(steps)
    assert counts["opt_d"] == ([k * steps], [k * steps])
    assert counts["opt_g"] == ([steps], [steps])


def test_reference_dcgan_has_the_trainers_parameters_and_trains():
    """The plain DCGAN loop builds G and D of the trainer's dcgan sizes (R = 1), counted
    parameter by parameter, and a step changes D."""
    from ganstudy.bench.images import ReferenceDCGAN, dcgan_config

    config = dcgan_config(8, 16)
    ref, trainer = ReferenceDCGAN(config, CPU), Trainer(config)
    for ours, theirs in ((trainer.generator, ref.G), (trainer.discriminator, ref.D)):
        assert sorted(p.numel() for p in ours.parameters()) == sorted(
            p.numel() for p in theirs.parameters()
        )
    before = [p.detach().clone() for p in ref.D.parameters()]
    ref.train(2)
    assert all(not p.equal(q) for p, q in zip(before, ref.D.parameters(), strict=True))


def test_reference_loop_trains_the_same_shapes():
    config = bench_config(16, 8)
    ref = ReferenceGAN(config, CPU)
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


# ----------------------------------------------------------------------------- targets
def test_target_margin_and_verdict_against_the_limit():
    def row(value: float, op: str, limit: float) -> dict:
        return target_row("f", "n", {"median": value, "min": value, "max": value}, op, limit)

    assert (row(1.2, ">=", 1.0)["met"], row(1.2, ">=", 1.0)["margin"]) == (True, pytest.approx(0.2))
    assert (row(0.9, ">=", 1.0)["met"], row(0.9, ">=", 1.0)["margin"]) == (
        False,
        pytest.approx(-0.1),
    )
    assert (row(0.08, "<=", 0.1)["met"], row(0.08, "<=", 0.1)["margin"]) == (
        True,
        pytest.approx(0.2),
    )
    assert (row(0.12, "<=", 0.1)["met"], row(0.12, "<=", 0.1)["margin"]) == (
        False,
        pytest.approx(-0.2),
    )
    assert row(1.0, ">=", 1.0)["met"] and row(0.1, "<=", 0.1)["met"]


# ----------------------------------------------------------------------- the quick run
def check_figures(result: dict, study: bool) -> None:
    """Every figure there, each one's ratio the ratio of the medians reported beside it."""
    assert set(result["figures"]) == set(FIGURES)
    f, settings = result["figures"], result["settings"]
    assert {(r["width"], r["batch"]) for r in f["reference"]["rows"]} >= {(32, 64), (128, 256)}
    assert {r["replicas"] for r in f["replicas"]["rows"]} >= {1, 8, 32}
    assert f["hardware"]["ceiling_gflops"]["median"] > 0
    assert {r["what"] for r in f["hardware"]["rows"]} >= {"reference", "trainer_r1"}
    assert f["metrics"]["rows"][0]["eval_every"] == TrialConfig().eval_every
    for r in f["reference"]["rows"]:
        ratio = r["trainer_steps_per_s"] / r["reference_steps_per_s"]
        assert r["ratio"]["median"] == pytest.approx(ratio, rel=1e-12)
    base = {(r["width"], r["batch"]): r for r in f["replicas"]["rows"] if r["replicas"] == 1}
    for r in f["replicas"]["rows"]:
        one = base[(r["width"], r["batch"])]["replica_steps_per_s"]
        assert r["speedup"]["median"] == pytest.approx(r["replica_steps_per_s"] / one, rel=1e-12)
    ceiling = f["hardware"]["ceiling_gflops"]["median"]
    for r in f["hardware"]["rows"]:
        assert r["fraction"]["median"] == pytest.approx(r["gflops"] / ceiling, rel=1e-12)
    for r in f["metrics"]["rows"]:
        assert r["cost"]["median"] == pytest.approx(r["eval_s"] / r["train_s"], rel=1e-9)
    dc = f["dcgan"]
    ratio = dc["reference"]["trainer_steps_per_s"] / dc["reference"]["reference_steps_per_s"]
    assert dc["reference"]["ratio"]["median"] == pytest.approx(ratio, rel=1e-12)
    one = dc["replicas"][0]
    assert one["replicas"] == 1
    for r in dc["replicas"]:
        speedup = r["replica_steps_per_s"] / one["replica_steps_per_s"]
        assert r["speedup"]["median"] == pytest.approx(speedup, rel=1e-12)
    m = dc["metrics"]
    assert m["cost"]["median"] == pytest.approx(m["eval_s"] / m["train_s"], rel=1e-9)
    for summary in (
        dc["reference"]["ratio"],
        m["cost"],
        *(r["speedup"] for r in dc["replicas"]),
        *(r["ratio"] for r in f["reference"]["rows"]),
        *(r["speedup"] for r in f["replicas"]["rows"]),
        *(r["fraction"] for r in f["hardware"]["rows"]),
        *(r["cost"] for r in f["metrics"]["rows"]),
    ):  # a ratio of medians lies within the per-round ratios (see timing.ratio_summary)
        assert summary["min"] - 1e-12 <= summary["median"] <= summary["max"] + 1e-12
        assert len(summary["rounds"]) in (settings["rounds"], settings["metric_rounds"])
    th = f["threads"]  # skipped only on one core (or a GPU)
    assert th.get("skipped") or {r["family"] for r in th["rows"]} == {"mlp", "dcgan"}
    for r in th.get("rows", []):
        ratio = r["one_thread_steps_per_s"] / r["default_steps_per_s"]
        assert r["ratio"]["median"] == pytest.approx(ratio, rel=1e-12)
        assert r["ratio"]["min"] - 1e-12 <= r["ratio"]["median"] <= r["ratio"]["max"] + 1e-12
        assert len(r["ratio"]["rounds"]) == settings["rounds"]
    figures_with_targets = {t["figure"] for t in result["targets"]}
    targeted = set(FIGURES) - UNTARGETED
    assert figures_with_targets == (targeted if study else targeted - {"study", "fuse"})
    if study:
        fu = f["fuse"]  # the fused grid's members equal their unfused trials, row for row
        assert fu["equal"] and fu["rows_compared"] == fu["rows_expected"] > 0
        assert fu["max_relative_difference"] <= 1e-8
        assert fu["speedup"] == pytest.approx(fu["unfused_s"] / fu["fused_s"], rel=1e-12)
        bound = fu["training"]["speedup"]  # the grid's training alone, unfused / fused
        assert len(bound["rounds"]) == settings["fuse_train_rounds"]
        assert bound["min"] - 1e-12 <= bound["median"] <= bound["max"] + 1e-12
        assert 1 <= fu["training"]["chunks"] < fu["configurations"]
        for key in ("ratio", "ratio_with_start", "ratio_at_target_s", "pool_ratio", "ray_start_s"):
            assert f["study"][key]["median"] > 0, key
        assert f["study"]["trials"] >= 2 and f["study"]["slots"] >= 1
    assert result["environment"]["threads"] >= 1


@pytest.fixture(scope="module")
def quick_result() -> dict:
    return run_bench(quick=True, study=False)


def test_quick_bench_without_the_study_figure(quick_result):
    check_figures(quick_result, study=False)
    assert quick_result["figures"]["study"] == {"skipped": "study=False"}
    assert quick_result["figures"]["fuse"] == {"skipped": "study=False"}
    assert json.loads(result_json(quick_result))["figures"].keys() == set(FIGURES)


def within_rounding(printed: float, numerator: float, denominator: float, digits: int) -> bool:
    """Whether `printed` (rounded to `digits`) can be numerator / denominator, both printed
    as whole numbers."""
    low = (numerator - 0.5) / (denominator + 0.5)
    high = (numerator + 0.5) / (denominator - 0.5)
    slack = 0.5 * 10**-digits
    return low - slack <= printed <= high + slack


def three_digit_bounds(printed: str) -> tuple[float, float]:
    """The values a positive number printed with `:.3g` can have been."""
    value = float(printed)
    half_step = 0.5 * 10 ** (math.floor(math.log10(value)) - 2)
    return value - half_step, value + half_step


def test_the_table_prints_ratios_of_the_rates_it_prints_beside_them(quick_result):
    table = format_table(quick_result)
    reference = re.findall(r"w(\d+) b(\d+) \((\d+) vs (\d+) steps/s\)\s+([\d.]+)x", table)
    assert len(reference) == len(quick_result["figures"]["reference"]["rows"])
    for _, _, ours, theirs, ratio in reference:
        assert within_rounding(float(ratio), float(ours), float(theirs), 2), (ours, theirs, ratio)
    one = dict(re.findall(r"R=1, (w\d+ b\d+): (\d+) replica-steps/s", table))
    speedup_line = r"R=\d+ / R=1 replica-steps/s, (w\d+ b\d+) \((\d+)/s\)\s+([\d.]+)x"
    replicas = re.findall(speedup_line, table)
    assert len(replicas) == len(quick_result["figures"]["replicas"]["rows"]) - len(one)
    for shape, rate, speedup in replicas:
        assert within_rounding(float(speedup), float(rate), float(one[shape]), 2)


def test_the_table_says_pass_exactly_where_a_figure_meets_its_target(quick_result):
    table = format_table(quick_result)
    f = quick_result["figures"]
    expected = {  # target name -> met, from the figures themselves
        f"trainer / reference, width {r['width']} batch {r['batch']}": r["ratio"]["median"]
        >= REFERENCE_TARGET
        for r in f["reference"]["rows"]
        if r["width"] >= 128
    }
    assert expected
    for name, met in expected.items():
        (line,) = [line for line in table.splitlines() if f" {name}: " in line]
        assert line.split()[0] == ("PASS" if met else "MISS"), line
    n = len(quick_result["targets"])
    lines = table.split("targets (issues 6, 11 and 15):\n")[1].splitlines()[:n]
    meets = {">=": lambda v, limit: v >= limit, "<=": lambda v, limit: v <= limit}
    assert [line.split()[0] for line in lines] == [
        "PASS" if meets[t["op"]](t["value"], t["target"]) else "MISS"
        for t in quick_result["targets"]
    ]


def test_the_table_quotes_the_thread_ratios_it_measured(quick_result):
    th = quick_result["figures"]["threads"]
    table = format_table(quick_result)
    line = r"1 thread / (\d+) \(torch's default\), (\w+) width \d+ batch \d+: "
    line += r"([\d.e+]+) vs ([\d.e+]+) steps/s\s+([\d.]+)x"
    found = re.findall(line, table)
    assert [family for _, family, *_ in found] == [r["family"] for r in th.get("rows", [])]
    for many, _, one, default, ratio in found:
        assert int(many) == th["default_threads"] > 1
        # Rates printed to 3 significant digits, the ratio (of the unrounded medians) to 2
        # decimals: the printed ratio lies between the extremes the printed rates allow.
        (one_low, one_high), (default_low, default_high) = map(three_digit_bounds, (one, default))
        slack = 0.005
        assert one_low / default_high - slack <= float(ratio) <= one_high / default_low + slack


def test_the_ceiling_target_is_r1s_and_every_r_from_8s(quick_result):
    replicas = [r["replicas"] for r in quick_result["figures"]["hardware"]["rows"]]
    assert replicas == [1, 1, 8]  # the reference loop, then the trainer at QUICK's R values
    names = {t["name"] for t in quick_result["targets"] if t["figure"] == "hardware"}
    assert names == {f"trainer GFLOP/s / matmul ceiling, width 128 batch 256 R={R}" for R in (1, 8)}


@pytest.mark.slow
def test_quick_bench_command_prints_and_writes_json_with_every_figure(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_command(quick=True, as_json=True, out=str(out)) == 0
    printed = json.loads(capsys.readouterr().out)  # stdout is the JSON alone (Ray kept out)
    assert printed == json.loads(out.read_text())
    assert "error" not in printed["figures"]["study"], printed["figures"]["study"]
    assert "error" not in printed["figures"]["fuse"], printed["figures"]["fuse"]
    check_figures(printed, study=True)


def test_bench_command_refuses_an_out_file_in_a_missing_folder(tmp_path, capsys):
    assert bench_command(quick=True, as_json=False, out=str(tmp_path / "no" / "b.json")) == 2
    assert "--out" in capsys.readouterr().err
