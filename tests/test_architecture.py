"""The import rules of docs/architecture.md, read from the source (no import needed)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ganstudy"
# Who may import what (by the first part of the module path under ganstudy/).
ENGINE = {"targets", "models", "losses", "metrics", "updates", "optim", "hostmemory", "trainer"}
ENGINE |= {"threads"}
NAMES = {"columns", "messages"}
CONFIG = {"config", "yamlfile", "fusing"}
ALLOWED = {
    **{name: set() for name in NAMES},
    **{name: NAMES | CONFIG for name in CONFIG},
    **{name: NAMES | CONFIG | ENGINE for name in ENGINE},
    "study_sections": NAMES | CONFIG,
    "spec": NAMES | CONFIG | {"study_sections"},
    "results": NAMES | CONFIG,
    "trial_table": NAMES | CONFIG,
    "report": NAMES | CONFIG | {"results", "report", "targets"},
}
MAX_LINES = 600


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "ganstudy":  # from ganstudy import x
                names |= {f"ganstudy.{alias.name}" for alias in node.names}
    return names


def test_only_the_run_layer_imports_ray():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if layer(p) != "run" and any(n == "ray" or n.startswith("ray.") for n in imported(p))
    ]
    assert offenders == []


def test_each_layer_imports_only_the_layers_it_may():
    wrong = []
    for path in modules():
        allowed = ALLOWED.get(layer(path))
        if allowed is None:  # run, bench, cli, __init__: may import everything
            continue
        for name in imported(path):
            parts = name.split(".")
            if (
                parts[0] == "ganstudy"
                and len(parts) > 1
                and parts[1] not in allowed | {layer(path)}
            ):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_no_module_is_over_600_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
