"""Image targets with a classifier: the machinery `digits`, `stacked_digits` and the MNIST
family share.

An `ImageTarget` is a labelled image set (a training split it samples from and a held-out
split kept for measurement only) plus a classifier trained on the training split, which
gives each image class probabilities over 10 classes and a feature vector. Everything a
target measures is read off that classifier:

- modes: the predicted class (10 modes), or, for a stacked target (`stack` = 3: three
  independently drawn images as the three channels, Metz et al. 2017's Stacked MNIST),
  100·c0 + 10·c1 + c2 from each channel's predicted class (1,000 modes);
- high quality: the classifier's confidence (largest class probability) is at least
  `quality_confidence` on every channel;
- js_binned: the partition is one unit cell per mode on the mode index (`binned_points`),
  and `bin_masses` are the exact masses of the training distribution (the class
  frequencies; their products over channels for a stack, whose channels are independent).
  It is the JS between the generated mode histogram and the real one: a lower bound of
  JS(p_data, p_g) by the data-processing inequality (a function of the samples cannot tell
  two distributions apart better than the samples do);
- features (`features`): the classifier's feature vector of each channel, concatenated;
  fd, precision and recall (metrics.py) compare generated features with those of a fixed
  sample of held-out images (`held_out_features`).

Subclasses implement `_split` (the two splits as flat (n, H·W) pixel rows in [-1, 1]) and
`_classify` (logits and features of such rows).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import ClassVar

import torch

from ganstudy.engine.targets.base import Binning, Target

N_CLASSES = 10
# js_binned's default sample per mode: 10 classes get 2,500 fakes (VEEGAN's coverage count,
# so the eval's G pass is no longer than mode coverage's), a stack's 1,000 modes the toys'
# 20,000 (capped there). Plug-in bias ~ (modes + 1) / (8 N): 0.0006 and 0.006 nats.
EVAL_SAMPLES_PER_MODE = 250
HELD_OUT_SEED = 12345  # the fixed held-out stacks (and subset) fd, precision, recall compare to


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Images as float64 in [-1, 1]: uint8 0..255 scaled (0 -> -1, 255 -> 1), float as is."""
    if images.dtype == torch.uint8:
        return images.to(torch.float64) / 127.5 - 1.0
    return images


