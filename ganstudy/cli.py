"""`ganstudy` command line: trial | eval | settings | validate | run | report | bench | submit |
jobs | logs | stop"""

from __future__ import annotations

import argparse
import os
import sys
import time
import typing
from collections.abc import Callable, Sequence

from ganstudy import job_commands
from ganstudy.columns import FINISHED, RESUMABLE, STATUSES
from ganstudy.config import ConfigError, from_dict
from ganstudy.engine import hostmemory
from ganstudy.messages import INTERRUPTED, IO_FAULT, USAGE_ERROR, clip_middle, detail, shown
from ganstudy.messages import fail as _fail
from ganstudy.messages import say as _say
from ganstudy.run import cluster  # address forms only here; it imports Ray when it connects
from ganstudy.study.study_sections import max_concurrent_error

# Runs that `--resume` continues: the interrupted study's, and errored trials (retried).
RESUMABLE_RUNS = (*RESUMABLE, "error")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `ganstudy` command; its exit status (0 ok, 1 failed job, 2 bad input, 130 Ctrl-C).

    A reader that stops early (`ganstudy trial --json | head -1`) and Ctrl-C end a command
    quietly, without a traceback.
    """
    try:
        args = _parser().parse_args(argv)
        try:
            hostmemory.choice()  # the environment's settings, before any command's work
        except ConfigError as error:
            return _fail(str(error))
        return args.handler(args)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader closed the pipe: it has what it wanted.
        _silence_stdout()
        return 0
    except OSError as error:
        # Every handler names the files it reads and writes; what escapes them is the output
        # itself failing (stdout on a full disk, `> /dev/full`): one line, not a traceback.
        _silence_stdout()
        why = error.strerror or detail(error)
        where = f"{clip_middle(error.filename)}: " if error.filename else "cannot write output: "
        return _fail(f"{where}{why}", IO_FAULT)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a stdout that
    failed (closed pipe, full disk) does not complain after our one line."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (captured in tests)
        pass


class _Parser(argparse.ArgumentParser):
    """argparse with our one error line (`ganstudy: error: ...`) for its usage errors."""

    def error(self, message: str) -> typing.NoReturn:
        command = self.prog.removeprefix("ganstudy").strip()
        where = f"{command}: " if command else ""
        _fail(f"{where}{message} (see {self.prog} --help)")
        sys.exit(USAGE_ERROR)


def _address(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type: the address if `check` accepts its form, else a usage error."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("--address ")) from None

    return parse


def _user_path(text: str) -> str:
    """An argparse type for every local path: `~` expanded (a quoted '~/x' reaches us as
    typed, and would otherwise name a folder called "~"); an empty path refused (it would
    mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path; give a file or folder")
    return os.path.expanduser(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganstudy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    trial = commands.add_parser("trial", help="train one configuration, no Ray")
    trial.add_argument(
        "--set",
        nargs="+",
        action="extend",  # `--set k=1 --set k=2` is two settings (then refused as a repeat)
        default=[],
        metavar="KEY=VALUE",
        help="any TrialConfig field, e.g. k=2",
    )
    trial.add_argument(
        "--json", action="store_true", help="one JSON object per eval step and replica"
    )
    trial.add_argument(
        "--threads",
        type=_threads,
        metavar="N",
        help="torch threads to train on (default: $GANSTUDY_THREADS, else 1; see README)",
    )
    trial.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="a progress bar on stderr between evals (default: when stderr is a terminal)",
    )
    trial.set_defaults(handler=_trial)

    _add_eval(commands)
    settings = commands.add_parser("settings", help="every --set key: default, range, meaning")
    settings.add_argument("--json", action="store_true", help="one JSON object per setting")
    settings.set_defaults(
        handler=lambda a: _lazy("ganstudy.settings_table", "settings_command")(a.json)
    )

    validate = commands.add_parser("validate", help="check a study file, print its size")
    validate.add_argument("file", type=_user_path)
    validate.set_defaults(handler=_validate)

    run = commands.add_parser("run", help="run a study on Ray Tune (embedded local Ray by default)")
    run.add_argument("file", type=_user_path, help="study YAML, e.g. studies/balance.yaml")
    run.add_argument(
        "--results", type=_user_path, metavar="DIR", help="study folder (default results/<name>)"
    )
    run.add_argument(
        "--address",
        type=_address(cluster.gcs_address),
        help="Ray cluster to use: auto or HOST:PORT (default: embedded)",
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an interrupted study")
    mode.add_argument("--fresh", action="store_true", help="replace an existing study folder")
    run.add_argument("--dry-run", action="store_true", help="validate and show the trials only")
    run.add_argument("--max-concurrent", type=int, metavar="N", help="trials at once")
    run.add_argument("--quiet", action="store_true", help="no live progress table")
    run.set_defaults(handler=_run)

    report = commands.add_parser(
        "report", help="figures and findings from a study's tables; several studies: compared"
    )
    report.add_argument(
        "study",
        nargs="*",
        type=_user_path,
        help="study folder (default: the latest under results/); two or more: one comparison "
        "of the settings they share (default --out: compare-A-B beside the first)",
    )
    report.add_argument("--format", choices=["html", "png"], default="html")
    report.add_argument(
        "--out", type=_user_path, metavar="DIR", help="where to write (default <study>/report)"
    )
    report.set_defaults(handler=_report)

    bench = commands.add_parser("bench", help="measure speed: ratios against references")
    bench.add_argument("--quick", action="store_true", help="seconds, not minutes (for tests)")
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bench.add_argument("--out", type=_user_path, metavar="FILE", help="also write the JSON here")
    bench.set_defaults(
        handler=lambda a: _lazy("ganstudy.bench", "bench_command")(a.quick, a.json, a.out)
    )

    # Ray cluster jobs (docs/cluster.md). ADDRESS: the head's dashboard, http://HEAD:8265.
    dashboard = "Ray dashboard of the head, http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS)"
    submit = commands.add_parser("submit", help="run a study on a Ray cluster as a Ray job")
    submit.add_argument("file", type=_user_path, help="study YAML; it travels with the job")
    dashboard_address = _address(cluster.dashboard_address)
    submit.add_argument("--address", type=dashboard_address, help=dashboard)
    submit.add_argument(
        "--results",
        metavar="URI",
        help="study folder as the nodes see it: a shared path or s3://, gs:// "
        "(default <storage>/<name> when the study names a storage:)",
    )
    submit.add_argument("--wait", action="store_true", help="stream the logs; exit with its status")
    submit_mode = submit.add_mutually_exclusive_group()
    submit_mode.add_argument("--resume", action="store_true", help="continue the study there")
    submit_mode.add_argument("--fresh", action="store_true", help="replace the study there")
    submit.add_argument("--max-concurrent", type=int, metavar="N", help="trials at once")
    submit.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable of the job's driver and trials (repeat for more)",
    )
    submit.add_argument(
        "--no-validate",
        action="store_true",
        help="skip the local check of the study (the cluster's ganstudy still checks it)",
    )
    submit.set_defaults(handler=job_commands.submit_command)

    jobs = commands.add_parser("jobs", help="list the Ray jobs of a cluster")
    jobs.add_argument("--address", type=dashboard_address, help=dashboard)
    jobs.set_defaults(handler=job_commands.jobs_command)
    logs = commands.add_parser("logs", help="print (or --follow) a Ray job's logs")
    logs.add_argument("job", help="job id, as `ganstudy submit` printed it")
    logs.add_argument("--address", type=dashboard_address, help=dashboard)
    logs.add_argument("--follow", action="store_true", help="stream until the job ends")
    logs.set_defaults(handler=job_commands.logs_command)
    stop = commands.add_parser("stop", help="stop a Ray job (resume it with submit --resume)")
    stop.add_argument("job", help="job id")
    stop.add_argument("--address", type=dashboard_address, help=dashboard)
    stop.set_defaults(handler=job_commands.stop_command)
    return parser


def _add_eval(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="ganstudy's metrics of samples generated anywhere (.npy / .npz)"
    )
    evaluate.add_argument("--target", required=True, help="the target the samples imitate")
    evaluate.add_argument(
        "--samples", required=True, type=_user_path, metavar="FILE", help=".npy or .npz array"
    )
    evaluate.add_argument("--key", help="the array of a .npz holding several")
    evaluate.add_argument(
        "--data-dir", type=_user_path, metavar="DIR", help="mnist's files (the data_dir setting)"
    )
    evaluate.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="eval sizes and rules, e.g. coverage_samples=1000 (see ganstudy settings)",
    )
    evaluate.add_argument("--json", action="store_true", help="one JSON object")
    evaluate.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    try:
        settings = _parse_settings(args.set)
    except ConfigError as error:
        return _fail(f"--set {error}")
    if args.data_dir is not None:  # absolute: config's rule for trials run in other folders
        settings["data_dir"] = os.path.abspath(args.data_dir)
    command = _lazy("ganstudy.eval_command", "eval_command")
    return command(args.target, args.samples, args.key, settings, args.json)


