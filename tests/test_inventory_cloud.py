"""Provisioning, listing and destroying a cluster on both clouds, against the HTTP test doubles of
OpenStack (Keystone, Nova, Neutron, Glance) and Synnefo (Astakos, Cyclades), started on loopback.

Each fault the issue names is here: quota exceeded, a VM that goes to ERROR, a timeout, a
half-finished earlier run; each gives a clear message and the next run completes the cluster.
Nothing outside the cluster is touched. The doubles boot VMs after 0.2 s and open an SSH-like
listener per VM, so waiting for ACTIVE and for SSH happens for real over HTTP and TCP.
"""

from __future__ import annotations

import json
import time

import pytest

from vrecloud import provision as core
from vrecloud.spec import load_spec, validate_for_cloud

# openstacksdk warns about its own internals (pending removals) on every call.
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning:openstack")

GROUPS = {
    "nfs_server": 1,
    "galaxy": {"count": 1, "public_ip": True, "extra_groups": ["nfs_clients"]},
    "nfs_clients": 2,
}
NAMES = ["{c}-galaxy-1", "{c}-nfs-clients-1", "{c}-nfs-clients-2", "{c}-nfs-server-1"]


def names(cluster: str) -> list[str]:
    return [n.format(c=cluster) for n in NAMES]


def test_provision_from_nothing_then_a_rerun_changes_nothing(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS)
    first = cloud.provision(spec)
    assert first.failed == {}
    assert sorted(first.created) == sorted(first.ready) == names(cluster)
    galaxy = first.ready[f"{cluster}-galaxy-1"]
    assert galaxy.public_address and galaxy.public_address != galaxy.private_address
    assert first.public_ips == {f"{cluster}-galaxy-1": galaxy.public_address}
    assert first.changed
    made = cloud.fleet.created_count

    again = cloud.provision(spec)
    assert again.failed == {} and not again.changed
    assert again.created == [] and again.reused == names(cluster)
    assert cloud.fleet.created_count == made
    assert len(cloud.fleet.floating_ips) == 1


def test_provisioning_is_parallel(cloud, cluster):
    """Eight VMs booting 0.5 s each are ready in about one boot time, not eight."""
    cloud.fleet.boot_latency = 0.5
    spec = cloud.write_spec(cluster, {"nfs_clients": 8})
    start = time.monotonic()
    result = cloud.provision(spec)
    elapsed = time.monotonic() - start
    assert result.failed == {} and len(result.ready) == 8
    assert elapsed < 8 * 0.5 / 2, f"took {elapsed:.2f}s"


def test_list_reads_only_and_maps_groups_and_hostvars(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS, ssh_user="researcher")
    empty = cloud.run("--list", spec=spec)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["_meta"]["hostvars"] == {}
    assert cloud.provision(spec).failed == {}

    before = len(cloud.double.log)
    listed = cloud.run("--list", spec=spec)
    assert listed.returncode == 0, listed.stderr
    calls = cloud.double.log[before:]
    # No side effects: apart from authenticating, every request of --list is a GET.
    assert [c for c in calls if c[0] != "GET" and not c[1].endswith("/tokens")] == []
    inv = json.loads(listed.stdout)
    assert inv["nfs_server"]["hosts"] == [f"{cluster}-nfs-server-1"]
    assert inv["nfs_clients"]["hosts"] == [
        f"{cluster}-galaxy-1",
        f"{cluster}-nfs-clients-1",
        f"{cluster}-nfs-clients-2",
    ]
    hv = inv["_meta"]["hostvars"][f"{cluster}-galaxy-1"]
    assert hv["ansible_user"] == "researcher"
    assert hv["vre_provider"] == cloud.name
    assert hv["ansible_host"] == hv["vre_public_address"] != hv["vre_private_address"]
    assert hv["ansible_port"] == cloud.double.ssh_port
    worker = inv["_meta"]["hostvars"][f"{cluster}-nfs-clients-1"]
    assert worker["ansible_host"] == worker["vre_private_address"]
    assert "vre_public_address" not in worker

    one = cloud.run("--host", f"{cluster}-galaxy-1", spec=spec)
    assert json.loads(one.stdout) == hv


