"""TrialConfig: everything one trial needs, validated once, frozen.

Every field name is the name users write in YAML (`params:`), in `ganstudy trial --set`,
and the column name in the result tables. Nothing past this module reads a setting any
other way.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass
from typing import Any, Literal

from ganstudy.columns import LOSS_NAMES
from ganstudy.conversion import convert, did_you_mean, types_of
from ganstudy.messages import PATH_CHARS, shown, shown_key

# Subscripting with the tuple is Literal["minimax", "nonsaturating", ...]: one list of names.
LossName = Literal[LOSS_NAMES]  # type: ignore[valid-type]
# The registries (targets.TARGETS, models.FAMILIES) check at import that they hold exactly
# these names; config stays free of torch, so the names are declared here, once.
TargetName = Literal[
    "gaussian1d",
    "mixture1d",
    "ring8",
    "grid25",
    "curves",
    "digits",
    "stacked_digits",
    "mnist",
    "fashion_mnist",
    "stacked_mnist",
    "dirac",
]
ModelName = Literal["mlp", "dcgan", "dirac"]
# The targets whose samples are images, with the (channels, height, width) of one sample:
# what model=dcgan needs, known here without building the target (targets/ checks at import
# that each image target's `shape` is the one declared here).
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "stacked_digits": (3, 8, 8),
    "mnist": (1, 32, 32),  # 28x28 zero-padded to 32x32
    "fashion_mnist": (1, 32, 32),
    "stacked_mnist": (3, 32, 32),
}
# The targets read from local files in `data_dir` (targets/files.py, targets/mnist.py).
DATA_TARGETS: tuple[str, ...] = ("mnist", "fashion_mnist", "stacked_mnist")
DEFAULT_EVAL_SAMPLES = 20000  # eval_samples where a target asks no fewer (every toy)
# Modes of each target (Target.n_modes) without building it, as IMAGE_SHAPES (targets/
# checks both at import): 10 classes per image channel.
_TOY_MODES = {"gaussian1d": 1, "mixture1d": 3, "ring8": 8, "grid25": 25, "curves": 10, "dirac": 1}
MODE_COUNTS = _TOY_MODES | {name: 10 ** shape[0] for name, shape in IMAGE_SHAPES.items()}
COVERAGE_SAMPLES = 2500  # VEEGAN / Unrolled GAN count 8 or 25 modes in 2,500 samples
COVERAGE_SAMPLES_PER_MODE = 26  # PacGAN counts Stacked MNIST's 1,000 modes in 26,000


def default_coverage_samples(target: str) -> int:
    """coverage_samples where none is given: COVERAGE_SAMPLES, or COVERAGE_SAMPLES_PER_MODE
    per mode where that is more, so real data captures every mode (at 2,500 real held-out
    digit stacks showed 843 of their 1,000 modes and mode_kl 0.32)."""
    return max(COVERAGE_SAMPLES, COVERAGE_SAMPLES_PER_MODE * MODE_COUNTS[target])


OptimizerName = Literal["adam", "sgd"]
DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["float32", "float64"]
UpdatesName = Literal["alternating", "simultaneous"]
ActivationName = Literal["relu", "leaky_relu", "tanh", "maxout"]


class ConfigError(ValueError):
    """A setting is unknown or out of range; the message names the key and the fix."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{shown_key(key)}: {message}")

    def __reduce__(self):  # picklable (Ray ships errors between processes) despite two args
        return ConfigError, (self.key, self.message)


