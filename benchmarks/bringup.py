"""Time the whole VRE on the local provider: cold bring-up, idempotent re-run, per-role time.

    python benchmarks/bringup.py [--keep] [--logs DIR] [--cold-caches] [--out FILE]

Brings up a copy of inventories/specs/local.yml as cluster `vre-bench` with the README's command
(`./vre up SPEC`): first `./vre down` (so the run is cold: no hosts, no volumes; the base image
and the toolkit's venvs stay, as after `./vre bootstrap`), then `./vre up` timed (cold: host
creation, Debian packages, PyPI wheels, every service's first start), then `./vre up` again timed
(the idempotent re-run, which must report changed=0 on every host; exit status 1 otherwise).
The task profiler (ansible.posix.profile_tasks, listing every task) of the cold run gives the time
per role: the sum of its tasks' times (tasks run on all hosts in parallel, so a role's time is
wall time, and the roles' times add up to the run's converge time).

--cold-caches measures issue 13's cold-cache case: the controller's package caches
(vrecloud/caches.py) are stopped and the run uses new, empty ones in a temporary directory
(VRE_CACHE_DIR), so every .deb and every wheel of the cold run comes from Debian's mirror and
PyPI (the devpi-server venv too); the figures then say how many files the caches fetched. The
offline Kubernetes mirror is a build on this machine, not a cache of downloads: the existing one
is used (VRE_KUBE_MIRROR). At the end the temporary caches are stopped and removed and the
machine's own caches started again; their data is never touched. Its results go to
benchmarks/results/bringup-cold-caches.md unless --out.

Prints the three figures and writes them, with the per-role table, to --out (Markdown), which
the README links. Removes the cluster at the end unless --keep.

The figures depend on Debian's mirror, PyPI and the machine's load: they compare runs on one
machine; they are not a promise. So the same run also times a baseline on the same hosts, right
after the re-run: a play of NOOP_TASKS `ansible.builtin.ping` tasks on every host (no facts),
and prints cold and re-run as multiples of one such no-op task, with the machine's load average
before and after. The Kubernetes layer's converge time is the sum of its roles' task times
(kube_common, kube_control_plane, kube_node, galaxy_kubernetes), cold and in the re-run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vrecloud import caches, kube_mirror  # noqa: E402
from vrecloud.recap import failures, recap  # noqa: E402

CLUSTER = "vre-bench"
NOOP_TASKS = 20
KUBE_ROLES = ("kube_common", "kube_control_plane", "kube_node", "galaxy_kubernetes")
# Set by --cold-caches for every ./vre and ansible-playbook run: the temporary caches' directory.
EXTRA_ENV: dict[str, str] = {}
# profile_tasks' summary lines: "<role> : <task> ------ 12.34s" (or "<task> ---- 1.20s").
_PROFILE_RE = re.compile(r"^(?P<task>.+?) -+ (?P<secs>\d+(?:\.\d+)?)s\s*$")


def vre(*args: str) -> tuple[float, str]:
    env = {
        **os.environ,
        # Every task in the profiler's summary, in run order (default: the 20 slowest).
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
        "PROFILE_TASKS_SORT_ORDER": "none",
        **EXTRA_ENV,
    }
    start = time.monotonic()
    proc = subprocess.run(
        [str(ROOT / "vre"), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.stderr.write(out[-3000:])
        with tempfile.NamedTemporaryFile("w", prefix="bringup-failed-", suffix=".log", delete=False) as log:
            log.write(out)
        sys.stderr.write("\n\n".join(["failed tasks:", *failures(out)]) + "\n")
        raise SystemExit(f"./vre {args[0]} failed with status {proc.returncode} (its output: {log.name})")
    return elapsed, out


def per_role(output: str) -> OrderedDict[str, float]:
    """Seconds per role from profile_tasks' summary of the last play run in `output`."""
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
    roles: OrderedDict[str, float] = OrderedDict()
    for line in lines[start:]:
        m = _PROFILE_RE.match(line)
        if not m:
            continue
        task = m["task"].strip()
        role = task.split(" : ", 1)[0] if " : " in task else "(plays' own tasks: preflight, summary, facts)"
        roles[role] = roles.get(role, 0.0) + float(m["secs"])
    if not roles:
        raise SystemExit("no profile_tasks summary in the output (is the callback enabled in ansible.cfg?)")
    return roles


