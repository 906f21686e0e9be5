"""A study folder: where it is, what in it is ganstudy's, and the lock of the run using it.

A study folder holds only what `ganstudy run` writes (results.is_study_entry: exact names
and kinds, never a pattern). `--fresh` deletes those entries and nothing else, and refuses a
folder that holds anything more, so a wrong `--results` can never delete a user's files.
While a run uses a folder it holds the lock file LOCK_NAME (JSON: pid, host, start time);
a second run into it is refused, and `ganstudy report` knows the study is still running.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pyarrow.fs

from ganstudy.messages import clip_middle
from ganstudy.study.results import (
    EXPERIMENT,
    LOCK_NAME,
    REPORT_DIR,
    REPORT_MARK,
    SPEC_FILE,
    is_study_entry,
    lock_holder,
)
from ganstudy.yamlfile import file_kind

LISTED = 5  # foreign entries named in an error message, at most
REPLACE = "run without --resume (add --fresh to replace the folder)"


class StudyError(RuntimeError):
    """The study cannot run as asked (folder in use, not a study, nothing to resume ...)."""


def study_location(spec, results_dir: str | os.PathLike | None) -> str:
    """The study folder, a URI or an absolute path: --results, <storage>/<name>, results/<name>."""
    if results_dir is not None:
        location = os.fspath(results_dir)
    elif spec.storage:
        location = spec.storage.rstrip("/") + "/" + spec.name
    else:
        location = os.path.join("results", spec.name)
    if is_uri(location):
        return location
    # `~` too: a storage: key (or the API's results_dir) reaches us as written, unexpanded.
    path = Path(location).expanduser()
    for link in (path, *path.parents):
        if link.is_symlink() and not link.exists():  # resolve() would create its target
            raise StudyError(
                f"{clip_middle(str(link))}: a broken symbolic link (to "
                f"{clip_middle(os.readlink(link))}); fix or remove it, or give another path"
            )
    return str(path.resolve())


def is_uri(location: str) -> bool:
    """s3://bucket/x, gs://..., file:///x: a location for pyarrow.fs rather than a path."""
    return "://" in location


