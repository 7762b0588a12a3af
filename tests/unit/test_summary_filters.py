"""The summary's filters (filter_plugins/summary.py): the smoke jobs' outcomes and lines, fed what
the looped uri tasks of roles/vre_summary/tasks/smoke_*.yml register, and the whole report built
from what each probe (roles/vre_summary/tasks/probes/) registers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("summary_filters", ROOT / "filter_plugins" / "summary.py")
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)

TOOLS = ["vre_line_count", "vre_line_count_slurm"]
RUNS = [{"item": tool, "json": {"outputs": [{"id": f"o-{tool}"}]}} for tool in TOOLS]
OUTPUTS = [{"item": run, "json": {"state": "ok"}} for run in RUNS]
RESULTS = [{"item": out, "content": "3\n"} for out in OUTPUTS]
DESTINATIONS = [
    {"item": RUNS[0], "json": {"Runner": "kubernetes://", "Runner Job ID": "gxy-galaxy-abc12"}},
    {"item": RUNS[1], "json": {"Runner": "slurm://", "Runner Job ID": "17"}},
]
EVENTS = json.dumps(
    {
        "items": [
            {
                "involvedObject": {"name": "gxy-other-x1"},
                "message": "Successfully assigned galaxy/x to elsewhere",
            },
            {
                "involvedObject": {"name": "gxy-galaxy-abc12-q9z"},
                "message": "Successfully assigned galaxy/gxy-galaxy-abc12-q9z to vre-kube-nodes-1",
            },
        ]
    }
)
SLURM = "JobId=17 JobName=g1 UserId=galaxy(1450) JobState=COMPLETED NodeList=vre-mesos-slaves-1 BatchHost=x"


def test_outcomes_name_each_jobs_runner_and_node():
    out = summary.vre_smoke_outcomes(TOOLS, "ok", OUTPUTS, RESULTS, DESTINATIONS, EVENTS, SLURM)
    assert out["vre_line_count"] == {
        "input": "ok",
        "output": "ok",
        "result": "3",
        "runner": "kubernetes",
        "node": "vre-kube-nodes-1",
    }
    assert out["vre_line_count_slurm"]["runner"] == "slurm"
    assert out["vre_line_count_slurm"]["node"] == "vre-mesos-slaves-1"
    lines = summary.vre_smoke_lines(out, "10.0.0.5:5000", "vre-galaxy-1")
    assert lines == [
        "jobs        OK   vre_line_count ran as a Kubernetes pod on vre-kube-nodes-1 in "
        "10.0.0.5:5000/vre/busybox (pulled from the private registry): 3 lines, dataset ok",
        "jobs        OK   vre_line_count_slurm ran through Slurm on vre-mesos-slaves-1 in "
        "10.0.0.5:5000/vre/busybox (pulled from the private registry): 3 lines, dataset ok",
    ]


def test_a_job_without_a_node_record_or_a_wrong_result_fails():
    out = summary.vre_smoke_outcomes(
        TOOLS, "ok", OUTPUTS, RESULTS, DESTINATIONS, "", "JobId=17 NodeList=(null)"
    )
    lines = summary.vre_smoke_lines(out, "r:5000", "g")
    assert all(" FAIL the smoke job " in line and "no record names its node" in line for line in lines)
    wrong = [{"item": OUTPUTS[0], "content": "2"}]
    out = summary.vre_smoke_outcomes(TOOLS[:1], "ok", OUTPUTS, wrong, DESTINATIONS, EVENTS, "")
    (line,) = summary.vre_smoke_lines(out, "r:5000", "g")
    assert 'FAIL the smoke job vre_line_count: upload ok, output ok, result "2", runner kubernetes' in line


def test_a_job_on_the_galaxy_host_and_a_job_not_run():
    local = [{"item": RUNS[0], "json": {"Runner": "local://", "Runner Job ID": "9"}}]
    out = summary.vre_smoke_outcomes(TOOLS, "ok", OUTPUTS[:1], RESULTS[:1], local)
    lines = summary.vre_smoke_lines(out, "r:5000", "vre-galaxy-1")
    assert lines[0].startswith(
        "jobs        OK   vre_line_count ran on vre-galaxy-1 (local runner) in r:5000/"
    )
    assert (
        lines[1] == "jobs        FAIL the smoke job vre_line_count_slurm: "
        'upload ok, output not run, result "", runner ?'
    )


# -- the report --------------------------------------------------------------------------------------
GROUPS = {
    "all": ["g1", "reg1", "m1", "s1", "cp1", "n1"],
    "galaxy": ["g1"],
    "registry": ["reg1"],
    "nfs_server": ["reg1"],
    "nfs_clients": ["g1", "s1", "n1"],
    "mesos_masters": ["m1"],
    "mesos_slaves": ["s1"],
    "chronos": ["m1"],
    "kube_control_plane": ["cp1"],
    "kube_nodes": ["n1"],
    "slurm_controller": ["m1"],
    "slurm_workers": ["s1"],
}
ADDRESSES = {"g1": "10.0.0.2", "reg1": "10.0.0.3"}


def _ready(name):
    return {
        "metadata": {"name": name},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.35.4"},
        },
    }


def _healthy():
    smoke = summary.vre_smoke_outcomes(TOOLS, "ok", OUTPUTS, RESULTS, DESTINATIONS, EVENTS, SLURM)
    return {
        "g1": {
            "vre_summary_galaxy": {"status": 200, "json": {"version_major": "26.1"}},
            "vre_summary_postgresql": {"rc": 0},
            "vre_summary_docker": {"rc": 0},
            "vre_summary_nfs_client": {"rc": 0},
            "vre_summary_smoke": {"ran": True, "jobs": smoke},
        },
        "reg1": {
            "nfs_server_implementation": "ganesha",
            "vre_summary_nfs": {"status": {"ActiveState": "active"}},
            "vre_summary_registry": {"status": 200, "json": {"repositories": ["vre/busybox"]}},
        },
        "m1": {
            "mesos_install_binaries": False,
            "vre_summary_zookeeper": {"stdout": "standalone"},
            "vre_summary_slurm": {"rc": 0, "stdout_lines": ["s1 idle"]},
        },
        "s1": {
            "mesos_install_binaries": False,
            "vre_summary_docker": {"rc": 0},
            "vre_summary_nfs_client": {"rc": 0},
        },
        "cp1": {"vre_summary_kube_nodes": {"stdout": json.dumps({"items": [_ready("cp1"), _ready("n1")]})}},
        "n1": {"vre_summary_nfs_client": {"rc": 0}},
    }


def _report(hostvars, groups=GROUPS):
    return summary.vre_summary_lines(groups, hostvars, ADDRESSES, "10.0.0.3:5000", 5000, "/srv/vre")


def test_report_of_a_healthy_vre_has_every_line_in_order():
    lines = _report(_healthy())
    assert [line.split()[0] for line in lines] == [
        "Galaxy:", "galaxy", "jobs", "jobs", "postgresql", "nfs", "registry", "docker", "zookeeper", "mesos",
        "kubernetes", "slurm",
    ]  # fmt: skip
    assert lines[0] == (
        "Galaxy:     https://10.0.0.2/ (host g1); admin API key in /root/galaxy-admin-api-key on g1 "
        "(root only); TLS CA in /etc/galaxy/tls/ca.crt there"
    )
    assert "galaxy      OK   1/1 answer /api/version over TLS (version 26.1)" in lines
    assert "postgresql  OK   accepting connections on g1" in lines
    assert "nfs         OK   reg1 serves /srv/vre/galaxy (ganesha); 3/3 clients read it over NFS" in lines
    assert (
        "registry    OK   https://10.0.0.3:5000 answers the pull account; repositories: vre/busybox" in lines
    )
    assert "docker      OK   engines answer on s1, g1" in lines
    assert "zookeeper   OK   1 member(s) answer, modes: standalone" in lines
    assert lines[9].startswith("mesos       NO-BINARY MODE: users, flags, credentials and units on m1, s1;")
    assert "kubernetes  OK   2/2 nodes Ready (v1.35.4): cp1, n1" in lines
    assert "slurm       OK   1/1 nodes up, controller m1: s1 (idle)" in lines
    assert not [line for line in lines if " FAIL " in f" {line} "]


def test_report_names_what_failed():
    hv = _healthy()
    hv["g1"]["vre_summary_galaxy"] = {"status": -1}
    hv["g1"]["vre_summary_postgresql"] = {"rc": 2}
    hv["reg1"]["vre_summary_nfs"] = {"status": {"ActiveState": "failed"}}
    del hv["reg1"]["vre_summary_registry"]  # the probe never ran: unreached host
    hv["s1"]["vre_summary_docker"] = {"rc": 1}
    hv["m1"]["vre_summary_zookeeper"] = {"stdout": ""}
    hv["m1"]["vre_summary_slurm"]["stdout_lines"] = ["s1 down*"]
    hv["cp1"]["vre_summary_kube_nodes"]["stdout"] = json.dumps(
        {"items": [_ready("cp1"), {"metadata": {"name": "n1"}}]}
    )
    lines = _report(hv)
    assert "galaxy      FAIL /api/version answered on 0 of g1" in lines
    assert "postgresql  FAIL pg_isready refused" in lines
    assert "nfs         FAIL server failed, or a client cannot read the export" in lines
    assert "registry    FAIL the registry API did not answer (no status)" in lines
    assert "docker      FAIL an engine did not answer" in lines
    assert "zookeeper   FAIL a member did not answer srvr" in lines
    assert "kubernetes  FAIL 1/2 nodes Ready (cp1, n1)" in lines
    assert "slurm       FAIL 0/1 nodes up, controller m1: s1 (down*)" in lines


def test_report_with_binaries_reads_the_health_endpoints_and_a_silent_api():
    hv = _healthy()
    for host in ("m1", "s1"):
        hv[host]["mesos_install_binaries"] = True
    hv["m1"]["vre_summary_mesos"] = {"results": [{"status": 200}, {"status": 200}]}
    assert "mesos       OK   masters and Chronos answer their health endpoints" in _report(hv)
    hv["m1"]["vre_summary_mesos"]["results"][1] = {"status": -1}
    hv["cp1"]["vre_summary_kube_nodes"] = {"rc": 1, "stdout": ""}
    hv["m1"]["vre_summary_slurm"] = {"rc": 1}
    lines = _report(hv)
    assert "mesos       FAIL a Mesos master or Chronos did not answer" in lines
    assert "kubernetes  FAIL 0/2 nodes Ready (the API did not answer)" in lines
    assert "slurm       FAIL the controller m1 did not answer sinfo" in lines


def test_report_without_kubernetes_binaries_says_so_and_without_a_layer_has_no_line():
    hv = _healthy()
    hv["cp1"] = {
        "kubernetes_install_binaries": "false",
        "vre_summary_containerd": {"status": {"ActiveState": "active"}},
    }
    hv["n1"]["vre_summary_containerd"] = {"status": {"ActiveState": "active"}}
    (line,) = [line for line in _report(hv) if line.startswith("kubernetes")]
    assert line.startswith("kubernetes  NO-BINARY MODE: containerd active on cp1, n1; kubeadm, kubelet")
    bare = {k: v for k, v in GROUPS.items() if not k.startswith(("kube", "slurm", "mesos", "chronos"))}
    services = [line.split()[0] for line in _report(hv, bare)]
    assert "kubernetes" not in services and "slurm" not in services and "mesos" not in services
    assert "zookeeper" not in services  # no zookeeper group and no Mesos masters to default to


def _targets(*healths):
    return {
        "status": 200,
        "json": {
            "data": {
                "activeTargets": [
                    {"labels": {"job": "node", "host": f"h{i}"}, "health": health}
                    for i, health in enumerate(healths)
                ]
            }
        },
    }


def test_report_has_a_monitoring_line_with_the_targets_up():
    groups = {**GROUPS, "monitoring": ["g1"]}
    url = "http://10.0.0.2:9090"
    hv = _healthy()
    hv["g1"]["vre_summary_monitoring"] = _targets("up", "up", "up")
    lines = summary.vre_summary_lines(groups, hv, ADDRESSES, "10.0.0.3:5000", 5000, "/srv/vre", url)
    assert lines[-1] == (
        "monitoring  OK   Prometheus http://10.0.0.2:9090 on g1 (cluster network only): 3/3 targets up"
    )
    hv["g1"]["vre_summary_monitoring"] = _targets("up", "down", "unknown")
    lines = summary.vre_summary_lines(groups, hv, ADDRESSES, "10.0.0.3:5000", 5000, "/srv/vre", url)
    assert lines[-1].startswith("monitoring  FAIL Prometheus http://10.0.0.2:9090 on g1")
    assert lines[-1].endswith("1/3 targets up; not up: node on h1 (down), node on h2 (unknown)")
    hv["g1"]["vre_summary_monitoring"] = _targets()
    lines = summary.vre_summary_lines(groups, hv, ADDRESSES, "10.0.0.3:5000", 5000, "/srv/vre", url)
    assert lines[-1].endswith("0/0 targets up; not up: no targets")
    hv["g1"]["vre_summary_monitoring"] = {"status": -1}
    lines = summary.vre_summary_lines(groups, hv, ADDRESSES, "10.0.0.3:5000", 5000, "/srv/vre", url)
    assert lines[-1] == "monitoring  FAIL Prometheus http://10.0.0.2:9090 on g1 did not answer"
    # Without a monitoring host, no line.
    assert not [line for line in _report(_healthy()) if line.startswith("monitoring")]