def test_half_finished_earlier_run_is_completed(cloud, cluster):
    """Left by an interrupted run: one server in ERROR, one still booting, one ACTIVE, one
    missing. The next run replaces the failed one, waits for the booting one, reuses the active
    one and creates the missing one."""
    spec_path = cloud.write_spec(cluster, GROUPS)
    spec = validate_for_cloud(load_spec(spec_path), cloud.name)
    nodes = {n.name: n for n in spec.nodes()}
    f = cloud.fleet
    flavor, image = str(f.flavors[0]["id"]), f.images[0]["id"]
    net = cloud.double.private_net["id"]

    def leftover(name: str):
        meta = core.node_metadata(cluster, nodes[name])
        return f.create_server(name, flavor, image, key_name="vre-key", metadata=meta, network_ids=[net])

    failed = leftover(f"{cluster}-nfs-server-1")
    failed.status, failed.fault = "ERROR", "Build of instance aborted: disk full"
    booting = leftover(f"{cluster}-nfs-clients-1")
    booting.ready_at = time.monotonic() + 0.5
    active = leftover(f"{cluster}-nfs-clients-2")
    active.ready_at = 0

    result = cloud.provision(spec_path)
    assert result.failed == {}
    assert result.replaced == [failed.name]
    assert failed.id not in f.vms
    assert sorted(result.created) == [f"{cluster}-galaxy-1", failed.name]
    assert result.reused == [booting.name, active.name]
    assert sorted(result.ready) == names(cluster)


def test_duplicate_servers_of_a_node_are_reduced_to_one(cloud, cluster):
    """Two concurrent runs can both create a node's server: the next run keeps one."""
    spec = cloud.write_spec(cluster, {"galaxy": 1})
    assert cloud.provision(spec).failed == {}
    f = cloud.fleet
    name = f"{cluster}-galaxy-1"
    meta = {core.TAG_CLUSTER: cluster, core.TAG_GROUPS: "galaxy"}
    twin = f.create_server(
        name,
        str(f.flavors[0]["id"]),
        f.images[0]["id"],
        metadata=meta,
        network_ids=[cloud.double.private_net["id"]],
    )
    result = cloud.provision(spec)
    assert result.failed == {} and result.deleted == [name] and result.created == []
    assert cloud.tagged(cluster) == [name]
    assert twin.id not in f.vms  # the older, ACTIVE one was kept; the BUILD twin went


def test_quota_exceeded_is_reported_and_the_next_run_completes(cloud, cluster):
    cloud.fleet.max_instances = 2
    spec = cloud.write_spec(cluster, GROUPS)
    proc = cloud.cli("provision", "--poll", "0.05", spec=spec)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert len(report["ready"]) == 2 and len(report["failed"]) == 2
    assert all("quota exceeded" in why.lower() for why in report["failed"].values())
    assert "Raise the quota" in proc.stderr
    assert len(cloud.tagged(cluster)) == 2  # what was made is kept, tagged, and reused next time

    cloud.fleet.max_instances = 10
    again = cloud.provision(spec)
    assert again.failed == {}
    assert len(again.reused) == 2 and len(again.created) == 2
    assert cloud.tagged(cluster) == names(cluster)


def test_floating_ip_quota_is_reported_and_the_next_run_attaches_it(cloud, cluster):
    cloud.fleet.max_floating_ips = 0
    spec = cloud.write_spec(cluster, GROUPS)
    first = cloud.provision(spec)
    assert list(first.failed) == [f"{cluster}-galaxy-1"]
    assert "quota exceeded" in first.failed[f"{cluster}-galaxy-1"].lower()
    cloud.fleet.max_floating_ips = 5
    again = cloud.provision(spec)
    assert again.failed == {} and list(again.public_ips) == [f"{cluster}-galaxy-1"]
    assert again.created == []


