"""The local provider against the real Docker engine: hosts are created from a spec, listed by
the inventory script with their groups, and removed exactly; foreign containers are left alone."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from vrecloud import local

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    not local.dockerd_answers(), reason="no Docker engine answers (./vre test starts one)"
)


@pytest.fixture
def cluster(tmp_path):
    name = f"pt{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "spec.yml"
    spec.write_text(
        f"cluster: {name}\ngroups:\n  nfs_server:\n    count: 1\n    volumes: [/srv/vre]\n"
        "  galaxy:\n    count: 1\n    extra_groups: [nfs_clients]\n"
    )
    yield name, spec
    local.down(name)


def _inventory(spec: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "inventories/local.py"), "--list"],
        env={**os.environ, "VRE_SPEC": str(spec)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_up_list_down(cluster):
    name, spec = cluster
    assert _inventory(spec)["_meta"]["hostvars"] == {}
    from vrecloud.spec import load_spec

    hosts = local.up(load_spec(spec))
    assert all(h["running"] and h["address"] for h in hosts)
    inv = _inventory(spec)
    assert inv["nfs_server"]["hosts"] == [f"{name}-nfs-server-1"]
    assert inv["nfs_clients"]["hosts"] == [f"{name}-galaxy-1"]
    hv = inv["_meta"]["hostvars"][f"{name}-galaxy-1"]
    assert hv["ansible_connection"] == "docker"
    # systemd is PID 1 and booted: the container acts as a VM.
    pid1 = subprocess.run(
        ["docker", "exec", f"{name}-galaxy-1", "cat", "/proc/1/comm"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert pid1.stdout.strip() == "systemd"
    # The NFS export root is a docker volume, not the overlay root.
    mounts = subprocess.run(
        ["docker", "exec", f"{name}-nfs-server-1", "findmnt", "-n", "-o", "FSTYPE", "/srv/vre"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert mounts.stdout.strip() not in ("", "overlay")
    # A second `up` reuses the hosts.
    again = local.up(load_spec(spec))
    assert not any(h["created"] for h in again)
    removed = local.down(name)
    assert sorted(removed) == [f"{name}-galaxy-1", f"{name}-nfs-server-1"]
    assert _inventory(spec)["_meta"]["hostvars"] == {}


def test_foreign_container_with_a_clashing_name_is_left_untouched(cluster):
    name, _ = cluster
    foreign = f"{name}-galaxy-1"
    subprocess.run(
        ["docker", "run", "-d", "--name", foreign, local.base_image.IMAGE, "sleep", "300"],
        check=True,
        capture_output=True,
    )
    try:
        with pytest.raises(local.ProviderError, match="not part of cluster"):
            local.create_host(foreign, name, ["galaxy"])
        assert local.down(name) == []
        state = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", foreign],
            capture_output=True,
            text=True,
            check=True,
        )
        assert state.stdout.strip() == "true"
    finally:
        subprocess.run(["docker", "rm", "-f", foreign], capture_output=True, check=False)


def test_existing_host_without_a_volume_its_spec_now_asks_for_is_refused(cluster):
    name, _ = cluster
    local.create_host(f"{name}-galaxy-1", name, ["galaxy"])
    with pytest.raises(local.ProviderError, match=r"without the volume\(s\) /var/lib/docker"):
        local.create_host(f"{name}-galaxy-1", name, ["galaxy"], ["/var/lib/docker"])


def test_a_shared_volume_is_one_volume_of_the_cluster_and_outlives_its_hosts(cluster):
    """shared_volumes: the same data on every host that lists the path (the local provider's
    stand-in for a shared filesystem); removing one host keeps it, `down` removes it."""
    name, _ = cluster
    a, b = f"{name}-galaxy-1", f"{name}-mesos-slaves-1"
    local.create_host(a, name, ["galaxy"], shared_volumes=["/srv/vre"])
    local.create_host(b, name, ["mesos_slaves"], shared_volumes=["/srv/vre"])
    subprocess.run(["docker", "exec", a, "sh", "-c", "echo from-a > /srv/vre/probe"], check=True)
    seen = subprocess.run(
        ["docker", "exec", b, "cat", "/srv/vre/probe"], capture_output=True, text=True, check=True
    )
    assert seen.stdout.strip() == "from-a"
    volume = local.shared_volume_name(name, "/srv/vre")
    assert local.remove(name, [b]) == [b]
    assert (
        subprocess.run(["docker", "volume", "inspect", volume], capture_output=True, check=False).returncode
        == 0
    )
    # A host whose spec now shares a path it has as its own volume is refused, not silently split.
    local.create_host(f"{name}-registry-1", name, ["registry"], ["/srv/vre"])
    with pytest.raises(local.ProviderError, match="shares with other hosts"):
        local.create_host(f"{name}-registry-1", name, ["registry"], shared_volumes=["/srv/vre"])
    local.down(name)
    assert (
        subprocess.run(["docker", "volume", "inspect", volume], capture_output=True, check=False).returncode
        != 0
    )
