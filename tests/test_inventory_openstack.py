"""inventories/openstack.py against the OpenStack test double (Keystone v3, Nova, Neutron, Glance
subset on loopback): what `ansible-inventory` prints, and the cluster's security group."""

from __future__ import annotations

import json
import uuid

import pytest

from vrecloud.openstack import security_group_name
from vrecloud.spec import load_spec

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

CLOUDS = ("openstack",)  # the `cloud` fixture's (tests/conftest.py)
GROUPS = {
    "mesos_masters": {"count": 1, "extra_groups": ["zookeeper"]},
    "mesos_slaves": {"count": 2, "flavor": "m1.medium", "extra_groups": ["nfs_clients"]},
    "nfs_server": {"count": 1, "disk": 40},
    "galaxy": {"count": 1, "public_ip": True},
}
RULES = [{"port": 22}, {"port": "8080-8090", "cidr": "10.0.0.0/8"}, {"protocol": "icmp"}]


def test_ansible_inventory_lists_the_cluster(cloud):
    cluster = f"os{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec).failed == {}
    proc = cloud.ansible_inventory("--list", spec=spec)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    hv = inv["_meta"]["hostvars"]
    assert sorted(hv) == sorted(n.name for n in load_spec(spec).nodes())
    assert inv["zookeeper"]["hosts"] == [f"{cluster}-mesos-masters-1"]
    assert sorted(inv["nfs_clients"]["hosts"]) == [f"{cluster}-mesos-slaves-1", f"{cluster}-mesos-slaves-2"]
    assert {"galaxy", "mesos_masters", "mesos_slaves", "nfs_server"} <= set(inv["all"]["children"])
    assert all(v["vre_provider"] == "openstack" and v["ansible_user"] == "debian" for v in hv.values())
    # The flavor was chosen as the spec says: named, or the smallest fitting cpus/ram/disk.
    flavors = {vm.name: vm.flavor_id for vm in cloud.fleet.live()}
    assert flavors[f"{cluster}-mesos-slaves-1"] == "3"  # m1.medium, named
    assert flavors[f"{cluster}-nfs-server-1"] == "3"  # 1 cpu, 1024 MiB, 40 GB disk: m1.medium
    assert flavors[f"{cluster}-galaxy-1"] == "2"  # 1 cpu, 1024 MiB: m1.small

    graph = cloud.ansible_inventory("--graph", spec=spec)
    assert graph.returncode == 0 and f"{cluster}-galaxy-1" in graph.stdout


def test_security_group_is_made_once_and_removed_by_destroy(cloud):
    cluster = f"os{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, {"galaxy": 1, "nfs_server": 1}, security_rules=RULES)
    assert cloud.provision(spec).failed == {}
    groups = [g for g in cloud.fleet.security_groups.values() if g["name"] == security_group_name(cluster)]
    assert len(groups) == 1 and groups[0]["description"] == f"vre-cluster={cluster}"
    rules = {
        (r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"], r["remote_group_id"])
        for r in cloud.fleet.sg_rules.values()
    }
    sg = groups[0]["id"]
    assert rules == {
        ("tcp", 22, 22, "0.0.0.0/0", None),
        ("tcp", 8080, 8090, "10.0.0.0/8", None),
        ("icmp", None, None, "0.0.0.0/0", None),
        ("tcp", None, None, None, sg),
        ("udp", None, None, None, sg),
        ("icmp", None, None, None, sg),
    }
    assert all(vm.security_groups == [security_group_name(cluster)] for vm in cloud.fleet.live())
    assert cloud.provision(spec).failed == {}
    assert len(cloud.fleet.sg_rules) == 6  # the rerun added nothing

    assert f"security group {security_group_name(cluster)}" in cloud.destroy(spec)
    assert cloud.fleet.security_groups == {}


def test_a_security_group_of_that_name_made_by_someone_else_is_left_alone(cloud):
    cluster = f"os{uuid.uuid4().hex[:6]}"
    cloud.fleet.security_groups["x"] = {
        "id": "x",
        "name": security_group_name(cluster),
        "description": "mine",
    }
    spec = cloud.write_spec(cluster, {"galaxy": 1}, security_rules=RULES)
    proc = cloud.cli("provision", spec=spec)
    assert proc.returncode == 1
    assert "was not made for cluster" in proc.stderr
    assert cloud.fleet.created_count == 0
    assert cloud.cli("destroy", "--yes", spec=spec).returncode == 0
    assert "x" in cloud.fleet.security_groups


def test_an_unreachable_cloud_is_a_clear_error(cloud, tmp_path):
    spec = cloud.write_spec("nowhere", {"galaxy": 1})
    cloud.env["OS_CLOUD"] = "no-such-cloud"
    proc = cloud.run("--list", spec=spec)
    assert proc.returncode == 1
    assert "cannot connect to OpenStack" in proc.stderr and "OS_CLOUD" in proc.stderr