def _threads(text: str) -> int:
    """An argparse type: a thread count in threads.py's range."""
    from ganstudy.engine.threads import threads_setting

    try:
        return threads_setting(int(text))
    except ValueError as error:
        message = str(error) if text.strip().lstrip("-").isdigit() else f"got {shown(text)}"
        raise argparse.ArgumentTypeError(
            message.removeprefix("--threads: ") + " (a whole number, e.g. --threads 1)"
        ) from None


def _trial(args: argparse.Namespace) -> int:
    try:
        config = from_dict(_parse_settings(args.set))
    except ConfigError as error:
        return _fail(f"--set {error}")
    command = _lazy("ganstudy.trial_command", "trial_command")
    return command(config, as_json=args.json, threads=args.threads, progress=args.progress)


def _load(path: str):
    """The validated study at `path` (a size warning on stderr), or None after its error."""
    from ganstudy.study.spec import SpecError, load_spec, size_warning

    try:
        spec = load_spec(path)
    except SpecError as error:
        _fail(str(error))
        return None
    warning = size_warning(spec)
    if warning:
        _say("warning", warning)
    return spec


def _validate(args: argparse.Namespace) -> int:
    """`ganstudy validate FILE`: check a study, print its size; 0 if valid, 2 if not."""
    spec = _load(args.file)
    if spec is None:
        return USAGE_ERROR
    trials = spec.num_trials()
    replicas, steps = spec.fixed.get("replicas"), spec.fixed.get("steps")
    runs = f" = {trials * replicas} runs" if replicas is not None else ""
    replicas_text = f"{replicas} replicas" if replicas is not None else "swept replicas"
    steps_text = f"{steps} steps each" if steps is not None else "swept steps"
    print(
        f"{clip_middle(args.file)}: OK — {trials} trials × {replicas_text}{runs}, {steps_text}"
        + _fused(spec, None)
    )
    return 0


