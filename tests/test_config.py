from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildlib.config import load_config, parse_config
from buildlib.errors import ConfigError

FILE = Path("/project/pyproject.toml")


def valid() -> dict[str, Any]:
    return {
        "workspace": "crates",
        "default-class": "routed",
        "classes": {
            "routed": {"lto": "off", "method": "staticlib", "crates": ["ext-a", "ext-b"]},
            "together": {"lto": "thin", "method": "together", "crates": ["ext-c"], "codegen-units": 4},
        },
        "host": {"sources": ["host/main.c"], "program": "app", "cflags": ["-O2"]},
    }


def test_valid_config_is_parsed_with_absolute_paths_and_defaults() -> None:
    config = parse_config(valid(), file=FILE)
    assert config.workspace == Path("/project/crates")
    assert config.out_dir == Path("/project/build")
    assert config.cargo == "cargo"
    assert [c.name for c in config.classes] == ["routed", "together"]
    routed, together = config.classes
    assert (routed.lto, routed.method, routed.crates, routed.codegen_units) == (
        "off",
        "staticlib",
        ("ext-a", "ext-b"),
        None,
    )
    assert (together.lto, together.method, together.codegen_units) == ("thin", "together", 4)
    assert config.host.sources == (Path("/project/host/main.c"),)
    assert config.host.cc == "cc"
    assert config.default_class == "routed"


def _set(data: dict[str, Any], dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("dotted", "value", "expected_key", "expected_text"),
    [
        ("classes.routed.lto", "thn", "tool.buildlib.classes.routed.lto", "did you mean 'thin'"),
        ("classes.routed.lto", True, "tool.buildlib.classes.routed.lto", "expected one of off, thin, fat"),
        (
            "classes.routed.method",
            "bundel",
            "tool.buildlib.classes.routed.method",
            "expected one of staticlib, together",
        ),
        ("classes.routed.crates", "ext-a", "tool.buildlib.classes.routed.crates", "expected a list of strings"),
        (
            "classes.routed.crates",
            ["ext-a", 3],
            "tool.buildlib.classes.routed.crates[1]",
            "expected a non-empty string",
        ),
        ("classes.together.codegen-units", 0, "tool.buildlib.classes.together.codegen-units", "positive integer"),
        ("classes.together.codegen-units", True, "tool.buildlib.classes.together.codegen-units", "positive integer"),
        ("classes.routed.ltoo", "off", "tool.buildlib.classes.routed.ltoo", "did you mean 'lto'"),
        ("workspace", _DELETE, "tool.buildlib.workspace", "missing"),
        ("workspace", 7, "tool.buildlib.workspace", "expected a non-empty string"),
        ("out_dir", "x", "tool.buildlib.out_dir", "did you mean 'out-dir'"),
        ("default-class", "routd", "tool.buildlib.default-class", "no class named 'routd'"),
        ("classes", {}, "tool.buildlib.classes", "no routing class"),
        ("classes.routed", "off", "tool.buildlib.classes.routed", "expected a table"),
        ("host.program", "bin/app", "tool.buildlib.host.program", "expected a file name"),
        ("host.sources", [], "tool.buildlib.host.sources", "at least one"),
        ("host", _DELETE, "tool.buildlib.host", "missing"),
        ("classes.together.crates", ["ext-b"], "tool.buildlib.classes.together.crates[0]", "already in class 'routed'"),
        ("cache", "scache", "tool.buildlib.cache", "did you mean 'sccache'"),
        ("cache", True, "tool.buildlib.cache", "expected one of sccache"),
    ],
    ids=lambda v: str(v) if not isinstance(v, (dict, list)) else None,
)
def test_wrong_value_names_the_dotted_key(dotted: str, value: object, expected_key: str, expected_text: str) -> None:
    data = valid()
    _set(data, dotted, value)
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file=FILE)
    error = caught.value
    assert error.key == expected_key
    message = f"{error} {error.hint or ''}"
    assert expected_text in message
    assert "\n" not in str(error)
    assert str(error).startswith(f"{FILE}: {expected_key}: ")


def test_the_compile_cache_is_off_unless_asked_for() -> None:
    assert parse_config(valid(), file=FILE).cache is None
    assert parse_config({**valid(), "cache": "sccache"}, file=FILE).cache == "sccache"


def test_class_name_must_be_usable_as_a_cargo_profile() -> None:
    data = valid()
    data["classes"]["Bad Name"] = {"lto": "off"}
    with pytest.raises(ConfigError, match=r"tool\.buildlib\.classes\.Bad Name: class name"):
        parse_config(data, file=FILE)


def test_load_config_reads_the_tool_table(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.buildlib]\nworkspace = "ws"\n[tool.buildlib.classes.a]\nlto = "fat"\n'
        '[tool.buildlib.host]\nsources = ["m.c"]\nprogram = "p"\n'
    )
    config = load_config(pyproject)
    assert config.workspace == tmp_path / "ws"
    assert config.classes[0].lto == "fat"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file: not found"),
        ("[tool.buildlib\n", "file: not valid TOML"),
        ("[project]\nname = 'x'\n", "tool.buildlib: missing"),
    ],
    ids=["missing-file", "bad-toml", "no-table"],
)
def test_load_config_errors_are_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    if content is not None:
        pyproject.write_text(content)
    with pytest.raises(ConfigError, match=expected):
        load_config(pyproject)


def test_the_projects_own_configuration_is_valid() -> None:
    project = Path(__file__).resolve().parent.parent
    config = load_config(project / "pyproject.toml")
    assert [c.name for c in config.classes] == ["routed", "together", "hot"]
    assert config.workspace == project / "crates-fixtures"
