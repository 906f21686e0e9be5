"""`fuse: auto`: a study's configurations as fused groups, one Ray trial each.

Plain data (no Ray at import): `configurations` enumerates what the unfused run trains
(grid: every cell x num_samples; random: drawn up front from the study's seed, so a fused
random study is reproducible), `plan` groups them by `fusing.shape_key` and the penalties
they pay (`fusing.penalties`: a group computes a penalty for every replica once any member
pays it, so a hinge member beside a wgan_gp one would pay the GP's double backward for
nothing), splits groups into
chunks of at most `fuse_max`, splits the biggest further while there are fewer chunks than
slots, and orders them biggest work first. Work is members x steps x (k + g_steps): the
updates a chunk runs, enough to order and balance chunks of one study.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from collections.abc import Sequence
from typing import Any

from ganstudy import fusing
from ganstudy.config import FIELDS
from ganstudy.study.spec import Dimension, StudySpec

MEMBERS_KEY = "members"  # a fused trial's config: {MEMBERS_KEY: json list of config dicts}


def _draw(dimension: Dimension, rng: random.Random) -> Any:
    """One value of a sampled dimension (Ray's semantics: randint's upper bound excluded)."""
    kind, args = dimension.kind, dimension.args
    if kind == "choice":
        return rng.choice(list(args))
    if kind == "uniform":
        return rng.uniform(*args)
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
    return rng.randrange(args[0], args[1])  # randint


def configurations(spec: StudySpec) -> list[dict[str, Any]]:
    """Every configuration the study trains, as TrialConfig dicts, in Ray's grid order
    (num_samples repeats of the grid); sampled dimensions drawn from the study's seed."""
    grids = {k: d.args for k, d in spec.dimensions.items() if d.kind == "grid"}
    sampled = {k: d for k, d in spec.dimensions.items() if d.kind != "grid"}
    rng = random.Random(spec.fixed.get("seed", 0))
    out = []
    for _ in range(spec.search.num_samples):
        for cell in itertools.product(*grids.values()):
            values = dict(zip(grids, cell, strict=True))
            values.update({key: _draw(dim, rng) for key, dim in sampled.items()})
            out.append({key: values.get(key, spec.fixed.get(key)) for key in FIELDS})
    return out


def work(members: Sequence[dict[str, Any]]) -> int:
    """A chunk's work: members x steps x (k + g_steps) (they share steps, k, g_steps)."""
    first = members[0]
    return len(members) * first["steps"] * (first["k"] + first["g_steps"])


def plan(
    configs: Sequence[dict[str, Any]], fuse_max: int, slots: int = 1
) -> list[list[dict[str, Any]]]:
    """Chunks of configurations that train as one model each, biggest work first."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    chunks: list[list[dict[str, Any]]] = []
    for config in configs:
        if fusing.can_fuse(config):
            key = (fusing.shape_key(config), fusing.penalties(config))
            groups.setdefault(key, []).append(config)
        else:
            chunks.append([config])  # unroll > 0: alone (fusing.ALONE_WHY)
    for members in groups.values():
        # Even chunks of at most fuse_max: 9 members at fuse_max 8 are 5 + 4, not 8 + 1.
        n = -(-len(members) // fuse_max)
        chunks.extend(_split(members, n))
    while len(chunks) < slots:
        biggest = max(chunks, key=lambda c: (len(c) > 1, work(c)))
        if len(biggest) < 2:
            break  # every chunk is one configuration: nothing left to split
        chunks.remove(biggest)
        chunks.extend(_split(biggest, 2))
    return sorted(chunks, key=work, reverse=True)  # stable: ties keep the study's order


def _split(members: list, n: int) -> list[list]:
    """`members` in n contiguous chunks whose sizes differ by at most one."""
    size, extra = divmod(len(members), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        out.append(members[start:end])
        start = end
    return out


def slots(spec: StudySpec, max_concurrent: int | None, cluster: dict[str, float]) -> int:
    """How many trials run at once: max_concurrent if given, else what `cluster`'s CPUs and
    GPUs (ray.cluster_resources()) allow for one trial's resources."""
    given = max_concurrent or spec.max_concurrent
    if given:
        return given
    fits = []
    if spec.resources.cpu:
        fits.append(int(cluster.get("CPU", 1) // spec.resources.cpu))
    if spec.resources.gpu:
        fits.append(int(cluster.get("GPU", 0) // spec.resources.gpu))
    return max(1, min(fits))


def encode(chunk: Sequence[dict[str, Any]]) -> str:
    """A chunk as param_space holds it: a JSON string, so Ray resolves nothing inside."""
    return json.dumps(list(chunk), sort_keys=False)


def decode(text: str) -> list[dict[str, Any]]:
    return json.loads(text)


def members_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The configurations a trial's config trains: its members, or itself alone."""
    if MEMBERS_KEY in config:
        return decode(config[MEMBERS_KEY])
    return [config]


def split_record(record: Any) -> list[Any]:
    """A fused trial's results.TrialRecord as one record per member: trial_id
    `<id>.<member>`, the member's config, its history rows ("member" removed; a row without
    it is member 0's), its rows [m*R, (m+1)*R) of every snapshot; status, error, wall_s
    (the group's), ran_on shared. A record of one configuration is returned as it is."""
    if MEMBERS_KEY not in record.config:
        return [record]
    members = decode(record.config[MEMBERS_KEY])
    replicas = members[0]["replicas"]
    out = []
    for m, member in enumerate(members):
        rows = member_rows(record.history, m)
        part = slice(m * replicas, (m + 1) * replicas)
        out.append(
            dataclasses.replace(
                record,
                trial_id=None if record.trial_id is None else f"{record.trial_id}.{m}",
                config={k: member.get(k) for k in FIELDS},
                history=rows,
                samples={step: array[part] for step, array in record.samples.items()},
                modes={step: array[part] for step, array in record.modes.items()},
            )
        )
    return out


def member_rows(rows: Sequence[dict[str, Any]], member: int) -> list[dict[str, Any]]:
    """A fused trial's eval rows of one member, "member" removed (a row without it is
    member 0's: the rows of a trial of one configuration are all its own)."""
    return [
        {k: v for k, v in row.items() if k != "member"}
        for row in rows
        if row.get("member", 0) == member
    ]
