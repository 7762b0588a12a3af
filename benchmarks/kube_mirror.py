#!/usr/bin/env python3
"""The offline Kubernetes mirror's build time, cold and warm, measured in one run.

    python benchmarks/kube_mirror.py [--skip-cold]

Three builds of the same mirror (vrecloud/kube_mirror.py), each into a fresh cache directory of
its own under /var/tmp, so the machine's real mirror (/var/cache/vre) is left alone:

  cold     empty Go module cache and build cache (GOMODCACHE, GOCACHE in temp dirs): every module
           downloaded from the proxy and every package compiled, as on a fresh machine
  warm     the same Go caches again, a new mirror directory: what a recipe change costs
  reuse    the mirror just built, verified by its SHA256SUMS: what every later run costs

Each is printed with its steps, and warm and reuse as a fraction of cold (the machine is noisy:
ratios from one run mean more than the absolute seconds). The results go to
results/kube_mirror.md with the machine's load. --skip-cold uses the machine's own Go caches for
the first build (then "cold" means only the mirror directory is new).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vrecloud import kube_mirror  # noqa: E402


def build(cache: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        started = time.monotonic()
        _, steps = kube_mirror.build(cache, force=False)
        return time.monotonic() - started, steps
    finally:
        os.environ.clear()
        os.environ.update(old)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-cold", action="store_true", help="keep the machine's Go caches")
    args = parser.parse_args()
    problem = kube_mirror.toolchain_problem()
    if problem:
        print(f"cannot measure: {problem}", file=sys.stderr)
        return 1
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vre-bench-mirror-", dir="/var/tmp") as tmp:
        tmpdir = Path(tmp)
        go_env: dict[str, str] = {}
        if not args.skip_cold:
            go_env = {"GOMODCACHE": str(tmpdir / "gomod"), "GOCACHE": str(tmpdir / "gocache")}
        cold, cold_steps = build(tmpdir / "cold", go_env)
        rows.append(("cold" if not args.skip_cold else "new mirror dir", cold, cold_steps))
        warm, warm_steps = build(tmpdir / "warm", go_env)
        rows.append(("warm Go caches", warm, warm_steps))
        reuse, reuse_steps = build(tmpdir / "warm", go_env)
        rows.append(("reuse (verified)", reuse, reuse_steps))
        files = kube_mirror.mirror_dir(tmpdir / "warm").rglob("*")
        size = sum(p.stat().st_size for p in files if p.is_file())
        # Go's module cache is read-only on disk: make it removable.
        for d in (tmpdir / "gomod",):
            if d.exists():
                subprocess.run(["chmod", "-R", "u+w", str(d)], check=False)
                shutil.rmtree(d, ignore_errors=True)
    lines = [
        f"# Offline Kubernetes mirror build (Kubernetes {kube_mirror.KUBERNETES_VERSION})",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; mirror size {size / 2**20:.0f} MiB.",
        "",
        "| build | seconds | fraction of the first | steps (s) |",
        "|---|---|---|---|",
    ]
    for name, seconds, steps in rows:
        detail = ", ".join(f"{k} {v:.0f}" for k, v in steps.items() if k != "total") or "verify only"
        lines.append(f"| {name} | {seconds:.0f} | {seconds / rows[0][1]:.3f} | {detail} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "kube_mirror.md"
    out.write_text(text)
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
