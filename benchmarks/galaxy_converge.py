"""Time the galaxy molecule scenario: cold converge on bare hosts, then the idempotent re-run.

    python benchmarks/galaxy_converge.py [--keep]

Runs, from the repository root with the toolkit venv active: `molecule destroy -s galaxy`,
`molecule create -s galaxy` (not timed: host creation), `molecule converge -s galaxy` (cold: Debian
packages, PostgreSQL, Galaxy from PyPI wheels, first start with its database migrations, admin
user), then `molecule converge -s galaxy` again (the idempotent re-run). Prints both wall times and
the re-run's changed count, which must be 0; exits non-zero otherwise. Destroys the hosts at the
end unless --keep.

Needs dockerd, the base image, Debian's mirror and PyPI. The figures depend on the mirror, PyPI
and the machine's load: they are for comparison on one machine, not a promise.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "galaxy"


def molecule(*args: str) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(
        ["molecule", *args, "-s", SCENARIO],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-3000:])
        raise SystemExit(f"molecule {args[0]} -s {SCENARIO} failed (exit {proc.returncode})")
    return elapsed, proc.stdout


def changed_total(output: str) -> int:
    recap = output[output.rfind("PLAY RECAP") :]
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = parser.parse_args(argv)
    molecule("destroy")
    try:
        molecule("create")
        cold, _ = molecule("converge")
        rerun, out = molecule("converge")
        changed = changed_total(out)
    finally:
        if not args.keep:
            molecule("destroy")
    print(f"galaxy scenario cold converge: {cold:.0f} s")
    print(f"galaxy scenario idempotent re-run: {rerun:.0f} s (changed={changed})")
    return 0 if changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
