"""`ganstudy` as a shell citizen: `trial`'s JSON lines and table, `validate`, one error
prefix and exit code 2 for every bad input, quiet Ctrl-C and broken pipes, cluster addresses
used as given and checked for their form before anything connects."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from mnist_files import shipped_copy  # tests/mnist_files.py

from ganstudy.cli import main
from ganstudy.columns import METRIC_COLUMNS

STUDIES = sorted((REPO / "studies").glob("*.yaml"))

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
    # The very rows the trainer computes for the same settings, NaN as null.
    from ganstudy.config import from_dict
    from ganstudy.engine.trainer import Trainer

    settings = dict(s.split("=") for s in ["target=ring8", "steps=4", "eval_every=2"] + TINY)
    config = from_dict(settings | {"replicas": "2", "k": "2"})
    expected = [r for e in Trainer(config).run() for r in e.rows]
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert set(METRIC_COLUMNS) | {"step", "replica", "seed", "outcome"} <= row.keys()
        assert row == {k: None if v != v else v for k, v in want.items()}
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
    assert len(lines) == 2 + 3 + 2  # description, header, steps 0 1 2, summary
    assert lines[-2].startswith("done: 2 steps x 1 replicas") and lines[-1].startswith("outcome:")
    assert "fd" not in lines[1].split()  # NaN on the toys: not shown


def test_trial_table_on_images_shows_the_image_metrics(capsys):
    settings = ["target=digits", "model=dcgan", "steps=2", "eval_every=2"] + TINY
    assert main(["trial", "--set", *settings]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[1].split()
    assert {"fd", "precision", "recall", "js_probe", "modes", "hq"} <= set(header)
    first = dict(zip(header, lines[2].split(), strict=True))
    assert float(first["fd"]) > 0 and 0 <= float(first["precision"]) <= 1


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


def test_repeated_set_key_is_an_error(capsys):
    line = usage_error(capsys, "k=1", "lr_d=0.001", "k=2")
    assert "k" in line and "twice" in line and "'1'" in line and "'2'" in line
    # As separate flags too: argparse would otherwise keep only the last --set.
    assert main(["trial", "--set", "k=1", "--set", "k=2", "--json"]) == 2
    assert "given twice" in capsys.readouterr().err


def test_separate_set_flags_add_up(capsys):
    args = ["trial", "--set", "steps=1", "eval_every=1", "--set", "k=3"] + ["--set", *TINY]
    assert main([*args, "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # steps 0 and 1: both --set applied


def test_non_finite_and_huge_settings_are_usage_errors(capsys):
    for setting in ["lr_d=inf", "lr_d=nan", "target_std=-inf", "seed=" + "9" * 30, "k=10000"]:
        line = usage_error(capsys, setting)
        assert line.startswith(f"ganstudy: error: --set {setting.partition('=')[0]}: "), line
        assert len(line) < 300


# ----------------------------------------------------------------------------- validate


def write_study(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def balance() -> dict:
    return {
        "name": "balance", "target": "ring8", "steps": 20000, "eval_every": 500, "replicas": 3,
        "metric": "js_binned", "mode": "min", "search": {"algorithm": "grid"},
        "params": {
            "loss": {"grid": ["minimax", "nonsaturating", "wgan_gp", "hinge"]},
            "k": {"grid": [1, 2, 5]},
            "lr_d": {"grid": [0.00005, 0.0002, 0.0008]},
            "d_width": {"grid": [64, 256]},
        },
    }  # fmt: skip


def test_validate_command_reports_the_size(tmp_path, capsys):
    path = write_study(tmp_path, balance())
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"{path}: OK — 72 trials × 3 replicas = 216 runs, 20000 steps each"


def test_validate_command_fails_with_one_line_and_exit_2(tmp_path, capsys):
    data = balance()
    data["params"]["lr_dd"] = 0.1
    assert main(["validate", str(write_study(tmp_path, data))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "params.lr_dd" in captured.err
    assert captured.err.startswith("ganstudy: error: ")


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_studies_validate(path, capsys, tmp_path):
    assert main(["validate", str(shipped_copy(path, tmp_path))]) == 0  # mnist: synthetic
    assert capsys.readouterr().err == ""


def test_a_data_study_as_shipped_asks_for_its_data_dir(capsys):
    """studies/mnist.yaml ships a placeholder data_dir: until it names real files, one
    line naming data_dir and what it needs, exit 2."""
    if Path("/data/mnist").exists():
        pytest.skip("/data/mnist exists on this machine")
    assert main(["validate", str(REPO / "studies" / "mnist.yaml")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "params.data_dir" in line and "no such folder or file" in line and "IDX" in line


def huge_grid(num_samples: int) -> dict:
    data = balance()
    values = list(range(1, 11))
    data["params"] = {key: {"grid": values} for key in ["k", "z_dim", "g_depth", "d_depth"]}
    data["params"]["seed"] = {"grid": values}  # 10^5 trials per sample
    data.pop("replicas")
    data["search"]["num_samples"] = num_samples
    return data


@pytest.mark.parametrize("command", ["validate", "run"])
def test_huge_grids_are_refused_and_large_ones_warned_about(tmp_path, capsys, command):
    args = ["--dry-run"] if command == "run" else []
    assert main([command, str(write_study(tmp_path, huge_grid(3))), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("ganstudy: error: ")
    assert "300,000 trials" in captured.err and "100,000" in captured.err
    assert main([command, str(write_study(tmp_path, huge_grid(1))), *args]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("ganstudy: warning: ") and "100,000 trials" in captured.err
    assert captured.err.count("\n") == 1 and "100000 trials" in captured.out


# ------------------------------------------------------------- one prefix for every error


def dead_port() -> int:
    """A local port nothing listens on (bound and released: refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_COMMANDS = [
    [],
    ["nonsense"],
    ["trial", "--bogus"],
    ["trial", "--set", "lr_dd=1"],
    ["trial", "--set", "k=1", "k=2"],
    ["validate"],
    ["validate", "no/such/study.yaml"],
    ["run", "no/such/study.yaml"],
    ["run", "no/such/study.yaml", "--max-concurrent", "many"],
    ["run", "no/such/study.yaml", "--address", "nonsense"],
    ["report", "no/such/folder"],
    ["jobs", "--address", "nonsense"],
    ["logs", "--address", "http://127.0.0.1:1"],
    ["stop", "job", "--address", "127.0.0.1:8265"],
    ["submit", "no/such/study.yaml", "--address", "http://127.0.0.1:1"],
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=lambda a: " ".join(a) or "<none>")
def test_every_error_line_starts_with_the_one_prefix(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors exit
        code = exit.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganstudy: error: "), lines


# ------------------------------------------------------------------- processes and pipes


def ganstudy(*args: str, **kwargs) -> subprocess.Popen:
    env = kwargs.pop("env", os.environ) | {"RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "ganstudy.entry", *args],  # the console script's module
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        **kwargs,
    )


LONG_TRIAL = ["trial", "--set", "steps=100000", "eval_every=1", *TINY, "--json"]


def test_trial_json_into_head_exits_quietly():
    done = subprocess.run(
        f"{sys.executable} -m ganstudy.entry {' '.join(LONG_TRIAL)} | head -1; "
        "echo status=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    first, status = done.stdout.splitlines()
    assert json.loads(first)["step"] == 0
    assert status == "status=0" and done.stderr == ""


def test_closed_stdout_ends_trial_with_status_0_and_empty_stderr():
    process = ganstudy(*LONG_TRIAL)
    assert json.loads(process.stdout.readline())["step"] == 0
    process.stdout.close()  # the reader goes away while the trial still prints
    assert process.wait(timeout=120) == 0
    assert process.stderr.read() == ""


def test_ctrl_c_during_trial_exits_130_without_a_traceback():
    process = ganstudy(*LONG_TRIAL)
    assert json.loads(process.stdout.readline())["step"] == 0
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    assert process.stderr.read() == ""
    process.stdout.close()


# ------------------------------------------------------------------------ cluster addresses


@pytest.mark.parametrize(
    ("argv", "form"),
    [
        (["jobs", "--address", "nonsense"], "http://HEAD:8265"),
        (["jobs", "--address", "127.0.0.1:8265"], "add http://"),
        (["logs", "some-job", "--address", "ray://head:10001"], "http://HEAD:8265"),
        (["run", "studies/smoke.yaml", "--address", "nonsense"], "HOST:PORT"),
        (["run", "studies/smoke.yaml", "--address", "http://head:8265"], "ganstudy submit"),
    ],
)
def test_an_address_in_the_wrong_form_fails_at_once_with_the_form(argv, form):
    start = time.monotonic()
    process = ganstudy(*argv)
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - start < 10  # not Ray's ~40 s of retries
    assert process.returncode == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("ganstudy: error: ") and "--address" in line and form in line, line


def test_the_address_flag_wins_over_rays_environment_variables():
    flag, env_port = dead_port(), dead_port()
    for variable in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        env = os.environ | {variable: f"http://127.0.0.1:{env_port}"}
        process = ganstudy("jobs", "--address", f"http://127.0.0.1:{flag}", env=env)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 2, err
        (line,) = err.strip().splitlines()
        assert line.startswith(f"ganstudy: error: http://127.0.0.1:{flag}: "), line
        assert str(env_port) not in line, line  # the flag's address was tried, not the env's
    # Without the flag the variable is Ray's default, and the message says where it came from.
    env = os.environ | {"RAY_API_SERVER_ADDRESS": f"http://127.0.0.1:{env_port}"}
    out, err = ganstudy("jobs", env=env).communicate(timeout=60)
    assert f"127.0.0.1:{env_port} (from $RAY_API_SERVER_ADDRESS)" in err, err


def test_address_variables_are_hidden_only_inside_the_block(monkeypatch):
    from ganstudy.run.cluster import hidden_address_variables

    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://10.0.0.1:8265")
    with hidden_address_variables():
        assert "RAY_ADDRESS" not in os.environ and "RAY_API_SERVER_ADDRESS" not in os.environ
    with hidden_address_variables(hide=False):
        assert os.environ["RAY_ADDRESS"] == "10.0.0.1:6379"
    assert os.environ["RAY_API_SERVER_ADDRESS"] == "http://10.0.0.1:8265"


# ------------------------------------------- issue 13: files and paths that are not as given

SMOKE = REPO / "studies" / "smoke.yaml"


def one_error(capsys) -> str:
    """The one stderr line of a failed command (asserting it is one line, no traceback)."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganstudy: error: "), err
    return err.strip()


def in_subprocess(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`ganstudy ARGS` in its own process: a hang (the bug) fails by timeout, not for ever."""
    return subprocess.run(
        [sys.executable, "-m", "ganstudy.entry", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env=os.environ | {"RAY_USAGE_STATS_ENABLED": "0"},
    )


def test_validate_refuses_a_named_pipe_at_once(tmp_path):
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo)  # no writer: a blocking open() waits for ever
    done = in_subprocess("validate", str(fifo), timeout=30)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "p.yaml: a named pipe (FIFO), not a file" in done.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_validate_refuses_a_character_device(capsys, device):
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    assert main(["validate", device]) == 2
    assert "a character device, not a file" in one_error(capsys)


def test_validate_refuses_a_folder_as_a_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    assert "a folder, not a file; give a study file" in one_error(capsys)


def test_report_on_a_file_says_it_is_not_a_study_folder(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# hello\n")
    assert main(["report", str(readme)]) == 2
    err = one_error(capsys)
    assert "not a study folder (it is a file)" in err and "still running" not in err


def test_a_quoted_tilde_is_expanded_in_every_path_argument(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "s.yaml").write_text(SMOKE.read_text())
    assert main(["validate", "~/s.yaml"]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path}/s.yaml: OK")
    assert main(["run", "~/s.yaml", "--results", "~/x", "--dry-run"]) == 0
    capsys.readouterr()
    assert main(["report", "~/nowhere"]) == 2
    assert f"{tmp_path}/nowhere: not a study folder (it does not exist)" in one_error(capsys)
    from report_fixtures import write_study as write_results

    write_results(tmp_path, name="s", losses=("minimax",), ks=(1,), ratios=(1.0,))
    (tmp_path / "file").write_text("x")
    assert main(["report", "~/s", "--out", "~/file/x"]) == 2
    assert f"{tmp_path}/file/x: the path runs through a file" in one_error(capsys)
    assert main(["bench", "--out", "~/missing/b.json"]) == 2
    assert f"--out {tmp_path}/missing/b.json: its folder does not exist" in one_error(capsys)


def test_an_empty_path_argument_is_refused(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["report", ""])
    assert exit.value.code == 2 and "empty path" in one_error(capsys)


def test_report_out_under_a_file_names_the_file(tmp_path, capsys):
    from report_fixtures import write_study as write_results

    study = write_results(tmp_path, name="s", losses=("minimax",), ks=(1,), ratios=(1.0,))
    blocker = tmp_path / "SOMEFILE"
    blocker.write_text("not a folder")
    assert main(["report", str(study), "--out", str(blocker / "x")]) == 2
    err = one_error(capsys)
    assert "the path runs through a file" in err and "SOMEFILE" in err
    assert "File exists" not in err and blocker.read_text() == "not a folder"


def test_no_message_ends_in_a_dangling_colon(capsys):
    from ganstudy.messages import detail, fail

    fail(f"somewhere: {OSError().strerror or ''}")
    assert capsys.readouterr().err == "ganstudy: error: somewhere\n"
    assert detail(RuntimeError()) == "RuntimeError"
    assert detail(ValueError("bad\nmore")) == "ValueError: bad"


def test_run_into_an_unwritable_place_is_one_line_and_exit_2(tmp_path, capsys):
    # /proc refuses a new folder to everyone, root included (chmod 555 does not stop root).
    assert main(["run", str(SMOKE), "--results", "/proc/ganstudy-test/x", "--quiet"]) == 2
    err = one_error(capsys)
    assert "/proc/ganstudy-test/x: cannot create the study folder (" in err
    assert "give --results a folder you can write" in err


def test_long_paths_are_clipped_in_the_middle(capsys):
    from ganstudy.messages import clip_middle

    assert clip_middle("abcdefghij", 5) == "ab…ij" and clip_middle("abc", 5) == "abc"
    long = "/tmp/" + "x" * 5000 + "/study.yaml"
    assert main(["validate", long]) == 2
    err = one_error(capsys)
    assert len(err) < 300 and err.count("x") < 200 and "/study.yaml" in err


def test_bench_checks_its_out_file_before_measuring(tmp_path, capsys, monkeypatch):
    import ganstudy.bench.command as command

    def measured(*args, **kwargs):
        raise AssertionError("the bench ran before --out was checked")

    monkeypatch.setattr(command, "run_bench", measured)
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 2  # a folder
    assert "a folder, not a file; give a file name" in one_error(capsys)
    os.mkfifo(tmp_path / "pipe.json")
    assert main(["bench", "--quick", "--out", str(tmp_path / "pipe.json")]) == 2
    assert "a named pipe" in one_error(capsys)
    (tmp_path / "f.json").write_text("{}")
    assert main(["bench", "--quick", "--out", str(tmp_path / "f.json" / "y")]) == 2
    assert "its folder is a file" in one_error(capsys)
    with pytest.raises(AssertionError, match="the bench ran"):  # a writable place: it runs
        main(["bench", "--quick", "--out", str(tmp_path / "new.json")])
    assert not (tmp_path / "new.json").exists()  # the check's probe leaves nothing behind


def test_the_console_script_is_the_entry_module():
    scripts = (REPO / "pyproject.toml").read_text()
    assert 'ganstudy = "ganstudy.entry:main"' in scripts


def test_ctrl_c_while_the_command_line_loads_is_quiet():
    # SIGINT arrives while ganstudy.cli is being imported (as a Ctrl-C in the first moments
    # does): deterministic, unlike a timer racing the imports.
    code = (
        "import os, signal, sys\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ganstudy.cli':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hook())\n"
        "from ganstudy.entry import main\n"
        "sys.exit(main(['validate', 'studies/smoke.yaml']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "" and done.stdout == ""


def test_the_entry_module_imports_nothing_of_ganstudy_at_its_top():
    import ast

    tree = ast.parse((REPO / "ganstudy" / "entry.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = [a.name for n in top for a in n.names] + [
        n.module for n in top if isinstance(n, ast.ImportFrom) and n.module
    ]
    assert not [n for n in names if n.startswith("ganstudy")], names
    init = (REPO / "ganstudy" / "__init__.py").read_text()
    assert "\nfrom ganstudy" not in init.split("if TYPE_CHECKING:")[0]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("argv", [["validate", str(SMOKE)], ["trial", "--set", "steps=2"]])
def test_an_output_that_fails_is_one_line_and_exit_1(argv):
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "ganstudy.entry", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "ganstudy: error: cannot write output: No space left on device\n"


def test_report_into_head_still_writes_the_whole_report(tmp_path):
    from report_fixtures import write_study as write_results

    study = write_results(tmp_path, name="s", losses=("minimax",), ks=(1,), ratios=(1.0,))
    done = subprocess.run(
        f"{sys.executable} -m ganstudy.entry report {study} --out {tmp_path / 'r'} | head -1;"
        " echo status=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env=os.environ | {"MPLBACKEND": "Agg"},
    )
    assert done.stdout.splitlines()[-1] == "status=0" and done.stderr == "", done.stderr
    assert (tmp_path / "r" / "index.html").exists()  # a closed stdout is no write fault


def test_max_concurrent_beyond_any_study_is_refused(capsys):
    assert main(["run", str(SMOKE), "--max-concurrent", str(10**20), "--dry-run"]) == 2
    assert "--max-concurrent: must be <= 100,000" in one_error(capsys)


def test_submit_no_validate_refuses_a_pipe_without_connecting(tmp_path, capsys):
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    argv = ["submit", str(fifo), "--no-validate", "--results", "/x", "--address", "http://h:1"]
    assert main(argv) == 2
    err = one_error(capsys)
    assert "a named pipe (FIFO)" in err and "nothing submitted" in err


def test_report_out_that_is_a_dangling_link_is_refused(tmp_path, capsys):
    from report_fixtures import write_study as write_results

    study = write_results(tmp_path, name="s", losses=("minimax",), ks=(1,), ratios=(1.0,))
    (tmp_path / "out").symlink_to(tmp_path / "gone" / "x")
    assert main(["report", str(study), "--out", str(tmp_path / "out")]) == 2
    assert "a link to nothing" in one_error(capsys)  # was exit 1, "Not a directory"


def test_terminal_escapes_in_input_are_shown_escaped(capsys):
    assert main(["validate", "\x1b[31mred.yaml"]) == 2
    err = one_error(capsys)
    assert "\x1b" not in err and "\\x1b[31mred.yaml" in err


def test_submit_echoes_a_long_relative_results_clipped(capsys):
    long = "rel/" + "r" * 5000
    argv = ["submit", str(SMOKE), "--results", long, "--address", "http://h:1"]
    assert main(argv) == 2
    err = one_error(capsys)
    assert "give an absolute path" in err and len(err) < 300 and "…" in err
