"""The Mesos layer as converged: flags, credentials and units in both modes; the daemons over HTTP in
full mode only.

The mode follows the converge: full when VRE_MESOS_MIRROR names a directory with the Mesos and
Chronos .deb files, no-binary otherwise. Tests that need the binaries are skipped in no-binary
mode with the reason printed (PYTEST_ADDOPTS=-rs); the others check what no-binary mode promises.
"""

import importlib.util
import json
import os
import shlex
from pathlib import Path

import pytest
from vre_testinfra import host as _host
from vre_testinfra import host_fixture

ROOT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
FULL_MODE = bool(os.environ.get("VRE_MESOS_MIRROR"))
NO_BINARIES = "no-binary mode: VRE_MESOS_MIRROR not set, so Mesos and Chronos were not installed or started"
needs_binaries = pytest.mark.skipif(not FULL_MODE, reason=NO_BINARIES)

testinfra_hosts = ["ansible://mesos-master-1"]


def _load_flag_names():
    spec = importlib.util.spec_from_file_location("mesos_flags", ROOT / "filter_plugins" / "mesos_flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FLAGS = _load_flag_names()


master = host_fixture("master", "mesos-master-1")


slave = host_fixture("slave", "mesos-slave-1")


def _address(h):
    return h.interface("eth0").addresses[0]


def _env_file(h, path):
    """The MESOS_* lines of an environment file as {flag: value}."""
    flags = {}
    for line in h.file(path).content_string.splitlines():
        if not line.startswith("MESOS_"):
            continue
        key, _, value = line.partition("=")
        assert value.startswith('"') and value.endswith('"'), line
        flags[key[len("MESOS_") :].lower()] = json.loads(value)
    return flags


def _exec_start(h, unit):
    line = next(
        line
        for line in h.file(f"/etc/systemd/system/{unit}").content_string.splitlines()
        if line.startswith("ExecStart=")
    )
    return shlex.split(line[len("ExecStart=") :])


def _chronos_flags(argv):
    args = argv[argv.index("-jar") + 2 :]
    flags, i = {}, 0
    while i < len(args):
        name = args[i].removeprefix("--")
        if name in FLAGS.CHRONOS_TOGGLES:
            flags[name], i = True, i + 1
        else:
            flags[name], i = args[i + 1], i + 2
    return flags


def test_master_flags(master):
    flags = _env_file(master, "/etc/mesos/master.env")
    ip = _address(master)
    assert flags["zk"] == f"zk://{ip}:2181/mesos"
    assert flags["quorum"] == "1"
    assert flags["work_dir"] == "/var/lib/mesos/master"
    assert flags["cluster"] == "molecule"
    assert flags["ip"] == ip and flags["hostname"] == ip
    assert flags["port"] == "5050"
    assert flags["authenticate_frameworks"] == "true"
    assert flags["authenticate_agents"] == "true"
    assert flags["credentials"] == "/run/credentials/mesos-master.service/credentials.json"
    assert set(flags) <= FLAGS.MESOS_MASTER_FLAGS


def test_slave_flags(master, slave):
    flags = _env_file(slave, "/etc/mesos/slave.env")
    assert flags["master"] == f"zk://{_address(master)}:2181/mesos"
    assert flags["containerizers"] == "docker,mesos"
    assert flags["work_dir"] == "/var/lib/mesos/agent"
    assert flags["resources"] == "cpus:2;mem:2048"
    assert dict(p.split(":") for p in flags["attributes"].split(";")) == {
        "shared_fs": "nfs",
        "rack": "molecule",
    }
    assert flags["credential"] == "/etc/mesos/agent-credential.json"
    assert flags["ip"] == _address(slave)
    assert set(flags) <= FLAGS.MESOS_AGENT_FLAGS


def test_chronos_flags(master):
    argv = _exec_start(master, "chronos.service")
    assert argv[:2] == ["/usr/bin/java", "-Xmx256m"]
    flags = _chronos_flags(argv)
    ip = _address(master)
    assert flags["master"] == f"zk://{ip}:2181/mesos"
    assert flags["zk_hosts"] == f"{ip}:2181"
    assert flags["http_port"] == "4400"
    assert flags["user"] == "galaxy"
    assert flags["mesos_authentication_principal"] == "chronos"
    assert flags["mesos_authentication_secret_file"] == "/run/credentials/chronos.service/mesos-secret"
    assert "http_credentials" not in flags, "the HTTP password must not be on the command line"
    assert set(flags) <= FLAGS.CHRONOS_FLAGS


@pytest.mark.parametrize(
    ("host_name", "path"),
    [
        ("mesos-master-1", "/etc/mesos/credentials.json"),
        ("mesos-slave-1", "/etc/mesos/agent-credential.json"),
        ("mesos-master-1", "/etc/chronos/mesos-secret"),
        ("mesos-master-1", "/etc/chronos/chronos.env"),
    ],
)
def test_secrets_are_root_only(host_name, path):
    f = _host(host_name).file(path)
    assert f.is_file
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)