def test_vm_that_goes_to_error_is_deleted_and_recreated_next_run(cloud, cluster):
    bad = f"{cluster}-nfs-server-1"
    cloud.fleet.boot_errors.add(bad)
    spec = cloud.write_spec(cluster, GROUPS)
    first = cloud.provision(spec)
    assert list(first.failed) == [bad]
    assert "went to ERROR" in first.failed[bad] and "was deleted" in first.failed[bad]
    if cloud.name == "openstack":  # Nova's fault message; Cyclades' diagnostics carry the same
        assert "No valid host" in first.failed[bad]
    time.sleep(0.2)
    assert bad not in cloud.tagged(cluster)

    cloud.fleet.boot_errors.clear()
    again = cloud.provision(spec)
    assert again.failed == {} and again.created == [bad]


def test_timeout_leaves_the_vm_and_the_next_run_waits_for_it(cloud, cluster):
    slow = f"{cluster}-nfs-clients-2"
    cloud.fleet.never_active.add(slow)
    spec = cloud.write_spec(cluster, GROUPS)
    first = cloud.provision(spec, timeout=0.8)
    assert list(first.failed) == [slow]
    assert "still BUILD after" in first.failed[slow] and "run provision again" in first.failed[slow]
    assert slow in cloud.tagged(cluster)

    cloud.fleet.never_active.clear()
    again = cloud.provision(spec)
    assert again.failed == {} and again.created == [] and slow in again.reused


def test_ssh_that_never_answers_is_a_clear_failure(cloud, cluster):
    mute = f"{cluster}-nfs-clients-1"
    cloud.fleet.no_ssh.add(mute)
    result = cloud.provision(cloud.write_spec(cluster, GROUPS), ssh_timeout=0.5)
    assert list(result.failed) == [mute]
    assert "no SSH answer on" in result.failed[mute] and "the server is kept" in result.failed[mute]


def test_hosts_behind_the_jump_host_are_listed_with_proxyjump(cloud, cluster):
    """With ssh_via, SSH is checked on the public host only (the controller cannot reach private
    addresses); the others are reported as unchecked and listed with a ProxyJump through it."""
    for name in names(cluster):
        if "galaxy" not in name:
            cloud.fleet.no_ssh.add(name)  # whatever listens on private addresses is not checked
    spec = cloud.write_spec(cluster, GROUPS, ssh_via="galaxy")
    result = cloud.provision(spec, ssh_timeout=0.5)
    assert result.failed == {}
    assert sorted(result.ready) == names(cluster)
    assert result.ssh_unchecked == [n for n in names(cluster) if "galaxy" not in n]
    hv = json.loads(cloud.cli("--list", spec=spec).stdout)["_meta"]["hostvars"]
    public = hv[f"{cluster}-galaxy-1"]["vre_public_address"]
    jump = f"-o ProxyJump=debian@{public}:{cloud.double.ssh_port}"
    assert all(hv[n]["ansible_ssh_common_args"] == jump for n in result.ssh_unchecked)