def setting(default: Any, meaning: str) -> Any:
    """A TrialConfig field: its default and its meaning, the one place both are declared
    (`ganstudy settings` prints them with the field's `LIMITS` range or its choices)."""
    return dataclasses.field(default=default, metadata={"meaning": meaning})


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    """One GAN training configuration (Goodfellow et al. 2014, Algorithm 1, plus knobs)."""

    # What to learn.
    target: TargetName = setting("ring8", "the data distribution G learns (targets/)")
    target_scale: float | None = setting(
        None, "ring radius / grid spacing / 1-D mean; null: the literature default"
    )
    target_std: float | None = setting(None, "std of each mode; null: the literature default")
    data_dir: str | None = setting(
        None,
        "where the mnist family reads its images: a folder of the four IDX files (gzipped or "
        "not) or one .npz (x_train, y_train, x_test, y_test); absolute, seen by every node",
    )

    # Algorithm 1.
    loss: LossName = setting("nonsaturating", "the GAN loss (columns.LOSSES)")
    k: int = setting(1, "D steps per iteration")
    g_steps: int = setting(1, "G steps per iteration (GAN Lab's and TFGAN's count beside k)")
    updates: UpdatesName = setting(
        "alternating",
        "alternating: Algorithm 1 (D steps, then G steps on the updated D); simultaneous: "
        "both players' gradients taken at the same parameters, then both step",
    )
    steps: int = setting(3000, "iterations (the paper's number of training iterations)")
    batch_size: int = setting(128, "real and fake samples per D or G step")
    # 1e-3, not DCGAN's 2e-4: on the 2-D toys 2e-4 needs ~10x the steps to reach the modes.
    lr_d: float = setting(1e-3, "D's learning rate")
    lr_g: float = setting(1e-3, "G's learning rate")
    optimizer: OptimizerName = setting("adam", "the optimizer of both players")
    # DCGAN's choice: 0.9 makes GAN training oscillate more.
    beta1: float = setting(0.5, "Adam's first-moment decay")
    beta2: float = setting(0.999, "Adam's second-moment decay")
    momentum: float = setting(0.9, "SGD's momentum (SGD only; the paper trained with it)")

    # Loss extras.
    clip: float = setting(0.01, "wasserstein's weight clipping bound (Arjovsky et al. 2017)")
    gp_weight: float = setting(10.0, "wgan_gp's penalty weight (Gulrajani et al. 2017's default)")
    r1: float = setting(0.0, "R1 penalty weight on real data, any loss; 0 = off")

    # Remedies for mode collapse.
    pack: int = setting(
        1,
        "PacGAN (Lin et al. 2018): D judges `pack` samples at once, batch_size // pack packs "
        "per batch (a remainder of batch_size % pack sits out); 1 = off",
    )
    unroll: int = setting(0, "Unrolled GAN (Metz et al. 2017): G's loss through n D steps; 0 = off")

    # Capacity.
    model: ModelName = setting("mlp", "the family of G and D (models.FAMILIES)")
    conditional: bool = setting(
        False,
        "conditional GAN: G and D see each sample's label, the target's mode index (Mirza & "
        "Osindero 2014; D a projection, Miyato & Koyama 2018)",
    )
    z_dim: int = setting(8, "G's noise dimensions")
    g_width: int = setting(128, "G's hidden units per layer (dcgan: base channels)")
    g_depth: int = setting(2, "G's hidden layers (mlp)")
    d_width: int = setting(128, "D's hidden units per layer (dcgan: base channels)")
    d_depth: int = setting(2, "D's hidden layers (mlp)")
    d_spectral_norm: bool = setting(False, "spectral normalisation of D's weights")
    # The papers' toy MLPs (README, "The papers' networks"); the defaults are the MLP's own.
    g_activation: ActivationName = setting("relu", "G's hidden activation (mlp)")
    d_activation: ActivationName = setting("leaky_relu", "D's hidden activation (mlp; slope 0.2)")
    maxout_pieces: int = setting(5, "linear pieces per maxout unit (Goodfellow et al. 2013; mlp)")
    g_batch_norm: bool = setting(False, "BatchNorm before G's hidden activations (mlp)")
    hidden_bias: bool = setting(True, "biases on hidden layers (mlp; output layers have one)")
    init_std: float | None = setting(None, "N(0, init_std²) weights (mlp); null: nn.Linear's")
    # Other models ignore them, so each setting alone stays valid at the others' defaults.
    dirac_theta: float = setting(1.0, "model=dirac's starting θ (1: the paper's Figure 2)")
    dirac_psi: float = setting(1.0, "model=dirac's starting ψ (1: the paper's Figure 2)")

    # Measurement.
    eval_every: int = setting(250, "iterations between evals")
    eval_samples: int | None = setting(
        None,
        "fakes per replica js_binned histograms (its plug-in bias ~ cells/(8N)); null: the "
        "target's default (20,000; 250 per mode for a 10-class image target)",
    )
    eval_batch: int = setting(2048, "real and fake points for D outputs, js_d and js_probe")
    # Resolved in __post_init__ so that the tables record the count used.
    coverage_samples: int | None = setting(
        None,
        "fakes per replica whose modes are counted; null: 2,500 (VEEGAN's), or 26 per mode "
        "where that is more (PacGAN's 26,000 on 1,000 stacked modes)",
    )
    coverage_min_count: int = setting(1, "high-quality samples a mode needs to count as captured")
    quality_sigmas: float = setting(3.0, "high quality: within this many stds of the nearest mode")

    # Execution.
    replicas: int = setting(1, "seeds seed, seed+1, ... trained together as one batched model")
    seed: int = setting(0, "the first replica's seed")
    device: DeviceName = setting("auto", "auto: CUDA when present, else the CPU")
    dtype: DtypeName = setting("float32", "the dtype of parameters and samples")

    def __post_init__(self) -> None:
        _checktypes_of(self)
        if self.coverage_samples is None:
            object.__setattr__(self, "coverage_samples", default_coverage_samples(self.target))
        for key, limit in LIMITS.items():
            value = getattr(self, key)
            if value is not None:
                limit.check(key, value, integer=float not in types_of(HINTS[key]))
        _check_model(self)
        _check_data(self)
        _check_footprint(self)

    def replace(self, **changes: Any) -> TrialConfig:
        """A copy with some fields changed (validated again)."""
        return from_dict({**dataclasses.asdict(self), **changes})


@dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts, lo to hi; `why` says what the upper end protects."""

    lo: float
    hi: float
    lo_open: bool = False  # lo itself is excluded
    hi_open: bool = False
    why: str = ""

    def __str__(self) -> str:
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"{left}{_number(self.lo)}, {_number(self.hi)}{right}"

    def check(self, key: str, value: float, *, integer: bool) -> None:
        """Raise ConfigError naming `key` unless `value` is finite and inside the range."""
        kind = "an integer" if integer else "a finite number"
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(key, f"must be {kind} in {self}, got {shown(value)}")
        if not (value > self.lo if self.lo_open else value >= self.lo):
            bound = f"{'>' if self.lo_open else '>='} {_number(self.lo)}"
            raise ConfigError(key, f"must be {bound} ({kind} in {self}), got {shown(value)}")
        if not (value < self.hi if self.hi_open else value <= self.hi):
            bound = f"{'<' if self.hi_open else '<='} {_number(self.hi)}"
            why = f": {self.why}" if self.why else ""
            raise ConfigError(key, f"must be {bound} ({kind} in {self}{why}), got {shown(value)}")


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# Sane ranges of every numeric setting, checked at the edge (YAML, --set, TrialConfig(...)).
# Non-finite numbers never pass: NaN or inf would validate under `not x > 0` and then hang
# or poison a run. The upper ends keep one trial's tensors within memory (see
# footprint_bytes: each size alone at its maximum, the rest at their defaults, stays under
# MEMORY_LIMIT_BYTES; a combination that does not is refused by the footprint check) and
# every integer within the int64 columns of the result tables.
_MEMORY = "larger sizes exceed one trial's memory"
_NOT_A_GAN = "beyond this every optimizer diverges at once; a typo for a small number?"
_SCALE = "beyond this float32 samples lose their precision"
LIMITS: dict[str, Range] = {
    "target_scale": Range(0.0, 1e6, lo_open=True, why=_SCALE),
    "target_std": Range(0.0, 1e6, lo_open=True, why=_SCALE),
    "k": Range(1, 1000, why="more D steps per G step train D alone"),
    "g_steps": Range(1, 1000, why="more G steps per D step train G alone"),
    # D's input grows with pack; PacGAN uses 2-4.
    "pack": Range(1, 64, why="D would judge more samples at once than a batch holds"),
    # Each unrolled step keeps D's parameters and activations alive for G's backward.
    "unroll": Range(0, 100, why="memory and time grow linearly with unrolled steps"),
    "maxout_pieces": Range(1, 64, why=_MEMORY),
    "init_std": Range(0.0, 100.0, lo_open=True, why=_NOT_A_GAN),
    "dirac_theta": Range(-1e3, 1e3, why=_SCALE),
    "dirac_psi": Range(-1e3, 1e3, why=_SCALE),
    # 10^9 G steps take years; step counts are int64 table columns.
    "steps": Range(1, 10**9, why="a billion G steps take years"),
    "batch_size": Range(1, 2**18, why=_MEMORY),
    "lr_d": Range(0.0, 100.0, lo_open=True, why=_NOT_A_GAN),
    "lr_g": Range(0.0, 100.0, lo_open=True, why=_NOT_A_GAN),
    "beta1": Range(0.0, 1.0, hi_open=True),  # Adam's moments average only below 1
    "beta2": Range(0.0, 1.0, hi_open=True),
    "momentum": Range(0.0, 1.0, hi_open=True),
    "clip": Range(0.0, 1e3, lo_open=True, why="far beyond any weight: no clipping at all"),
    "gp_weight": Range(0.0, 1e6, why="the penalty would swamp the loss"),
    "r1": Range(0.0, 1e6, why="the penalty would swamp the loss"),
    "z_dim": Range(1, 2**12, why=_MEMORY),
    "g_width": Range(1, 2**13, why=_MEMORY),
    "g_depth": Range(1, 64, why="deeper MLPs do not train on 2-D toys"),
    "d_width": Range(1, 2**13, why=_MEMORY),
    "d_depth": Range(1, 64, why="deeper MLPs do not train on 2-D toys"),
    "eval_every": Range(1, 10**9, why="as steps"),
    "eval_samples": Range(1, 2**22, why=_MEMORY),
    # js_probe fits on eval_batch // 2 real and as many fake points, tests on the rest;
    # its nearest-neighbour search is quadratic in eval_batch.
    "eval_batch": Range(128, 2**17, why="js_probe's neighbour search is quadratic in it"),
    "coverage_samples": Range(1, 2**22, why=_MEMORY),
    "coverage_min_count": Range(1, 2**22, why="as coverage_samples"),
    "quality_sigmas": Range(0.0, 1e3, lo_open=True, why="every sample would be high quality"),
    "replicas": Range(1, 1024, why=_MEMORY),
    # Replica r trains with seed + r, and seeds are int64 table columns: 2^62 leaves room.
    "seed": Range(0, 2**62, why="seeds are int64 table columns"),
}


def dcgan_depth(height: int) -> int:
    """Stride-2 blocks of model=dcgan for images `height` pixels high: log2(height / 4)
    (8 -> 1, 16 -> 2, 32 -> 3); 0 where height is not 4·2^n with n >= 1."""
    n = height // 4
    return n.bit_length() - 1 if height % 4 == 0 and n >= 2 and n & (n - 1) == 0 else 0


def dcgan_channels(width: int, depth: int) -> list[int]:
    """model=dcgan's channels per stride-2 block: D's block outputs width·2^i (the image
    halves, the channels double); G's are the same list reversed (4x4 first)."""
    return [width * 2**i for i in range(depth)]


