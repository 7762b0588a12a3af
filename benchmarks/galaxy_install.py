"""Galaxy's install into a fresh venv: pip against uv (the galaxy role's two installers), in one run.

    python benchmarks/galaxy_install.py [--rounds 2] [--out benchmarks/results/galaxy_install.md]

Downloads the role's pins once (roles/galaxy/defaults: galaxy-app, galaxy-web-apps,
galaxy-web-client and gravity at their versions, psycopg2-binary, pykube-ng) with the build
backends their few sdists need into a temporary wheel directory, then, alternating, installs them
into a new venv of Debian's Python with `pip install` and with `uv pip install --compile-bytecode`
(as the role runs each: pip compiles bytecode too), from that directory only (--no-index), so the
network and the index play no part. Checks that both venvs hold the same packages and run
galaxyctl, prints each round's seconds, the medians and uv/pip, and writes them with the load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"


def pins() -> tuple[list[str], str]:
    defaults = yaml.safe_load((ROOT / "roles/galaxy/defaults/main.yml").read_text())
    v, g = defaults["galaxy_version"], defaults["galaxy_gravity_version"]
    role_vars = (ROOT / "roles/galaxy/vars/main.yml").read_text()
    extra = [line.split()[-1] for line in role_vars.splitlines() if "pykube-ng==" in line]
    packages = [
        f"galaxy-app=={v}",
        f"galaxy-web-apps=={v}",
        f"galaxy-web-client=={v}",
        f"gravity=={g}",
        "psycopg2-binary==2.9.13",
        *extra,
    ]
    return packages, defaults["galaxy_uv_version"]


def run(cmd: list[str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ...: {proc.stderr[-3000:]}")
    return time.monotonic() - start


def freeze(venv: Path) -> set[str]:
    out = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    )
    return {line.lower() for line in out.stdout.split() if not line.lower().startswith("uv==")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/galaxy_install.md"))
    args = parser.parse_args()
    packages, uv_version = pins()
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"pip": [], "uv": []}
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp) / "wheels"
        print("downloading the pins once ...", flush=True)
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "-d",
                str(wheels),
                *packages,
                f"uv=={uv_version}",
                "setuptools>=64",
                "setuptools-scm>=8",
                "wheel",
            ]
        )
        local = ["--no-index", "--find-links", str(wheels)]
        for r in range(args.rounds):
            for tool in ("pip", "uv"):
                venv = Path(tmp) / f"{tool}-{r}"
                run([PYTHON, "-m", "venv", str(venv)])
                if tool == "pip":
                    took = run([str(venv / "bin/pip"), "install", "-q", *local, *packages])
                else:
                    run([str(venv / "bin/pip"), "install", "-q", *local, f"uv=={uv_version}"])
                    took = run(
                        [
                            str(venv / "bin/uv"),
                            "pip",
                            "install",
                            "-q",
                            "--python",
                            str(venv / "bin/python"),
                            "--compile-bytecode",
                            "--no-cache",
                            *local,
                            *packages,
                        ]
                    )
                run([str(venv / "bin/galaxyctl"), "--help"])
                times[tool].append(took)
                print(f"  round {r + 1}: {tool} {took:.1f} s", flush=True)
        if freeze(Path(tmp) / "pip-0") != freeze(Path(tmp) / "uv-0"):
            raise SystemExit("pip and uv installed different package sets")
    load_after = os.getloadavg()
    mp, mu = statistics.median(times["pip"]), statistics.median(times["uv"])
    print(
        f"Galaxy {packages[0].split('==')[1]} into a fresh venv, median of {args.rounds}: "
        f"pip {mp:.1f} s, uv {mu:.1f} s, uv/pip {mu / mp:.2f}"
    )
    rows = "\n".join(
        f"| {i + 1} | {a:.1f} | {b:.1f} |"
        for i, (a, b) in enumerate(zip(times["pip"], times["uv"], strict=True))
    )
    out = Path(args.out)
    out.write_text(
        f"# Galaxy's install: pip against uv\n\n"
        f"Written by `python benchmarks/galaxy_install.py` on {datetime.date.today().isoformat()} "
        f"({os.cpu_count()} cores, load average {load_before[0]:.2f} before and {load_after[0]:.2f} after). "
        f"The galaxy role's pins ({', '.join(packages)}) into a new venv of Debian's Python, from one local "
        f"wheel directory (no index, no network), bytecode compiled by both, alternating.\n\n"
        f"| round | pip s | uv {uv_version} s |\n|---|---|---|\n{rows}\n"
        f"| **median** | **{mp:.1f}** | **{mu:.1f}** |\n\n**uv / pip: {mu / mp:.2f}.**\n"
    )
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
