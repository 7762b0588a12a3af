"""Behaviour of role common on one converged host.

The read-only checks come first. The later tests re-run the converge playbook with extra vars
(failure paths, a dropped CA, check mode) and put the host back as converge left it.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from vre_testinfra import CLUSTER_DEFAULTS

GALAXY_USER = "galaxy"
GALAXY_UID = CLUSTER_DEFAULTS["vre_galaxy_uid"]
GALAXY_HOME = "/home/galaxy"
NTP_SERVERS = [f"{n}.debian.pool.ntp.org" for n in range(4)]
BASE_PACKAGES = [
    *("ca-certificates", "curl", "acl", "sudo", "python3"),
    *("gnupg", "rsync", "procps", "iproute2", "less"),
]
CA_FILE = "/usr/local/share/ca-certificates/vre/vre-test-ca.crt"
TIMESYNCD_DROP_IN = "/etc/systemd/timesyncd.conf.d/vre.conf"
TLS_PORT = 8443
# curl's exit code for "the peer's certificate could not be verified"
CURL_E_PEER_FAILED_VERIFICATION = 60

SCENARIO_DIR = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parent.parent))
FIXTURES = SCENARIO_DIR / "files"

testinfra_hosts = ["ansible://common-1"]


# --- helpers -----------------------------------------------------------------------------------


def _serve_and_curl(host, make_cert, curl_args=""):
    """Serve HTTPS on 127.0.0.1 with openssl s_server, GET https://localhost with curl.

    `make_cert` is shell code that writes "$d/cert.pem" and "$d/key.pem". Returns curl's result.
    The server and its files are gone when this returns.
    """
    script = f"""
set -u
d=$(mktemp -d)
{make_cert}
openssl s_server -accept 127.0.0.1:{TLS_PORT} -cert "$d/cert.pem" -key "$d/key.pem" -www \\
    </dev/null >"$d/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    ss -Hltn "sport = :{TLS_PORT}" | grep -q . && break
    sleep 0.1
done
curl -sS --max-time 10 {curl_args} https://localhost:{TLS_PORT}/
rc=$?
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$d"
exit "$rc"
"""
    return host.run("bash -c " + shlex.quote(script))


def _write_fixture(name, dest):
    content = (FIXTURES / name).read_text()
    return f"printf '%s' {shlex.quote(content)} > {dest}"


FIXTURE_SERVER_CERT = "\n".join(
    [_write_fixture("localhost.crt", '"$d/cert.pem"'), _write_fixture("localhost.key", '"$d/key.pem"')]
)
# A certificate for the same name that the test CA did not sign.
ROGUE_SERVER_CERT = (
    "openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
    "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
    '-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null'
)


def _ansible_playbook(*args, extra_vars=None):
    """Run the scenario's converge playbook against the instance; return (rc, json result)."""
    exe = Path(sys.executable).parent / "ansible-playbook"
    exe = str(exe) if exe.exists() else shutil.which("ansible-playbook")
    cmd = [exe, "-i", os.environ["MOLECULE_INVENTORY_FILE"]]
    if extra_vars is not None:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += [*args, str(SCENARIO_DIR / "converge.yml")]
    # JSON on stdout, and no other callback (profile_tasks) printing there.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CALLBACKS_ENABLED"}
    env |= {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=SCENARIO_DIR, check=False, timeout=600
    )
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, result


def _failure_messages(result):
    """The msg of every failed task result (and failed loop item) in an ansible.posix.json result."""
    messages = []
    for play in result["plays"]:
        for task in play["tasks"]:
            for host_result in task["hosts"].values():
                if not host_result.get("failed"):
                    continue
                items = host_result.get("results") or [host_result]
                messages += [str(i.get("msg", "")) for i in items if i.get("failed")]
    return messages


def _changed_tasks(result):
    return [
        task["task"]["name"]
        for play in result["plays"]
        for task in play["tasks"]
        if any(h.get("changed") for h in task["hosts"].values())
    ]


# --- packages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASE_PACKAGES)
def test_base_package_installed(host, name):
    assert host.package(name).is_installed


def test_base_tools_work(host):
    # acl: setfacl/getfacl; rsync and curl answer; sudo runs commands as another user.
    assert host.run("rsync --version").rc == 0
    assert host.run("curl --version").rc == 0
    assert host.run("getfacl --version").rc == 0
    assert host.check_output(f"sudo -u {GALAXY_USER} id -un") == GALAXY_USER


# --- galaxy account ----------------------------------------------------------------------------


def test_galaxy_user_has_cluster_wide_ids(host):
    user = host.user(GALAXY_USER)
    assert user.exists
    assert user.uid == GALAXY_UID
    assert user.gid == GALAXY_UID
    assert user.group == "galaxy"
    assert user.home == GALAXY_HOME
    assert user.shell == "/bin/bash"


def test_galaxy_group_has_cluster_wide_gid(host):
    name, _, gid, _ = host.check_output("getent group galaxy").split(":")
    assert (name, int(gid)) == ("galaxy", GALAXY_UID)


