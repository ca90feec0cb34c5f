from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildlib.config import parse_config
from buildlib.errors import ConfigError
from buildlib.guards import check_plan, effective_lto
from buildlib.plan import make_plan
from buildlib.workspace import Workspace

from .conftest import TOOLCHAIN, crate, workspace


def plan_with(tmp_path: Path, classes: dict[str, Any]):  # type: ignore[no-untyped-def]
    data = {
        "workspace": "ws",
        "classes": classes,
        "host": {"sources": ["m.c"], "program": "p"},
        "default-class": "a" if "a" in classes else next(iter(classes)),
    }
    return make_plan(parse_config(data, file=tmp_path / "pyproject.toml"), workspace(tmp_path / "ws"), TOOLCHAIN, {})


@pytest.mark.parametrize(
    ("method", "only_staticlib", "lto", "expected"),
    [
        ("staticlib", False, "thin", "thin"),
        ("together", False, "thin", "off"),  # cargo#2301: an rlib in the same call drops -C lto
        ("together", True, "fat", "fat"),
        ("together", False, "off", "off"),
    ],
    ids=["staticlib-method", "together-with-rlib", "together-staticlib-only", "off"],
)
def test_effective_lto_follows_cargo(
    tmp_path: Path, method: str, only_staticlib: bool, lto: str, expected: str
) -> None:
    plan = plan_with(tmp_path, {"c": {"lto": lto, "method": method}})
    assert effective_lto(plan.routes[0].routing_class, crate(tmp_path, "x", only_staticlib=only_staticlib)) == expected


def test_all_off_is_fine(tmp_path: Path) -> None:
    assert check_plan(plan_with(tmp_path, {"a": {"lto": "off"}})) == []


def test_fat_with_other_archives_is_an_error_naming_them(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"a": {"lto": "off"}, "hot": {"lto": "fat", "crates": ["ext-a", "ext-b"]}})
    with pytest.raises(ConfigError, match=r"the fat-LTO archive of ext-a links beside .* only when sealed") as caught:
        check_plan(plan)
    assert caught.value.key == "tool.buildlib.classes.hot.lto"
    assert "rust_eh_personality" in str(caught.value) and "seal = true" in (caught.value.hint or "")


@pytest.mark.parametrize("hot_first", [True, False], ids=["thin-first", "thin-last"])
def test_a_thin_archive_beside_others_is_refused_in_any_position_unless_sealed(tmp_path: Path, hot_first: bool) -> None:
    # Measured (docs/lto.md): one thin archive last happens to link on the small fixtures, and
    # fails with flate2: the guard cannot see a crate's contents before it is built.
    classes: list[tuple[str, dict[str, object]]] = [
        ("hot", {"lto": "thin", "crates": ["ext-a"]}),
        ("a", {"lto": "off"}),
    ]
    plan = plan_with(tmp_path, dict(classes if hot_first else classes[::-1]))
    with pytest.raises(ConfigError, match="the thin-LTO archive of ext-a links beside other Rust archives"):
        check_plan(plan)
    sealed = [(name, {**table, "seal": True} if name == "hot" else table) for name, table in classes]
    assert check_plan(plan_with(tmp_path, dict(sealed if hot_first else sealed[::-1]))) == []


def test_lto_alone_or_in_one_bundle_needs_no_seal(tmp_path: Path) -> None:
    alone = plan_with(tmp_path, {"hot": {"lto": "fat", "method": "bundle", "crates": ["ext-a", "ext-b", "ext-e"]}})
    assert len(alone.staticlibs) == 1 and check_plan(alone) == []


def test_sealing_an_archive_that_shares_a_runtime_is_refused(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"a": {"lto": "off"}, "rt": {"lto": "thin", "crates": ["ext-c", "ext-d"], "seal": True}})
    with pytest.raises(ConfigError, match=r"the archives of ext-c and ext-d both carry rt: sealed") as caught:
        check_plan(plan)
    assert caught.value.key == "tool.buildlib.classes.rt.seal"
    assert 'method = "bundle"' in (caught.value.hint or "")


def test_lto_that_cargo_will_ignore_is_a_warning_that_says_why(tmp_path: Path) -> None:
    plan = plan_with(
        tmp_path, {"a": {"lto": "off"}, "shared": {"lto": "thin", "method": "together", "crates": ["ext-c", "ext-d"]}}
    )
    (warning,) = check_plan(plan)
    assert warning.startswith(
        "tool.buildlib.classes.shared.lto: 'thin' is requested, but ext-c, ext-d also build an rlib"
    )
    assert "cargo#2301" in warning
    # Two crates built together may share a runtime: "staticlib" would split it, "bundle" keeps one copy.
    assert 'use method = "bundle" to apply it' in warning and '"staticlib"' not in warning
    alone = plan_with(
        tmp_path, {"a": {"lto": "off"}, "shared": {"lto": "thin", "method": "together", "crates": ["ext-c"]}}
    )
    assert 'use method = "staticlib" to apply it' in check_plan(alone)[0]


@pytest.mark.parametrize(
    ("classes", "refused"),
    [
        ({"a": {"lto": "off"}}, True),  # each in its own staticlib archive
        ({"a": {"lto": "off", "method": "together"}}, True),  # one cargo call, still two archives
        ({"a": {"lto": "off", "method": "bundle"}}, False),  # one archive carries both
    ],
    ids=["staticlib", "together", "bundle"],
)
def test_an_ext_crate_on_another_ext_crate_is_refused_before_building_unless_bundled(
    tmp_path: Path, classes: dict[str, Any], refused: bool
) -> None:
    ws = tmp_path / "ws"
    layout = Workspace(
        root=ws, target_dir=ws / "target", crates=(crate(ws, "ext-base"), crate(ws, "ext-top", deps=("ext-base",)))
    )
    data = {"workspace": "ws", "classes": classes, "host": {"sources": ["m.c"], "program": "p"}, "default-class": "a"}
    plan = make_plan(parse_config(data, file=tmp_path / "pyproject.toml"), layout, TOOLCHAIN, {})
    if not refused:
        assert check_plan(plan) == []
        return
    with pytest.raises(ConfigError, match="ext crate 'ext-top' depends on ext crate 'ext-base'") as caught:
        check_plan(plan)
    assert 'method = "bundle"' in (caught.value.hint or "") and "rlib-only" in (caught.value.hint or "")


def test_a_class_no_crate_is_routed_to_is_a_warning(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, {"a": {"lto": "off"}, "empty": {"lto": "off", "crates": []}})
    assert check_plan(plan) == [
        "tool.buildlib.classes.empty: no crate is routed to this class, so it builds nothing; list crates in its "
        "crates or depends-on, or remove it"
    ]


def test_a_crate_whose_folder_is_not_a_workspace_member_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "ws" / "ext-new"
    folder.mkdir(parents=True)
    (folder / "Cargo.toml").write_text('[package]\nname = "ext-new"\nversion = "0.1.0"\n')
    with pytest.raises(ConfigError) as caught:
        plan_with(tmp_path, {"a": {"lto": "off", "crates": ["ext-new"]}})
    assert str(caught.value).endswith(
        f"tool.buildlib.classes.a.crates[0]: crate 'ext-new' ({folder / 'Cargo.toml'}) is not a workspace member"
    )
    assert caught.value.hint == f'add "ext-new" to [workspace] members in {tmp_path / "ws" / "Cargo.toml"}'
