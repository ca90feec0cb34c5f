"""Guard rails checked before anything is built: link lines that cannot link, refused with the fix.

Every Rust staticlib carries its own copy of std. Without LTO the copies are
the same std objects in every archive, so the linker takes the first and
ignores the rest. LTO rewrites each archive's copy differently, and then the
copies collide. Measured here (docs/lto.md, its script bench/lto_matrix.py;
cargo 1.95, GNU ld 2.40, the fixtures and the registry-crate workspace):

- fat beside any other Rust staticlib: ``multiple definition of rust_eh_personality`` (F4);
- thin beside another: collisions of std internals, in any position on real
  crates (flate2), though a small crate's thin archive last happens to link;
- a sealed archive (seal.py: only its verified C surface global) beside anything: links;
- one Rust archive alone (a bundle of every crate): any mode links.

Whether LTO applies at all is cargo's decision: it passes no ``-C lto`` when it
builds an rlib of the same crate in the same call (cargo#2301, F1). The build
record shows what cargo really passed; these checks use the same rule up front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import ClassConfig, LtoMode
from .errors import ConfigError
from .plan import Plan, Route
from .workspace import Crate


def effective_lto(routing_class: ClassConfig, crate: Crate) -> LtoMode:
    """The LTO mode cargo will really apply to ``crate``'s staticlib under ``routing_class``."""
    if routing_class.method in ("staticlib", "bundle") or set(crate.crate_types) == {"staticlib"}:
        return routing_class.lto
    # cargo passes no -C lto at all (or lto=off): rustc does no cross-crate LTO.
    return "off"


@dataclass(frozen=True, kw_only=True, slots=True)
class LtoProblem:
    """Why a link line of Rust staticlibs cannot link; ``culprit`` is the crate to change."""

    culprit: str
    message: str
    hint: str


def lto_line_problem(line: Sequence[tuple[str, str | None, bool]]) -> LtoProblem | None:
    """The first LTO archive on a link line (archive, LTO applied, sealed; in link order) that
    cannot link: one built with LTO beside any other Rust archive, unless it is sealed. Measured
    (docs/lto.md): the rewritten std copies collide, whatever the order, though whether a thin one
    last fails depends on what the crates use (it links on the small fixtures, not with flate2)."""
    if len(line) < 2:
        return None  # one Rust archive: one std, any LTO mode
    for name, mode, sealed in line:
        if mode in ("thin", "fat") and not sealed:
            others = [other for other, _, _ in line if other != name]
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            return LtoProblem(
                culprit=name,
                message=f"the {mode}-LTO archive of {name} links beside other Rust archives ({shown}) only when "
                f"sealed: LTO rewrites its std copy, which then collides with theirs (F4"
                + (", multiple definition of rust_eh_personality" if mode == "fat" else "")
                + ")",
                hint='add seal = true to its class (only its verified C surface stays global), use lto = "off", '
                'or put every crate in one class with method = "bundle" (one archive, one std)',
            )
    return None


def check_plan(plan: Plan) -> list[str]:
    """Raise ConfigError for LTO combinations that cannot link; return warnings for ignored settings."""
    lto_routes = [(r, effective_lto(r.routing_class, r.crate)) for r in plan.routes]
    # One item per archive: a bundle's crates share theirs, built one way.
    line = {
        staticlib.label: (effective_lto(staticlib.routing_class, staticlib.crates[0]), staticlib.routing_class)
        for staticlib in plan.staticlibs
    }
    _check_ext_dependencies(plan)
    _check_sealed_sharing(plan)
    problem = lto_line_problem([(label, mode, c.seal) for label, (mode, c) in line.items()])
    if problem is not None:
        culprit = line[problem.culprit][1]
        raise ConfigError(str(plan.config.file), f"{culprit.key}.lto", problem.message, hint=problem.hint)
    warnings = []
    for routing_class in plan.config.classes:
        if not any(route.routing_class is routing_class for route in plan.routes):
            warnings.append(
                f"{routing_class.key}: no crate is routed to this class, so it builds nothing; list crates "
                "in its crates or depends-on, or remove it"
            )
        ignored = [r for r, mode in lto_routes if r.routing_class is routing_class and mode != routing_class.lto]
        if ignored:
            warnings.append(
                f"{routing_class.key}.lto: {routing_class.lto!r} is requested, but {_names(ignored)} also build an "
                "rlib in the same cargo call, so cargo passes no -C lto (cargo#2301); "
                # "staticlib" would split a runtime the class's crates share: one copy per archive.
                + (
                    'use method = "bundle" to apply it (one archive: the crates keep sharing one runtime)'
                    if routing_class.depends_on or len(ignored) > 1
                    else 'use method = "staticlib" to apply it'
                )
            )
    return warnings


def _check_sealed_sharing(plan: Plan) -> None:
    """A sealed archive keeps every crate it carries private: one that shares a workspace crate
    (a runtime) with another archive would run its own copy of that crate's state."""
    carried = {
        staticlib: {dep.name for crate in staticlib.crates for dep in plan.workspace.with_path_deps(crate.name)}
        for staticlib in plan.staticlibs
    }
    for staticlib in plan.staticlibs:
        if not staticlib.routing_class.seal:
            continue
        for other in plan.staticlibs:
            shared = sorted(carried[staticlib] & carried[other]) if other != staticlib else []
            if shared:
                raise ConfigError(
                    str(plan.config.file),
                    f"{staticlib.routing_class.key}.seal",
                    f"the archives of {staticlib.label} and {other.label} both carry {', '.join(shared)}: sealed, "
                    "each would keep a private copy of its state (two runtimes)",
                    hint='put the crates that share it in one class with method = "bundle" and seal that class',
                )


def _check_ext_dependencies(plan: Plan) -> None:
    """An ext crate on another ext crate links only when one archive carries both: a staticlib
    exports its dependencies' ``#[no_mangle]`` items too (F15), so two archives would define the
    dependency's exports twice. Refused before any build, with the fix."""
    archive_of = {route.crate.name: route.staticlib for route in plan.routes}
    for route in plan.routes:
        for dependency in plan.workspace.with_path_deps(route.crate.name)[1:]:
            carrier = archive_of.get(dependency.name)
            if carrier is None or carrier == route.staticlib:
                continue  # not an ext crate, or the same (bundle) archive
            raise ConfigError(
                str(plan.config.file),
                route.routing_class.key,
                f"ext crate {route.crate.name!r} depends on ext crate {dependency.name!r}: both archives would "
                f"carry {dependency.name}'s exports (F15) and the link would define them twice",
                hint=f'put both in one class with method = "bundle", or make {dependency.name} rlib-only '
                f'(drop "staticlib" from its crate-type) so its exports reach the program through '
                f"{route.crate.name}'s archive",
            )


def _names(routes: list[Route]) -> str:
    return ", ".join(route.crate.name for route in routes)