# The MLP-only settings of "the papers' networks" (models/mlp.py), refused elsewhere.
_MLP_ONLY = {
    key: "a setting of model=mlp only (the papers' networks)"
    for key in ("g_activation", "d_activation", "g_batch_norm", "hidden_bias", "init_std")
}


@dataclass(frozen=True)
class FamilyRules:
    """What a model family (engine/models/<name>.py) accepts, declared as data.

    Config validates every TrialConfig by these before torch is imported (so `ganstudy run
    --dry-run` and `--set` stay fast), and engine/models checks at import that every family
    has its rules here: adding a family is its module, its FAMILIES line and one entry of
    FAMILY_RULES; validation and `ganstudy trial` read these instead of switching on names
    (footprint_bytes keeps a dcgan branch: its memory estimate needs dcgan's channels).
    """

    nets: str  # how `ganstudy trial` names its G and D: str.format over the settings
    targets: tuple[str, ...] | None = None  # the targets it trains on; None: every target
    needs: str = ""  # what those targets are, for the error that refuses another one
    refuses: dict[str, str] = dataclasses.field(default_factory=dict)  # setting -> why
    square_images: bool = False  # its depth is log2(side / 4): images of 4·2^n pixels
    scalar_players: bool = False  # G and D are one number each (theta, psi): tables show them


FAMILY_RULES: dict[str, FamilyRules] = {
    "mlp": FamilyRules(nets="D {d_depth}x{d_width} G {g_depth}x{g_width}"),
    "dcgan": FamilyRules(
        nets="dcgan D {d_width}ch G {g_width}ch",
        targets=tuple(IMAGE_SHAPES),
        needs=f"an image target ({', '.join(IMAGE_SHAPES)})",
        refuses=_MLP_ONLY
        | {
            depth: "its depth is log2(resolution / 4) blocks, from the image size; "
            "g_width / d_width set its channels"
            for depth in ("g_depth", "d_depth")
        },
        square_images=True,
    ),
    "dirac": FamilyRules(
        nets="dirac theta={dirac_theta:g} psi={dirac_psi:g}",
        targets=("dirac",),
        scalar_players=True,
        needs="target dirac (the Dirac-GAN's one-parameter G and linear D)",
        refuses=_MLP_ONLY
        | {"pack": "D(x) = psi·x judges one point", "d_spectral_norm": "D(x) = psi·x"},
    ),
}
if set(FAMILY_RULES) != set(typing.get_args(ModelName)):
    raise ImportError(f"config.FAMILY_RULES and ModelName disagree: {sorted(FAMILY_RULES)}")