class StudyFolder:
    """Where a study lives: a local (or shared) folder, or a URI written through a local
    staging folder that is uploaded after each write (Ray's experiment folder goes to the
    URI directly: it is Ray Tune's `storage_path`)."""

    def __init__(self, location: str):
        self.location = location
        self.remote = is_uri(location)
        if self.remote:
            self.fs, self.fs_path = pyarrow.fs.FileSystem.from_uri(location)
            self.local = Path(tempfile.mkdtemp(prefix="ganstudy-staging-"))
        else:
            self.fs, self.fs_path = pyarrow.fs.LocalFileSystem(), location
            self.local = Path(location)
        self.experiment = self.join(EXPERIMENT)
        self._locked = False

    def join(self, *names: str) -> str:
        """A path or URI inside the folder."""
        return "/".join([self.location.rstrip("/"), *names])

    def entries(self) -> list[str]:
        """The names directly inside the folder (none if it does not exist)."""
        if not self.remote and os.path.exists(self.location) and not os.path.isdir(self.location):
            if not os.path.isfile(self.location):  # a pipe, device or socket: pyarrow's
                raise StudyError(  # own error names none of it
                    f"{clip_middle(self.location)}: not a folder (a named pipe, device or "
                    "socket); give --results a folder"
                )
        info = self.fs.get_file_info(self.fs_path)
        if info.type == pyarrow.fs.FileType.File:
            raise StudyError(
                f"{clip_middle(self.location)}: is a file, not a folder; give --results a folder"
            )
        if not self.remote and any(p.is_file() for p in Path(self.location).parents):
            raise StudyError(
                f"{clip_middle(self.location)}: the path runs through a file; "
                "give --results a folder path"
            )
        return sorted(info.base_name for info in self._listing(self.fs_path))

    def _listing(self, path: str) -> list[pyarrow.fs.FileInfo]:
        selector = pyarrow.fs.FileSelector(path, allow_not_found=True)
        return self.fs.get_file_info(selector)

    def ganstudy_entries(self) -> set[str]:
        """The entries ganstudy wrote, recognised by exact name and kind (file or folder;
        results.is_study_entry); `report` only when it holds ganstudy's mark or nothing."""
        ours = set()
        for info in self._listing(self.fs_path):
            is_dir = info.type == pyarrow.fs.FileType.Directory
            if not is_study_entry(info.base_name, is_dir):
                continue
            if info.base_name == REPORT_DIR and not self._is_report(info.path):
                continue
            ours.add(info.base_name)
        return ours

    def _is_report(self, path: str) -> bool:
        names = {info.base_name for info in self._listing(path)}
        return not names or REPORT_MARK in names

    def check_replaceable(self, fresh: bool) -> None:
        """Refuse a folder that holds anything but a ganstudy study, and (without `fresh`) a
        study; an empty or new folder passes."""
        entries = [name for name in self.entries() if name != LOCK_NAME]
        if not entries:
            return
        ours = self.ganstudy_entries()
        foreign = [name for name in entries if name not in ours]
        if foreign or SPEC_FILE not in entries:
            shown = ", ".join(foreign[:LISTED]) + (", ..." if len(foreign) > LISTED else "")
            what = f"{len(foreign)} entries that ganstudy did not write ({shown})"
            if not foreign:
                what = "ganstudy files but no spec.yaml"
            raise StudyError(
                f"{clip_middle(self.location)}: not a ganstudy study folder: it holds {what}; "
                "ganstudy deletes nothing it did not write: give --results a new or empty folder"
            )
        if not fresh:
            raise StudyError(
                f"{clip_middle(self.location)} already holds a study; use --resume to continue it "
                "or --fresh to replace it"
            )

    def clear(self) -> None:
        """Delete what ganstudy wrote (never the lock, never anything else)."""
        for name in sorted(self.ganstudy_entries() - {LOCK_NAME}):
            path = f"{self.fs_path.rstrip('/')}/{name}"
            if self.fs.get_file_info(path).type == pyarrow.fs.FileType.Directory:
                self.fs.delete_dir(path)
            else:
                self.fs.delete_file(path)

    def remove(self) -> None:
        """Delete what ganstudy wrote and the folder itself when nothing else is left."""
        with contextlib.suppress(OSError):
            self.clear()
            self.unlock()
            if not self.entries():
                self.fs.delete_dir(self.fs_path)

    def read_text(self, name: str) -> str | None:
        """A file of the folder as text, or None when it does not exist."""
        local = Path(self.location) / name
        if not self.remote and local.exists():
            kind = file_kind(local.stat().st_mode)  # a pipe would block the read for ever
            if kind:
                raise StudyError(f"{clip_middle(local)}: damaged, {kind}; {REPLACE}")
        try:
            with self.fs.open_input_stream(f"{self.fs_path.rstrip('/')}/{name}") as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return None

    def write_text(self, name: str, text: str) -> None:
        """Write a file of the (staging) folder atomically: tmp + rename."""
        path = self.local / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def publish(self) -> None:
        """Upload the staged files (tables, spec, environment) to a URI; no-op for a path."""
        if self.remote:
            self.fs.create_dir(self.fs_path)
            for path in self.local.iterdir():
                if path.is_file() and not path.name.endswith(".tmp"):
                    pyarrow.fs.copy_files(
                        str(path),
                        f"{self.fs_path.rstrip('/')}/{path.name}",
                        source_filesystem=pyarrow.fs.LocalFileSystem(),
                        destination_filesystem=self.fs,
                    )

    def result(self) -> Path | str:
        return self.location if self.remote else self.local

    def cleanup(self) -> None:
        if self.remote:
            shutil.rmtree(self.local, ignore_errors=True)

    # ------------------------------------------------------------------------------ lock
    def lock(self) -> None:
        """Take the folder for this run, or raise StudyError naming the run that has it.

        A lock file whose run is gone (same host, pid not alive) is taken over. A URI has no
        atomic create-if-absent, so a study on object storage is not locked (docs/cluster.md).
        """
        if self.remote:
            return
        self.entries()  # a file where the folder should be: StudyError
        try:
            self.local.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # read-only, not ours, /proc: the location is the mistake
            raise self._unwritable("cannot create the study folder", error) from None
        path = self.local / LOCK_NAME
        mine = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        ).encode()
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = lock_holder(self.local)
                if holder is not None:
                    raise StudyError(
                        f"{clip_middle(self.location)}: in use by another ganstudy run ({holder}); "
                        "wait for it to finish, or give --results another folder"
                    ) from None
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # its run is gone: a stale lock
                continue
            except OSError as error:  # a folder this user may not write into
                raise self._unwritable("cannot write into the study folder", error) from None
            with os.fdopen(fd, "wb") as f:
                f.write(mine)
            self._locked = True
            return
        raise StudyError(f"{path}: could not take the folder's lock; try again")

    def _unwritable(self, what: str, error: OSError) -> StudyError:
        why = error.strerror or type(error).__name__
        return StudyError(
            f"{clip_middle(self.location)}: {what} ({why}); give --results a folder you can write"
        )

    def unlock(self) -> None:
        """Release the lock this run took (never another run's)."""
        if self._locked:
            with contextlib.suppress(FileNotFoundError):
                (self.local / LOCK_NAME).unlink()
            self._locked = False


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
