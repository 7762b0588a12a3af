"""Cloud API faults, injected into the HTTP test doubles of OpenStack and Synnefo at every stage of a
run (list, create, wait, delete): a passing failure (HTTP 5xx, a stall past the request timeout, a
connection closed without an answer, a failure on a later page of a list) is retried and the run
succeeds; a failure that lasts ends in one line naming the call and what to do, never a traceback,
and the next run converges. Names several resources carry are refused with their ids.

The doubles answer on loopback; `CloudHarness.api` pauses 10 ms between attempts instead of
seconds. Each test is marked `fault_case` or `bad_input`: the suite prints how many passed.
"""

from __future__ import annotations

import uuid

import pytest
import yaml

from tests.doubles.harness import CloudHarness

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

BOOT_LATENCY = 0.1  # the `cloud` fixture's (tests/conftest.py)
GROUPS = {"galaxy": {"count": 1, "public_ip": True}, "nfs_clients": 2}
HOSTS = 3
SERVERS = r"/servers/detail$"  # the server list, on both clouds
CREATE = r"/servers$"
DELETE = r"/servers/[^/]+$"


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip(), "a failure must say something"


# -- passing failures: retried, the run succeeds -------------------------------------------------

PASSING = {
    "list fails twice": dict(method="GET", path=SERVERS, status=503, times=2),
    "list answers 500 once": dict(method="GET", path=SERVERS, status=500, times=1),
    "create turned away twice": dict(method="POST", path=CREATE, status=503, times=2),
    "wait: list fails while booting": dict(method="GET", path=SERVERS, status=502, skip=1, times=3),
    "connection closed without answer": dict(method="GET", path=r"/flavors", reset=True, times=1),
    "metadata lookup of flavors stalls": dict(method="GET", path=r"/flavors", stall=1.5, times=1),
}


@pytest.mark.fault_case
@pytest.mark.parametrize("fault", PASSING.values(), ids=PASSING.keys())
def test_a_passing_failure_is_retried_and_the_run_succeeds(cloud, cluster, fault, monkeypatch):
    monkeypatch.setenv("VRE_API_TIMEOUT", "0.5")  # the stall outlasts one request's timeout
    injected = cloud.double.inject(**fault)
    result = cloud.provision(cloud.write_spec(cluster, GROUPS), timeout=20.0)
    assert result.failed == {}
    assert len(result.ready) == HOSTS
    assert injected.fired == fault.get("times", 1)
    assert len(cloud.tagged(cluster)) == HOSTS, "a retried create must not make a second server"


@pytest.mark.fault_case
def test_a_failure_on_a_later_page_of_a_list_is_retried(tmp_path, cluster):
    """openstacksdk fetches the next page of a list while it is being iterated."""
    with CloudHarness("openstack", tmp_path, boot_latency=0.1) as h:
        spec = h.write_spec(cluster, {"nfs_clients": 5})
        assert h.provision(spec, timeout=20.0).failed == {}
        h.double.page_size = 2
        later_page = h.double.inject("GET", SERVERS, status=503, times=2, query="marker")
        again = h.provision(spec, timeout=20.0)
        assert later_page.fired == 2
        assert again.failed == {} and sorted(again.reused) == h.tagged(cluster)
        assert again.created == [], "every page was read: nothing is missing"


@pytest.mark.fault_case
def test_deleting_retries_a_passing_failure(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec, timeout=20.0).failed == {}
    injected = cloud.double.inject("DELETE", DELETE, status=500, times=2)
    proc = cloud.cli("destroy", "--yes", "--poll", "0.05", spec=spec)
    assert proc.returncode == 0, proc.stderr
    assert injected.fired == 2
    assert cloud.tagged(cluster) == []


# -- lasting failures: one line, then a re-run converges -------------------------------------------

LASTING = {
    "list": (dict(method="GET", path=SERVERS, status=503, times=None), "server list"),
    "prepare stalls": (dict(method="GET", path=r"/flavors", stall=1.0, times=None), "flavor list"),
    "create": (dict(method="POST", path=CREATE, status=500, times=None), "creating"),
    "wait": (
        dict(method="GET", path=SERVERS, status=504, skip=1, times=None),
        "the server list kept failing",
    ),
}


