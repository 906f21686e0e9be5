"""TrialConfig validation: every number finite and inside its documented range (LIMITS),
one trial's tensors within MEMORY_LIMIT_BYTES, echoed input kept short."""

from __future__ import annotations

import math
import pickle
import time
from typing import Literal

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ganstudy.config import (
    FIELDS,
    LIMITS,
    MEMORY_LIMIT_BYTES,
    ConfigError,
    TrialConfig,
    footprint_bytes,
    from_dict,
)
from ganstudy.messages import SHOWN_CHARS, shown

FLOAT_KEYS = [k for k in LIMITS if FIELDS[k].type in ("float", "float | None")]
INT_KEYS = [k for k in LIMITS if FIELDS[k].type in ("int", "int | None")]
NON_FINITE = [math.inf, -math.inf, math.nan]


def test_limits_cover_every_numeric_field():
    numeric = [
        k for k, f in FIELDS.items() if f.type in ("int", "float", "float | None", "int | None")
    ]
    assert sorted(LIMITS) == sorted(numeric)
    assert FLOAT_KEYS and INT_KEYS and len(FLOAT_KEYS) + len(INT_KEYS) == len(LIMITS)


def raises_naming(key: str, **values) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        TrialConfig(**values)
    assert info.value.key == key and str(info.value).startswith(f"{key}: "), str(info.value)
    assert "\n" not in str(info.value)
    return info.value


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(FLOAT_KEYS), value=st.sampled_from(NON_FINITE))
def test_any_non_finite_float_is_refused_naming_the_key(key, value):
    error = raises_naming(key, **{key: value})
    assert "finite" in str(error) and str(LIMITS[key]) in str(error)


@settings(max_examples=100, deadline=None)
@given(
    key=st.sampled_from(FLOAT_KEYS),
    text=st.sampled_from(["inf", "-inf", "nan", "NaN", "1e999", "-1e999", "Infinity"]),
)
def test_non_finite_text_is_refused_as_from_the_command_line(key, text):
    with pytest.raises(ConfigError) as info:
        from_dict({key: text})
    assert info.value.key == key


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(INT_KEYS), value=st.sampled_from(NON_FINITE))
def test_non_finite_in_an_integer_field_is_refused(key, value):
    raises_naming(key, **{key: value})


@st.composite
def valid_setting(draw):
    key = draw(st.sampled_from(list(LIMITS)))
    r = LIMITS[key]
    if key in INT_KEYS:
        return key, draw(st.integers(int(r.lo), int(r.hi)))
    value = draw(
        st.floats(r.lo, r.hi, exclude_min=r.lo_open, exclude_max=r.hi_open, allow_nan=False)
    )
    return key, value


@settings(max_examples=300, deadline=None)
@given(setting=valid_setting())
def test_any_value_inside_its_range_is_accepted(setting):
    key, value = setting
    assert getattr(TrialConfig(**{key: value}), key) == value


@pytest.mark.parametrize("key", list(LIMITS))
def test_each_limit_alone_is_accepted_and_just_beyond_it_is_refused(key):
    """The ends themselves: every maximum fits memory with the other settings at defaults."""
    r = LIMITS[key]
    step = 1 if key in INT_KEYS else max(abs(r.hi), 1.0) * 1e-9
    inside_hi = r.hi - step if r.hi_open else r.hi
    inside_lo = r.lo + step if r.lo_open else r.lo
    for value in (inside_lo, inside_hi):
        assert getattr(TrialConfig(**{key: value}), key) == value
    for value in (r.hi if r.hi_open else r.hi + step, r.lo if r.lo_open else r.lo - step):
        raises_naming(key, **{key: value})


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(INT_KEYS), value=st.integers(2**62 + 1, 2**300))
def test_integers_beyond_int64_are_refused_with_a_short_message(key, value):
    error = raises_naming(key, **{key: value})
    assert len(str(error)) < 300  # the value is not echoed in full


@settings(max_examples=100, deadline=None)
@given(key=st.sampled_from(FLOAT_KEYS), value=st.integers(10**309, 10**400))
def test_an_integer_beyond_any_float_is_refused(key, value):
    with pytest.raises(ConfigError) as info:
        from_dict({key: value})  # float(value) would raise OverflowError
    assert info.value.key == key and "finite" in str(info.value)


def test_seed_range_leaves_room_for_the_replica_seeds():
    config = TrialConfig(seed=LIMITS["seed"].hi, replicas=LIMITS["replicas"].hi, batch_size=1)
    assert config.seed + config.replicas - 1 < 2**63  # replica r trains with seed + r: int64


def test_footprint_is_the_documented_formula():
    c = TrialConfig(
        replicas=2, batch_size=100, g_width=10, d_width=12, g_depth=1, d_depth=3, z_dim=3, k=2,
        eval_samples=1000, eval_batch=128, coverage_samples=500,
    )  # fmt: skip
    sizes = footprint_bytes(c)
    per = 8 * 2  # float64, two replicas
    assert sizes == {
        "k": per * 16 * 100 * (2 * (3 + 2 + 1) + 3),
        "batch_size": per * 4 * 100 * 12 * 4,
        "eval_samples": per * 1000 * (3 + 2),
        "d_width": per * 4 * (10**2 * 2 + 12**2 * 4),
    }


