"""`ganstudy trial`: JSON lines with the metric columns, readable table, and one-line
usage errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from ganstudy.cli import main
from ganstudy.columns import METRIC_COLUMNS

TINY = [
    "g_width=8",
    "d_width=8",
    "batch_size=16",
    "eval_batch=128",
    "eval_samples=500",
    "coverage_samples=100",
    "device=cpu",
]


def test_trial_json_lines(capsys):
    code = main(
        ["trial", "--set", "target=ring8", "steps=4", "eval_every=2", "replicas=2", "k=2"]
        + TINY
        + ["--json"]
    )
    assert code == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["step"], r["replica"]) for r in rows] == [(s, r) for s in (0, 2, 4) for r in (0, 1)]
    for row in rows:
        assert set(METRIC_COLUMNS) | {"step", "replica", "seed", "outcome"} <= row.keys()
        assert row["modes_captured"] is not None and 0 <= row["js_binned"] <= 0.7
    # Undefined numbers are null (JSON has no NaN): no loss and no gradient at step 0.
    assert rows[0]["loss_d"] is None and rows[0]["grad_norm_g"] is None
    assert isinstance(rows[-1]["loss_d"], float)


def test_trial_json_critic_loss_has_null_probabilities(capsys):
    assert (
        main(["trial", "--set", "loss=wgan_gp", "steps=2", "eval_every=2"] + TINY + ["--json"]) == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["d_real"] is None and r["js_d"] is None for r in rows)
    assert all(isinstance(r["critic_real"], float) for r in rows)


def test_trial_table(capsys):
    assert main(["trial", "--set", "target=gaussian1d", "steps=2", "eval_every=1"] + TINY) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gaussian1d: loss=nonsaturating k=1")
    assert "D(x)" in lines[1] and "D(G(z))" in lines[1] and "js_binned" in lines[1]
    assert len(lines) == 2 + 3  # description, header, steps 0 1 2


def usage_error(capsys, *settings: str) -> str:
    code = main(["trial", "--set", *settings, "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # nothing trained, nothing printed
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_key_names_it_with_a_suggestion(capsys):
    line = usage_error(capsys, "lr_dd=0.001")
    assert "lr_dd" in line and "did you mean 'lr_d'" in line


def test_bad_choice_lists_accepted_values(capsys):
    line = usage_error(capsys, "loss=wgan")
    assert "loss" in line and "'wgan'" in line
    for name in ("minimax", "nonsaturating", "wasserstein", "wgan_gp", "hinge", "least_squares"):
        assert name in line


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("k=two", ["k", "integer"]),
        ("k=0", ["k", ">= 1"]),
        ("lr_d=fast", ["lr_d", "number"]),
        ("beta1=1.5", ["beta1", "[0, 1)"]),
        ("d_spectral_norm=maybe", ["d_spectral_norm", "true or false"]),
        ("k", ["KEY=VALUE"]),
    ],
)
def test_bad_values_name_key_and_fix(capsys, setting, words):
    line = usage_error(capsys, setting)
    for word in words:
        assert word in line, (word, line)


def test_setting_that_does_not_apply_to_target(capsys):
    line = usage_error(capsys, "target=curves", "target_scale=2")
    assert "target_scale" in line and "curves" in line
