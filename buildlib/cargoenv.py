"""What cargo reads besides the workspace: environment variables and configuration files.

The variables are the ones cargo's reference ("Environment Variables": "Environment
variables Cargo reads" and "Configuration environment variables") documents as
changing what a build produces; ``docs/configuration.md`` lists them. Variables
about the terminal, the network, registries, aliases, ``cargo new``, rustdoc and
the job count change no archive and are left out, so changing them rebuilds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ._toml import tomllib
from .errors import ConfigError

# "Environment variables Cargo reads" that change a build; RUSTC_BOOTSTRAP is read by rustc itself.
TRACKED = (
    "CARGO",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_INCREMENTAL",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_BOOTSTRAP",
)
# "Configuration environment variables" of the build, profile and target tables: every one present is tracked.
TRACKED_PREFIXES = ("CARGO_BUILD_", "CARGO_PROFILE_", "CARGO_TARGET_")
UNTRACKED = frozenset({"CARGO_BUILD_JOBS", "CARGO_BUILD_RUSTDOC", "CARGO_BUILD_RUSTDOCFLAGS"})

_CONFIG_NAMES = ("config.toml", "config")
_ENCODED_SEPARATOR = "\x1f"


def tracked_environment(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str | None]:
    """The values (None: unset) of the variables that change what cargo builds, plus ``extra``
    (variables a build script or the compiled sources declared they read)."""
    names = {*TRACKED, *extra}
    names.update(name for name in environ if name.startswith(TRACKED_PREFIXES) and name not in UNTRACKED)
    return {name: environ.get(name) for name in sorted(names)}


def cargo_home(environ: Mapping[str, str]) -> Path:
    home = environ.get("CARGO_HOME")
    return Path(home) if home else Path.home() / ".cargo"


def config_files(cwd: Path, environ: Mapping[str, str]) -> list[Path]:
    """Every configuration file cargo started in ``cwd`` would read, present or not.

    cargo reads ``.cargo/config.toml`` (or the older ``.cargo/config``) in the
    current directory and each parent, then the one in ``$CARGO_HOME``.
    """
    directories = [directory / ".cargo" for directory in (cwd, *cwd.parents)]
    directories.append(cargo_home(environ))
    return list(dict.fromkeys(directory / name for directory in directories for name in _CONFIG_NAMES))


def user_rustflags(environ: Mapping[str, str]) -> tuple[str, list[str]] | None:
    """The variable that gives every rustc call its flags, and those flags, as cargo reads them.

    ``CARGO_ENCODED_RUSTFLAGS`` wins over ``RUSTFLAGS``; either replaces every
    ``rustflags`` of the configuration, ``--config build.rustflags`` included (F12).
    """
    encoded = environ.get("CARGO_ENCODED_RUSTFLAGS")
    if encoded is not None:
        return "CARGO_ENCODED_RUSTFLAGS", encoded.split(_ENCODED_SEPARATOR) if encoded else []
    plain = environ.get("RUSTFLAGS")
    if plain is not None:
        return "RUSTFLAGS", plain.split()
    return None


def encode_rustflags(flags: Iterable[str]) -> str:
    return _ENCODED_SEPARATOR.join(flags)


def check_target_rustflags(cwd: Path, environ: Mapping[str, str]) -> None:
    """Refuse ``target.<triple or cfg>.rustflags``: cargo then ignores ``build.rustflags``, where
    buildlib puts each class's flags. A ``RUSTFLAGS`` in the environment overrides both, and buildlib
    merges it, so nothing is refused then.

    Raises ConfigError naming the variable or the file and key.
    """
    if user_rustflags(environ) is not None:
        return
    hint = "put these flags in build.rustflags, or in tool.buildlib.classes.<class>.rustflags"
    for name in sorted(environ):
        if name.startswith("CARGO_TARGET_") and name.endswith("_RUSTFLAGS"):
            raise ConfigError(
                "environment", name, "target rustflags replace the per-class flags buildlib passes", hint=hint
            )
    for path, document in _config_documents(cwd, environ):
        targets = document.get("target")
        for target, table in targets.items() if isinstance(targets, dict) else ():
            if isinstance(table, dict) and "rustflags" in table:
                raise ConfigError(
                    str(path),
                    f"target.{target}.rustflags",
                    "target rustflags replace the per-class flags buildlib passes",
                    hint=hint,
                )


def check_rustc_wrapper(cwd: Path, environ: Mapping[str, str]) -> None:
    """With a compile cache, buildlib sets ``RUSTC_WRAPPER`` to sccache for cargo, which replaces any
    other wrapper (``RUSTC_WRAPPER``, ``CARGO_BUILD_RUSTC_WRAPPER``, ``build.rustc-wrapper``): refuse
    one that is not sccache rather than drop it silently. An empty value (no wrapper) is fine.

    Raises ConfigError naming the variable or the file and key.
    """
    hint = "unset it (buildlib runs rustc through sccache itself), or remove tool.buildlib.cache"
    for name in ("RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"):
        if not _is_sccache(environ.get(name)):
            raise ConfigError("environment", name, f"{environ[name]!r} would be replaced by sccache", hint=hint)
    for path, document in _config_documents(cwd, environ):
        build = document.get("build")
        wrapper = build.get("rustc-wrapper") if isinstance(build, dict) else None
        if not _is_sccache(wrapper if isinstance(wrapper, str) else None):
            raise ConfigError(str(path), "build.rustc-wrapper", f"{wrapper!r} would be replaced by sccache", hint=hint)


def _is_sccache(wrapper: str | None) -> bool:
    return not wrapper or Path(wrapper).stem == "sccache"


def _config_documents(cwd: Path, environ: Mapping[str, str]) -> Iterator[tuple[Path, dict[str, object]]]:
    """Each configuration file cargo would read that exists, parsed; raises ConfigError for bad TOML."""
    for path in config_files(cwd, environ):
        try:
            with path.open("rb") as handle:
                document = tomllib.load(handle)
        except OSError:
            continue
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(str(path), "file", f"not valid TOML: {e}") from e
        yield path, document