@pytest.mark.fault_case
@pytest.mark.parametrize("fault,says", LASTING.values(), ids=LASTING.keys())
def test_a_lasting_failure_is_one_clear_line_and_the_next_run_converges(
    cloud, cluster, fault, says, monkeypatch
):
    monkeypatch.setenv("VRE_API_TIMEOUT", "0.3")
    spec = cloud.write_spec(cluster, GROUPS)
    cloud.double.inject(**fault)
    proc = cloud.cli("provision", "--poll", "0.05", "--timeout", "3", "--ssh-timeout", "3", spec=spec)
    assert proc.returncode == 1
    no_traceback(proc)
    assert says in proc.stderr
    assert "run" in proc.stderr and "again" in proc.stderr, "the message says what to do"

    cloud.double.faults.clear()
    again = cloud.cli("provision", "--poll", "0.05", "--ssh-timeout", "3", spec=spec)
    assert again.returncode == 0, again.stderr
    assert len(cloud.tagged(cluster)) == HOSTS


@pytest.mark.fault_case
def test_a_create_whose_answer_is_lost_is_found_by_the_next_run(cloud, cluster):
    """The cloud made the server but the gateway answered 504: no blind retry (it would make a
    second one); the host is reported and the next run finds the server by its tags."""
    spec = cloud.write_spec(cluster, {"nfs_clients": 2})
    lost = cloud.double.inject("POST", CREATE, status=504, answer_lost=True, times=1)
    first = cloud.provision(spec, timeout=20.0)
    assert lost.fired == 1
    assert len(first.failed) == 1
    (why,) = first.failed.values()
    assert "may or may not have been carried out" in why and "run the same command again" in why
    again = cloud.provision(spec, timeout=20.0)
    assert again.failed == {}
    assert len(again.reused) == 2 and again.created == []
    assert len(cloud.tagged(cluster)) == 2, "no duplicate server"


@pytest.mark.fault_case
def test_a_lasting_failure_while_deleting_is_reported_and_destroy_can_be_run_again(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec, timeout=20.0).failed == {}
    cloud.double.inject("DELETE", DELETE, status=503, times=None)
    proc = cloud.cli("destroy", "--yes", "--poll", "0.05", "--timeout", "1", spec=spec)
    assert proc.returncode == 1
    no_traceback(proc)
    assert "destroy did not finish; run it again" in proc.stderr and "deleting" in proc.stderr
    assert len(cloud.tagged(cluster)) == HOSTS, "nothing half-deleted behind the message"
    cloud.double.faults.clear()
    assert cloud.cli("destroy", "--yes", "--poll", "0.05", spec=spec).returncode == 0
    assert cloud.tagged(cluster) == []


@pytest.mark.fault_case
def test_a_stalled_api_ends_in_a_timeout_not_a_hang(cloud, cluster):
    """A subprocess, as an operator runs it: the default timeout comes from $VRE_API_TIMEOUT."""
    spec = cloud.write_spec(cluster, GROUPS)
    cloud.double.inject("GET", SERVERS, stall=30, times=None)
    cloud.env["VRE_API_TIMEOUT"] = "0.5"
    proc = cloud.run("--list", spec=spec, timeout=90)
    assert proc.returncode == 1
    no_traceback(proc)
    assert "server list failed 4 times" in proc.stderr
    assert proc.stderr.count("\n") <= 5, "retries are one line each, the failure one line"


# -- names several resources carry --------------------------------------------------------------


def _duplicate(h: CloudHarness, kind: str) -> tuple[str, list[str]]:
    """Give a second resource of `kind` the name the spec uses; (name, both ids)."""
    f = h.fleet
    if kind == "image":
        name = f.images[0]["name"]
        f.images.append({"id": str(uuid.uuid4()), "name": name})
        return name, [i["id"] for i in f.images if i["name"] == name]
    if kind == "flavor":
        name = f.flavors[1]["name"]
        f.flavors.append(dict(f.flavors[1], id="99"))
        return name, [str(x["id"]) for x in f.flavors if x["name"] == name]
    f.add_network("vre-net", external=False)
    return "vre-net", [str(n["id"]) for n in f.networks.values() if n["name"] == "vre-net"]


