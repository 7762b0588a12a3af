"""Behaviour of the monitoring layer: Prometheus on mon-1 scraping both hosts' node exporters.

Asked through Prometheus' own HTTP API from mon-1 (python3's urllib on the host). A target that
stops answering goes down and its alert fires; a VRE unit that fails fires VreServiceFailed; both
are put back (finally blocks). States are polled for a bounded time (WAIT), never slept on.
"""

import json
import shlex
import time

import pytest
from vre_testinfra import CLUSTER_DEFAULTS, host

PROMETHEUS_PORT = CLUSTER_DEFAULTS["vre_prometheus_port"]
EXPORTER_PORT = CLUSTER_DEFAULTS["vre_node_exporter_port"]
WAIT = 90  # seconds: scrapes every 2 s, alerts after 4 s (molecule.yml)

testinfra_hosts = ["ansible://mon-1"]

# GET a URL on the host and print {"status": ..., "body": ...}; a refused connection is status 0.
_GET = """
import json, sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
except OSError as e:
    print(json.dumps({"status": 0, "body": str(e)}))
"""


@pytest.fixture(scope="module")
def hosts():
    return {name: host(name) for name in ("mon-1", "mon-2")}


@pytest.fixture(scope="module")
def addresses(hosts):
    facts = {
        name: h.ansible("setup", "gather_subset=network", check=False)["ansible_facts"]
        for name, h in hosts.items()
    }
    return {name: f["ansible_default_ipv4"]["address"] for name, f in facts.items()}


def _get(h, url):
    return json.loads(h.check_output(f"python3 -c {shlex.quote(_GET)} {shlex.quote(url)}"))


def _api(hosts, addresses, path):
    answer = _get(hosts["mon-1"], f"http://{addresses['mon-1']}:{PROMETHEUS_PORT}/api/v1/{path}")
    assert answer["status"] == 200, answer
    return json.loads(answer["body"])["data"]


def _until(what, check):
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT} s: {what}")
        time.sleep(1)


def _health(hosts, addresses):
    return {
        (t["labels"]["job"], t["labels"]["host"]): t["health"]
        for t in _api(hosts, addresses, "targets?state=active")["activeTargets"]
    }


def _alerts(hosts, addresses, name):
    return [a for a in _api(hosts, addresses, "alerts")["alerts"] if a["labels"]["alertname"] == name]


def test_each_exporter_serves_on_the_cluster_address_only(hosts, addresses):
    for name, h in hosts.items():
        assert _get(h, f"http://{addresses[name]}:{EXPORTER_PORT}/metrics")["status"] == 200
        assert _get(h, f"http://127.0.0.1:{EXPORTER_PORT}/metrics")["status"] == 0, name
    assert _get(hosts["mon-1"], f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready")["status"] == 0


def test_every_target_is_up(hosts, addresses):
    expected = {("prometheus", "mon-1"), ("node", "mon-1"), ("node", "mon-2")}

    def all_up():
        health = _health(hosts, addresses)
        return health if set(health.values()) == {"up"} else None

    assert set(_until("every target up", all_up)) == expected


def test_the_exporters_report_the_vre_units_states(hosts, addresses):
    result = _until(
        "prometheus.service active in node_systemd_unit_state",
        lambda: _api(
            hosts, addresses, 'query?query=node_systemd_unit_state{name="prometheus.service",state="active"}'
        )["result"],
    )
    assert [(r["metric"]["host"], r["value"][1]) for r in result] == [("mon-1", "1")]


def test_the_vre_rules_are_loaded(hosts, addresses):
    groups = _api(hosts, addresses, "rules")["groups"]
    assert [r["name"] for g in groups if g["name"] == "vre" for r in g["rules"]] == [
        "VreTargetDown",
        "VreServiceFailed",
    ]


def test_a_stopped_exporter_is_down_and_its_alert_fires(hosts, addresses):
    mon2 = hosts["mon-2"]
    try:
        mon2.check_output("systemctl stop prometheus-node-exporter")
        _until("mon-2's exporter down", lambda: _health(hosts, addresses)[("node", "mon-2")] == "down")
        firing = _until(
            "VreTargetDown firing for mon-2",
            lambda: [a for a in _alerts(hosts, addresses, "VreTargetDown") if a["state"] == "firing"],
        )
        assert [a["labels"]["host"] for a in firing] == ["mon-2"]
    finally:
        mon2.check_output("systemctl start prometheus-node-exporter")
    _until("mon-2's exporter up again", lambda: _health(hosts, addresses)[("node", "mon-2")] == "up")
    _until("VreTargetDown resolved", lambda: not _alerts(hosts, addresses, "VreTargetDown"))


def test_a_failed_vre_service_fires_its_alert(hosts, addresses):
    """A unit named like a VRE service (chronos, absent on these hosts) that fails on mon-2."""
    mon2 = hosts["mon-2"]
    unit = "/etc/systemd/system/chronos.service"
    try:
        mon2.check_output(
            f"printf '[Service]\\nExecStart=/bin/false\\n' > {unit} && systemctl daemon-reload"
            " && (systemctl start chronos || true)"
        )
        firing = _until(
            "VreServiceFailed firing for chronos on mon-2",
            lambda: [a for a in _alerts(hosts, addresses, "VreServiceFailed") if a["state"] == "firing"],
        )
        assert [(a["labels"]["host"], a["labels"]["name"]) for a in firing] == [("mon-2", "chronos.service")]
    finally:
        mon2.check_output(f"rm -f {unit} && systemctl daemon-reload && systemctl reset-failed")
    _until("VreServiceFailed resolved", lambda: not _alerts(hosts, addresses, "VreServiceFailed"))
