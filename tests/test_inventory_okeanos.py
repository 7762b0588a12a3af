"""inventories/okeanos.py against the Synnefo test double (Astakos identity, Cyclades compute and
network on loopback): what `ansible-inventory` prints, kamaki's configuration as the source of
credentials, Cyclades' default network policy and floating IPs across interrupted runs."""

from __future__ import annotations

import json
import re
import uuid

from tests.ansible_run import output, run_ansible
from tests.doubles.harness import ROOT
from vrecloud import provision as core
from vrecloud.spec import load_spec, validate_for_cloud

CLOUDS = ("okeanos",)  # the `cloud` fixture's (tests/conftest.py)
GROUPS = {
    "nfs_server": 1,
    "galaxy": {"count": 1, "public_ip": True, "extra_groups": ["nfs_clients"]},
    "nfs_clients": 1,
}


def test_ansible_inventory_lists_the_cluster(cloud):
    cluster = f"ok{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, GROUPS, ssh_user={"okeanos": "user", "openstack": "debian"})
    assert cloud.provision(spec).failed == {}
    proc = cloud.ansible_inventory("--list", spec=spec)
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    assert inv["nfs_server"]["hosts"] == [f"{cluster}-nfs-server-1"]
    assert sorted(inv["nfs_clients"]["hosts"]) == [f"{cluster}-galaxy-1", f"{cluster}-nfs-clients-1"]
    hv = inv["_meta"]["hostvars"]
    assert {v["ansible_user"] for v in hv.values()} == {"user"}
    assert hv[f"{cluster}-galaxy-1"]["ansible_host"] == hv[f"{cluster}-galaxy-1"]["vre_public_address"]
    assert cloud.double.token not in proc.stdout + proc.stderr


def test_credentials_come_from_kamaki_config_when_the_environment_has_none(cloud, tmp_path):
    cluster = f"ok{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, GROUPS)
    assert cloud.provision(spec).failed == {}
    url, token = cloud.env.pop("OKEANOS_URL"), cloud.env.pop("OKEANOS_TOKEN")
    missing = cloud.run("--list", spec=spec)
    assert missing.returncode == 1 and "OKEANOS_URL" in missing.stderr and "kamaki" in missing.stderr
    (tmp_path / ".kamakirc").write_text(
        f'[global]\ndefault_cloud = grnet\n\n[cloud "grnet"]\nurl = {url}\ntoken = {token}\n'
    )
    listed = cloud.run("--list", spec=spec)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["_meta"]["hostvars"]) == 3
    assert token not in listed.stdout + listed.stderr


def test_without_a_network_the_default_policy_gives_public_addresses(cloud):
    cluster = f"ok{uuid.uuid4().hex[:6]}"
    spec_path = cloud.write_spec(cluster, {"galaxy": 1}, security_rules=[{"port": 22}])
    data = load_spec(spec_path)
    data.network = None
    result = core.provision(validate_for_cloud(data, "okeanos"), cloud.provider(), poll=0.05, ssh_timeout=3)
    assert result.failed == {}
    server = result.ready[f"{cluster}-galaxy-1"]
    assert server.public_address and server.private_address is None
    assert core.hostvars(server, data, "okeanos")["vre_private_address"] == server.public_address
    assert cloud.fleet.floating_ips == {}


def test_a_floating_ip_reserved_by_an_interrupted_run_is_reused_and_released(cloud):
    cluster = f"ok{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, GROUPS)
    cloud.fleet.max_floating_ips = 0
    assert list(cloud.provision(spec).failed) == [f"{cluster}-galaxy-1"]
    # The interrupted run: the address was reserved and recorded on the server, never attached.
    cloud.fleet.max_floating_ips = 1
    galaxy = next(vm for vm in cloud.fleet.live() if vm.name == f"{cluster}-galaxy-1")
    fip = cloud.fleet.allocate_ip(cloud.double.public_net["id"])
    galaxy.metadata[core.TAG_FLOATING_IP] = fip["id"]
    result = cloud.provision(spec)
    assert result.failed == {} and result.public_ips == {galaxy.name: fip["address"]}
    assert list(cloud.fleet.floating_ips) == [fip["id"]]

    assert f"floating IP {fip['address']}" in cloud.destroy(spec)
    assert cloud.fleet.floating_ips == {}


def test_provision_playbook_creates_then_reports_no_change_then_destroys(cloud):
    cluster = f"ok{uuid.uuid4().hex[:6]}"
    spec = cloud.write_spec(cluster, GROUPS)

    def play(state: str) -> str:
        proc = run_ansible(
            "ansible-playbook",
            "-i",
            "localhost,",
            str(ROOT / "playbooks" / "provision.yml"),
            "-e",
            "vre_provision_provider=okeanos",
            "-e",
            f"vre_provision_spec={spec}",
            "-e",
            f"vre_provision_state={state}",
            env={"ANSIBLE_LOCAL_TEMP": str(cloud.workdir / ".ansible-tmp")},
            base_env=cloud.env,
            timeout=120,
        )
        assert proc.returncode == 0, output(proc)
        return proc.stdout

    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=1\b", play("present"))
    assert len([vm for vm in cloud.fleet.live() if vm.metadata.get(core.TAG_CLUSTER) == cluster]) == 3
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=0\b", play("present"))
    assert re.search(r"localhost\s*:\s*ok=\d+\s+changed=1\b", play("absent"))
    assert [vm for vm in cloud.fleet.live() if vm.metadata.get(core.TAG_CLUSTER) == cluster] == []
