"""One Galaxy job on the `k8s` destination against the same job on the `docker` destination.

    python benchmarks/galaxy_job.py [--spec inventories/specs/local.yml] [--runs 3]
                                    [--out benchmarks/results/galaxy_job.md]

Needs a VRE brought up from SPEC with the Kubernetes layer in full mode (`./vre up`: the script
says so and stops otherwise). In one run, on one cluster, with the same input (a three-line
dataset uploaded once):
  1. `vre_line_count` on its configured destination, `k8s` (a Kubernetes Job whose pod runs on a
     worker): one warm-up job, then --runs timed jobs;
  2. the Galaxy play (playbooks/galaxy.yml) converged with `vre_line_count_destination=docker`
     (the same tool, the same image from the private registry, run in a container on the Galaxy
     host by the local runner; Galaxy restarts through its handler), then a warm-up job and
     --runs timed jobs;
  3. the Galaxy play converged again without the override (the tool back on `k8s`).
A job's time is from the tool's submission through the API to its output dataset `ok`, as a user
sees it. Every job's runner is read back from Galaxy (destination_params) and must be the one
asked for, and its output must be `3`, else the script exits 1. The warm-up jobs pull the image
where it is missing and are not counted. Prints the medians and their ratio (k8s / docker) and
writes them with each job's time and the machine's load to --out.

The figures depend on the machine's load: the ratio, measured in one run, is what compares.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vrecloud import local  # noqa: E402
from vrecloud.spec import load_spec  # noqa: E402

RUNNERS = {"k8s": "kubernetes", "docker": "local", "slurm": "slurm"}
# The tool each destination runs: the same command and image; Galaxy picks the destination by
# tool id (vre_line_count_slurm is mapped to slurm in inventories/group_vars/galaxy).
TOOLS = {"k8s": "vre_line_count", "docker": "vre_line_count", "slurm": "vre_line_count_slurm"}
FINAL = ("ok", "error", "failed_metadata", "discarded", "paused")


class Galaxy:
    """The few API calls the benchmark needs, as the cluster's admin."""

    def __init__(self, host: str, address: str, ca: Path):
        self.host = host
        self.api = f"https://{address}/api"
        self.session = requests.Session()
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's `verify`.
        self.verify = str(ca)
        self.session.headers["x-api-key"] = docker_exec(host, "cat", "/root/galaxy-admin-api-key").strip()

    def call(self, method: str, path: str, **kw) -> requests.Response:
        r = self.session.request(method, f"{self.api}/{path}", timeout=60, verify=self.verify, **kw)
        r.raise_for_status()
        return r

    def wait_up(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            try:
                r = self.session.get(f"{self.api}/version", timeout=10, verify=self.verify)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Galaxy on {self.host} does not answer /api/version after {timeout:.0f} s ({last})"
                )
            time.sleep(2)

    def wait_dataset(self, dataset_id: str, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            ds = self.call("GET", f"datasets/{dataset_id}").json()
            if ds["state"] in FINAL:
                return ds
            if time.monotonic() > deadline:
                raise SystemExit(f"dataset {dataset_id} still {ds['state']} after {timeout:.0f} s")
            time.sleep(0.5)


def docker_exec(host: str, *cmd: str) -> str:
    proc = subprocess.run(["docker", "exec", host, *cmd], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{host}: {' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def converge_galaxy(spec: Path, cluster: str, destination: str | None) -> float:
    """playbooks/galaxy.yml on the cluster, as `./vre up` runs it; the tool on `destination`."""
    env = {**os.environ, "VRE_SPEC": str(spec), "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"}
    mirror = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "vrecloud.kube_mirror", "path"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env["VRE_KUBE_MIRROR"] = mirror
    cmd = [
        "ansible-playbook",
        "-i",
        str(ROOT / "inventories/local.py"),
        "-e",
        f"@{ROOT / '.vre' / f'{cluster}-secrets.yml'}",
    ]
    if destination:
        cmd += ["-e", f"vre_line_count_destination={destination}"]
    cmd.append(str(ROOT / "playbooks/galaxy.yml"))
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write((proc.stdout + proc.stderr)[-5000:])
        raise SystemExit(f"converging playbooks/galaxy.yml (destination {destination or 'default'}) failed")
    return time.monotonic() - start


def upload(gx: Galaxy, history: str) -> str:
    """The benchmark's input, a three-line dataset pasted into `history`: its id, once `ok`."""
    up = gx.call(
        "POST",
        "tools/fetch",
        json={
            "history_id": history,
            "targets": [
                {
                    "destination": {"type": "hdas"},
                    "elements": [
                        {
                            "src": "pasted",
                            "paste_content": "alpha\nbeta\ngamma\n",
                            "ext": "txt",
                            "name": "three.txt",
                        }
                    ],
                }
            ],
        },
    ).json()
    dataset = up["outputs"][0]["id"]
    if gx.wait_dataset(dataset)["state"] != "ok":
        raise SystemExit("the upload of the benchmark's input failed")
    return dataset


def submit(gx: Galaxy, history: str, dataset: str, destination: str) -> dict:
    return gx.call(
        "POST",
        "tools",
        json={
            "tool_id": TOOLS[destination],
            "history_id": history,
            "inputs": {"input": {"src": "hda", "id": dataset}},
        },
    ).json()


def check_job(gx: Galaxy, run: dict, destination: str) -> dict:
    """The finished job's destination params, once its output is `3` on the runner asked for."""
    out = gx.wait_dataset(run["outputs"][0]["id"])
    job = run["jobs"][0]["id"]
    params = gx.call("GET", f"jobs/{job}/destination_params").json()
    result = gx.call("GET", f"datasets/{out['id']}/display").text.strip()
    if out["state"] != "ok" or result != "3":
        raise SystemExit(f"job {job} on {destination}: dataset {out['state']}, output {result!r}")
    runner = str(params.get("Runner", "")).split(":", 1)[0]  # e.g. "local:///"
    if runner != RUNNERS[destination]:
        raise SystemExit(f"job {job} ran on runner {runner!r}, not {RUNNERS[destination]!r}")
    return params


def run_job(gx: Galaxy, history: str, dataset: str, destination: str) -> float:
    start = time.monotonic()
    run = submit(gx, history, dataset, destination)
    gx.wait_dataset(run["outputs"][0]["id"])
    elapsed = time.monotonic() - start
    check_job(gx, run, destination)
    return elapsed


def series(gx: Galaxy, history: str, dataset: str, destination: str, runs: int) -> list[float]:
    warm = run_job(gx, history, dataset, destination)
    print(f"  {destination}: warm-up job {warm:.1f} s (not counted)", flush=True)
    times = []
    for i in range(runs):
        times.append(run_job(gx, history, dataset, destination))
        print(f"  {destination}: job {i + 1}/{runs} {times[-1]:.1f} s", flush=True)
    return times


def cluster_hosts(spec_path: Path, groups: tuple[str, ...], what: str) -> tuple[str, dict[str, list[dict]]]:
    """The spec's cluster name and its hosts in each of `groups` (local provider); stops, saying
    what is missing (`what`), when a group has none."""
    cluster = load_spec(spec_path).cluster
    hosts = local.list_hosts(cluster)
    by_group = {g: [h for h in hosts if g in h["groups"]] for g in groups}
    if not all(by_group.values()):
        raise SystemExit(f"cluster {cluster} has {what}: run ./vre up {spec_path} first")
    return cluster, by_group


@dataclasses.dataclass
class Bench:
    """What bench_history gives: the client, the history, the dataset, and afterwards the seconds
    the Galaxy play took to converge back to the configured destinations."""

    gx: Galaxy
    history: str
    dataset: str
    back: float = 0.0


@contextlib.contextmanager
def bench_history(galaxy: dict, name: str, spec_path: Path, cluster: str) -> Iterator[Bench]:
    """A history with the three-line dataset, through TLS with Galaxy's CA; afterwards, whatever
    happened, the Galaxy play converged back to the configured destinations (converge_galaxy
    with no override) and the history purged."""
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "ca.crt"
        ca.write_text(docker_exec(galaxy["name"], "cat", "/etc/galaxy/tls/ca.crt"))
        gx = Galaxy(galaxy["name"], galaxy["address"], ca)
        gx.wait_up()
        history = gx.call("POST", "histories", json={"name": name}).json()["id"]
        bench = Bench(gx, history, upload(gx, history))
        try:
            yield bench
        finally:
            print("converging the Galaxy play back to the configured destination ...", flush=True)
            bench.back = converge_galaxy(spec_path, cluster, None)
            gx.wait_up()
            gx.call("DELETE", f"histories/{history}", json={"purge": True})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "inventories/specs/local.yml"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/galaxy_job.md"))
    args = parser.parse_args()
    spec_path = Path(args.spec).resolve()
    cluster, by_group = cluster_hosts(
        spec_path, ("galaxy", "kube_nodes"), "no Galaxy host or no Kubernetes node"
    )
    galaxy = by_group["galaxy"][0]
    load_before = os.getloadavg()

    with bench_history(galaxy, "bench-galaxy-job", spec_path, cluster) as b:
        gx, history, dataset = b.gx, b.history, b.dataset
        print("vre_line_count on k8s (its configured destination):", flush=True)
        k8s = series(gx, history, dataset, "k8s", args.runs)
        print("converging the Galaxy play with vre_line_count_destination=docker ...", flush=True)
        switch = converge_galaxy(spec_path, cluster, "docker")
        gx.wait_up()
        docker = series(gx, history, dataset, "docker", args.runs)
    back = b.back
    load_after = os.getloadavg()

    mk, md = statistics.median(k8s), statistics.median(docker)
    print(
        f"vre_line_count, median of {args.runs}: k8s {mk:.1f} s, docker {md:.1f} s, k8s/docker {mk / md:.2f}"
    )
    print(
        f"(switching the destination: Galaxy play {switch:.0f} s there, {back:.0f} s back; "
        f"load {load_before[0]:.2f} before, {load_after[0]:.2f} after)"
    )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(
        f"| {i + 1} | {a:.1f} | {b:.1f} |" for i, (a, b) in enumerate(zip(k8s, docker, strict=True))
    )
    out.write_text(
        f"# One Galaxy job: `k8s` against `docker`\n\n"
        f"Written by `python benchmarks/galaxy_job.py` on {datetime.date.today().isoformat()} "
        f"({os.cpu_count()} cores, load average {load_before[0]:.2f} before and {load_after[0]:.2f} "
        f"after; cluster `{cluster}`). The site's tool `vre_line_count` on one three-line dataset, "
        f"the image `vre/busybox` from the private registry, from submission through the API to "
        f"the output dataset `ok`; one warm-up job per destination not counted.\n\n"
        f"| job | k8s (Kubernetes Job, pod on a worker) s | docker (container on the Galaxy host) s |\n"
        f"|---|---|---|\n{rows}\n"
        f"| **median** | **{mk:.1f}** | **{md:.1f}** |\n\n"
        f"**k8s / docker: {mk / md:.2f}.** Switching the tool's destination (playbooks/galaxy.yml "
        f"with `vre_line_count_destination`, Galaxy restarted) took {switch:.0f} s, and {back:.0f} s "
        f"back. The k8s figure includes Galaxy's runner polling the Job, the scheduler, the pod's "
        f"start and the kubelet's report; the docker figure the local runner's `docker run`.\n"
    )
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