# What a conditional GAN refuses, and why (models/conditional.py).
CONDITIONAL_OFF = {
    "pack": "a pack would mix labels",
    "unroll": "an unrolled D step's real and fake batches carry different labels",
}


def _check_model(config: TrialConfig) -> None:
    """The model family fits the target and the settings apply to it (FAMILY_RULES); pack
    must fit in a batch; a conditional GAN refuses what would mix its labels."""
    c = config
    if c.pack > c.batch_size:
        raise ConfigError(
            "pack",
            f"{c.pack} is more than batch_size {c.batch_size}: D judges batch_size // pack "
            "packs of `pack` samples per batch; lower pack or raise batch_size",
        )
    _check_family(c, FAMILY_RULES[c.model])
    _check_dirac_target(c)
    if c.conditional:
        for key, why in CONDITIONAL_OFF.items():
            if getattr(c, key) != FIELDS[key].default:
                raise ConfigError(key, f"does not combine with conditional: true ({why})")


def _check_family(c: TrialConfig, rules: FamilyRules) -> None:
    """c.model's rules: its targets, the settings it refuses, its image size."""
    if rules.targets is not None and c.target not in rules.targets:
        raise ConfigError(
            "model",
            f"{c.model} needs {rules.needs}, got target {shown(c.target)}; use model=mlp",
        )
    for key, why in rules.refuses.items():
        if getattr(c, key) != FIELDS[key].default:
            raise ConfigError(
                key,
                f"does not apply to model={c.model} ({why}); leave {key} at its default "
                f"{shown(FIELDS[key].default)}",
            )
    if rules.square_images:
        _, height, width = IMAGE_SHAPES[c.target]
        if height != width or not dcgan_depth(height):
            raise ConfigError(
                "target",
                f"{c.target}'s {height}x{width} images do not suit model={c.model}, which "
                "needs square images of 4·2^n pixels (8, 16, 32, ...); use model=mlp",
            )


def _check_dirac_target(c: TrialConfig) -> None:
    """Target dirac is a point mass at 0: no labels, no scale or spread to set."""
    if c.target != "dirac":
        return
    if c.conditional:
        raise ConfigError("conditional", "does not apply to target dirac: one point, no labels")
    for key in ("target_scale", "target_std"):
        if getattr(c, key) is not None:
            raise ConfigError(key, "does not apply to target dirac (a point mass at 0)")


def _check_data(config: TrialConfig) -> None:
    """A file target has a data_dir that is absolute and exists (its files are checked
    when the target is first sampled)."""
    c = config
    if c.target not in DATA_TARGETS:
        return
    if c.data_dir is None or not c.data_dir:
        raise ConfigError(
            "data_dir",
            f"target {c.target} reads its images from local files; set data_dir to a folder "
            "holding the four MNIST-format IDX files (gzipped or not) or one .npz with "
            "x_train, y_train, x_test, y_test (e.g. Keras' mnist.npz)",
        )
    path = os.path.expanduser(c.data_dir)
    if not os.path.isabs(path):  # Ray runs each trial in its own folder: relative breaks
        raise ConfigError(
            "data_dir",
            f"{shown(c.data_dir, limit=PATH_CHARS)} is relative, but each trial runs in its "
            f"own folder; give an absolute path, e.g. {shown(os.path.abspath(path), PATH_CHARS)}",
        )
    if not os.path.exists(path):
        raise ConfigError(
            "data_dir",
            f"{shown(c.data_dir, limit=PATH_CHARS)}: no such folder or file (target "
            f"{c.target} needs the four IDX files from the MNIST or Fashion-MNIST site, or "
            "Keras' mnist.npz)",
        )


# One trial's tensors (all replicas) must fit this: a laptop's memory or a slice of a GPU.
MEMORY_LIMIT_BYTES = 8 * 2**30
# The trainer draws training randomness this many steps at a time (engine/streams.py):
# R generator calls per block instead of BLOCK_STEPS·R, and the memory footprint's k term.
BLOCK_STEPS = 16
_POINT_DIM = 2  # the toys are 1-D or 2-D


