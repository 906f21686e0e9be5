"""`ganstudy submit | jobs | logs | stop`: a study sent to a Ray cluster as a job, and the
job followed, listed or stopped there (run/cluster.py talks to Ray's job API)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ganstudy.messages import clip_middle, fail
from ganstudy.study.study_sections import max_concurrent_error


def submit_command(args: argparse.Namespace) -> int:
    """`ganstudy submit`: check the study here (unless --no-validate), then send it to the
    cluster as a Ray job; print its id, and follow it with --wait."""
    from ganstudy.run import cluster
    from ganstudy.study.spec import SpecError, load_spec

    results, name, storage = args.results, None, None
    if not args.no_validate:
        try:
            spec = load_spec(args.file)
        except SpecError as error:
            return fail(f"{error} (nothing submitted)")
        name, storage = spec.name, spec.storage
    elif not os.path.lexists(args.file):
        return fail(f"{clip_middle(args.file)}: no such study file")
    else:  # unchecked, but where the study goes must still be known
        from ganstudy.yamlfile import YamlFileError, read_yaml

        try:  # a pipe, a binary or broken YAML would fail on the cluster too: refused here
            data = read_yaml(args.file)
        except YamlFileError as error:
            return fail(f"{clip_middle(args.file)}: {error} (nothing submitted)")
        storage = data.get("storage") if isinstance(data, dict) else None
    if results is None and storage is None:
        return fail(
            "submit: give --results (a folder every node sees, or s3://..., gs://...) "
            "or a storage: key in the study; a job's own folder is temporary"
        )
    if results is not None and "://" not in results and not Path(results).is_absolute():
        return fail(
            f"--results {clip_middle(results)}: give an absolute path (as the nodes see it) "
            "or a URI"
        )
    if max_concurrent_error(args.max_concurrent):
        return fail(max_concurrent_error(args.max_concurrent))
    try:
        env = cluster.parse_env(args.env)
        job = cluster.submit(
            args.file,
            address=args.address,
            results=results,
            resume=args.resume,
            fresh=args.fresh,
            max_concurrent=args.max_concurrent,
            env=env,
            name=name,
        )
    except (ValueError, cluster.ClusterError) as error:
        return fail(str(error))
    print(job, flush=True)
    where = f" --address {args.address}" if args.address else ""
    if not args.wait:
        print(
            f"follow: ganstudy logs {job} --follow{where}; stop: ganstudy stop {job}{where}",
            file=sys.stderr,
        )
        return 0
    return follow(args.address, job)


def follow(address: str | None, job: str) -> int:
    """Stream a job's logs; 0 if it succeeded, 1 otherwise (Ctrl-C leaves it running)."""
    from ganstudy.run import cluster

    try:
        status = cluster.follow(address, job)
    except KeyboardInterrupt:
        print(f"\n{job} keeps running; ganstudy stop {job} ends it", file=sys.stderr)
        return 130
    except cluster.ClusterError as error:
        return fail(str(error))
    if status == "SUCCEEDED":
        print(f"job {job} SUCCEEDED", file=sys.stderr)
        return 0
    _, message = cluster.status(address, job)
    print(f"job {job} {status}: {message}".rstrip(": "), file=sys.stderr)
    return 1


def jobs_command(args: argparse.Namespace) -> int:
    """`ganstudy jobs`: the cluster's Ray jobs, a row each."""
    from ganstudy.run import cluster

    try:
        rows = cluster.list_jobs(args.address)
    except cluster.ClusterError as error:
        return fail(str(error))
    header = {"job": "job", "status": "status", "study": "study", "started": "started"}
    table = [header, *rows]
    widths = {k: max(len(str(r[k])) for r in table) for k in header}
    for row in table:
        cells = [f"{row[k]!s:<{widths[k]}}" for k in header]
        print(
            "  ".join(cells) + ("  " + row["entrypoint"] if row is not header else "  entrypoint")
        )
    return 0


def logs_command(args: argparse.Namespace) -> int:
    """`ganstudy logs`: a job's logs so far, or streamed with --follow."""
    from ganstudy.run import cluster

    if args.follow:
        return follow(args.address, args.job)
    try:
        sys.stdout.write(cluster.logs(args.address, args.job))
    except cluster.ClusterError as error:
        return fail(str(error))
    return 0


def stop_command(args: argparse.Namespace) -> int:
    """`ganstudy stop`: ask the cluster to stop a job (submit --resume continues it)."""
    from ganstudy.run import cluster

    try:
        stopped = cluster.stop(args.address, args.job)
    except cluster.ClusterError as error:
        return fail(str(error))
    print(f"{args.job}: " + ("stop requested" if stopped else "had already ended"))
    return 0
