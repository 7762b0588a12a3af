"""Behaviour of the three-member ZooKeeper ensemble, checked across its members.

Four-letter words are sent over TCP with python3 on a member; znodes are written and read with
Debian's zkCli.sh. Elections take a few seconds, so every check of the ensemble's state polls
for a bounded time (WAIT) instead of sleeping; no assertion is about timings. The last test
stops the leader, checks that the two survivors keep serving, and starts it again (in a
finally block: the ensemble is left running).
"""

import re
import shlex
import time
import uuid

import pytest
from vre_testinfra import host as _host

NAMES = ["zk-1", "zk-2", "zk-3"]
# zk-3 sets zookeeper_id in molecule.yml; the others take their position in the ensemble.
EXPECTED_IDS = {"zk-1": 1, "zk-2": 2, "zk-3": 7}
CLIENT_PORT = 2181
QUORUM_PORT = 2888
ELECTION_PORT = 3888
HEAP = "192m"
DATA_DIR = "/srv/zookeeper/data"
TXLOG_DIR = "/srv/zookeeper/txlog"
LOG_DIR = "/var/log/zookeeper"
UNIT = "/etc/systemd/system/zookeeper.service"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
WAIT = 60  # seconds: upper bound for elections, rejoins and propagation

testinfra_hosts = ["ansible://zk-1"]

# Sends a four-letter word and prints the answer; the server closes the connection after it.
_FOUR_LETTER_WORD = """
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
sock.sendall(sys.argv[3].encode())
chunks = []
while True:
    chunk = sock.recv(4096)
    if not chunk:
        break
    chunks.append(chunk)
sys.stdout.write(b"".join(chunks).decode())
"""


@pytest.fixture(scope="module")
def nodes():
    return {name: _host(name) for name in NAMES}


@pytest.fixture(scope="module")
def addresses(nodes):
    """Each member's default IPv4 address: the address the role puts in zoo.cfg."""
    return {
        name: node.ansible("setup", "gather_subset=network", check=False)["ansible_facts"][
            "ansible_default_ipv4"
        ]["address"]
        for name, node in nodes.items()
    }


def four_letter_word(via, address, word):
    """The answer of the server at `address` to `word`, asked from host `via`; None if it is down."""
    cmd = via.run(f"python3 -c {shlex.quote(_FOUR_LETTER_WORD)} {address} {CLIENT_PORT} {word}")
    return cmd.stdout if cmd.rc == 0 else None


def mode(via, address):
    """leader, follower or standalone; None when the server is down or not in a quorum."""
    answer = four_letter_word(via, address, "srvr") or ""
    found = re.search(r"^Mode: (\w+)$", answer, re.MULTILINE)
    return found.group(1) if found else None


def modes(nodes, addresses, names=NAMES):
    """Each member's mode, asked of the member itself over its ensemble address."""
    return {name: mode(nodes[name], addresses[name]) for name in names}


def zkcli(via, address, *args):
    quoted = " ".join(shlex.quote(a) for a in args)
    return via.run(f"{ZKCLI} -timeout 10000 -waitforconnection -server {address}:{CLIENT_PORT} {quoted}")


def read_znode(via, address, path):
    """zkCli's output lines for `get path` on a client of `address`; None when the get failed."""
    cmd = zkcli(via, address, "get", path)
    return cmd.stdout.splitlines() if cmd.rc == 0 else None


