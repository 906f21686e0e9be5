"""`ganstudy settings`: every TrialConfig field, its default, accepted values and meaning,
read from config.py's declarations (the field's `setting(default, meaning)` and LIMITS)."""

from __future__ import annotations

import dataclasses
import json

from ganstudy.cli import main
from ganstudy.config import FIELDS, LIMITS, TrialConfig


def settings_json(capsys) -> list[dict]:
    assert main(["settings", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_every_field_appears_once_in_declaration_order_with_its_default(capsys):
    rows = settings_json(capsys)
    fields = dataclasses.fields(TrialConfig)
    assert [row["name"] for row in rows] == [f.name for f in fields]
    for row, field in zip(rows, fields, strict=True):  # the declared defaults (None: resolved
        assert row["default"] == field.default, row["name"]  # per target, as coverage_samples)
    assert next(r for r in rows if r["name"] == "coverage_samples")["default"] is None


def test_ranges_are_the_limits_and_choices_are_listed(capsys):
    rows = {row["name"]: row for row in settings_json(capsys)}
    for name, limit in LIMITS.items():
        assert rows[name]["range"] == [limit.lo, limit.hi]
        assert str(limit) in rows[name]["accepts"]
    assert rows["k"]["accepts"] == "int in [1, 1000]"
    assert rows["target_std"]["accepts"].endswith(", or null")
    assert rows["loss"]["range"] is None and "wgan_gp" in rows["loss"]["accepts"]
    assert rows["data_dir"]["accepts"] == "str or null"


def test_every_field_declares_its_meaning_once():
    # A field added without config.setting(default, meaning) has no meaning to print.
    missing = [name for name, field in FIELDS.items() if not field.metadata.get("meaning")]
    assert missing == []


def test_the_table_fits_80_columns_and_names_every_setting(capsys):
    assert main(["settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    entries = [line for line in lines[2:] if line and not line[0].isspace()]  # past the intro
    starts = [line.split(" = ")[0] for line in entries]
    assert starts == list(FIELDS)
    k = lines.index(next(line for line in lines if line.startswith("k = ")))
    assert lines[k] == "k = 1   (int in [1, 1000])"
    assert lines[k + 1] == "    " + FIELDS["k"].metadata["meaning"]
