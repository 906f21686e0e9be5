"""Reading a YAML file that may not be what it claims: a binary, another encoding, a
document nested ten thousand deep or an alias bomb. Each is one line, found before anything
expands; past this, the parsed data is small plain Python (dicts, lists, scalars).
"""

from __future__ import annotations

import datetime
import os
import re
import stat
import typing
from collections.abc import Iterator
from typing import Any

import yaml

from ganstudy.messages import shown_key


class YamlFileError(ValueError):
    """The file cannot be a study file; str() is one line (without the file name)."""


# A study file is a few kilobytes that nest four levels (params.k.grid[...]). These limits
# refuse what is not one (a binary, a log, an alias bomb) before anything expands.
MAX_FILE_BYTES = 2**20
MAX_DEPTH = 32
MAX_NODES = 100_000  # values in the file, with every alias expanded


def read_yaml(source: str | os.PathLike) -> Any:
    """The parsed file (safe_load semantics); YamlFileError (one line) for a file that is
    not small UTF-8 YAML text, nests deeper than MAX_DEPTH, expands beyond MAX_NODES values
    or gives a key twice."""

    def fail(message: str) -> typing.NoReturn:
        raise YamlFileError(message) from None

    try:
        raw = read_regular_file(source, MAX_FILE_BYTES + 1)
    except NotRegularFile as e:
        fail(f"{e}; give a study file")
    except OSError as e:
        fail(f"cannot read the study file ({e.strerror or type(e).__name__})")
    if len(raw) > MAX_FILE_BYTES:
        fail(f"larger than {MAX_FILE_BYTES // 2**20} MiB; a study file is a few kilobytes")
    if b"\0" in raw:
        fail("a binary file (it holds NUL bytes), not a YAML study; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        fail(f"line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8")
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        code = ord(bad.group())
        fail(f"line {line}: character #x{code:04x} is not allowed in YAML text (a binary file?)")
    try:
        _check_size(yaml.parse(text, Loader=_FAST))  # before any node is built
        return yaml.load(text, Loader=_StudyLoader)  # safe_load semantics
    except _TooLarge as e:
        fail(f"line {e.line}: {e}")
    except yaml.MarkedYAMLError as e:
        line = f"line {e.problem_mark.line + 1}: " if e.problem_mark else ""
        problem = _one_line(e.problem or e.context or "invalid YAML")
        if "nesting depth" in problem:  # libyaml's own limit (1000), met while scanning ahead
            fail(f"{line}nested deeper than {MAX_DEPTH} levels; a study file nests a few")
        fail(f"{line}YAML syntax error: {problem}")
    except yaml.YAMLError as e:
        fail(f"YAML error: {_one_line(str(e))}")
    except RecursionError:  # MAX_DEPTH keeps the composer well inside Python's stack
        fail(f"nested too deeply; a study file nests a few levels (at most {MAX_DEPTH})")


class NotRegularFile(OSError):
    """The path is a folder, pipe, device or socket; str() says which (one line)."""


def read_regular_file(source: str | os.PathLike, limit: int) -> bytes:
    """The first `limit` bytes of a regular file; NotRegularFile for anything else, OSError
    when it cannot be read.

    Why non-blocking: a named pipe (`mkfifo`) blocks open() until a writer comes, and a
    character device (/dev/zero, a terminal as /dev/stdin) never ends or waits for a
    keyboard. O_NONBLOCK opens either at once, and fstat on the open descriptor (no race
    with a rename) says what it is before a byte is read.
    """
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        kind = file_kind(os.fstat(fd).st_mode)
        if kind:
            raise NotRegularFile(kind)
        os.set_blocking(fd, True)  # a regular file: plain reads from here on
        with os.fdopen(fd, "rb") as f:
            fd = -1  # the file object owns (and closes) it now
            return f.read(limit)
    finally:
        if fd >= 0:
            os.close(fd)


def file_kind(mode: int) -> str | None:
    """None for a regular file; else what the path is, for the message that refuses it."""
    if stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


_KINDS = {
    stat.S_IFDIR: "a folder, not a file",
    stat.S_IFIFO: "a named pipe (FIFO), not a file: reading it would wait for a writer",
    stat.S_IFCHR: "a character device, not a file: it never ends or waits for input",
    stat.S_IFBLK: "a block device, not a file",
    stat.S_IFSOCK: "a socket, not a file",
}


def quote_hint(value: Any, key: str) -> str:
    """For a value YAML read as a date, number or bool where text was meant: the sentence
    that says so and how to quote it (`name: 2024-01-01` is a datetime.date); else ""."""
    if isinstance(value, datetime.datetime):
        kind = "a date and time"
    elif isinstance(value, datetime.date):  # written back exactly as it was typed
        return f"YAML reads it as a date, not text; quote it: {key}: '{value.isoformat()}'"
    elif isinstance(value, bool):
        kind = "a boolean (yes/no/on/off)"
    elif isinstance(value, int | float):
        kind = "a number"
    else:
        return ""
    return f"YAML reads it as {kind}, not text; quote it as written: {key}: '...'"


# What YAML 1.1 text may not hold (PyYAML's reader refuses the same, less clearly).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# libyaml when PyYAML has it: the pure-Python scanner takes seconds over a megabyte.
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _one_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "invalid YAML"
    return line if len(line) <= 200 else line[:199] + "…"


class _TooLarge(yaml.YAMLError):
    """The document nests or expands beyond the study limits (line: where it did)."""

    def __init__(self, message: str, mark: Any):
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 0


def _check_size(events: Iterator[yaml.Event]) -> None:
    """Raise _TooLarge for a document deeper than MAX_DEPTH or of more than MAX_NODES values
    with every alias expanded, reading only the event stream.

    Why events: PyYAML's composer recurses once per level, and aliases share one object
    however often they repeat, so a billion-laughs document loads in no time and explodes
    only in whoever walks it (a message that shows it, a comparison, a copy).
    """
    open_: list[list] = []  # [anchor, values so far] of each collection being read
    sizes: dict[str, int] = {}  # anchor -> values it expands to
    total = 0
    for event in events:
        size = 0
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_):
                message = "an alias inside what it names (a recursive value); write it out"
                raise _TooLarge(message, event.start_mark)
            size = sizes.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(open_) >= MAX_DEPTH:
                message = f"nested deeper than {MAX_DEPTH} levels; a study file nests a few"
                raise _TooLarge(message, event.start_mark)
            total += 1
            open_.append([event.anchor, 1])
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            anchor, inner = open_.pop()
            if anchor:
                sizes[anchor] = inner
            if open_:
                open_[-1][1] += inner
        if size:
            total += size
            if open_:
                open_[-1][1] += size
        if total > MAX_NODES:
            raise _TooLarge(
                f"expands to more than {MAX_NODES:,} values (aliases repeat what they name); "
                "a study file holds a few dozen",
                event.start_mark,
            )


class _StudyLoader(_FAST):  # type: ignore[misc, valid-type]
    """safe_load, except that a key given twice is an error instead of last-one-wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                again = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                continue
            if again:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key '{shown_key(key)}' is given twice; keep one",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)