def test_galaxy_writes_files_with_cluster_wide_ids(host):
    probe = f"{GALAXY_HOME}/.common-probe"
    out = host.check_output(
        f"sudo -u {GALAXY_USER} -H bash -c 'touch {probe} && stat -c %u:%g {probe}; rm -f {probe}'"
    )
    assert out == f"{GALAXY_UID}:{GALAXY_UID}"
    home = host.file(GALAXY_HOME)
    assert home.is_directory
    assert (home.uid, home.gid) == (GALAXY_UID, GALAXY_UID)


# --- time sync ---------------------------------------------------------------------------------


def test_timesyncd_drop_in_lists_the_ntp_servers(host):
    drop_in = host.file(TIMESYNCD_DROP_IN)
    assert drop_in.is_file
    assert (drop_in.user, drop_in.group, drop_in.mode) == ("root", "root", 0o644)
    assert f"NTP={' '.join(NTP_SERVERS)}" in drop_in.content_string.splitlines()


def test_timesyncd_reads_the_drop_in(host):
    # systemd's own view of timesyncd's configuration: the drop-in is part of it.
    merged = host.check_output("systemd-analyze cat-config systemd/timesyncd.conf")
    assert f"# {TIMESYNCD_DROP_IN}" in merged
    assert f"NTP={' '.join(NTP_SERVERS)}" in merged


def test_host_is_a_container(host):
    # The premise of the next test: common_time_sync_enabled defaults to false here.
    assert host.run("systemd-detect-virt --container").rc == 0


def test_timesyncd_not_enabled_in_a_container(host):
    timesyncd = host.service("systemd-timesyncd")
    assert host.package("systemd-timesyncd").is_installed
    assert not timesyncd.is_enabled
    assert not timesyncd.is_running
    # Why: the unit refuses containers, which share the host's clock.
    assert "ConditionVirtualization=!container" in host.check_output("systemctl cat systemd-timesyncd")


# --- extra CA trust ----------------------------------------------------------------------------


def test_ca_file_written(host):
    ca = host.file(CA_FILE)
    assert ca.is_file
    assert (ca.user, ca.group, ca.mode) == ("root", "root", 0o644)
    assert ca.content_string.strip() == (FIXTURES / "vre-test-ca.crt").read_text().strip()


def test_ca_in_system_bundle(host):
    # update-ca-certificates ran: the CA's base64 body is part of the bundle everything reads.
    pem = (FIXTURES / "vre-test-ca.crt").read_text()
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    bundle = "".join(host.file("/etc/ssl/certs/ca-certificates.crt").content_string.splitlines())
    assert body in bundle


def test_curl_trusts_server_signed_by_the_ca(host):
    result = _serve_and_curl(host, FIXTURE_SERVER_CERT)
    assert result.rc == 0, result.stderr
    assert "s_server" in result.stdout  # the -www status page came back over TLS


def test_curl_rejects_server_not_signed_by_the_ca(host):
    # Negative control: same name, same server, a certificate the CA did not sign.
    result = _serve_and_curl(host, ROGUE_SERVER_CERT)
    assert result.rc == CURL_E_PEER_FAILED_VERIFICATION, (result.rc, result.stderr)
    assert "certificate" in result.stderr


def test_curl_trust_comes_from_the_system_store(host):
    # Negative control: the fixture server is refused when curl uses a bundle without the test CA.
    other_ca = "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt"
    assert host.file(other_ca).is_file
    # Debian's curl also looks in the CApath /etc/ssl/certs: point that at an empty folder.
    curl_args = f'--cacert {other_ca} --capath "$d/empty"'
    result = _serve_and_curl(host, f'{FIXTURE_SERVER_CERT}\nmkdir "$d/empty"', curl_args=curl_args)
    assert result.rc == CURL_E_PEER_FAILED_VERIFICATION, (result.rc, result.stderr)


# --- the package caches (vre_apt_proxy, vre_pip_index_url) -------------------------------------

APT_PROXY = os.environ.get("VRE_APT_PROXY", "")
PIP_INDEX = os.environ.get("VRE_PIP_INDEX_URL", "")
needs_caches = pytest.mark.skipif(
    not (APT_PROXY and PIP_INDEX),
    reason="VRE_APT_PROXY or VRE_PIP_INDEX_URL not set: no package caches to check "
    "(./vre molecule starts them)",
)


@needs_caches
def test_apt_fetches_through_the_controllers_cache(host):
    from vrecloud import caches

    assert host.check_output("apt-config dump Acquire::http::Proxy") == f'Acquire::http::Proxy "{APT_PROXY}";'
    address = host.check_output("hostname -I").split()[0]
    before = caches.fetched()["debs_served"].get(address, {})
    host.check_output("cd /tmp && apt-get download -q tree && rm -f tree_*.deb")
    after = caches.fetched()["debs_served"].get(address, {})
    served = [p for p in after if p.rsplit("/", 1)[-1].startswith("tree_") and after[p] > before.get(p, 0)]
    assert served, f"apt-cacher-ng served {address} no tree package: {sorted(after)[-5:]}"


