"""What a study's estimates mean, by the kind of target it trained on: the one place the
report's captions, shading and findings take their words from.

Three kinds of target measure differently (targets/):
- toy: 1-D and 2-D mixtures with a known density. js_binned integrates that density over a
  fine grid, so it is the reference; js_d and js_probe are lower bounds that should track it
  from below (one above it is estimation noise). A sample is high quality within
  quality_sigmas stds of a mode.
- curves: the quadratic family. js_binned compares histograms of each curve's fitted `a`, a
  projection that cannot see a curve's shape off the family: a lower bound, not a reference.
- image: labelled images measured through the target's classifier. js_binned is the JS of
  the class histograms, itself a lower bound (data-processing inequality), as js_probe is:
  neither is a reference and either may lie above the other. High quality is the classifier
  being at least quality_confidence sure.
- dirac: the Dirac-GAN, a point mass at θ. js_binned is an on/off reading of |θ|; the
  distance of (θ, ψ) to the equilibrium (0, 0) is what is measured.
A study that trained several kinds gets the words that claim least (`mixed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from ganstudy.engine.targets import TARGETS, make_target
from ganstudy.report.study import Study, fmt, has
from ganstudy.report.style import num

TOY, CURVES, IMAGE, DIRAC, MIXED = "toy", "curves", "image", "dirac", "mixed"


@dataclass(frozen=True)
class Words:
    """How one target kind's estimates read."""

    kind: str
    js_binned: str  # what js_binned is, as a noun phrase
    has_reference: bool  # js_binned is the reference the other estimates are lower bounds of
    js_caption: str  # the JS trajectories caption's sentence on how the estimates relate
    above: str  # what a js_d/js_probe value above js_binned means
    # What makes a sample high quality, to follow "the fraction of samples" (format fields:
    # {sigmas}, {confidence}).
    quality: str


WORDS: dict[str, Words] = {
    TOY: Words(
        kind=TOY,
        js_binned="the JS of the binned densities (the reference)",
        has_reference=True,
        js_caption="js_binned is the reference (the target's known density on a fine grid); "
        "js_d and js_probe are lower bounds and should track it from below",
        above="estimation noise: a lower bound cannot exceed it",
        quality="within {sigmas} of a mode",
    ),
    CURVES: Words(
        kind=CURVES,
        js_binned="the JS of the histograms of each curve's fitted a",
        has_reference=False,
        js_caption="js_binned compares histograms of each curve's fitted a (a projection that "
        "cannot see a curve's shape off the family), js_d and js_probe see the whole curve: "
        "all three are lower bounds, none is the reference, and either may lie above another",
        above="no error: js_binned sees only the fitted a, the others the whole curve",
        quality="within rms 0.05 of the curve family",
    ),
    IMAGE: Words(
        kind=IMAGE,
        js_binned="the JS of the class histograms (a lower bound, not a reference)",
        has_reference=False,
        js_caption="js_binned is the JS of the class histograms the target's classifier "
        "reads off the images, js_probe a classifier's bound on the images themselves: "
        "all are lower bounds of the images' JS, none is the reference, and either may lie "
        "above another",
        above="no error on images: there js_binned is itself a lower bound (the JS of class "
        "histograms), blind to what the features see",
        quality="on which the target's classifier is at least {confidence} sure of the class",
    ),
    DIRAC: Words(
        kind=DIRAC,
        js_binned="an on/off reading of |θ| (log 2 or 0)",
        has_reference=False,
        js_caption="on the Dirac-GAN these estimates read a point mass: none is a reference; "
        "the distance of (θ, ψ) to (0, 0) is the measurement",
        above="no error: on the Dirac-GAN js_binned is an on/off reading of |θ|",
        quality="|θ| within quality_sigmas of 0",
    ),
    MIXED: Words(
        kind=MIXED,
        js_binned="js_binned (its meaning differs between the study's targets)",
        has_reference=False,
        js_caption="the study trained several kinds of target, so no estimate is the "
        "reference for all of them; js_d and js_probe are lower bounds",
        above="noise on a toy target, no error on an image one",
        quality="high quality by each target's own rule",
    ),
}


@lru_cache(maxsize=64)
def target_kind(name: str) -> str:
    """The kind of the target called `name` (a key of targets.TARGETS): how its samples are
    pictured says whether it has a density (points), a family (curves) or a classifier."""
    if name == "dirac":
        return DIRAC
    if name not in TARGETS:
        return MIXED  # a target this version does not know: claim nothing
    picture = make_target(name).picture  # cheap: a file target reads nothing until sampled
    return {"points": TOY, "curves": CURVES, "images": IMAGE}[picture]


def study_kind(s: Study) -> str:
    """The kind of target a study trained on; `mixed` where its runs trained several kinds.
    Without a target column, the columns tell: image metrics, or the Dirac-GAN's θ."""
    if "target" in s.runs and s.runs["target"].notna().any():
        kinds = {target_kind(str(t)) for t in s.runs["target"].dropna().unique()}
        return kinds.pop() if len(kinds) == 1 else MIXED
    if has(s.runs, "theta"):
        return DIRAC
    return IMAGE if has(s.runs, "fd") else TOY


def words(s: Study) -> Words:
    """The words of the study's target kind."""
    return WORDS[study_kind(s)]


def quality(s: Study) -> str:
    """What made a sample high quality in this study, with the numbers it ran with."""
    w = words(s)
    sigmas = "quality_sigmas·σ"
    if "quality_sigmas" in s.runs:
        values = s.runs["quality_sigmas"].dropna().unique()
        sigmas = f"{fmt(float(values[0]))}σ" if len(values) == 1 else sigmas
    confidence = "quality_confidence"
    if w.kind == IMAGE and "target" in s.runs:
        levels = {
            make_target(str(t)).quality_confidence for t in s.runs["target"].dropna().unique()
        }
        confidence = fmt(float(levels.pop())) if len(levels) == 1 else confidence
    return w.quality.format(sigmas=sigmas, confidence=confidence)


def signed(v: float) -> str:
    """A difference with its sign always shown: '+0.05', '−0.494' (a real minus sign)."""
    if pd.isna(v):
        return "–"
    return ("+" if v > 0 else "−" if v < 0 else "") + num(abs(v))
