"""Ray clusters: connect with token auth, check shared storage, submit studies as Ray jobs.

The second module that imports Ray (runner.py, the study runner, is the first): connecting
to a cluster, probing its storage from every node and Ray's Job Submission SDK are cluster
plumbing that a local run never needs, so they live apart from the runner. Ray is imported
inside the functions, keeping `ganstudy submit --help` fast. Cluster set-up, commands and
GPU fractions: docs/cluster.md.

    job_id = submit("studies/balance.yaml", address="http://head:8265",
                    results="/mnt/nfs/studies/balance")
    status = follow(address="http://head:8265", job_id=job_id)   # streams the logs
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganstudy.messages import clip_middle, shown

PROBE_FOLDER = ".ganstudy-probe"  # inside the study folder while the storage is checked
PROBE_TIMEOUT_S = 60.0  # a node that cannot run a tiny task in this long is not usable
FINAL = ("SUCCEEDED", "FAILED", "STOPPED")  # terminal Ray job states
AUTH_HELP = (
    "give the cluster's token in RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH or in "
    "~/.ray/auth_token (docs/cluster.md)"
)


class ClusterError(RuntimeError):
    """The cluster cannot be used as asked (unreachable, token rejected, storage not shared)."""


# ------------------------------------------------------------------------------- addresses
# The two forms an address takes, as the error for a wrong one shows them.
DASHBOARD_FORM = "the head's dashboard URL, http://HEAD:8265 (https://... behind a proxy)"
GCS_FORM = "auto (on a node of the cluster) or the head's GCS address HOST:PORT, e.g. HEAD:6379"
# Ray reads these before an address it is given: ganstudy passes the user's --address only.
ADDRESS_VARIABLES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")


def dashboard_address(address: str) -> str:
    """`address` if it is a dashboard URL, http(s)://HOST[:PORT]; else ValueError with the
    form to use. Checked before any connection: Ray reads HOST:PORT without a scheme as a
    GCS address and then waits ~40 s for an answer."""
    try:
        url = urllib.parse.urlsplit(address)
        ok = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
        ok = ok and url.path in ("", "/") and not (url.query or url.fragment or url.username)
    except ValueError:  # a port that is no number or out of range
        ok = False
    if ok and address.isprintable() and " " not in address:
        return address.rstrip("/")
    hint = ""
    if "://" not in address and ":" in address:
        hint = "; add http:// (HOST:PORT alone is a GCS address)"
    elif "@" in address:
        hint = "; leave user:password out of it (the cluster takes a Ray token: docs/cluster.md)"
    raise ValueError(f"--address {shown(shown_address(address))}: expected {DASHBOARD_FORM}{hint}")


def gcs_address(address: str) -> str:
    """`address` if it is "auto" or HOST:PORT; else ValueError with the form to use."""
    if address == "auto":
        return address
    host, _, port = address.rpartition(":")
    ok = bool(host.strip("[]")) and port.isdigit() and 0 < int(port) < 65536
    if ok and address.isprintable() and not any(c in address for c in " /@"):
        return address
    hint = ""
    if "://" in address:
        hint = "; a dashboard URL is for `ganstudy submit`, which runs the study on the cluster"
    raise ValueError(f"--address {shown(address)}: expected {GCS_FORM}{hint}")


@contextlib.contextmanager
def hidden_address_variables(hide: bool = True) -> Iterator[None]:
    """Hide Ray's address variables (ADDRESS_VARIABLES) in the block, so that Ray uses the
    address it is given, or none (an embedded Ray), instead of theirs."""
    saved = {k: os.environ.pop(k) for k in ADDRESS_VARIABLES if hide and k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def address_source(address: str | None) -> str:
    """Where a job client connects, for messages: the address, or the variable it came from."""
    if address:
        return shown_address(address)
    for variable in ADDRESS_VARIABLES:
        if os.environ.get(variable):
            return f"{shown_address(os.environ[variable])} (from ${variable})"
    return "the Ray dashboard"


# ------------------------------------------------------------------------------ token auth
def use_ray_token() -> None:
    """Send the user's Ray token to the cluster when one is configured.

    The token comes from where Ray looks: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH names,
    or ~/.ray/auth_token. Ray turns token auth on for an explicit address only when
    RAY_AUTH_MODE=token; ganstudy also turns it on when RAY_AUTH_MODE is unset and a token
    exists (as `ray start` does). RAY_AUTH_MODE=disabled keeps it off.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return  # the user decided; Ray reads it
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:  # a Ray without token authentication
        return
    if AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        _enable_token_auth()


