"""The provider-neutral core: planning from what exists, flavor choice, waiting for SSH over real
TCP, the inventory it builds, and where the ~okeanos client finds its credentials."""

import socket
import threading

import pytest

from vrecloud import provision as core
from vrecloud.provision import Flavor, ProvisionError, Server
from vrecloud.spec import Node, parse_spec
from vrecloud.synnefo import CredentialsError, SynnefoClient, credentials

SPEC = parse_spec({"cluster": "c", "groups": {"galaxy": 1, "nfs_clients": 2}})


def srv(name, status="ACTIVE", cluster="c", groups=None, sid=None, **kw):
    meta = {core.TAG_CLUSTER: cluster} if cluster else {}
    meta[core.TAG_GROUPS] = groups if groups is not None else name.split("-")[1].replace("nfs", "nfs_clients")
    return Server(id=sid or f"id-{name}-{status}", name=name, status=status, metadata=meta, **kw)


def test_plan_reuses_creates_replaces_and_leaves_the_rest():
    servers = [
        srv("c-galaxy-1", "ERROR", groups="galaxy"),
        srv("c-nfs-clients-1", "BUILD", groups="nfs_clients"),
        srv("c-nfs-clients-1", "ACTIVE", groups="nfs_clients"),  # a duplicate: the ACTIVE one is kept
        srv("c-nfs-clients-2", "SHUTOFF", groups="nfs_clients"),
        srv("c-registry-1", "ACTIVE", groups="registry"),  # not in the spec any more
        srv("c-nfs-clients-3", "ACTIVE", cluster=None),  # not ours at all
        srv("c-galaxy-1", "ACTIVE", cluster="other", groups="galaxy"),  # another cluster's
    ]
    plan = core.make_plan(SPEC, servers)
    assert [n.name for n in plan.create] == ["c-galaxy-1"]
    assert {s.id for s in plan.delete} == {"id-c-galaxy-1-ERROR", "id-c-nfs-clients-1-BUILD"}
    assert plan.reuse["c-nfs-clients-1"].status == "ACTIVE"
    assert (
        "SHUTOFF" in plan.blocked["c-nfs-clients-2"] and "left untouched" in plan.blocked["c-nfs-clients-2"]
    )
    assert [s.name for s in plan.surplus] == ["c-registry-1"]


def test_plan_retags_when_groups_changed():
    plan = core.make_plan(SPEC, [srv("c-galaxy-1", groups="galaxy,nfs_clients")])
    assert list(plan.retag) == ["c-galaxy-1"]


FLAVORS = [
    Flavor("1", "small", 1, 1024, 10),
    Flavor("2", "medium", 2, 4096, 40),
    Flavor("3", "big", 8, 16384, 80),
]


@pytest.mark.parametrize(
    ("node", "want"),
    [
        (Node("n", ("galaxy",), flavor="big"), "big"),
        (Node("n", ("galaxy",), flavor="2"), "medium"),
        (Node("n", ("galaxy",), cpus=1, ram=2048), "medium"),
        (Node("n", ("galaxy",), cpus=1, ram=512, disk=20), "medium"),
        (Node("n", ("galaxy",), cpus=1, ram=512), "small"),
    ],
)
def test_pick_flavor(node, want):
    assert core.pick_flavor(FLAVORS, node, "cloud").name == want


@pytest.mark.parametrize(
    ("node", "fragment"),
    [
        (
            Node("n", ("galaxy",), flavor="huge"),
            "flavor 'huge' not found on cloud; available: big, medium, small",
        ),
        (Node("n", ("galaxy",), cpus=16, ram=1024), "no flavor on cloud has cpus >= 16"),
        (Node("n", ("galaxy",), flavor="small", disk=20), "has a 10 GB disk but the spec asks for disk: 20"),
    ],
)
def test_pick_flavor_explains_a_miss(node, fragment):
    with pytest.raises(ProvisionError) as err:
        core.pick_flavor(FLAVORS, node, "cloud")
    assert fragment in str(err.value)


def _listener(greeting: bytes | None):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                if greeting:
                    conn.sendall(greeting)

    threading.Thread(target=serve, daemon=True).start()
    return sock


