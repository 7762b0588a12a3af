"""The README's bring-up command under test: the whole VRE on the local provider, end to end.

Runs `./vre up` on a copy of inventories/specs/local.yml (cluster renamed `vre-e2e`, so a VRE you
brought up yourself is left alone), then proves what a researcher and an operator need:
  - the run ends with the Galaxy URL, where the admin credentials are and one health line per
    service, and a second run reports changed=0 on every host;
  - a real Kubernetes cluster from the offline mirror: both nodes Ready;
  - the registry's rights: the workers' pull account reads and is refused a push (skopeo);
  - a Galaxy job whose tool container comes from the private registry: upload through the API, run
    `vre_line_count` on the `k8s` destination, as a Kubernetes Job whose pod runs on the worker (the
    image removed from the worker first, so the kubelet pulls it from the registry with the
    namespace's pull secret), output on the shared filesystem owned by the galaxy UID (read back
    over NFS from a Mesos slave), job state `ok`;
  - the controller's package caches (vrecloud/caches.py): every host got its .debs from
    apt-cacher-ng and the Galaxy host its wheels from devpi, no package file was ever fetched from
    the internet twice on this machine, and the added slave's packages all came from the cache;
  - a Galaxy job through Slurm: `vre_line_count_slurm`, submitted with sbatch from the Galaxy host,
    runs on the Slurm worker as the galaxy UID in the registry's image (pulled by the worker's
    Docker), its output on the share;
  - scale: one more Mesos slave (also a Slurm worker) in the spec adds exactly that host (the NFS
    server only admits it to the export, Slurm's hosts only list it in slurm.conf); removing it
    again drains and removes it;
  - `./vre down` removes every container and volume of the cluster.
Collected only with VRE_E2E=1 (`./vre e2e`, part of `./vre test`). Tests run in file order and
share one cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from bioblend.galaxy import GalaxyInstance

from tests.vre_defaults import CLUSTER_DEFAULTS
from vrecloud import caches
from vrecloud.recap import changed_tasks, failures, recap

ROOT = Path(__file__).resolve().parents[2]
# VRE_E2E_CLUSTER runs a second e2e beside one already running (another cluster name).
CLUSTER = os.environ.get("VRE_E2E_CLUSTER", "vre-e2e")
GALAXY = f"{CLUSTER}-galaxy-1"
REGISTRY = f"{CLUSTER}-registry-1"
SLAVE = f"{CLUSTER}-mesos-slaves-1"  # also the Slurm worker
MASTER = f"{CLUSTER}-mesos-masters-1"  # also the Slurm controller
NEW_SLAVE = f"{CLUSTER}-mesos-slaves-2"
KUBE = f"{CLUSTER}-kube-control-plane-1"
KUBE_NODE = f"{CLUSTER}-kube-nodes-1"
KUBECTL = ("kubectl", "--kubeconfig=/etc/kubernetes/admin.conf")
GALAXY_UID = CLUSTER_DEFAULTS["vre_galaxy_uid"]
SHARE = "/srv/vre/galaxy"
IMAGE = "vre/busybox:1.35.0-debian12"
LOGS = ROOT / ".vre" / "e2e-logs"


def _spec(tmp: Path, slaves: int) -> Path:
    spec = yaml.safe_load((ROOT / "inventories/specs/local.yml").read_text())
    spec["cluster"] = CLUSTER
    spec["groups"]["mesos_slaves"]["count"] = slaves
    path = tmp / f"spec-{slaves}.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _vre(*args: str, name: str) -> str:
    """Run ./vre, keep its output under .vre/e2e-logs/NAME.log, fail with its failed tasks and tail."""
    LOGS.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.run([str(ROOT / "vre"), *args], cwd=ROOT, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    (LOGS / f"{name}.log").write_text(out)
    print(f"./vre {' '.join(args)}: rc={proc.returncode} in {time.monotonic() - start:.0f}s ({name}.log)")
    if proc.returncode != 0:
        failed = "\n\n".join(failures(out)) or "(no failed task in the output)"
        tail = out[-3000:]
        pytest.fail(f"./vre {args[0]} failed (rc {proc.returncode}), failed:\n{failed}\n\ntail:\n{tail}")
    return out


def _exec(host: str, *cmd: str) -> str:
    proc = subprocess.run(["docker", "exec", host, *cmd], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{host}: {' '.join(cmd)}: {proc.stderr or proc.stdout}"
    return proc.stdout


def _address(host: str) -> str:
    info = json.loads(
        subprocess.run(["docker", "inspect", host], capture_output=True, text=True, check=True).stdout
    )
    return next(n["IPAddress"] for n in info[0]["NetworkSettings"]["Networks"].values() if n["IPAddress"])


def _docker_lines(*args: str) -> list[str]:
    """The output lines of a docker command that must succeed."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=True)
    return proc.stdout.splitlines()