def test_footprint_bounds_the_trainers_real_tensors():
    """Weights with Adam's moments and a block of training noise, measured on a real Trainer."""
    from ganstudy.engine.trainer import Trainer

    c = TrialConfig(
        replicas=3, batch_size=64, g_width=24, d_width=40, g_depth=2, d_depth=3, k=3, z_dim=5,
        steps=1, eval_every=1, eval_samples=300, coverage_samples=300, eval_batch=128,
        device="cpu", dtype="float64", target="ring8",
    )  # fmt: skip
    trainer = Trainer(c)
    trainer.train(1)
    params = [*trainer.generator.parameters(), *trainer.discriminator.parameters()]
    weights = 4 * sum(p.numel() * p.element_size() for p in params)  # + grad, Adam's two moments
    noise = sum(t.numel() * t.element_size() for t in trainer.streams.block.values())
    sizes = footprint_bytes(c)
    assert weights <= sizes["d_width"] < 3 * weights
    assert noise <= sizes["k"]
    assert all(isinstance(t, torch.Tensor) for t in trainer.streams.block.values())


def test_a_combination_beyond_memory_is_refused_naming_the_largest_term():
    # Each value is inside its range, but together (float64, 64 replicas): activations
    # 4 * 2^17 * 128 * 3 = 96 GiB, noise 16 * 2^17 * (11 + 8) = 19 GiB, the rest < 1 GiB.
    error = raises_naming("batch_size", replicas=64, batch_size=2**17)
    assert "about 115 GiB" in str(error) and f"{MEMORY_LIMIT_BYTES // 2**30} GiB" in str(error)
    raises_naming("d_width", g_width=2**13, d_width=2**13)  # each alone fits, both do not


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"k": 0}, ["k", ">= 1"]),
        ({"lr_d": -1.0}, ["lr_d", "> 0"]),
        ({"beta1": 1.5}, ["beta1", "[0, 1)"]),
        ({"eval_batch": 64}, ["eval_batch", ">= 128"]),
        ({"seed": -1}, ["seed", ">= 0"]),
        ({"k": 5000}, ["k", "<= 1000", "D alone"]),
        ({"lr_g": 1e9}, ["lr_g", "<= 100", "typo"]),
    ],
)
def test_messages_name_the_key_and_the_fix(setting, words):
    (key,) = setting
    message = str(raises_naming(key, **setting))
    for word in words:
        assert word in message, (word, message)


def test_shown_cuts_long_and_deep_values_quickly():
    assert shown("x" * 10**6).endswith("'") and len(shown("x" * 10**6)) <= SHOWN_CHARS
    assert shown(0.5) == "0.5" and shown("lr") == "'lr'"
    assert "digits" in shown(10**5000)  # repr() of it would raise (int max str digits)
    bomb: list = ["lol"] * 9
    for _ in range(30):  # 9^30 leaves if expanded: a repr that never ends
        bomb = [bomb] * 9
    start = time.perf_counter()
    assert len(shown(bomb)) <= SHOWN_CHARS
    assert time.perf_counter() - start < 0.5


def test_long_keys_and_values_are_not_echoed_in_full():
    with pytest.raises(ConfigError) as info:
        from_dict({"x" * 10**5: 1})
    assert len(str(info.value)) < 1000 and "x" * SHOWN_CHARS not in str(info.value)
    with pytest.raises(ConfigError) as info:
        from_dict({"k": "9" * 10**5})
    assert len(str(info.value)) < 200 and "integer" in str(info.value)


def test_config_error_pickles():
    error = pickle.loads(pickle.dumps(ConfigError("lr_d", "must be > 0")))
    assert (error.key, error.message, str(error)) == ("lr_d", "must be > 0", "lr_d: must be > 0")


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        ("1e-4", float, 1e-4),  # PyYAML reads 1e-4 (no dot) as a string
        (3, float, 3.0),
        (" 7 ", int, 7),
        ("none", float | None, None),
        (None, int | None, None),
        ("yes", bool, True),
        ("off", bool, False),
        (["lr_d"], tuple[str, ...], ("lr_d",)),
        ("grid", Literal["grid", "random"], "grid"),
        (" a ", str, "a"),
    ],
)
def test_convert_reads_yaml_values_and_command_line_strings(value, hint, expected):
    from ganstudy.conversion import convert

    got = convert(value, hint)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("value", "hint", "words"),
    [
        (True, float, "expected a number"),  # `cpu: yes` is a typo, not 1.0
        (True, int, "expected an integer"),
        ("2.5", int, "expected an integer"),
        ("fast", float, "expected a finite number"),
        (10**400, float, "expected a finite number"),
        ("maybe", bool, "expected true or false"),
        ("sobol", Literal["grid", "random"], "expected one of grid, random"),
        ("lr_d", tuple[str, ...], "expected a list of names"),
        (3, str, "expected a string"),
    ],
)
def test_convert_refuses_with_the_expected_type(value, hint, words):
    from ganstudy.conversion import convert

    with pytest.raises(ValueError, match=words):
        convert(value, hint)
