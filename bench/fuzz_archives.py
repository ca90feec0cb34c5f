"""Long fuzz run of the archive reader and the verifier (the short run is tests/test_archive_properties.py).

Feeds mutated, truncated, spliced and header-forged versions of the committed
fixtures (ELF, Mach-O, COFF objects; GNU, BSD, thin archives; bitcode) through
``parse_archive`` and ``verify_archive``, with the filesystem blocked. Anything
but a result or ArchiveError is a failure, and so is a case that runs past 2 s.

    python bench/fuzz_archives.py [--cases 100000] [--seed N]

Prints the figures: cases run, failures, slowest case, peak memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from unittest import mock

from buildlib.archive import parse_archive
from buildlib.errors import ArchiveError
from buildlib.objfile import load_lief
from buildlib.verify import verify_archive

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
NAMES = ["js_ok", "js_hidden", "js_local", "js_undef", "js_weak", "js_absent"]
BOUND_SECONDS = 2
# Header fields a hostile archive would forge: sizes, name lengths, long-name offsets, paths.
FORGED = [b"9999999999", b"-1        ", b"#1/99999999", b"/99999999 ", b"/../../etc/", b"a\0b/      ", b"0         "]


class Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang


def _blocked(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"the reader touched the filesystem: {args}")


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    strategy = rng.randrange(5)
    if strategy == 0:
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif strategy == 1:
        del data[rng.randrange(len(data)) :]
    elif strategy == 2:
        at = rng.randrange(len(data))
        data[at:at] = rng.randbytes(rng.randint(1, 64))
    elif strategy == 3:
        forged = rng.choice(FORGED)
        at = rng.randrange(len(data))
        data[at : at + len(forged)] = forged
    else:
        other = rng.randrange(len(data))
        data[other:] = data[: len(data) - other]
    return bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    seeds = [path.read_bytes() for path in sorted(FIXTURES.iterdir()) if path.suffix in (".a", ".o")]
    if not seeds:
        print(f"error: no fixtures in {FIXTURES}", file=sys.stderr)
        return 2
    load_lief()
    rng = random.Random(args.seed)
    signal.signal(signal.SIGALRM, _alarm)
    failures, slowest, parsed, started = 0, 0.0, 0, time.monotonic()
    with mock.patch("builtins.open", _blocked), mock.patch.object(Path, "read_bytes", _blocked):
        for case in range(args.cases):
            data = mutate(rng, rng.choice(seeds))
            began = time.perf_counter()
            signal.alarm(BOUND_SECONDS)
            try:
                verify_archive(parse_archive(data), NAMES)
                parsed += 1
            except ArchiveError:
                pass
            except Hang:
                failures += 1
                print(f"case {case}: ran past {BOUND_SECONDS} s ({len(data)} bytes)", file=sys.stderr)
            except Exception:
                failures += 1
                print(f"case {case}: {traceback.format_exc(limit=3)}", file=sys.stderr)
            finally:
                signal.alarm(0)
            slowest = max(slowest, time.perf_counter() - began)
            if case and case % 20_000 == 0:
                print(f"... {case} cases, {failures} failures", file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.cases} cases in {time.monotonic() - started:.0f} s: {failures} failures, {parsed} parsed and verified, "
        f"the rest ArchiveError; slowest case {slowest * 1e3:.1f} ms; peak memory {peak_mb:.0f} MB"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