def _containers() -> list[str]:
    return sorted(
        _docker_lines("ps", "--all", "--format", "{{.Names}}", "--filter", f"label=vre.cluster={CLUSTER}")
    )


def _volumes(flt: str) -> list[str]:
    return _docker_lines("volume", "ls", "--quiet", "--filter", flt)


def _nfs_clients() -> list[str]:
    """The cluster's hosts in group nfs_clients, from the provider's labels."""
    lines = _docker_lines(
        "ps", "--format", '{{.Names}} {{.Label "vre.groups"}}', "--filter", f"label=vre.cluster={CLUSTER}"
    )
    return sorted(line.split()[0] for line in lines if "nfs_clients" in line.split()[-1].split(","))


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("specs")
    return {1: _spec(tmp, 1), 2: _spec(tmp, 2)}


# `./vre up` starts the package caches unless VRE_APT_PROXY / VRE_PIP_INDEX_URL say otherwise.
CACHES_OFF = os.environ.get("VRE_APT_PROXY", "x") == "" or os.environ.get("VRE_PIP_INDEX_URL", "x") == ""
needs_caches = pytest.mark.skipif(
    CACHES_OFF, reason="VRE_APT_PROXY or VRE_PIP_INDEX_URL set empty: no caches"
)


@pytest.fixture(scope="module")
def caches_before():
    """What the package caches had fetched and served before the cold bring-up."""
    return caches.fetched()


def _served_since(before: dict, client: str) -> dict[str, int]:
    """The .debs apt-cacher-ng served to `client` since `before`, with their counts."""
    now = caches.fetched()["debs_served"].get(client, {})
    was = before["debs_served"].get(client, {})
    return {p: n - was.get(p, 0) for p, n in now.items() if n > was.get(p, 0)}


@pytest.fixture(scope="module")
def cold_up(specs, caches_before):
    """A cold bring-up: whatever an earlier run left is removed first."""
    _vre("down", str(specs[1]), name="down-before")
    assert _containers() == []
    return _vre("up", str(specs[1]), name="up-cold")


def _flat(text: str) -> str:
    """The output with every run of whitespace made one space (the callback wraps long lines)."""
    return " ".join(text.split())


def test_cold_bring_up_ends_with_url_credentials_and_health(cold_up):
    r = recap(cold_up)
    assert set(r) >= {GALAXY, REGISTRY, SLAVE, f"{CLUSTER}-mesos-masters-1", KUBE, KUBE_NODE}
    assert all(v["failed"] == 0 and v["unreachable"] == 0 for v in r.values()), r
    summary = _flat(cold_up[cold_up.rindex("Print the VRE's address") :])
    assert f"https://{_address(GALAXY)}/" in summary
    assert "admin API key in /root/galaxy-admin-api-key" in summary
    # The bring-up itself ended with a real job in the registry's container, as a pod on the worker.
    assert f"jobs OK vre_line_count ran as a Kubernetes pod on {KUBE_NODE} in" in summary, summary[:3000]
    assert "3 lines, dataset ok" in summary
    for line in ("galaxy OK", "postgresql OK", "nfs OK", "registry OK", "docker OK", "zookeeper OK"):
        assert line in summary, f"{line!r} missing from the summary: {summary[:3000]}"
    # No Mesos binaries here: the run says so plainly instead of a health line. Kubernetes is real.
    assert "mesos NO-BINARY MODE" in summary
    assert f"kubernetes OK 2/2 nodes Ready (v1.35.4): {KUBE}, {KUBE_NODE}" in summary
    assert "repositories: vre/busybox" in summary  # the registry holds the tool image
    # And on the Slurm worker, through sbatch from the Galaxy host.
    # The node is idle, or mixed while the smoke jobs run on it (they run during the probes).
    assert re.search(
        rf"slurm OK 1/1 nodes up, controller {MASTER}: {SLAVE} \((idle|mixed|allocated)\)", summary
    ), summary[:3000]
    assert f"jobs OK vre_line_count_slurm ran through Slurm on {SLAVE} in" in summary, summary[:3000]