def wait_for(what, probe, timeout=WAIT):
    """Poll `probe` until it returns (True, value); fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        ok, value = probe()
        if ok:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {timeout} s, last seen {value!r}")
        time.sleep(1)


def wait_for_one_leader(nodes, addresses, names=NAMES):
    def probe():
        seen = modes(nodes, addresses, names)
        roles = sorted(str(m) for m in seen.values())
        return roles == sorted(["leader"] + ["follower"] * (len(names) - 1)), seen

    return wait_for(f"one leader and {len(names) - 1} followers among {', '.join(names)}", probe)


def create_znode(via, address, payload):
    path = f"/vre-molecule-{uuid.uuid4().hex}"
    cmd = zkcli(via, address, "create", path, payload)
    # zkCli prints the data of `get` on stdout, but "Created <path>" on stderr.
    assert cmd.rc == 0 and f"Created {path}" in cmd.stdout + cmd.stderr, cmd.stdout + cmd.stderr
    return path


def wait_for_znode(via, address, path, payload, who):
    def probe():
        lines = read_znode(via, address, path)
        return lines is not None and payload in lines, lines and lines[-1]

    wait_for(f"{who} reads {path}", probe)


@pytest.mark.parametrize("name", NAMES)
def test_every_member_answers_ruok_to_a_peer(nodes, addresses, name):
    peer = nodes[NAMES[(NAMES.index(name) + 1) % len(NAMES)]]
    assert four_letter_word(peer, addresses[name], "ruok") == "imok"


def test_exactly_one_leader_and_two_followers(nodes, addresses):
    seen = wait_for_one_leader(nodes, addresses)
    leader = next(name for name, role in seen.items() if role == "leader")
    mntr = four_letter_word(nodes[leader], addresses[leader], "mntr")
    assert re.search(r"^zk_synced_followers\s+2$", mntr, re.MULTILINE), mntr


def test_four_letter_words_are_whitelisted(host, addresses):
    address = addresses["zk-1"]
    assert "zk_server_state" in four_letter_word(host, address, "mntr")
    assert "Mode:" in four_letter_word(host, address, "stat")
    # Not in the whitelist: the server says so instead of answering.
    assert "not in the whitelist" in four_letter_word(host, address, "envi")


def test_members_have_distinct_ids_and_the_same_ensemble(nodes, addresses):
    ids = {name: int(node.file(f"{DATA_DIR}/myid").content_string.strip()) for name, node in nodes.items()}
    assert ids == EXPECTED_IDS
    expected = {
        f"server.{EXPECTED_IDS[name]}={addresses[name]}:{QUORUM_PORT}:{ELECTION_PORT}" for name in NAMES
    }
    for name, node in nodes.items():
        conf = node.file("/etc/zookeeper/conf/zoo.cfg").content_string.splitlines()
        assert {line for line in conf if line.startswith("server.")} == expected, name
        assert f"dataDir={DATA_DIR}" in conf and f"dataLogDir={TXLOG_DIR}" in conf


@pytest.mark.parametrize("name", NAMES)
def test_jvm_runs_as_zookeeper_under_the_native_unit_with_the_heap_set(nodes, name):
    node = nodes[name]
    show = node.check_output("systemctl show zookeeper -p MainPID -p FragmentPath -p User -p ActiveState")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props["FragmentPath"] == UNIT, "the SysV script, not the role's unit, runs ZooKeeper"
    assert props["ActiveState"] == "active" and props["User"] == "zookeeper"
    assert node.check_output("systemctl is-enabled zookeeper") == "enabled"
    pid = int(props["MainPID"])
    assert node.check_output(f"ps -o user= -p {pid}") == "zookeeper"
    cmdline = node.file(f"/proc/{pid}/cmdline").content.split(b"\0")
    assert b"org.apache.zookeeper.server.quorum.QuorumPeerMain" in cmdline
    assert f"-Xmx{HEAP}".encode() in cmdline and f"-Xms{HEAP}".encode() in cmdline
    assert not [arg for arg in cmdline if arg.startswith(b"-Xmx") and arg != f"-Xmx{HEAP}".encode()]


def test_znode_written_on_one_member_is_read_on_another(nodes, addresses):
    payload = f"written-via-zk-1-{uuid.uuid4().hex}"
    path = create_znode(nodes["zk-1"], addresses["zk-1"], payload)
    # A client of zk-3, running on zk-2.
    wait_for_znode(nodes["zk-2"], addresses["zk-3"], path, payload, "a client of zk-3")
    zkcli(nodes["zk-1"], addresses["zk-1"], "delete", path)


@pytest.mark.parametrize("name", NAMES)
def test_data_and_logs_are_written_where_configured(nodes, name):
    node = nodes[name]
    for directory in (DATA_DIR, TXLOG_DIR):
        assert node.file(directory).user == "zookeeper" and node.file(directory).mode == 0o750
    txlogs = node.check_output(f"find {TXLOG_DIR}/version-2 -name 'log.*'").split()
    assert txlogs, f"no transaction log in {TXLOG_DIR}/version-2"
    assert not node.run(f"find {DATA_DIR}/version-2 -name 'log.*' 2>/dev/null").stdout.strip()
    server_log = node.file(f"{LOG_DIR}/zookeeper.log")
    assert server_log.exists and server_log.user == "zookeeper"
    assert re.search(r"(LEADING|FOLLOWING)", server_log.content_string), "the server logs nothing"


def test_survives_the_loss_of_the_leader_and_it_rejoins(nodes, addresses):
    seen = wait_for_one_leader(nodes, addresses)
    lost = next(name for name, role in seen.items() if role == "leader")
    survivors = [name for name in NAMES if name != lost]
    first, second = (nodes[n] for n in survivors)
    try:
        nodes[lost].check_output("systemctl stop zookeeper")
        assert nodes[lost].run("systemctl is-active zookeeper").stdout.strip() == "inactive"
        assert four_letter_word(first, addresses[lost], "ruok") is None

        # The two survivors are a majority of three: they elect a new leader and keep serving.
        wait_for_one_leader(nodes, addresses, survivors)
        payload = f"written-while-{lost}-was-down-{uuid.uuid4().hex}"
        path = create_znode(first, addresses[survivors[0]], payload)
        wait_for_znode(second, addresses[survivors[1]], path, payload, f"a client of {survivors[1]}")

        nodes[lost].check_output("systemctl start zookeeper")

        def rejoined():
            role = mode(nodes[lost], addresses[lost])
            return role in ("leader", "follower"), role

        wait_for(f"{lost} rejoins the ensemble", rejoined)
        wait_for_znode(nodes[lost], addresses[lost], path, payload, f"{lost} after it rejoined")
        wait_for_one_leader(nodes, addresses)
        zkcli(first, addresses[survivors[0]], "delete", path)
    finally:
        # Leave the ensemble running whatever happened above (bounded, and without masking the
        # test's own failure).
        nodes[lost].run("systemctl start zookeeper")
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and four_letter_word(first, addresses[lost], "ruok") != "imok":
            time.sleep(1)