class ImageTarget(Target):
    """Classified images, `stack` of them as the channels of one sample (see the module)."""

    picture = "images"  # the report draws a grid of sample images
    n_classes: ClassVar[int] = N_CLASSES
    quality_confidence: ClassVar[float]  # high quality: every channel at least this sure

    def __init__(self, side: int, stack: int = 1) -> None:
        self.side, self.stack = side, stack
        self.dim = stack * side * side
        self.modes = None
        self.std = None
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------ what subclasses provide
    @abstractmethod
    def _split(self) -> dict[str, torch.Tensor]:
        """train_x, test_x (n, H·W) and train_y, test_y (n,) long, on the CPU; images are
        float64 in [-1, 1], or uint8 0..255 (kept so: MNIST's 60,000 images take 61 MB so
        and 490 MB in float64), which `pixels` scales after indexing."""

    @abstractmethod
    def _classify(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (..., 10), features (..., F)) of single-channel images (..., H·W)."""

    # ------------------------------------------------------------------------ the target
    @property
    def n_modes(self) -> int:
        return self.n_classes**self.stack

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.stack, self.side, self.side)

    @property
    def default_eval_samples(self) -> int:
        """EVAL_SAMPLES_PER_MODE per mode, at most the toys' DEFAULT_EVAL_SAMPLES: a mode
        histogram of 11 cells needs far fewer fakes than a fine 2-D grid, and the eval's G
        pass over them was most of a DCGAN's metric cost."""
        return min(super().default_eval_samples, EVAL_SAMPLES_PER_MODE * self.n_modes)

    def _mode_of(self, classes: torch.Tensor) -> torch.Tensor:
        """Mode index (...) of per-channel classes (..., stack): c0 is the leading digit."""
        powers = self.n_classes ** torch.arange(self.stack - 1, -1, -1, device=classes.device)
        return (classes * powers).sum(-1)

    def sample_labeled(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples (n, dim), float64 on the generator's device: each channel a training
        image drawn uniformly with replacement, independently of the others; and their mode
        index (n,)."""
        device = generator.device
        if device not in self._on_device:  # one copy per device, not one per draw
            data = self._split()
            self._on_device[device] = (data["train_x"].to(device), data["train_y"].to(device))
        images, labels = self._on_device[device]
        index = torch.randint(len(labels), (n, self.stack), generator=generator, device=device)
        return pixels(images[index].flatten(1)), self._mode_of(labels[index])  # (n, dim)

    def held_out(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out single images (n, H·W) and classes: for measurement only."""
        data = self._split()
        return pixels(data["test_x"]), data["test_y"]

    def held_out_sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed sample of held-out data (always the same for the same n), (m, dim) and
        mode indices: a single-image target's first min(n, all) held-out images in a fixed
        shuffled order; a stacked target's n stacks of held-out images drawn with
        replacement. Never trained on."""
        data = self._split()
        x, y = data["test_x"], data["test_y"]
        g = torch.Generator().manual_seed(HELD_OUT_SEED)
        if self.stack == 1:
            order = torch.randperm(len(y), generator=g)[:n]
            return pixels(x[order]), y[order]
        index = torch.randint(len(y), (n, self.stack), generator=g)
        return pixels(x[index].flatten(1)), self._mode_of(y[index])

    def _channels(self, samples: torch.Tensor) -> torch.Tensor:
        """(..., stack, H·W) view of samples (..., dim): channel-major, as models see them."""
        return samples.reshape(*samples.shape[:-1], self.stack, self.side * self.side)

    def class_probabilities(self, samples: torch.Tensor) -> torch.Tensor:
        """Each channel's class probabilities, (..., 10) for a single-image target and
        (..., stack, 10) for a stacked one, from samples (..., dim)."""
        logits, _ = self._classify(self._channels(samples))  # (..., stack, 10)
        probs = logits.softmax(-1)
        return probs[..., 0, :] if self.stack == 1 else probs

    def features(self, samples: torch.Tensor) -> torch.Tensor:
        """The classifier's features of samples (..., dim), channels concatenated:
        (..., stack·F), in the samples' dtype."""
        _, feats = self._classify(self._channels(samples))  # (..., stack, F)
        return feats.flatten(-2).to(samples.dtype)

    def held_out_features(self, n: int) -> torch.Tensor:
        """Features (m, stack·F) of `held_out_sample(n)`, float64 on the CPU."""
        return self.features(self.held_out_sample(n)[0])

    def binning(self) -> Binning:
        """One unit cell per mode, centred on the mode indices 0..n_modes-1."""
        return Binning((torch.arange(self.n_modes + 1, dtype=torch.float64) - 0.5,))

    def bin_masses(self, binning: Binning) -> torch.Tensor:
        """The training distribution's mode masses, then 0 outside: (n_modes + 1,). A stack's
        channels are drawn independently, so its masses are products of class frequencies."""
        labels = self._split()["train_y"]
        freq = torch.bincount(labels, minlength=self.n_classes).to(torch.float64) / len(labels)
        masses = freq
        for _ in range(self.stack - 1):  # row-major outer product: c0 leads, as in _mode_of
            masses = (masses[:, None] * freq[None, :]).flatten()
        return torch.cat([masses, torch.zeros(1, dtype=torch.float64)])

    def label_frequencies(self) -> torch.Tensor:
        """The training split's class (stack: mode) frequencies, (n_modes,)."""
        return self.bin_masses(self.binning())[:-1]

    def binned_points(self, samples: torch.Tensor) -> torch.Tensor:
        """Each sample's mode index as a coordinate, (R, N, 1) from (R, N, dim)."""
        which, _ = self.assign_modes(samples, math.nan)
        return which.unsqueeze(-1).to(samples.dtype)

    def assign_modes(
        self, samples: torch.Tensor, quality_sigmas: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mode index, every channel's confidence >= quality_confidence) of samples
        (..., dim); `quality_sigmas` does not apply to images (no std) and is ignored."""
        logits, _ = self._classify(self._channels(samples))  # (..., stack, 10)
        confidence, which = logits.softmax(-1).max(-1)  # (..., stack) each
        return self._mode_of(which), (confidence >= self.quality_confidence).all(-1)