@needs_caches
def test_packages_come_from_the_controllers_caches(cold_up, caches_before):
    served = {h: len(_served_since(caches_before, _address(h))) for h in _containers()}
    assert all(n > 0 for n in served.values()), f".debs served per host by apt-cacher-ng: {served}"
    now = caches.fetched()
    wheels = [f for f, n in now["files_served"].items() if n > caches_before["files_served"].get(f, 0)]
    assert any(f.startswith("galaxy_app-26.1") for f in wheels), (
        f"devpi served no Galaxy wheel: {wheels[:20]}"
    )
    # On this machine, ever: no .deb and no wheel or sdist came from the internet twice.
    twice = {f: n for f, n in {**now["debs_fetched"], **now["files_fetched"]}.items() if n > 1}
    assert twice == {}, f"fetched from the internet more than once: {twice}"


def test_second_run_changes_nothing(cold_up, specs):
    out = _vre("up", str(specs[1]), name="up-rerun")
    r = recap(out)
    changed = {h: v["changed"] for h, v in r.items() if v["changed"]}
    assert changed == {}, f"second run changed {changed}: {changed_tasks(out)}"


@pytest.fixture(scope="module")
def gi(cold_up, tmp_path_factory):
    ca = tmp_path_factory.mktemp("ca") / "galaxy-ca.crt"
    ca.write_text(_exec(GALAXY, "cat", "/etc/galaxy/tls/ca.crt"))
    key = _exec(GALAXY, "cat", "/root/galaxy-admin-api-key").strip()
    gi = GalaxyInstance(f"https://{_address(GALAXY)}", key=key)
    gi.verify = str(ca)
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca)  # BioBlend's tus uploads read it from here
    return gi


