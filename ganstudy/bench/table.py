"""The bench's result as a readable table: every figure, then the targets with PASS / MISS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ganstudy.bench.targets import STUDY_TARGET_TRIAL_S


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _one_decimal(value: float) -> str:
    return f"{value:.1f}"


def _spread(summary: dict[str, Any], fmt: Callable[[float], str]) -> str:
    return f"{fmt(summary['min'])}..{fmt(summary['max'])}"


def format_table(result: dict[str, Any]) -> str:
    """The bench as a readable table: every figure, then the targets with PASS / MISS."""
    env, f = result["environment"], result["figures"]
    lines = [
        f"ganstudy bench ({result['mode']}): torch {env['torch']} on {env['device']}, "
        f"{env['threads']} torch thread(s) per process (torch.set_num_threads), "
        f"{env['cpu_count']} CPUs; medians of {result['settings']['rounds']} interleaved "
        "rounds, spread = min..max",
        "",
    ]
    rows: list[tuple[str, str, str, str]] = []

    def add(figure: str, label: str, value: str, spread: str = "") -> None:
        rows.append((figure, label, value, spread))

    def add_summary(
        figure: str, label: str, summary: dict[str, Any], fmt: Callable[[float], str]
    ) -> None:
        """A measured figure: its median, and its spread over rounds."""
        add(figure, label, fmt(summary["median"]), _spread(summary, fmt))

    for r in f["reference"]["rows"]:
        add_summary(
            "1 reference",
            f"trainer / reference, w{r['width']} b{r['batch']}"
            f" ({r['trainer_steps_per_s']:.0f} vs {r['reference_steps_per_s']:.0f} steps/s)",
            r["ratio"],
            _x,
        )
    for r in f["replicas"]["rows"]:
        shape = f"w{r['width']} b{r['batch']}"
        if r["replicas"] == 1:
            add("2 replicas", f"R=1, {shape}: {r['replica_steps_per_s']:.0f} replica-steps/s", "1")
            continue
        add_summary(
            "2 replicas",
            f"R={r['replicas']} / R=1 replica-steps/s, {shape} ({r['replica_steps_per_s']:.0f}/s)",
            r["speedup"],
            _x,
        )
    hw = f["hardware"]
    add_summary(
        "3 hardware",
        f"matmul ceiling ({hw['matmul_n']}^2 float32), GFLOP/s",
        hw["ceiling_gflops"],
        _one_decimal,
    )
    for r in hw["rows"]:
        who = "reference loop" if r["what"] == "reference" else f"trainer R={r['replicas']}"
        add_summary(
            "3 hardware",
            f"{who} w128 b256 / ceiling ({r['gflops']:.1f} GFLOP/s)",
            r["fraction"],
            _pct,
        )
    for r in f["metrics"]["rows"]:
        add_summary(
            "4 metrics",
            f"metric cost, defaults, R={r['replicas']} (eval {r['eval_s']:.3f} s per "
            f"{r['eval_every']} steps of {r['train_s']:.3f} s)",
            r["cost"],
            _pct,
        )
    dc = f.get("dcgan")  # absent in a bench JSON written before the figure existed
    if dc:
        shape = f"dcgan digits, width {dc['width']} batch {dc['batch']}"
        ref = dc["reference"]
        add_summary(
            "6 dcgan",
            f"trainer / plain DCGAN loop, {shape} ({ref['trainer_steps_per_s']:.0f} vs "
            f"{ref['reference_steps_per_s']:.0f} steps/s)",
            ref["ratio"],
            _x,
        )
        for r in dc["replicas"][1:]:
            add_summary(
                "6 dcgan",
                f"R={r['replicas']} / R=1 replica-steps/s ({r['replica_steps_per_s']:.0f}/s)",
                r["speedup"],
                _x,
            )
        m = dc["metrics"]
        add_summary(
            "6 dcgan",
            f"metric cost, eval_every {m['eval_every']}, {m['eval_samples']} samples (eval "
            f"{m['eval_s']:.2f} s per "
            f"{m['train_s']:.2f} s of training)",
            m["cost"],
            _pct,
        )
    st = f["study"]
    if "skipped" in st or "error" in st:
        add("5 study", "study overhead", st.get("skipped") or st.get("error", ""))
    else:
        add_summary(
            "5 study",
            f"Ray study / ideal, {st['trials']} trials of {st['trial_s']['median']:.1f} s, "
            f"{st['slots']} slots",
            st["ratio"],
            _x,
        )
        add("5 study", "  ... with Ray start-up and shutdown", _x(st["ratio_with_start"]["median"]))
        add_summary(
            "5 study",
            "  same trials on plain processes, no Ray / ideal",
            st["pool_ratio"],
            _x,
        )
        add_summary(
            "5 study",
            "  of which: a trial's own time in Ray / alone",
            st["trial_slowdown"],
            _x,
        )
        add_summary(
            "5 study",
            "  of which: start-up, scheduling, tables (s)",
            st["rest_s"],
            _one_decimal,
        )
        add(
            "5 study",
            f"  ... projected to trials of {STUDY_TARGET_TRIAL_S:.0f} s",
            _x(st["ratio_at_target_s"]["median"]),
        )
        add_summary(
            "5 study",
            "Ray start-up (s)",
            st["ray_start_s"],
            _one_decimal,
        )
    fu = f.get("fuse", {"skipped": "not measured"})
    if "skipped" in fu or "error" in fu:
        add("7 fuse", "fused grid", fu.get("skipped") or fu.get("error", ""))
    else:
        add(
            "7 fuse",
            f"{fu['configurations']} configurations x 3 replicas, {fu['steps']} steps, an "
            f"eval every {fu['eval_every']}: unfused {fu['unfused_s']:.0f} s / fused "
            f"{fu['fused_s']:.0f} s",
            _x(fu["speedup"]),
        )
        tr = fu["training"]
        add_summary(
            "7 fuse",
            f"  training alone (no Ray, no evals, 1 thread): {fu['configurations']} trainers "
            f"/ {tr['chunks']} fused",
            tr["speedup"],
            _x,
        )
        add(
            "7 fuse",
            f"  members vs unfused trials, float64, {fu['check_steps']} steps "
            f"({fu['rows_compared']} rows): largest relative difference",
            f"{fu['max_relative_difference']:.1e}",
        )
    th = f.get("threads", {"skipped": "not measured"})  # absent in an older bench JSON
    if "skipped" in th:
        add("8 threads", "1 thread / torch's default", th["skipped"])
    for r in th.get("rows", []):
        add_summary(
            "8 threads",
            f"1 thread / {th['default_threads']} (torch's default), {r['family']} width "
            f"{r['width']} batch {r['batch']}: {r['one_thread_steps_per_s']:.3g} vs "
            f"{r['default_steps_per_s']:.3g} steps/s",
            r["ratio"],
            _x,
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("figure", "measure", "median", "spread")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in [header, *rows]:
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        )
    lines += ["", "targets (issues 6, 11 and 15):"]
    for t in result["targets"]:
        fmt = _pct if t["unit"] == "%" else _x
        verdict = "PASS" if t["met"] else "MISS"
        if t["op"] == ">=":
            by = f"{abs(t['margin']):.0%} {'above' if t['margin'] >= 0 else 'below'} it"
        else:
            by = f"{abs(t['margin']):.0%} {'under' if t['margin'] >= 0 else 'over'} it"
        note = f"; {t['note']}" if t["note"] else ""
        lines.append(
            f"  {verdict}  {t['name']}: {fmt(t['value'])} "
            f"(target {t['op']} {fmt(t['target'])}: {by}{note})"
        )
    busy = [b for b in (env.get("others_busy_before"), env.get("others_busy_after")) if b]
    if busy and max(busy) > 0.1:
        lines.append(
            f"\nnote: other processes used up to {max(busy):.0%} of the CPUs around the run: "
            "the figures are noisier than usual (see the spreads)."
        )
    lines.append(f"\nbench took {result['elapsed_s']:.0f} s")
    return "\n".join(lines)