def _fused(spec, max_concurrent: int | None) -> str:
    """With fuse: auto, how many Ray trials (fused groups) the configurations become."""
    if spec.fuse != "auto":
        return ""
    from ganstudy.run import groups  # plain data, no Ray

    slots = max_concurrent or spec.max_concurrent or 1
    n = len(groups.plan(groups.configurations(spec), spec.fuse_max, slots))
    where = f"{slots} at once" if max_concurrent or spec.max_concurrent else "before balancing"
    return f"; fuse: auto -> {n} Ray trials ({where}, at most {spec.fuse_max} configurations each)"


def _report(args: argparse.Namespace) -> int:
    return _lazy("ganstudy.report", "report_command")(args.study, args.out, args.format)


def _run(args: argparse.Namespace) -> int:
    started = time.monotonic()  # the display's elapsed time counts from here
    spec = _load(args.file)
    if spec is None:
        return USAGE_ERROR
    if max_concurrent_error(args.max_concurrent):
        return _fail(max_concurrent_error(args.max_concurrent))
    replicas = spec.fixed.get("replicas", "swept")
    print(
        f"{spec.name}: {spec.num_trials()} trials x {replicas} replicas, "
        f"metric {spec.metric} ({spec.mode})" + _fused(spec, args.max_concurrent)
    )
    if args.dry_run:
        for key, dim in spec.dimensions.items():
            print(f"  {key}: {dim.to_plain()}")
        return 0
    from ganstudy.run.folder import StudyError  # imports Ray: only when running
    from ganstudy.run.study import StudyInterrupted, StudyIOError, run_study

    resume = f"ganstudy run {args.file} --resume" + (
        f" --results {args.results}" if args.results else ""
    )
    try:
        out = run_study(
            spec,
            results_dir=args.results,
            address=args.address,
            resume=args.resume,
            fresh=args.fresh,
            max_concurrent=args.max_concurrent,
            progress=not args.quiet,
            started_at=started,
        )
    except StudyError as error:
        return _fail(str(error))
    except StudyIOError as error:  # a disk fault: run_study's own bounded message says all
        return _fail(str(error), IO_FAULT)
    except OSError as error:  # one while writing the tables
        where = f"{clip_middle(error.filename)}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or detail(error)}", IO_FAULT)
    except StudyInterrupted as interrupted:
        print(f"\n{interrupted}; the tables say what finished", file=sys.stderr)
        if not isinstance(interrupted.folder, str):
            _summarize_study(interrupted.folder, resume)
        return INTERRUPTED
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the study started
        print(
            f"\ninterrupted before the tables were written; continue with: {resume}",
            file=sys.stderr,
        )
        return INTERRUPTED
    if isinstance(out, str):  # a URI: the tables are there, not on this machine
        print(_tables_line(out))
        return 0
    _summarize_study(out, resume)
    return 0