@needs_caches
def test_pip_reads_the_index_from_its_site_wide_file(host):
    conf = host.file("/etc/xdg/pip/pip.conf")
    assert conf.contains(f"index-url = {PIP_INDEX}")
    assert conf.contains(f"trusted-host = {PIP_INDEX.split('/')[2].split(':')[0]}")
    # The index answers this host as pip asks it (PEP 503 simple page of a project).
    page = host.check_output(f"curl -fsS --max-time 60 {PIP_INDEX}six/")
    assert "six-1.16.0" in page


# --- failure paths: the role stops before it changes anything ----------------------------------


@pytest.fixture
def cleanup(host):
    """Shell commands to run on the host after the test, whatever its outcome."""
    commands = []
    yield commands
    for command in reversed(commands):
        host.run(command)


def _assert_refused_unchanged(host, extra_vars, *expected):
    """Run the role with `extra_vars` (plus a package it must not install); it must fail with a
    message containing every `expected` string, and leave the host as it was."""
    marker_package = "tree"
    assert not host.package(marker_package).is_installed
    rc, result = _ansible_playbook(extra_vars={"common_packages": [marker_package], **extra_vars})
    messages = _failure_messages(result)
    assert rc != 0
    assert any(all(text in msg for text in expected) for msg in messages), messages
    assert _changed_tasks(result) == []
    assert not host.package(marker_package).is_installed
    return messages


def _other_account(number):
    """Extra vars for an account galaxy2:galaxy2 with UID = GID = number."""
    return {
        "vre_galaxy_user": "galaxy2",
        "vre_galaxy_group": "galaxy2",
        "vre_galaxy_uid": number,
        "vre_galaxy_gid": number,
    }


def test_refuses_uid_held_by_another_user(host, cleanup):
    cleanup.append("userdel vre-intruder")
    host.check_output("useradd --uid 1460 --gid nogroup --no-create-home vre-intruder")
    _assert_refused_unchanged(
        host,
        _other_account(1460),
        "common-1",
        "UID 1460",
        "vre-intruder",
    )
    assert not host.user("galaxy2").exists
    assert host.run("getent group galaxy2").rc == 2


def test_refuses_gid_held_by_another_group(host, cleanup):
    cleanup.append("groupdel vre-intruders")
    host.check_output("groupadd --gid 1461 vre-intruders")
    _assert_refused_unchanged(
        host,
        _other_account(1461),
        "common-1",
        "GID 1461",
        "vre-intruders",
    )
    assert not host.user("galaxy2").exists


def test_refuses_to_renumber_an_existing_galaxy_user(host):
    _assert_refused_unchanged(host, {"vre_galaxy_uid": 1462}, "common-1", "galaxy", "UID 1450", "1462")
    assert host.user(GALAXY_USER).uid == GALAXY_UID


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"vre_apt_proxy": "ftp://cache.example.org:3142"}, "vre_apt_proxy"),
        ({"vre_pip_index_url": "cache.example.org/simple"}, "vre_pip_index_url"),
        # The host's own port 9: nothing listens there.
        ({"vre_apt_proxy": "http://127.0.0.1:9"}, "gets no answer"),
    ],
    ids=["apt-proxy-not-http", "pip-index-not-a-url", "apt-proxy-unreachable"],
)
def test_refuses_a_bad_package_cache(host, extra_vars, named):
    messages = _assert_refused_unchanged(host, extra_vars, named)
    assert any(next(iter(extra_vars)) in m for m in messages), messages


@pytest.mark.parametrize(
    ("item", "named"),
    [
        ({"name": "../evil", "content": (FIXTURES / "vre-test-ca.crt").read_text()}, "../evil"),
        ({"name": "not-a-pem", "content": "hello"}, "not-a-pem"),
    ],
    ids=["bad-name", "not-a-certificate"],
)
def test_refuses_invalid_ca_item(host, item, named):
    extra_vars = {"common_extra_ca_certificates": [item]}
    _assert_refused_unchanged(host, extra_vars, "common_extra_ca_certificates", named)
    assert host.file(CA_FILE).is_file


# --- CA removal, check mode --------------------------------------------------------------------


def test_dropped_ca_is_no_longer_trusted(host):
    rc, result = _ansible_playbook(extra_vars={"common_extra_ca_certificates": []})
    try:
        assert rc == 0, _failure_messages(result)
        assert not host.file(CA_FILE).exists
        assert not host.file("/etc/ssl/certs/vre-test-ca.pem").exists
        result = _serve_and_curl(host, FIXTURE_SERVER_CERT)
        assert result.rc == CURL_E_PEER_FAILED_VERIFICATION, (result.rc, result.stderr)
    finally:
        rc, result = _ansible_playbook()  # converge again: the CA is back
    assert rc == 0, _failure_messages(result)
    assert _serve_and_curl(host, FIXTURE_SERVER_CERT).rc == 0


def test_check_mode_on_converged_host_changes_nothing(host):
    rc, result = _ansible_playbook("--check", "--diff")
    assert rc == 0, _failure_messages(result)
    assert _changed_tasks(result) == []
    assert result["stats"]["common-1"]["changed"] == 0
