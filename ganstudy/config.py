"""TrialConfig: everything one trial needs, validated once, frozen.

Every field name is the name users write in YAML (`params:`), in `ganstudy trial --set`,
and the column name in the result tables. Nothing past this module reads a setting any
other way.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass
from typing import Any, Literal

from ganstudy.columns import LOSS_NAMES

# Subscripting with the tuple is Literal["minimax", "nonsaturating", ...]: one list of names.
LossName = Literal[LOSS_NAMES]  # type: ignore[valid-type]
# The registries (targets.TARGETS, models.FAMILIES) check at import that they hold exactly
# these names; config stays free of torch, so the names are declared here, once.
TargetName = Literal["gaussian1d", "mixture1d", "ring8", "grid25", "curves"]
ModelName = Literal["mlp"]
OptimizerName = Literal["adam", "sgd"]
DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["float32", "float64"]


class ConfigError(ValueError):
    """A setting is unknown or out of range; the message names the key and the fix."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    """One GAN training configuration (Goodfellow et al. 2014, Algorithm 1, plus knobs)."""

    # What to learn.
    target: TargetName = "ring8"
    target_scale: float | None = (
        None  # ring radius / grid spacing / 1-D mean; None: literature default
    )
    target_std: float | None = None  # std of each mode; None: literature default (see targets.py)

    # Algorithm 1.
    loss: LossName = "nonsaturating"
    k: int = 1  # D steps per G step
    steps: int = 3000  # G steps (the paper's "number of training iterations")
    batch_size: int = 128
    # 1e-3, not DCGAN's 2e-4: on the 2-D toys 2e-4 needs ~10x the steps to reach the modes.
    lr_d: float = 1e-3
    lr_g: float = 1e-3
    optimizer: OptimizerName = "adam"
    beta1: float = 0.5  # DCGAN's choice: 0.9 makes GAN training oscillate more
    beta2: float = 0.999
    momentum: float = 0.9  # SGD only; the paper trained with momentum

    # Loss extras.
    clip: float = 0.01  # wasserstein weight clipping (Arjovsky et al. 2017 default)
    gp_weight: float = 10.0  # wgan_gp penalty weight (Gulrajani et al. 2017 default)
    r1: float = 0.0  # R1 penalty weight on real data, any loss; 0 = off

    # Capacity.
    model: ModelName = "mlp"  # the family of G and D (models.FAMILIES)
    z_dim: int = 8
    g_width: int = 128
    g_depth: int = 2  # hidden layers
    d_width: int = 128
    d_depth: int = 2
    d_spectral_norm: bool = False

    # Measurement.
    eval_every: int = 250
    eval_samples: int = 20000  # fakes per replica for js_binned; its plug-in bias ~ bins/(8N)
    eval_batch: int = 2048  # real and fake points for D outputs, js_d and js_probe
    coverage_samples: int = 2500  # VEEGAN / Unrolled GAN evaluate 2500 samples
    coverage_min_count: int = 1  # a mode is captured with >= this many high-quality samples
    quality_sigmas: float = 3.0  # high quality: within this many stds of the nearest mode

    # Execution.
    replicas: int = 1  # seeds seed, seed+1, ... trained together as one batched model
    seed: int = 0
    device: DeviceName = "auto"
    dtype: DtypeName = "float32"

    def __post_init__(self) -> None:
        _check_types(self)
        positive = [
            "k", "steps", "batch_size", "z_dim", "g_width", "g_depth", "d_width", "d_depth",
            "eval_every", "eval_samples", "eval_batch", "coverage_samples", "coverage_min_count",
            "replicas",
        ]  # fmt: skip
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(key, f"must be an integer >= 1, got {getattr(self, key)}")
        for key in ["lr_d", "lr_g", "clip", "quality_sigmas"]:
            if not getattr(self, key) > 0:
                raise ConfigError(key, f"must be > 0, got {getattr(self, key)}")
        for key in ["target_scale", "target_std"]:
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(key, f"must be > 0 (or omitted for the default), got {value}")
        if self.eval_batch < 128:
            # js_probe fits on eval_batch // 2 real and as many fake points, tests on the rest.
            raise ConfigError(
                "eval_batch", f"must be >= 128 (half of it fits js_probe), got {self.eval_batch}"
            )
        for key in ["gp_weight", "r1", "seed"]:
            if getattr(self, key) < 0:
                raise ConfigError(key, f"must be >= 0, got {getattr(self, key)}")
        for key in ["beta1", "beta2", "momentum"]:
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(key, f"must be in [0, 1), got {getattr(self, key)}")

    def replace(self, **changes: Any) -> TrialConfig:
        """A copy with some fields changed (validated again)."""
        return from_dict({**dataclasses.asdict(self), **changes})


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrialConfig)}
_HINTS = typing.get_type_hints(TrialConfig)


def accepted(key: str) -> str:
    """Human-readable description of the values a field accepts."""
    hint = _HINTS[key]
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(typing.get_args(hint))
    names = [a.__name__ for a in typing.get_args(hint) or (hint,)]
    return " or ".join("null" if n == "NoneType" else n for n in names)


# Settings that existed once, with what replaced them (old study files name them).
RETIRED = {
    "probe_steps": "js_probe is now a k-nearest-neighbour classifier that chooses its own k "
    "and trains no steps; remove the key",
}


def unknown_key_error(key: str, known: list[str] | None = None) -> ConfigError:
    """The error for a key nobody knows, with a did-you-mean."""
    known = known if known is not None else list(FIELDS)
    if key in RETIRED:
        return ConfigError(key, f"no longer a setting: {RETIRED[key]}")
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(sorted(known))
    return ConfigError(key, f"unknown setting; {hint}")


def _check_types(config: TrialConfig) -> None:
    for key, hint in _HINTS.items():
        value = getattr(config, key)
        if typing.get_origin(hint) is Literal:
            if value not in typing.get_args(hint):
                raise ConfigError(key, f"got {value!r}; expected {accepted(key)}")
            continue
        types = typing.get_args(hint) or (hint,)
        ok = any(
            value is None
            if t is type(None)
            # bool is an int in Python, but `k: true` is a typo, not a number.
            else isinstance(value, t)
            and not (t is not bool and isinstance(value, bool))
            or (t is float and isinstance(value, int) and not isinstance(value, bool))
            for t in types
        )
        if not ok:
            raise ConfigError(key, f"got {value!r}; expected {accepted(key)}")


def coerce(key: str, value: Any) -> Any:
    """Convert a value (a YAML scalar or a command-line string) to the field's type."""
    if key not in FIELDS:
        raise unknown_key_error(key)
    hint = _HINTS[key]
    if not isinstance(value, str) or typing.get_origin(hint) is Literal:
        if isinstance(value, int) and not isinstance(value, bool) and float in _types(hint):
            return float(value)
        return value
    types = _types(hint)
    text = value.strip()
    if type(None) in types and text.lower() in ("none", "null", ""):
        return None
    if bool in types:
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(key, f"got {value!r}; expected true or false")
    for t in (int, float):
        if t in types:
            try:
                return t(text) if t is float else int(text)
            except ValueError:
                if t is int and float not in types:
                    raise ConfigError(key, f"got {value!r}; expected an integer") from None
    if float in types:
        raise ConfigError(key, f"got {value!r}; expected a number")
    return text


def _types(hint: Any) -> tuple:
    return typing.get_args(hint) or (hint,)


def from_dict(values: dict[str, Any]) -> TrialConfig:
    """Validate a mapping of settings into a TrialConfig (unknown keys are errors)."""
    for key in values:
        if key not in FIELDS:
            raise unknown_key_error(key)
    return TrialConfig(**{key: coerce(key, value) for key, value in values.items()})


def to_dict(config: TrialConfig) -> dict[str, Any]:
    """The config as a flat dict of plain values (field name -> value)."""
    return dataclasses.asdict(config)