def _summarize_study(out, resume_command: str) -> None:
    """What a researcher wants after a run: outcomes, the best trial, unfinished work."""
    from ganstudy.study.results import load_results

    study = load_results(out)
    trials = study.trials
    metric, mode = study.spec["metric"], study.spec["mode"]
    outcomes = trials["outcome"].value_counts().to_dict() if "outcome" in trials else {}
    print(
        f"\n{trials['trial_id'].nunique()} trials started, {len(trials)} replica runs"
        + (": " + ", ".join(f"{n} {o}" for o, n in outcomes.items()) if outcomes else "")
    )
    if metric in trials and trials[metric].notna().any():
        means = trials.groupby("trial_id")[metric].mean()
        best = means.idxmin() if mode == "min" else means.idxmax()
        swept = [k for k, v in study.spec["params"].items() if isinstance(v, dict)]
        swept += [
            k
            for k in ("target", "steps", "replicas", "seed")
            if isinstance(study.spec.get(k), dict)
        ]
        swept = [k for k in swept if k in trials]  # a trial Ray lost has no parameters
        setting = trials.loc[trials["trial_id"] == best, swept].iloc[0].to_dict() if swept else {}
        print(
            f"best by {metric} ({mode}): {best} {metric}={means[best]:.4g} "
            + " ".join(f"{k}={v}" for k, v in setting.items())
        )
    statuses = trials["status"].value_counts().to_dict() if "status" in trials else {}
    not_finished = {s: n for s, n in statuses.items() if s != FINISHED}
    if not_finished:
        print(
            f"{len(trials) - sum(not_finished.values())} of {len(trials)} replica runs finished; "
            + "; ".join(
                f"{n} {s} ({STATUSES[s]}{_steps_reached(trials[trials['status'] == s])})"
                for s, n in not_finished.items()
            )
        )
    if any(s in not_finished for s in RESUMABLE_RUNS):
        print(f"continue with: {resume_command}")
    print(_tables_line(out))
    print(f"next: ganstudy report {out}")


def _tables_line(out: object) -> str:
    """`tables: OUT/trials.parquet, history.parquet, ...`: what a run wrote."""
    from ganstudy.study.results import TABLES  # lazily: pandas only once a study has run

    first, *rest = (f"{name}.parquet" for name in TABLES)
    return f"tables: {out}/{first}, {', '.join(rest)}"


def _steps_reached(runs) -> str:
    """ ", at step 1000-2000 of 4000": where runs that did not finish stopped."""
    if runs.empty or "steps_done" not in runs or not (runs["steps_done"] > 0).any():
        return ""  # never trained (pending)
    low, high = int(runs["steps_done"].min()), int(runs["steps_done"].max())
    planned = f" of {int(runs['steps'].max())}" if "steps" in runs else ""
    return f", at step {low}{f'-{high}' if high > low else ''}{planned}"


def _lazy(module: str, name: str):
    """A function from a module imported on first use (keeps `ganstudy --help` fast)."""
    import importlib

    return getattr(importlib.import_module(module), name)


def _parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    """`--set` pairs as a dict; ConfigError for a pair that is not KEY=VALUE or a repeated key."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(pair, "expected KEY=VALUE, e.g. --set k=2 lr_d=0.0002")
        if key in settings:
            raise ConfigError(
                key,
                f"given twice ({shown(settings[key])} and {shown(value)}); give each key once",
            )
        settings[key] = value
    return settings


if __name__ == "__main__":
    sys.exit(main())