def test_destroy_removes_exactly_the_cluster(cloud, cluster):
    f = cloud.fleet
    flavor, image = str(f.flavors[0]["id"]), f.images[0]["id"]
    net = cloud.double.private_net["id"]
    # Same names, no tag; another cluster's server; an address someone else reserved.
    foreign = f.create_server(f"{cluster}-galaxy-1", flavor, image, network_ids=[net])
    other_tag = {core.TAG_CLUSTER: f"{cluster}x"}
    other = f.create_server(f"{cluster}x-galaxy-1", flavor, image, metadata=other_tag, network_ids=[net])
    foreign_ip = f.allocate_ip(cloud.double.public_net["id"], "someone else's")
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec).failed == {}
    assert len(f.floating_ips) == 2

    removed = cloud.destroy(spec)
    assert [r for r in removed if r.startswith("server")] == [f"server {n}" for n in names(cluster)]
    assert any(r.startswith("floating IP") for r in removed)
    assert cloud.tagged(cluster) == []
    assert {vm.id for vm in f.live()} == {foreign.id, other.id}
    assert list(f.floating_ips) == [foreign_ip["id"]]
    again = cloud.cli("destroy", "--yes", "--poll", "0.05", spec=spec)
    assert json.loads(again.stdout) == {"cluster": cluster, "changed": False, "removed": []}


def test_destroy_wants_yes(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec).failed == {}
    proc = cloud.cli("destroy", spec=spec)
    assert proc.returncode == 2 and "--yes" in proc.stderr
    assert cloud.tagged(cluster) == names(cluster)


def test_changed_groups_are_retagged(cloud, cluster):
    spec = cloud.write_spec(cluster, {"galaxy": 1})
    assert cloud.provision(spec).failed == {}
    spec = cloud.write_spec(cluster, {"galaxy": {"count": 1, "extra_groups": ["nfs_clients"]}})
    result = cloud.provision(spec)
    assert result.retagged == [f"{cluster}-galaxy-1"] and result.created == []
    inv = json.loads(cloud.cli("--list", spec=spec).stdout)
    assert inv["nfs_clients"]["hosts"] == [f"{cluster}-galaxy-1"]


def test_lower_count_reports_surplus_and_keeps_it(cloud, cluster):
    assert cloud.provision(cloud.write_spec(cluster, {"nfs_clients": 2})).failed == {}
    result = cloud.provision(cloud.write_spec(cluster, {"nfs_clients": 1}))
    assert result.surplus == [f"{cluster}-nfs-clients-2"]
    assert len(cloud.tagged(cluster)) == 2


def test_what_the_cloud_lacks_is_reported_before_anything_is_created(cloud, cluster):
    spec = cloud.write_spec(
        cluster,
        {
            "galaxy": {"count": 1, "flavor": "no-such-flavor"},
            "nfs_server": {"count": 1, "image": "no-such-image"},
        },
        ssh_key="no-such-key",
    )
    proc = cloud.cli("provision", spec=spec)
    assert proc.returncode == 1
    for fragment in (
        "nothing was created",
        "'no-such-key' not found",
        "flavor 'no-such-flavor' not found",
        "image 'no-such-image' not found",
    ):
        assert fragment in proc.stderr
    assert cloud.fleet.created_count == 0


def test_an_invalid_spec_is_refused_before_calling_the_cloud(cloud, cluster):
    spec = cloud.write_spec(cluster, {"galaxy": {"count": 1}}, defaults={"image": "x"})
    proc = cloud.cli("provision", spec=spec)
    assert proc.returncode == 1
    assert "groups.galaxy: flavor missing" in proc.stderr
    assert cloud.double.log == []


def test_credentials_never_reach_the_output(cloud, cluster):
    spec = cloud.write_spec(cluster, GROUPS)
    secret = cloud.double.password if cloud.name == "openstack" else cloud.double.token
    outputs = [cloud.cli("provision", "--poll", "0.05", spec=spec), cloud.cli("--list", spec=spec)]
    assert [p.returncode for p in outputs] == [0, 0]
    bad_env = dict(cloud.env)
    if cloud.name == "openstack":
        cloud.double.password = "changed"  # the double now refuses the configured password
    else:
        bad_env["OKEANOS_TOKEN"] = secret + "-wrong"
        cloud.env = bad_env
    refused = cloud.run("--list", spec=spec)
    assert refused.returncode == 1 and refused.stderr.strip()
    outputs.append(refused)
    for proc in outputs:
        assert secret not in proc.stdout + proc.stderr