def baseline(spec_path: Path) -> float:
    """Seconds of one no-op task on every host: NOOP_TASKS pings in one play, timed, divided."""
    play = [
        {
            "name": "No-op baseline",
            "hosts": "all:!localhost",
            "gather_facts": False,
            "tasks": [{"name": f"ping {i}", "ansible.builtin.ping": {}} for i in range(NOOP_TASKS)],
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        pb = Path(tmp) / "noop.yml"
        pb.write_text(yaml.safe_dump(play))
        env = {
            **os.environ,
            "VRE_SPEC": str(spec_path),
            "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}",
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "PYTHONPATH": str(ROOT),
            **EXTRA_ENV,
        }
        start = time.monotonic()
        subprocess.run(
            ["ansible-playbook", "-i", str(ROOT / "inventories/local.py"), str(pb)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        return (time.monotonic() - start) / NOOP_TASKS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the cluster at the end")
    parser.add_argument("--out", help="default benchmarks/results/bringup.md (bringup-cold-caches.md)")
    parser.add_argument("--logs", help="write the cold and re-run outputs there (cold.log, rerun.log)")
    parser.add_argument("--cold-caches", action="store_true", help="new, empty package caches for the run")
    args = parser.parse_args()
    args.out = args.out or str(
        ROOT / "benchmarks/results" / ("bringup-cold-caches.md" if args.cold_caches else "bringup.md")
    )
    if not args.cold_caches:
        return measure(args, None)
    mirror = kube_mirror.mirror_dir()
    if not (mirror / "SHA256SUMS").is_file():
        raise SystemExit(f"no Kubernetes mirror at {mirror}: run `./vre up` once (it builds it) first")
    with tempfile.TemporaryDirectory(prefix="vre-cold-caches-", dir="/var/tmp") as cache_dir:
        os.chmod(cache_dir, 0o755)  # the daemons run as their own users
        EXTRA_ENV.update(VRE_CACHE_DIR=cache_dir, VRE_KUBE_MIRROR=str(mirror))
        caches.stop()
        try:
            return measure(args, Path(cache_dir))
        finally:
            caches.stop()
            EXTRA_ENV.clear()
            # The machine's own caches again (their data was never touched).
            subprocess.run([sys.executable, "-m", "vrecloud.caches", "up"], cwd=ROOT, check=True)


def measure(args: argparse.Namespace, cold_caches: Path | None) -> int:
    """The cold run, the re-run and the baseline; with cold_caches, what those caches fetched."""

    spec = yaml.safe_load((ROOT / "inventories/specs/local.yml").read_text())
    spec["cluster"] = CLUSTER
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.yml"
        spec_path.write_text(yaml.safe_dump(spec))
        vre("down", str(spec_path))
        load_before = os.getloadavg()[0]
        cold, cold_out = vre("up", str(spec_path))
        rerun, rerun_out = vre("up", str(spec_path))
        noop = baseline(spec_path)
        load_after = os.getloadavg()[0]
        if not args.keep:
            vre("down", str(spec_path))

    if args.logs:
        logs = Path(args.logs)
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "cold.log").write_text(cold_out)
        (logs / "rerun.log").write_text(rerun_out)

    fetched_line = ""
    if cold_caches is not None:
        got = caches.fetched(
            cold_caches / "apt-cacher-ng/log/apt-cacher.log", cold_caches / "devpi/devpi-server.log"
        )
        fetched_line = (
            f"empty package caches at the start: the cold run fetched {len(got['debs_fetched'])} .debs "
            f"and {len(got['files_fetched'])} Python package files from the internet"
        )

    changed = {h: v["changed"] for h, v in recap(rerun_out).items()}
    hosts = len([h for h in changed if h != "localhost"])  # the summary's report runs on localhost
    roles = per_role(cold_out)
    rerun_roles = per_role(rerun_out)
    total = sum(roles.values())
    kube_cold = sum(roles.get(r, 0.0) for r in KUBE_ROLES)
    kube_rerun = sum(rerun_roles.get(r, 0.0) for r in KUBE_ROLES)

    print(f"cold bring-up of the full stack ({hosts} hosts): {cold:.0f} s = {cold / noop:.0f} no-op tasks")
    print(
        f"idempotent re-run: {rerun:.0f} s = {rerun / noop:.0f} no-op tasks, changed={sum(changed.values())}"
    )
    print(
        f"baseline: one no-op task on every host {noop:.2f} s (mean of {NOOP_TASKS}); "
        f"load average {load_before:.2f} before, {load_after:.2f} after"
    )
    print(
        f"Kubernetes layer ({', '.join(KUBE_ROLES)}): {kube_cold:.0f} s cold "
        f"({kube_cold / total:.0%} of the task time), {kube_rerun:.0f} s in the re-run"
    )
    if fetched_line:
        print(fetched_line)
    print("per-role time, cold run and re-run (task profiler):")
    for role, secs in sorted(roles.items(), key=lambda kv: -kv[1]):
        print(f"  {role:<48} {secs:7.1f} s {rerun_roles.get(role, 0.0):7.1f} s")
    print(f"  {'sum of task times':<48} {total:7.1f} s {sum(rerun_roles.values()):7.1f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(
        f"| {role} | {secs:.1f} | {rerun_roles.get(role, 0.0):.1f} |"
        for role, secs in sorted(roles.items(), key=lambda kv: -kv[1])
    )
    out.write_text(
        f"# Full-stack bring-up on the local provider\n\n"
        f"Written by `python benchmarks/bringup.py` on {datetime.date.today().isoformat()} "
        f"({os.cpu_count()} cores; spec inventories/specs/local.yml as cluster `{CLUSTER}`, "
        f"{hosts} hosts).\n\n"
        f"| figure | value |\n|---|---|\n"
        f"| cold bring-up (`./vre up`, hosts created, every layer converged) | {cold:.0f} s "
        f"({cold / noop:.0f} no-op tasks) |\n"
        f"| idempotent re-run (`./vre up` again) | {rerun:.0f} s ({rerun / noop:.0f} no-op tasks), "
        f"changed={sum(changed.values())} |\n"
        f"| baseline: one no-op task (`ansible.builtin.ping`) on every host, mean of {NOOP_TASKS} | "
        f"{noop:.2f} s |\n"
        f"| Kubernetes layer ({', '.join(KUBE_ROLES)}), sum of task times | {kube_cold:.0f} s cold "
        f"({kube_cold / total:.0%}), {kube_rerun:.0f} s re-run |\n"
        f"| load average (1 min) before / after | {load_before:.2f} / {load_after:.2f} |\n"
        + (f"| package caches | {fetched_line} |\n" if fetched_line else "")
        + "\n"
        f"## Time per role (ansible.posix.profile_tasks, summed per role)\n\n"
        f"| role | cold, s | re-run, s |\n|---|---|---|\n{rows}\n"
        f"| **sum of task times** | **{total:.1f}** | **{sum(rerun_roles.values()):.1f}** |\n\n"
        f"The cold figure includes creating the containers and the run's own start-up; the roles' "
        f"sum is the time spent in tasks. The machine's load and the mirrors' speed move these "
        f"figures: compare runs on one machine.\n"
    )
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0 if sum(changed.values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