def is_auth_failure(error: BaseException) -> bool:
    """Whether an error (or one it was raised from) is Ray rejecting a missing/wrong token."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        text = f"{type(seen).__name__} {seen}"
        if any(s in text for s in ("AuthenticationError", "InvalidAuthToken", "Unauthenticated")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _auth_error(address: str) -> ClusterError:
    return ClusterError(
        f"{shown_address(address)}: the cluster rejected the Ray auth token (missing or "
        "wrong); " + AUTH_HELP
    )


# ------------------------------------------------------------------------------- connecting
def connect(address: str) -> None:
    """ray.init(address) for a study driver: token auth, and one-line errors when it fails.

    A driver runs on a node of the cluster ("auto" inside a Ray job, or HOST:PORT of the
    head's GCS); from a laptop, use `submit`.
    """
    try:
        address = gcs_address(address)
    except ValueError as error:
        raise ClusterError(str(error)) from None
    import ray

    use_ray_token()
    if address != "auto":
        _check_gcs_token(address)
    try:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as error:  # ConnectionError, RuntimeError, AuthenticationError
        if is_auth_failure(error):
            raise _auth_error(address) from None
        raise ClusterError(
            f"cannot connect to the Ray cluster at {shown_address(address)}: {first_line(error)} "
            "(is it running, and is this machine one of its nodes? from elsewhere use "
            "`ganstudy submit`)"
        ) from None


def _check_gcs_token(address: str) -> None:
    """Fail in a second, not after ray.init's retries: nothing listens (~1 min) or the token
    is rejected (~20 s)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or first_line(error)
        raise ClusterError(
            f"cannot connect to the Ray cluster at {shown_address(address)}: {reason} (is its "
            "head running, "
            "and is this the head's GCS address, HOST:6379?)"
        ) from None
    try:
        from ray._raylet import GcsClient

        GcsClient(address=address)
    except Exception as error:  # only the token verdict matters here; ray.init reports the rest
        if is_auth_failure(error):
            raise _auth_error(address) from None


def shown_address(address: str) -> str:
    """The address as a message may show it: any user:password@ in it masked."""
    try:
        parts = urllib.parse.urlsplit(address)
        masked = parts.username is not None or parts.password is not None
    except ValueError:  # a port that is no number: userinfo may still be there
        masked = False
    if not masked:
        return clip_middle(address.rsplit("@", 1)[-1] if "@" in address else address)
    host = parts.netloc.rsplit("@", 1)[1]
    return clip_middle(urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}")))


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


# ---------------------------------------------------------------------------------- storage
def check_storage(location: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast unless every alive node writes and reads the study folder `location`.

    The driver writes a probe file with a random token; a zero-CPU task pinned to each node
    must read that token back and write and read its own file. A folder that exists on each
    node but is not shared (a local disk) fails the first test. Ray otherwise fails the
    trials on the other nodes only, while those on the head succeed. The probe folder is
    removed afterwards.
    """
    import pyarrow.fs
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    fs, path = pyarrow.fs.FileSystem.from_uri(location)
    probes = f"{path.rstrip('/')}/{PROBE_FOLDER}"
    try:
        fs.create_dir(probes)
        with fs.open_output_stream(f"{probes}/driver") as f:
            f.write(token.encode())
    except OSError as error:
        raise ClusterError(
            f"{clip_middle(location)}: cannot write the study folder ({first_line(error)})"
        ) from None
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        probe = ray.remote(num_cpus=0, max_retries=0)(probe_storage)
        pending = {
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(location, token): node
            for node in nodes
        }
        problems = []
        ready, not_ready = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_s)
        for ref in ready:
            try:
                problem = ray.get(ref)
            except Exception as error:  # the task itself crashed (e.g. ganstudy not installed)
                problem = f"the probe task failed: {first_line(error)}"
            if problem:
                problems.append(f"{_node_name(pending[ref])}: {problem}")
        problems += [f"{_node_name(pending[r])}: no answer in {timeout_s:.0f} s" for r in not_ready]
        for ref in not_ready:
            ray.cancel(ref, force=True)
    finally:
        try:
            fs.delete_dir(probes)
        except OSError:
            pass
    if problems:
        raise ClusterError(
            f"{clip_middle(location)} is not storage every node shares ({len(problems)} of "
            f"{len(nodes)} nodes: {'; '.join(problems)}); use a shared filesystem path or a URI "
            "(s3://, gs://) for --results or storage:"
        )


def probe_storage(location: str, token: str) -> str | None:
    """On one node: None if the driver's probe token reads back and a file round-trips."""
    import pyarrow.fs
    import ray

    fs, path = pyarrow.fs.FileSystem.from_uri(location)
    probes = f"{path.rstrip('/')}/{PROBE_FOLDER}"
    try:
        with fs.open_input_stream(f"{probes}/driver") as f:
            if f.read().decode() != token:
                return "sees a different folder under the same name (not shared)"
    except FileNotFoundError:
        return "cannot see the driver's probe file (a local folder, not shared storage)"
    except OSError as error:
        return f"cannot read the folder ({first_line(error)})"
    mine = f"{probes}/{ray.get_runtime_context().get_node_id()}"
    try:
        with fs.open_output_stream(mine) as f:
            f.write(token.encode())
        with fs.open_input_stream(mine) as f:
            ok = f.read().decode() == token
        fs.delete_file(mine)
    except OSError as error:
        return f"cannot write the folder ({first_line(error)})"
    return None if ok else "wrote a probe file but read back something else"


def _node_name(node: Mapping[str, Any]) -> str:
    return f"node {node['NodeManagerAddress']} ({node['NodeID'][:8]})"


# --------------------------------------------------------------------------------- Ray jobs
def client(address: str | None):
    """A JobSubmissionClient for the dashboard at `address` (http://HEAD:8265), token set.

    None: Ray's own defaults (RAY_API_SERVER_ADDRESS, RAY_ADDRESS, a local cluster); a
    given address is used as given (Ray would let those variables override it).
    """
    if address is not None:
        try:
            address = dashboard_address(address)
        except ValueError as error:
            raise ClusterError(str(error)) from None
    from ray.job_submission import JobSubmissionClient

    use_ray_token()
    try:
        with hidden_address_variables(address is not None):
            return JobSubmissionClient(address)
    except Exception as error:  # ConnectionError, AuthenticationError, ValueError
        raise _job_error(address, error) from None


def _job_error(address: str | None, error: BaseException) -> ClusterError:
    where = address_source(address)
    if is_auth_failure(error):
        return _auth_error(where)
    text = first_line(error)
    secret = urllib.parse.urlsplit(address or "").password
    if secret:  # Ray's own message may quote the URL it was given
        text = text.replace(secret, "***")
    return ClusterError(f"{where}: {text} (is the head's dashboard reachable?)")


def submit(
    study_file: str | os.PathLike,
    *,
    address: str | None,
    results: str | None = None,
    resume: bool = False,
    fresh: bool = False,
    max_concurrent: int | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
) -> str:
    """Submit `ganstudy run STUDY --address auto ...` as a Ray job; return its id.

    The job's working directory holds only the study file (nodes run their installed
    ganstudy). `results` is where the study folder goes, as the nodes see it: a shared
    path or a URI; `env` becomes the job's environment variables (driver and trials).
    """
    study = Path(study_file)
    run = ["ganstudy", "run", study.name, "--address", "auto"]
    if results:
        run += ["--results", results]
    if resume:
        run.append("--resume")
    if fresh:
        run.append("--fresh")
    if max_concurrent is not None:
        run += ["--max-concurrent", str(max_concurrent)]
    jobs = client(address)
    with tempfile.TemporaryDirectory(prefix="ganstudy-job-") as folder:
        shutil.copy(study, Path(folder) / study.name)
        runtime_env: dict[str, Any] = {"working_dir": folder}
        if env:
            runtime_env["env_vars"] = dict(env)
        try:
            return jobs.submit_job(
                entrypoint=shlex.join(run),
                runtime_env=runtime_env,
                submission_id=f"ganstudy-{name}-{uuid.uuid4().hex[:8]}" if name else None,
                metadata={"ganstudy_study": name or study.stem, "results": results or ""},
            )
        except Exception as error:
            raise _job_error(address, error) from None


def follow(address: str | None, job_id: str, out=None) -> str:
    """Stream a job's logs to `out` (stdout) until it ends; return its final status."""
    out = out or sys.stdout
    jobs = client(address)

    async def tail() -> None:
        async for lines in jobs.tail_job_logs(job_id):
            out.write(lines)
            out.flush()

    try:
        asyncio.run(tail())
        return wait(jobs, job_id)
    except ClusterError:
        raise
    except Exception as error:
        raise _job_error(address, error) from None


def wait(jobs, job_id: str, timeout_s: float = 30.0) -> str:
    """The job's status once terminal (the log stream can end a moment before)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(jobs.get_job_status(job_id).value)
        if status in FINAL or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def status(address: str | None, job_id: str) -> tuple[str, str]:
    """(status, Ray's message) of one job."""
    jobs = client(address)
    try:
        info = jobs.get_job_info(job_id)
    except Exception as error:
        raise _job_error(address, error) from None
    return str(info.status.value), info.message or ""


def list_jobs(address: str | None) -> list[dict[str, Any]]:
    """Every job of the cluster, oldest first: id, status, study, start, entrypoint."""
    jobs = client(address)
    try:
        details = jobs.list_jobs()
    except Exception as error:
        raise _job_error(address, error) from None
    rows = []
    for job in sorted(details, key=lambda j: j.start_time or 0):
        rows.append(
            {
                "job": job.submission_id or job.job_id,
                "status": str(job.status.value),
                "study": (job.metadata or {}).get("ganstudy_study", "-"),
                "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.start_time / 1000))
                if job.start_time
                else "-",
                "entrypoint": job.entrypoint,
            }
        )
    return rows


def logs(address: str | None, job_id: str) -> str:
    """A job's logs so far."""
    jobs = client(address)
    try:
        return jobs.get_job_logs(job_id)
    except Exception as error:
        raise _job_error(address, error) from None


def stop(address: str | None, job_id: str) -> bool:
    """Ask a job to stop (its trials checkpoint nothing more); False if it had ended."""
    jobs = client(address)
    try:
        return bool(jobs.stop_job(job_id))
    except Exception as error:
        raise _job_error(address, error) from None


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """KEY=VALUE pairs (--env) as a dict; ValueError names the bad one."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(
                f"--env {pair!r}: expected KEY=VALUE, e.g. --env CUDA_LAUNCH_BLOCKING=1"
            )
        env[key] = value
    return env
