"""Ansible's plain `linear` strategy against the toolkit's `vre_linear` (Mitogen), on the same hosts.

    python benchmarks/strategy.py [--hosts 3] [--rounds 3] [--out benchmarks/results/strategy.md]

Creates HOSTS systemd containers of the local provider (cluster `vre-strategy-bench`, removed at
the end), then runs one play of the module kinds the roles use most, on every host, in a state
that is already converged (a warm-up run first): ping, stat, copy of unchanged content, lineinfile,
apt with an installed package, a started systemd unit, file. ROUNDS times, alternately with
ANSIBLE_STRATEGY=linear and =vre_linear (so load drifts touch both alike), and prints the median
time per task of each, their ratio, and the changed count (must be 0: both do the same work),
written to --out with the load average. The ratio is the figure; seconds move with the machine.
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
sys.path.insert(0, str(ROOT))

from vrecloud import local  # noqa: E402
from vrecloud.recap import recap  # noqa: E402

CLUSTER = "vre-strategy-bench"
STRATEGIES = ("linear", "vre_linear")


def tasks() -> list[dict]:
    out: list[dict] = []
    for i in range(4):
        out += [
            {"name": f"ping {i}", "ansible.builtin.ping": {}},
            {"name": f"stat {i}", "ansible.builtin.stat": {"path": "/etc/os-release"}},
            {
                "name": f"copy {i}",
                "ansible.builtin.copy": {
                    "content": f"bench {i}\n",
                    "dest": f"/etc/vre-bench-{i}",
                    "mode": "0644",
                },
            },
            {
                "name": f"lineinfile {i}",
                "ansible.builtin.lineinfile": {"path": f"/etc/vre-bench-{i}", "line": f"bench {i}"},
            },
            {"name": f"apt {i}", "ansible.builtin.apt": {"name": "python3", "state": "present"}},
            {
                "name": f"systemd {i}",
                "ansible.builtin.systemd_service": {"name": "systemd-journald", "state": "started"},
            },
            {
                "name": f"file {i}",
                "ansible.builtin.file": {"path": "/etc/vre-bench.d", "state": "directory", "mode": "0755"},
            },
        ]
    return out


def run(playbook: Path, inventory: Path, strategy: str) -> tuple[float, int]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STRATEGY": strategy,
        "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}",
    }
    start = time.monotonic()
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(playbook)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write((proc.stdout + proc.stderr)[-4000:])
        raise SystemExit(f"the play failed with strategy {strategy} (status {proc.returncode})")
    if strategy == "vre_linear" and "Mitogen is not importable" in proc.stderr:
        raise SystemExit("vre_linear ran without Mitogen: install requirements-dev.txt first")
    return elapsed, sum(v["changed"] for v in recap(proc.stdout).values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/strategy.md"))
    args = parser.parse_args()

    local.ensure_dockerd()
    names = [f"{CLUSTER}-{i}" for i in range(1, args.hosts + 1)]
    play = [{"name": "Converged state, checked", "hosts": "bench", "gather_facts": False, "tasks": tasks()}]
    n_tasks = len(play[0]["tasks"])
    times: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    changed: dict[str, int] = dict.fromkeys(STRATEGIES, 0)
    load_before = os.getloadavg()[0]
    try:
        for name in names:
            local.create_host(name, CLUSTER, ["bench"], [], [])
        with tempfile.TemporaryDirectory() as tmp:
            playbook = Path(tmp) / "bench.yml"
            playbook.write_text(yaml.safe_dump(play, sort_keys=False))
            inventory = Path(tmp) / "hosts.yml"
            inventory.write_text(
                yaml.safe_dump(
                    {
                        "bench": {
                            "hosts": {name: {} for name in names},
                            "vars": {
                                "ansible_connection": "docker",
                                "ansible_python_interpreter": "/usr/bin/python3",
                            },
                        }
                    }
                )
            )
            run(playbook, inventory, "linear")  # warm-up: brings the hosts to the converged state
            for _ in range(args.rounds):
                for strategy in STRATEGIES:
                    secs, n_changed = run(playbook, inventory, strategy)
                    times[strategy].append(secs / n_tasks)
                    changed[strategy] += n_changed
    finally:
        local.down(CLUSTER)
    load_after = os.getloadavg()[0]

    med = {s: statistics.median(v) for s, v in times.items()}
    ratio = med["linear"] / med["vre_linear"]
    lines = [
        f"{n_tasks} tasks on {args.hosts} hosts, {args.rounds} rounds each, alternating",
        f"linear (a Python started per task and host): {med['linear']:.2f} s per task (median)",
        f"vre_linear (Mitogen, one interpreter per host): {med['vre_linear']:.2f} s per task (median)",
        f"ratio linear / vre_linear: {ratio:.1f}",
        f"changed: linear {changed['linear']}, vre_linear {changed['vre_linear']}",
        f"load average {load_before:.2f} before, {load_after:.2f} after",
    ]
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "# Strategy: plain linear against vre_linear (Mitogen)\n\n"
        f"Written by `python benchmarks/strategy.py` on {datetime.date.today().isoformat()} "
        f"({os.cpu_count()} cores).\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    )
    return 0 if not any(changed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