def _wait(gi, dataset_id, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        ds = gi.datasets.show_dataset(dataset_id)
        if ds["state"] in ("ok", "error", "failed_metadata", "discarded", "paused"):
            return ds
        assert time.monotonic() < deadline, f"dataset {dataset_id} still {ds['state']} after {timeout}s"
        time.sleep(3)


def test_galaxy_answers_over_tls_with_its_ca(gi):
    r = requests.get(f"https://{_address(GALAXY)}/api/version", verify=gi.verify, timeout=30)
    assert r.status_code == 200 and r.json()["version_major"] == "26.1"


def _pod_events(job_name: str) -> list[dict]:
    """The Kubernetes events of the pods of Galaxy's Job `job_name` (kept after the Job is gone)."""
    events = json.loads(_exec(KUBE, *KUBECTL, "--namespace=galaxy", "get", "events", "--output=json"))
    return [e for e in events["items"] if e["involvedObject"]["name"].startswith(f"{job_name}-")]


def _run_line_count(gi, tmp_path, tool: str, prefix: str) -> tuple[dict, dict, dict]:
    """Upload a three-line dataset into a new history and run `tool` on it; both must end `ok`
    and the output be `3`. Returns the history, the job (full details) and the output dataset."""
    history = gi.histories.create_history(name=f"{prefix}-{uuid.uuid4().hex[:8]}")
    src = tmp_path / "three_lines.txt"
    src.write_text("alpha\nbeta\ngamma\n")
    up = gi.tools.upload_file(str(src), history["id"], file_type="txt")
    ds = _wait(gi, up["outputs"][0]["id"])
    assert ds["state"] == "ok", ds.get("misc_info")

    run = gi.tools.run_tool(history["id"], tool, {"input": {"src": "hda", "id": ds["id"]}})
    out = _wait(gi, run["outputs"][0]["id"])
    job = gi.jobs.show_job(run["jobs"][0]["id"], full_details=True)
    assert job["state"] == "ok" and out["state"] == "ok", (job.get("stderr"), job.get("command_line"))
    assert gi.datasets.download_dataset(out["id"]).decode().strip() == "3"
    return history, job, out


def test_job_runs_as_a_pod_in_a_tool_container_from_the_private_registry(gi, tmp_path):
    registry = f"{_address(REGISTRY)}:5000"
    image = f"{registry}/{IMAGE}"
    # The bring-up's smoke job ran it on the worker already: remove it from the worker's containerd
    # so that this job's pod has to pull it from the registry, with the namespace's pull secret.
    subprocess.run(
        ["docker", "exec", KUBE_NODE, "ctr", "--namespace=k8s.io", "images", "rm", image],
        capture_output=True,
        check=False,
    )
    assert image not in _exec(KUBE_NODE, "ctr", "--namespace=k8s.io", "images", "ls", "--quiet").split()

    history, job, out = _run_line_count(gi, tmp_path, "vre_line_count", "e2e")

    # It ran as a Kubernetes Job (its name is Galaxy's external id for the job) whose pod the
    # scheduler put on the worker, and the kubelet pulled the registry's image for it.
    events = _pod_events(job["external_id"])
    by_reason = {}
    for event in events:
        by_reason.setdefault(event["reason"], []).append(event["message"])
    assert any(m.endswith(f" to {KUBE_NODE}") for m in by_reason.get("Scheduled", [])), by_reason
    assert any(image in m for m in by_reason.get("Pulled", [])), by_reason
    assert image in _exec(KUBE_NODE, "ctr", "--namespace=k8s.io", "images", "ls", "--quiet").split()
    # The output is on the shared filesystem, owned by the galaxy UID (the pod ran as it), and a
    # Mesos slave reads it over NFS.
    path = out["file_name"]
    assert path.startswith(f"{SHARE}/objects/"), path
    assert _exec(GALAXY, "stat", "-c", "%u:%g", path).strip() == f"{GALAXY_UID}:{GALAXY_UID}"
    url = f"nfs://{_address(GALAXY)}{path}?version=3&uid={GALAXY_UID}&gid={GALAXY_UID}"
    assert _exec(SLAVE, "nfs-cat", url).strip() == "3"
    gi.histories.delete_history(history["id"], purge=True)


def test_job_runs_through_slurm_in_a_tool_container_from_the_private_registry(gi, tmp_path):
    registry = f"{_address(REGISTRY)}:5000"
    image = f"{registry}/{IMAGE}"
    # The bring-up's smoke job ran there already: remove the image from the worker's Docker so
    # that this job has to pull it from the registry (as the galaxy user, its DOCKER_CONFIG).
    subprocess.run(["docker", "exec", SLAVE, "docker", "rmi", image], capture_output=True, check=False)
    assert image not in _exec(SLAVE, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}").split()

    history, job, out = _run_line_count(gi, tmp_path, "vre_line_count_slurm", "e2e-slurm")

    # Galaxy's external id is Slurm's job id: the controller's record says where it ran and as whom.
    record = _exec(MASTER, "scontrol", "show", "job", job["external_id"], "--oneliner")
    assert "JobState=COMPLETED" in record, record
    assert f"NodeList={SLAVE}" in record, record
    assert f"UserId=galaxy({GALAXY_UID})" in record, record
    assert image in _exec(SLAVE, "docker", "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    path = out["file_name"]
    assert path.startswith(f"{SHARE}/objects/"), path
    assert _exec(GALAXY, "stat", "-c", "%u:%g", path).strip() == f"{GALAXY_UID}:{GALAXY_UID}"
    gi.histories.delete_history(history["id"], purge=True)


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", GALAXY, "skopeo", *args], capture_output=True, text=True, check=False
    )


def test_report_lists_the_smoke_jobs_with_their_metrics(gi, specs):
    """`./vre report`'s entry point on the real VRE, per job as JSON: the bring-up's smoke jobs
    under the admin, with the job metrics the galaxy role configures (core, hostname), and the
    pod's peak memory from its cgroup for the k8s destination only (roles/galaxy/README.md)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrecloud.report",
            "--local",
            str(specs[1]),
            "--per",
            "job",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads(proc.stdout)["jobs"]
    admin = gi.users.get_current_user()["email"]
    by_tool = {}
    for job in jobs:
        if job["state"] == "ok":
            by_tool.setdefault(job["tool"], []).append(job)
    for tool in ("vre_line_count", "vre_line_count_slurm"):
        assert by_tool.get(tool), f"no ok {tool} job in the report: {jobs}"
        for job in by_tool[tool]:
            assert job["user"] == admin, job
            assert job["runtime_s"] is not None and job["runtime_s"] >= 0, job
            assert job["cores"] is not None and job["cores"] >= 1, job
            assert job["host"], job
    # The pod's cgroup is the job's own: its peak memory is recorded; the Slurm job's script runs
    # outside the tool's container, so no such figure is recorded (none is guessed).
    assert all((j["peak_memory_bytes"] or 0) > 0 for j in by_tool["vre_line_count"]), by_tool[
        "vre_line_count"
    ]
    assert all(j["peak_memory_bytes"] is None for j in by_tool["vre_line_count_slurm"])
    assert {j["host"] for j in by_tool["vre_line_count_slurm"]} == {SLAVE}


def test_registry_pull_account_reads_and_cannot_overwrite_a_tool_image(cold_up):
    """The workers' pull account, which every worker holds, reads the tool image and is refused a
    push over it; the push account writes. Checked with skopeo (Debian's; used nowhere else in the
    project), installed on the Galaxy host for this test, with the cluster's own accounts."""
    secrets = yaml.safe_load((ROOT / ".vre" / f"{CLUSTER}-secrets.yml").read_text())
    pull = f"vre-pull:{secrets['vre_registry_pull_password']}"
    push = f"vre-push:{secrets['vre_registry_push_password']}"
    registry = f"{_address(REGISTRY)}:5000"
    certs = f"/etc/docker/certs.d/{registry}"
    ref = f"docker://{registry}/{IMAGE}"
    _exec(GALAXY, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "skopeo")

    anonymous = _skopeo("inspect", "--no-creds", "--cert-dir", certs, ref)
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower(), anonymous.stderr
    seen = _skopeo("inspect", "--creds", pull, "--cert-dir", certs, ref)
    assert seen.returncode == 0, seen.stderr
    digest = json.loads(seen.stdout)["Digest"]

    copy = ["copy", "--src-cert-dir", certs, "--dest-cert-dir", certs]
    overwrite = _skopeo(*copy, "--src-creds", pull, "--dest-creds", pull, ref, ref)
    assert overwrite.returncode != 0 and "denied" in overwrite.stderr.lower(), overwrite.stderr
    assert (
        json.loads(_skopeo("inspect", "--creds", pull, "--cert-dir", certs, ref).stdout)["Digest"] == digest
    )

    target = f"docker://{registry}/vre/e2e-copy-{uuid.uuid4().hex[:8]}:1"
    written = _skopeo(*copy, "--src-creds", push, "--dest-creds", push, ref, target)
    assert written.returncode == 0, written.stderr
    assert _skopeo("inspect", "--creds", pull, "--cert-dir", certs, target).returncode == 0


# A slave is also a Slurm worker: its arrival or departure changes the node list of slurm.conf on
# every Slurm host (and the Galaxy host, a submit host), which restarts their Slurm daemons.
SLURM_NODE_LIST = ("slurm_common : Render slurm.conf", "slurm_common : Restart the Slurm daemons")
# Prometheus (on the Galaxy host) scrapes every host's node exporter: a host added or removed
# changes its scrape configuration, applied by a reload.
PROMETHEUS_TARGETS = ("prometheus : Write the scrape configuration", "prometheus : Reload prometheus")


def _prometheus_targets() -> dict[tuple[str, str], str]:
    """(job, host) -> health of every active target of Prometheus on the Galaxy host, once each
    was scraped (a target not scraped yet is "unknown"; scrapes come every 15 s)."""
    port = CLUSTER_DEFAULTS["vre_prometheus_port"]
    deadline = time.monotonic() + 120
    while True:
        answer = requests.get(f"http://{_address(GALAXY)}:{port}/api/v1/targets?state=active", timeout=10)
        answer.raise_for_status()
        targets = answer.json()["data"]["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["host"]): t["health"] for t in targets}
        if "unknown" not in health.values() or time.monotonic() > deadline:
            return health
        time.sleep(2)


# Besides a node exporter per host: Prometheus itself and the registry's own metrics.
NON_NODE_TARGETS = {("prometheus", GALAXY), ("registry", REGISTRY)}


def _until_targets(expected: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Prometheus' targets once they are `expected`, all up (a reload applies a new host's within
    a scrape or two), or as they are after two minutes."""
    deadline = time.monotonic() + 120
    while True:
        health = _prometheus_targets()
        if (set(health) == expected and set(health.values()) == {"up"}) or time.monotonic() > deadline:
            return health
        time.sleep(2)


def test_prometheus_scrapes_every_host_and_all_are_up(cold_up):
    summary = _flat(cold_up[cold_up.rindex("Print the VRE's address") :])
    hosts = _containers()
    port = CLUSTER_DEFAULTS["vre_prometheus_port"]
    expected = {("node", h) for h in hosts} | NON_NODE_TARGETS
    line = summary[summary.rfind("monitoring ") :][:400]
    assert (
        f"monitoring OK Prometheus http://{_address(GALAXY)}:{port} on {GALAXY} (cluster network "
        f"only): {len(expected)}/{len(expected)} targets up" in summary
    ), line
    assert _until_targets(expected) == dict.fromkeys(expected, "up")


def _only_nfs_export_changed(out: str, new_host: str | None) -> None:
    changed = changed_tasks(out)
    others = {h: t for h, t in changed.items() if h != new_host}
    assert set(others) <= {GALAXY, MASTER, SLAVE}, (
        f"hosts other than the NFS server and Slurm's changed: {others}"
    )
    stray = {
        h: [
            t
            for t in tasks
            if not (h == GALAXY and (t.startswith("nfs_server : ") or t in PROMETHEUS_TARGETS))
            and t not in SLURM_NODE_LIST
        ]
        for h, tasks in others.items()
    }
    assert all(not s for s in stray.values()), f"more changed than the export and Slurm's node list: {stray}"


def test_adding_a_slave_adds_exactly_that_host(cold_up, specs):
    before = caches.fetched()
    out = _vre("up", str(specs[2]), name="up-scale-out")
    if not CACHES_OFF:
        # The first slave's packages were fetched already: the new one's all come from the cache.
        assert _served_since(before, _address(NEW_SLAVE)), "apt-cacher-ng served the new slave nothing"
        fetched = {
            p: n for p, n in caches.fetched()["debs_fetched"].items() if n > before["debs_fetched"].get(p, 0)
        }
        assert fetched == {}, f"the new slave's .debs were fetched from the internet: {fetched}"
    assert NEW_SLAVE in _containers()
    r = recap(out)
    assert r[NEW_SLAVE]["changed"] > 0 and r[NEW_SLAVE]["failed"] == 0
    _only_nfs_export_changed(out, NEW_SLAVE)
    # The new slave reads the share over NFS: the export admits it.
    n = len(_nfs_clients())
    assert NEW_SLAVE in _nfs_clients()
    assert f"{n}/{n} clients read it over NFS" in _flat(out)
    # Prometheus scrapes the new host's node exporter too.
    expected = {("node", h) for h in _containers()} | NON_NODE_TARGETS
    assert ("node", NEW_SLAVE) in expected
    assert _until_targets(expected) == dict.fromkeys(expected, "up")


def test_removing_a_slave_drains_and_removes_it(specs):
    out = _vre("up", str(specs[1]), name="up-scale-in")
    assert f"draining the hosts no longer in {specs[1]}: {NEW_SLAVE}" in out
    assert "nothing to drain" in out  # no-binary mode says what draining did
    assert NEW_SLAVE not in _containers()
    assert _volumes(f"name={NEW_SLAVE}-") == []
    # The leaving slave's own changes are its drain (Slurm's node set to drain, slurmd stopped).
    _only_nfs_export_changed(out, NEW_SLAVE)
    n = len(_nfs_clients())
    assert f"{n}/{n} clients read it over NFS" in _flat(out)
    # And Prometheus no longer has it as a target.
    expected = {("node", h) for h in _containers()} | NON_NODE_TARGETS
    assert ("node", NEW_SLAVE) not in expected
    assert _until_targets(expected) == dict.fromkeys(expected, "up")


def test_down_removes_everything_it_created(specs):
    _vre("down", str(specs[1]), name="down")
    assert _containers() == []
    assert _volumes(f"label=vre.cluster={CLUSTER}") == []
    assert not (ROOT / ".vre" / f"{CLUSTER}-secrets.yml").exists()