def test_master_credentials_hold_the_agent_and_the_framework(master):
    data = json.loads(master.file("/etc/mesos/credentials.json").content_string)
    assert sorted(c["principal"] for c in data["credentials"]) == ["chronos", "vre-agent"]
    assert all(c["secret"] for c in data["credentials"])


def test_chronos_http_credentials_are_in_the_environment_file(master):
    env = master.file("/etc/chronos/chronos.env").content_string
    assert 'MESOSPHERE_HTTP_CREDENTIALS="galaxy:' in env


def test_framework_secret_has_no_trailing_newline(master):
    assert master.file("/etc/chronos/mesos-secret").content_string == "framework-secret-for-molecule"


@pytest.mark.parametrize(
    ("host_name", "user", "paths"),
    [
        ("mesos-master-1", "mesos", ["/var/lib/mesos/master", "/var/log/mesos/master"]),
        ("mesos-slave-1", "root", ["/var/lib/mesos/agent", "/var/log/mesos/agent"]),
        ("mesos-master-1", "chronos", ["/var/lib/chronos"]),
    ],
)
def test_service_directories(host_name, user, paths):
    h = _host(host_name)
    for path in paths:
        d = h.file(path)
        assert d.is_directory and d.user == user and d.mode == 0o750, path


def test_service_users_cannot_log_in(master):
    for name in ("mesos", "chronos"):
        user = master.user(name)
        assert user.exists and user.shell == "/usr/sbin/nologin"
        assert user.uid < 1000, f"{name} must be a system user"


@pytest.mark.parametrize(
    ("host_name", "unit", "user"),
    [
        ("mesos-master-1", "mesos-master.service", "mesos"),
        ("mesos-slave-1", "mesos-slave.service", None),
        ("mesos-master-1", "chronos.service", "chronos"),
    ],
)
def test_units_are_valid(host_name, unit, user):
    h = _host(host_name)
    shown = h.check_output(f"systemctl show {unit} --property=User,LoadState,FragmentPath")
    assert "LoadState=loaded" in shown
    assert f"FragmentPath=/etc/systemd/system/{unit}" in shown
    assert f"User={user or ''}\n" in shown + "\n"
    verify = h.run(f"systemd-analyze verify /etc/systemd/system/{unit}")
    problems = [line for line in (verify.stdout + verify.stderr).splitlines() if line.strip()]
    if FULL_MODE:
        assert verify.rc == 0, problems
    else:
        # Without the binaries, the only complaint allowed is the missing program itself.
        assert all("is not executable" in line for line in problems), problems


@pytest.mark.parametrize(
    ("host_name", "unit"),
    [("mesos-master-1", "mesos-master"), ("mesos-slave-1", "mesos-slave"), ("mesos-master-1", "chronos")],
)
def test_units_run_only_in_full_mode(host_name, unit):
    service = _host(host_name).service(unit)
    if FULL_MODE:
        assert service.is_enabled and service.is_running
    else:
        assert not service.is_enabled and not service.is_running, "no-binary mode must not enable the units"


def test_install_sources_installed_the_test_package(slave):
    """The mirror and deb_urls code paths ran for real, with an empty test package (not Mesos)."""
    assert slave.package("vre-install-test").is_installed
    assert slave.file("/var/cache/vre/install-test-mirror/vre-install-test_1.0_all.deb").is_file
    assert slave.file("/var/cache/vre/install-test-urls/vre-install-test_1.0_all.deb").is_file


@needs_binaries
def test_master_is_healthy(master):
    out = master.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' http://{_address(master)}:5050/master/health"
    )
    assert out == "200"


@needs_binaries
def test_slave_is_registered(master, slave):
    state = json.loads(master.check_output(f"curl -sfL http://{_address(master)}:5050/master/state"))
    assert state["leader"]
    assert _address(slave) in [agent["hostname"] for agent in state["slaves"]]


@needs_binaries
def test_chronos_answers_with_basic_auth(master):
    url = f"http://{_address(master)}:4400/v1/scheduler/jobs"
    denied = master.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' {url}")
    assert denied == "401"
    jobs = master.check_output(f"curl -sf -u galaxy:chronos-password-for-molecule {url}")
    assert isinstance(json.loads(jobs), list)