def test_wait_for_ssh_needs_an_ssh_banner():
    good = _listener(b"SSH-2.0-OpenSSH_9.2\r\n")
    core.wait_for_ssh("127.0.0.1", good.getsockname()[1], timeout=2, interval=0.05)
    bad = _listener(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(ProvisionError, match="not an SSH banner"):
        core.wait_for_ssh("127.0.0.1", bad.getsockname()[1], timeout=0.3, interval=0.05)
    port = bad.getsockname()[1]
    good.close()
    bad.close()
    with pytest.raises(ProvisionError, match=f"no SSH answer on 127.0.0.1:{port} within"):
        core.wait_for_ssh("127.0.0.1", port, timeout=0.3, interval=0.05)


def test_inventory_lists_active_servers_with_an_address_only():
    servers = [
        srv(
            "c-galaxy-1", groups="galaxy,nfs_clients", private_address="10.0.0.5", public_address="192.0.2.7"
        ),
        srv("c-nfs-clients-1", groups="nfs_clients", private_address="10.0.0.6"),
        srv("c-nfs-clients-2", "BUILD", groups="nfs_clients", private_address="10.0.0.7"),
        srv("c-nfs-clients-3", "ACTIVE", groups="nfs_clients"),
        srv("c-galaxy-2", cluster="other", private_address="10.0.0.8"),
    ]
    inv = core.inventory(servers, SPEC, "openstack")
    assert inv["galaxy"]["hosts"] == ["c-galaxy-1"]
    assert inv["nfs_clients"]["hosts"] == ["c-galaxy-1", "c-nfs-clients-1"]
    hv = inv["_meta"]["hostvars"]["c-galaxy-1"]
    assert hv == {
        "ansible_host": "192.0.2.7",
        "ansible_user": "debian",
        "vre_private_address": "10.0.0.5",
        "vre_public_address": "192.0.2.7",
        "vre_provider": "openstack",
        "vre_server_id": "id-c-galaxy-1-ACTIVE",
    }


def test_okeanos_credentials_from_environment_then_kamaki_config(tmp_path):
    env = {"HOME": str(tmp_path), "OKEANOS_URL": "https://astakos/identity/v2.0", "OKEANOS_TOKEN": "t0k"}
    assert credentials(env) == ("https://astakos/identity/v2.0", "t0k")
    env = {"HOME": str(tmp_path)}
    with pytest.raises(CredentialsError, match="OKEANOS_URL"):
        credentials(env)
    (tmp_path / ".kamakirc").write_text(
        '[global]\ndefault_cloud = b\n\n[cloud "a"]\nurl = https://a\ntoken = ta\n\n[cloud "b"]\nurl = https://b\n'
        "token = tb\n"
    )
    assert credentials(env) == ("https://b", "tb")
    assert credentials(env | {"OKEANOS_CLOUD": "a"}) == ("https://a", "ta")
    with pytest.raises(CredentialsError, match="no usable cloud 'z'"):
        credentials(env | {"OKEANOS_CLOUD": "z"})


def test_synnefo_client_never_shows_its_token():
    client = SynnefoClient("https://astakos/identity/v2.0", "s3cret")
    assert "s3cret" not in repr(client)


def test_an_unreachable_astakos_is_named(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = SynnefoClient(f"http://127.0.0.1:{port}/identity/v2.0", "s3cret", timeout=2)
    with pytest.raises(RuntimeError) as err:
        client.servers()
    assert "authenticating at Astakos" in str(err.value) and "s3cret" not in str(err.value)


def test_hosts_without_a_public_address_jump_through_ssh_via():
    spec = parse_spec(
        {"cluster": "c", "ssh_via": "galaxy", "ssh_port": 2222, "groups": {"galaxy": 1, "nfs_server": 1}}
    )
    servers = [
        srv("c-galaxy-1", groups="galaxy", private_address="10.0.0.5", public_address="192.0.2.7"),
        srv("c-nfs-server-1", groups="nfs_server", private_address="10.0.0.6"),
    ]
    hv = core.inventory(servers, spec, "openstack")["_meta"]["hostvars"]
    assert hv["c-nfs-server-1"]["ansible_ssh_common_args"] == "-o ProxyJump=debian@192.0.2.7:2222"
    assert hv["c-nfs-server-1"]["vre_ssh_via"] == "c-galaxy-1"
    assert "ansible_ssh_common_args" not in hv["c-galaxy-1"]
