"""Galaxy's jobs on the Slurm workers: one job on `slurm` against the same job on `docker`, and N
small jobs submitted at once.

    python benchmarks/slurm_jobs.py [--spec inventories/specs/local.yml] [--runs 3] [--jobs 20]
                                    [--out benchmarks/results/slurm_jobs.md]

Needs a VRE brought up from SPEC with Slurm workers (`./vre up`; the script says so and stops
otherwise). In one run, on one cluster, with one three-line dataset uploaded once:
  1. `vre_line_count_slurm` (the `slurm` destination: sbatch from the Galaxy host, the tool's
     container from the private registry on a worker): a warm-up job, then --runs timed jobs;
  2. --jobs of them submitted at once: the time until the last output is `ok`, against --jobs
     times the single job's median (the ratio below 1 is the workers' parallelism), and the node
     each ran on (Slurm's record: scontrol show job, on the controller);
  3. the Galaxy play converged with `vre_line_count_destination=docker` (as benchmarks/
     galaxy_job.py does), a warm-up and --runs timed jobs of `vre_line_count` in a container on
     the Galaxy host, then the play converged back.
Every job's runner is read back from Galaxy and its output must be `3`, else the script exits 1.
The figures depend on the machine's load: the ratios, measured in one run, are what compare.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from galaxy_job import (  # noqa: E402
    Galaxy,
    bench_history,
    check_job,
    cluster_hosts,
    converge_galaxy,
    docker_exec,
    series,
    submit,
)


def burst(gx: Galaxy, history: str, dataset: str, jobs: int, controller: str) -> tuple[float, dict[str, int]]:
    """--jobs submitted at once: the time until the last is done, and how many ran on each node."""
    start = time.monotonic()
    runs = [submit(gx, history, dataset, "slurm") for _ in range(jobs)]
    params = [check_job(gx, run, "slurm") for run in runs]
    elapsed = time.monotonic() - start
    nodes: collections.Counter[str] = collections.Counter()
    for p in params:
        record = docker_exec(controller, "scontrol", "show", "job", str(p["Runner Job ID"]), "--oneliner")
        match = re.search(r"\bNodeList=(\S+)", record)
        nodes[match.group(1) if match else "?"] += 1
    return elapsed, dict(sorted(nodes.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "inventories/specs/local.yml"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/slurm_jobs.md"))
    args = parser.parse_args()
    spec_path = Path(args.spec).resolve()
    cluster, by_group = cluster_hosts(
        spec_path, ("galaxy", "slurm_controller", "slurm_workers"), "no Galaxy host or no Slurm cluster"
    )
    galaxy, controller = by_group["galaxy"][0], by_group["slurm_controller"][0]["name"]
    workers = [h["name"] for h in by_group["slurm_workers"]]
    cpus = {
        w: re.search(r"CPUTot=(\d+)", docker_exec(controller, "scontrol", "show", "node", w)).group(1)
        for w in workers
    }
    load_before = os.getloadavg()

    with bench_history(galaxy, "bench-slurm-jobs", spec_path, cluster) as b:
        gx, history, dataset = b.gx, b.history, b.dataset
        print("vre_line_count_slurm on slurm:", flush=True)
        slurm = series(gx, history, dataset, "slurm", args.runs)
        print(f"{args.jobs} jobs on slurm at once ...", flush=True)
        many, nodes = burst(gx, history, dataset, args.jobs, controller)
        print("converging the Galaxy play with vre_line_count_destination=docker ...", flush=True)
        converge_galaxy(spec_path, cluster, "docker")
        gx.wait_up()
        docker = series(gx, history, dataset, "docker", args.runs)
    load_after = os.getloadavg()

    ms, md = statistics.median(slurm), statistics.median(docker)
    sharing = many / (args.jobs * ms)
    placed = ", ".join(f"{n}: {c}" for n, c in nodes.items())
    print(
        f"vre_line_count, median of {args.runs}: slurm {ms:.1f} s, docker {md:.1f} s, "
        f"slurm/docker {ms / md:.2f}"
    )
    print(
        f"{args.jobs} jobs at once on slurm: {many:.1f} s, {sharing:.2f} of {args.jobs} single jobs "
        f"one after another; ran on {placed} (workers' CPUs: {cpus})"
    )
    rows = "\n".join(
        f"| {i + 1} | {a:.1f} | {b:.1f} |" for i, (a, b) in enumerate(zip(slurm, docker, strict=True))
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# Galaxy's jobs on Slurm\n\n"
        f"Written by `python benchmarks/slurm_jobs.py` on {datetime.date.today().isoformat()} "
        f"({os.cpu_count()} cores, load average {load_before[0]:.2f} before and {load_after[0]:.2f} after; "
        f"cluster `{cluster}`, Slurm workers {', '.join(workers)}). The site's tool on one three-line "
        f"dataset, the image `vre/busybox` from the private registry, from submission through the API "
        f"to the output `ok`; one warm-up job per destination not counted.\n\n"
        f"| job | slurm (sbatch, container on a worker) s | docker (container on the Galaxy host) s |\n"
        f"|---|---|---|\n{rows}\n| **median** | **{ms:.1f}** | **{md:.1f}** |\n\n"
        f"**slurm / docker: {ms / md:.2f}.**\n\n"
        f"**{args.jobs} jobs submitted at once: {many:.1f} s until the last was `ok`, {sharing:.2f} of the "
        f"time of {args.jobs} single jobs one after another** (the single job's median). They ran on "
        f"{placed}; the workers' CPUs as Slurm counts them: {cpus} (each job takes one CPU).\n"
    )
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