@pytest.mark.bad_input
@pytest.mark.parametrize("kind", ["image", "flavor", "network"])
def test_a_name_several_resources_carry_is_refused_with_their_ids(cloud, cluster, kind):
    name, ids = _duplicate(cloud, kind)
    assert len(ids) == 2
    group = {"count": 1, kind: name} if kind != "network" else {"count": 1}
    spec = cloud.write_spec(cluster, {"nfs_clients": group})
    made = cloud.fleet.created_count
    proc = cloud.cli("provision", spec=spec)
    assert proc.returncode == 1
    no_traceback(proc)
    assert "nothing was created" in proc.stderr
    for i in ids:
        assert i in proc.stderr, f"the message names every {kind} id"
    assert f"'{kind}'" in proc.stderr, "the message names the spec's key"
    assert cloud.fleet.created_count == made


@pytest.mark.bad_input
def test_without_a_network_the_only_internal_one_is_taken_or_the_choice_is_refused(tmp_path, cluster):
    with CloudHarness("openstack", tmp_path, boot_latency=0.1) as h:
        path = h.workdir / "no-net.yml"
        data = h.spec_data(cluster, {"nfs_clients": 1})
        del data["network"]
        path.write_text(yaml.safe_dump(data))
        result = h.provision(path, timeout=20.0)
        assert result.failed == {}
        (vm,) = [vm for vm in h.fleet.live() if vm.name in result.ready]
        nets = [p["network_id"] for p in h.fleet.ports.values() if p["device_id"] == vm.id]
        assert nets == [h.double.private_net["id"]]

        other = h.fleet.add_network("lab-net", external=False)
        made = h.fleet.created_count
        data["cluster"] = cluster + "b"
        path.write_text(yaml.safe_dump(data))
        proc = h.cli("provision", spec=path)
        assert proc.returncode == 1
        no_traceback(proc)
        assert "name the one for the cluster in 'network'" in proc.stderr
        assert other["id"] in proc.stderr and h.double.private_net["id"] in proc.stderr
        assert h.fleet.created_count == made


FLOATING_IPS = r"/floatingips$"


@pytest.mark.fault_case
def test_a_floating_ip_whose_answer_is_lost_is_not_leaked(cloud, cluster):
    """The cloud reserved the floating IP but the gateway answered 504. OpenStack's carry the
    cluster's description: the next run finds it. Cyclades' carry nothing to find them by, so the
    same run takes the one free address that appeared in the pool. Either way one address is
    attached, and destroy releases it: nothing is left reserved and unattached."""
    spec = cloud.write_spec(cluster, {"galaxy": {"count": 1, "public_ip": True}})
    lost = cloud.double.inject("POST", FLOATING_IPS, status=504, answer_lost=True, times=1)
    result = cloud.provision(spec, timeout=20.0)
    assert lost.fired == 1
    if cloud.name == "openstack":
        (why,) = result.failed.values()
        assert "may or may not have been carried out" in why
        result = cloud.provision(spec, timeout=20.0)
    assert result.failed == {}
    fips = list(cloud.fleet.floating_ips.values())
    assert len(fips) == 1 and fips[0]["port_id"], f"one floating IP, attached: {fips}"
    assert cloud.cli("destroy", "--yes", "--poll", "0.05", spec=spec).returncode == 0
    assert cloud.fleet.floating_ips == {}, "destroy released every floating IP the run reserved"


@pytest.mark.fault_case
def test_okeanos_does_not_guess_between_two_new_floating_ips(tmp_path, cluster, monkeypatch):
    """Another client reserved one at the same moment: which is ours is not guessed."""
    with CloudHarness("okeanos", tmp_path, boot_latency=0.1) as h:
        spec = h.write_spec(cluster, {"galaxy": {"count": 1, "public_ip": True}})
        allocate = h.fleet.allocate_ip

        def two_at_once(*args, **kwargs):
            allocate(*args, **kwargs)  # the other client's
            return allocate(*args, **kwargs)

        monkeypatch.setattr(h.fleet, "allocate_ip", two_at_once)
        h.double.inject("POST", FLOATING_IPS, status=504, answer_lost=True, times=1)
        result = h.provision(spec, timeout=20.0)
        (why,) = result.failed.values()
        assert "Several free floating IPs appeared meanwhile" in why
        for fip in h.fleet.floating_ips.values():
            assert fip["address"] in why and fip["id"] in why