def footprint_bytes(config: TrialConfig) -> dict[str, int]:
    """Rough sizes of one trial's largest tensors in bytes (float64, all replicas), by the
    setting that drives each: noise drawn ahead (k), activations kept for backward
    (batch_size), the eval pass (eval_samples) and weights with Adam's moments (widths)."""
    c = config
    shape = IMAGE_SHAPES.get(c.target)
    dim = math.prod(shape) if shape else _POINT_DIM
    n_eval = max(c.eval_samples or DEFAULT_EVAL_SAMPLES, c.eval_batch, c.coverage_samples)
    if c.model == "dcgan" and shape:
        weights, activations = _dcgan_sizes(c, shape)
    else:
        weights = c.g_width**2 * (c.g_depth + 1) + c.d_width**2 * (c.d_depth + 1)
        activations = max(c.g_width, c.d_width) * (max(c.g_depth, c.d_depth) + 1)
    per_replica = {
        # real points, z and penalty mixing weights for k D steps, z for the G steps.
        "k": BLOCK_STEPS * c.batch_size * (c.k * (c.z_dim + dim + 1) + c.g_steps * c.z_dim),
        # real + fake through D, twice over for a penalty's double backward; each unrolled
        # D step keeps its activations (and D's parameters) for G's backward.
        "batch_size": 2 * 2 * c.batch_size * activations * (1 + c.unroll),
        "eval_samples": n_eval * (c.z_dim + dim),
        "d_width" if c.d_width >= c.g_width else "g_width": 4 * weights,  # + grad, Adam's 2
    }
    return {key: 8 * c.replicas * n for key, n in per_replica.items()}


def _dcgan_sizes(c: TrialConfig, shape: tuple[int, int, int]) -> tuple[int, int]:
    """(weights, activations per sample) of dcgan's G and D (models/dcgan.py): channels
    width·2^i at (height / 2^(i+1))², 4x4 kernels, a linear layer at 4x4 at each end."""
    channels, height, _ = shape
    depth = dcgan_depth(height)
    weights = activations = 0
    for width in (c.g_width, c.d_width):
        ch = dcgan_channels(width, depth)  # D's block outputs; G's, reversed
        weights += 16 * ch[-1] * (c.z_dim + 1) + 16 * channels * ch[0]
        weights += sum(16 * a * b for a, b in zip(ch[:-1], ch[1:], strict=True))
        activations += sum(ch[i] * (height // 2 ** (i + 1)) ** 2 for i in range(depth))
    return weights, activations + channels * height * height


def _check_footprint(config: TrialConfig) -> None:
    sizes = footprint_bytes(config)
    total = sum(sizes.values())
    if total > MEMORY_LIMIT_BYTES:
        key = max(sizes, key=sizes.__getitem__)
        raise ConfigError(
            key,
            f"one trial would need about {total / 2**30:.0f} GiB of tensors (replicas x "
            f"batch_size x widths x eval sizes), above the {MEMORY_LIMIT_BYTES // 2**30} GiB "
            f"limit; lower {key}, replicas or the other sizes",
        )


FIELDS: dict[str, dataclasses.Field] = {f.name: f for f in dataclasses.fields(TrialConfig)}
HINTS = typing.get_type_hints(TrialConfig)


def accepted(key: str) -> str:
    """Human-readable description of the values a field accepts."""
    hint = HINTS[key]
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
    return ConfigError(key, f"unknown setting; {did_you_mean(key, sorted(known))}")


def _checktypes_of(config: TrialConfig) -> None:
    for key, hint in HINTS.items():
        value = getattr(config, key)
        if typing.get_origin(hint) is Literal:
            if value not in typing.get_args(hint):
                raise ConfigError(key, f"got {shown(value)}; expected {accepted(key)}")
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
            raise ConfigError(key, f"got {shown(value)}; expected {accepted(key)}")


def coerce(key: str, value: Any) -> Any:
    """Convert a value (a YAML scalar or a command-line string) to the field's type.

    Names (Literal fields) pass through unchanged: TrialConfig checks them, with a
    did-you-mean; numbers' ranges are checked there too.
    """
    if key not in FIELDS:
        raise unknown_key_error(key)
    hint = HINTS[key]
    if typing.get_origin(hint) is Literal:
        return value
    try:
        return convert(value, hint)
    except ValueError as error:
        raise ConfigError(key, str(error)) from None


def from_dict(values: dict[str, Any]) -> TrialConfig:
    """Validate a mapping of settings into a TrialConfig (unknown keys are errors)."""
    for key in values:
        if key not in FIELDS:
            raise unknown_key_error(key)
    return TrialConfig(**{key: coerce(key, value) for key, value in values.items()})


def to_dict(config: TrialConfig) -> dict[str, Any]:
    """The config as a flat dict of plain values (field name -> value)."""
    return dataclasses.asdict(config)
