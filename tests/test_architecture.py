"""The import rules of docs/architecture.md, read from the source (no import needed)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "ganstudy"
# The layers, as folders (docs/architecture.md): a module's layer is its folder under
# ganstudy/, or for a top-level module the layer listed here.
TOP_LEVEL = {
    "columns": "names",
    "messages": "names",
    "config": "config",
    "conversion": "config",
    "yamlfile": "config",
    "fusing": "config",
    "trial_table": "trial_table",
}
# Who may import what; run, bench and the commands (cli, entry, __init__, the public
# trainer path) may import every layer.
ALLOWED = {
    "names": set(),
    "config": {"names"},
    "engine": {"names", "config"},
    "study": {"names", "config"},
    "trial_table": {"names", "config"},
    "report": {"names", "config", "study", "engine.targets"},
}
# A file may hold one job at length; the function cap below is what keeps code readable
# (600 used to force splits such as spec.py / study_sections.py by size, not by job).
MAX_LINES = 800


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer(path: Path) -> str:
    """A module's layer: its folder under ganstudy/, or TOP_LEVEL's name for it."""
    parts = path.relative_to(PACKAGE).parts
    if len(parts) > 1:
        return parts[0]
    name = parts[0].removesuffix(".py")
    return TOP_LEVEL.get(name, "commands")


def layer_of_import(name: str) -> str | None:
    """The layer an imported module name belongs to (None: not ganstudy's, or the package)."""
    parts = name.split(".")
    if parts[0] != "ganstudy" or len(parts) == 1:
        return None
    if parts[1] in ("engine", "study", "run", "report", "bench"):
        return parts[1]
    return TOP_LEVEL.get(parts[1], "commands")


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
        own = layer(path)
        allowed = ALLOWED.get(own)
        if allowed is None:  # run, bench, the commands: may import everything
            continue
        for name in imported(path):
            other = layer_of_import(name)
            if other is None or other == own or other in allowed:
                continue
            if any(name == a or name.startswith(a + ".") for a in allowed if "." in a):
                continue  # report may read engine.targets (geometry), nothing else of engine
            if any(f"ganstudy.{a}" == name or name.startswith(f"ganstudy.{a}.") for a in allowed):
                continue
            wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_the_layers_are_the_folders_the_architecture_page_names():
    """docs/architecture.md's layer table names exactly the folders and top-level modules
    that exist (so the page cannot drift from the tree)."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    top = {p.stem for p in PACKAGE.glob("*.py")}
    for name in folders:
        assert f"`{name}/`" in page, f"docs/architecture.md does not name the folder {name}/"
    for name in top - {"__init__"}:
        assert f"`{name}.py`" in page, f"docs/architecture.md does not name {name}.py"
    for path in modules():
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) == 2 and relative.name != "__init__.py":
            assert relative.stem in page, f"docs/architecture.md does not name {relative}"


def test_no_module_is_over_800_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


MAX_FUNCTION_LINES = 60
# Functions allowed past MAX_FUNCTION_LINES, each because it does one thing that reads best
# whole (a table's rows, an argument parser, a figure drawn panel by panel). A function
# that grows past the cap and is not one of these is split.
LONG_FUNCTIONS: dict[str, str] = {
    "bench/table.py:format_table": "the bench table's rows, one block per figure, in order",
    "bench/targets.py:targets": "each target's pass/miss line, one block per target",
    "bench/study.py:study_figure": "one measurement: set up, interleave rounds, summarise",
    "bench/command.py:run_bench": "the bench's figures in order, each one call",
    "cli.py:_parser": "argparse: one block per command",
    "report/figures/calibration.py:fig_calibration": "one figure drawn panel by panel",
    "report/figures/dirac.py:fig_dirac_plane": "one figure drawn panel by panel",
    "report/figures/occupancy.py:fig_occupancy": "one figure drawn panel by panel",
    "report/figures/capacity.py:fig_coverage_capacity": "one figure drawn panel by panel",
    "report/figures/search.py:fig_sampled_runs": "one figure drawn panel by panel",
    "report/figures/trajectories.py:fig_d_outputs": "one figure drawn panel by panel",
    "report/page.py:page": "the HTML page top to bottom",
    "report/study.py:_prepare": "the derived columns of a study, one after another",
    "run/resume.py:check_resumable": "each way a saved experiment can be damaged, in order",
    "run/study.py:run_study": "one try/finally that must own the folder, Ray and the lock",
    "study/results.py:build_tables": "the tables' columns from the records, table by table",
    "study/study_sections.py:parse_scheduler": "each scheduler's keys and checks, one branch each",
}


def test_functions_are_short_unless_listed_with_why():
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                name = f"{path.relative_to(PACKAGE)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS:
                    long[name] = lines
    assert long == {}


def test_the_tests_mirror_the_package_folders():
    """tests/<folder>/ exists only for a package folder of that name, and no test file sits
    deeper (tests/engine/test_trainer.py tests ganstudy/engine/trainer.py)."""
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    tests = REPO / "tests"
    for path in tests.rglob("test_*.py"):
        parts = path.relative_to(tests).parts
        assert len(parts) <= 2, f"{path} is deeper than tests/<package folder>/"
        if len(parts) == 2:
            assert parts[0] in folders, f"tests/{parts[0]}/ names no folder of ganstudy/"
    assert {p.parent.name for p in tests.glob("*/test_*.py")} == folders  # each has its tests
