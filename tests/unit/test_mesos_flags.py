"""Mesos and Chronos flags: the filters of filter_plugins/mesos_flags.py, and the flags the roles
mesos_master, mesos_slave and chronos actually render for a sample cluster, checked against the
flag names Mesos 1.11 and Chronos 3 document, so that a typo in a role or an override cannot ship.
"""

import json
import shlex
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins import mesos_flags as M
from tests.ansible_run import VENV_BIN, output, run_ansible

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mesos_flags"


F = M.FilterModule().filters()


def _error(name, *args):
    with pytest.raises(AnsibleFilterError) as err:
        F[name](*args)
    message = str(err.value)
    assert message.startswith(f"{name}: "), message
    return message


# --- The documented names (data) -------------------------------------------------------------------


def test_the_flags_the_roles_compute_are_documented():
    # Typed here from the Mesos 1.11 / Chronos 3 documents, independently of the data module.
    assert {
        "zk",
        "quorum",
        "work_dir",
        "log_dir",
        "cluster",
        "hostname",
        "ip",
        "port",
    } <= M.MESOS_MASTER_FLAGS
    assert {"authenticate_frameworks", "authenticate_agents", "credentials"} <= M.MESOS_MASTER_FLAGS
    assert {
        "master",
        "work_dir",
        "log_dir",
        "hostname",
        "ip",
        "port",
        "containerizers",
        "resources",
        "attributes",
        "docker_stop_timeout",
        "executor_registration_timeout",
        "systemd_enable_support",
        "credential",
    } <= M.MESOS_AGENT_FLAGS
    assert {
        "master",
        "zk_hosts",
        "zk_path",
        "http_port",
        "http_address",
        "hostname",
        "mesos_framework_name",
        "cluster_name",
        "user",
        "mesos_authentication_principal",
        "mesos_authentication_secret_file",
    } <= M.CHRONOS_FLAGS


def test_master_only_and_agent_only_flags_stay_apart():
    assert "containerizers" not in M.MESOS_MASTER_FLAGS and "resources" not in M.MESOS_MASTER_FLAGS
    assert "quorum" not in M.MESOS_AGENT_FLAGS and "zk" not in M.MESOS_AGENT_FLAGS
    assert "credentials" in M.MESOS_MASTER_FLAGS and "credentials" not in M.MESOS_AGENT_FLAGS
    assert "credential" in M.MESOS_AGENT_FLAGS and "credential" not in M.MESOS_MASTER_FLAGS


def test_flags_that_exit_and_removed_flags_are_not_listed():
    for names in (M.MESOS_MASTER_FLAGS, M.MESOS_AGENT_FLAGS, M.CHRONOS_FLAGS):
        assert "help" not in names and "version" not in names
    # Chronos 2.x flags that Chronos 3.0.0 no longer documents.
    assert "schedule_horizon" not in M.CHRONOS_FLAGS


def test_every_documented_name_is_a_bare_lower_case_name():
    for name in M.MESOS_MASTER_FLAGS | M.MESOS_AGENT_FLAGS | M.CHRONOS_FLAGS:
        assert name.isidentifier() and name == name.lower(), name
    assert M.CHRONOS_TOGGLES <= M.CHRONOS_FLAGS


# --- vre_mesos_flags / vre_mesos_env ------------------------------------------------------------------


def test_mesos_flags_are_normalised_and_sorted():
    flags = F["vre_mesos_flags"](
        {"zk": "zk://a:2181/mesos", "quorum": 2, "authenticate_agents": True}, "master"
    )
    assert flags == {"authenticate_agents": "true", "quorum": "2", "zk": "zk://a:2181/mesos"}
    assert list(flags) == sorted(flags)


def test_null_drops_a_flag():
    assert F["vre_mesos_flags"]({"zk": "zk://a:2181/mesos", "cluster": None}, "master") == {
        "zk": "zk://a:2181/mesos"
    }


@pytest.mark.parametrize(
    ("kind", "typo", "suggestion"),
    [
        ("master", "quorom", "quorum"),
        ("master", "work-dir", "work_dir"),
        ("master", "authenticate_agent", "authenticate_agents"),
        ("agent", "containerizer", "containerizers"),
        ("agent", "executor_registration_timout", "executor_registration_timeout"),
        ("agent", "resource", "resources"),
    ],
)
def test_a_typo_is_refused_with_the_closest_documented_name(kind, typo, suggestion):
    message = _error("vre_mesos_flags", {typo: "x"}, kind)
    assert f"{typo!r} is not a flag of Mesos 1.11 {kind}" in message
    assert f"did you mean {suggestion!r}" in message


@pytest.mark.parametrize(
    ("kind", "name"),
    [("master", "containerizers"), ("master", "resources"), ("agent", "quorum"), ("agent", "zk")],
)
def test_a_flag_of_the_other_daemon_is_refused(kind, name):
    assert f"{name!r} is not a flag of Mesos 1.11 {kind}" in _error("vre_mesos_flags", {name: "x"}, kind)


def test_dashes_and_environment_names_are_refused_with_the_bare_name():
    assert "write the bare name ('zk')" in _error("vre_mesos_flags", {"--zk": "x"}, "master")
    assert "not its environment variable" in _error("vre_mesos_flags", {"MESOS_ZK": "x"}, "master")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "is empty"),
        ("a\nb", "line break"),
        (["docker", "mesos"], "must be a string, number or boolean"),
        ({"a": 1}, "must be a string, number or boolean"),
    ],
)
def test_bad_values_are_refused(value, expected):
    assert expected in _error("vre_mesos_flags", {"containerizers": value}, "agent")


def test_unknown_kind_is_refused():
    assert "kind must be 'master' or 'agent'" in _error("vre_mesos_flags", {}, "slave")


def test_env_lines_are_quoted_for_systemd():
    text = F["vre_mesos_env"]({"attributes": 'rack:"r1";path:C:\\x', "port": 5051}, "agent")
    assert text.splitlines() == ['MESOS_ATTRIBUTES="rack:\\"r1\\";path:C:\\\\x"', 'MESOS_PORT="5051"']


def test_env_refuses_typos_too():
    assert "'quorom' is not a flag" in _error("vre_mesos_env", {"quorom": 1}, "master")


# --- vre_chronos_args ----------------------------------------------------------------------------------


def test_chronos_args_pair_names_and_values_and_pass_toggles_bare():
    args = F["vre_chronos_args"](
        {"zk_hosts": "a:2181", "http_port": 4400, "mesos_checkpoint": True, "zk_path": None}
    )
    assert args == ["--http_port", "4400", "--mesos_checkpoint", "--zk_hosts", "a:2181"]


def test_chronos_typo_is_refused():
    message = _error("vre_chronos_args", {"zk_host": "a:2181"})
    assert "'zk_host' is not a flag of Chronos 3" in message and "did you mean 'zk_hosts'" in message


def test_chronos_2_flag_is_refused():
    assert "'schedule_horizon' is not a flag of Chronos 3" in _error(
        "vre_chronos_args", {"schedule_horizon": 60}
    )


def test_chronos_false_toggle_is_refused():
    assert "there is no --no-mesos_checkpoint" in _error("vre_chronos_args", {"mesos_checkpoint": False})


def test_chronos_boolean_for_a_valued_flag_is_refused():
    assert "takes a value, not a boolean" in _error("vre_chronos_args", {"http_port": True})


def test_chronos_password_is_never_put_on_the_command_line():
    message = _error("vre_chronos_args", {"http_credentials": "galaxy:secret"})
    assert "MESOSPHERE_HTTP_CREDENTIALS" in message and "secret" not in message.split("instead")[0]


# --- vre_systemd_exec / vre_mesos_kv -----------------------------------------------------------------


def test_systemd_exec_quotes_every_word():
    line = F["vre_systemd_exec"](["/usr/bin/java", "-Xmx1g", "--x", 'a "b" $HOME 50%', 4400])
    assert line == '"/usr/bin/java" "-Xmx1g" "--x" "a \\"b\\" $$HOME 50%%" "4400"'


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ("java -jar x", "must be a list"),
        ([], "argv is empty"),
        (["java"], "absolute path"),
        (["/x", None], "string"),
    ],
)
def test_systemd_exec_refuses_bad_argv(argv, expected):
    assert expected in _error("vre_systemd_exec", argv)


def test_mesos_kv_from_dict_and_string():
    assert F["vre_mesos_kv"]({"cpus": 4, "mem": 7680, "ports(*)": "[31000-32000]"}) == (
        "cpus:4;mem:7680;ports(*):[31000-32000]"
    )
    assert F["vre_mesos_kv"]("rack:r1;zone:a") == "rack:r1;zone:a"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rack", "is not key:value"),
        ({}, "non-empty dict"),
        ({"rack": "a;b"}, "';'"),
        ({"rack": True}, "string or number"),
        ({"bad key": 1}, "key 'bad key'"),
    ],
)
def test_mesos_kv_refuses_bad_input(value, expected):
    assert expected in _error("vre_mesos_kv", value, "mesos_slave_attributes")


# --- What the roles render for a sample cluster -------------------------------------------------------


def _render(tmp_path, *extra_vars, limit=None):
    args = ["-e", f"render_dir={tmp_path}", *(["--limit", limit] if limit else [])]
    for extra in extra_vars:
        args += ["-e", json.dumps(extra)]
    proc = run_ansible(
        "ansible-playbook",
        "-i",
        str(FIXTURES / "inventory.yml"),
        str(FIXTURES / "render.yml"),
        *args,
        env={"ANSIBLE_PYTHON_INTERPRETER": str(VENV_BIN / "python")},
        timeout=300,
    )
    return proc.returncode, output(proc)


def _env_flags(path):
    flags = {}
    for line in path.read_text().splitlines():
        if line.startswith("MESOS_"):
            key, _, value = line.partition("=")
            flags[key.removeprefix("MESOS_").lower()] = json.loads(value)
    return flags


def _exec_start(path):
    line = next(line for line in path.read_text().splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered")
    rc, log = _render(out)
    assert rc == 0, log
    return out


def test_rendered_master_flags(rendered):
    for host, ip in (("master-1", "10.0.0.21"), ("master-3", "10.0.0.23")):
        flags = _env_flags(rendered / f"{host}-mesos-master.env")
        assert set(flags) <= M.MESOS_MASTER_FLAGS, set(flags) - M.MESOS_MASTER_FLAGS
        assert flags["zk"] == "zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/mesos"
        assert flags["quorum"] == "2"
        assert flags["ip"] == flags["hostname"] == ip
        assert flags["cluster"] == "sample"
        assert flags["authenticate_agents"] == flags["authenticate_frameworks"] == "true"
        assert flags["credentials"] == "/run/credentials/mesos-master.service/credentials.json"


def test_rendered_agent_flags(rendered):
    flags = _env_flags(rendered / "slave-1-mesos-slave.env")
    assert set(flags) <= M.MESOS_AGENT_FLAGS, set(flags) - M.MESOS_AGENT_FLAGS
    assert flags["master"] == "zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/mesos"
    assert flags["containerizers"] == "docker,mesos"
    assert flags["resources"] == "cpus:8;disk:100000;mem:15360" or flags["resources"] == (
        "cpus:8;mem:15360;disk:100000"
    )
    assert sorted(flags["attributes"].split(";")) == ["rack:r1", "shared_fs:nfs"]
    assert flags["credential"] == "/etc/mesos/agent-credential.json"
    plain = _env_flags(rendered / "slave-2-mesos-slave.env")
    assert "resources" not in plain and "attributes" not in plain, "empty resources/attributes are left out"


def test_rendered_units_run_the_binaries_with_the_env_files(rendered):
    master_unit = (rendered / "master-1-mesos-master.service").read_text()
    assert "EnvironmentFile=/etc/mesos/master.env" in master_unit
    assert "User=mesos" in master_unit
    assert "LoadCredential=credentials.json:/etc/mesos/credentials.json" in master_unit
    assert _exec_start(rendered / "master-1-mesos-master.service") == ["/usr/sbin/mesos-master"]
    slave_unit = (rendered / "slave-1-mesos-slave.service").read_text()
    assert "EnvironmentFile=/etc/mesos/slave.env" in slave_unit and "User=" not in slave_unit
    assert "KillMode=process" in slave_unit


def test_rendered_chronos_flags(rendered):
    argv = _exec_start(rendered / "master-1-chronos.service")
    assert argv[:4] == ["/usr/bin/java", "-Xmx512m", "-jar", "/opt/chronos/chronos.jar"]
    words = argv[4:]
    names = [w.removeprefix("--") for w in words if w.startswith("--")]
    assert set(names) <= M.CHRONOS_FLAGS, set(names) - M.CHRONOS_FLAGS
    flags = dict(zip(words[::2], words[1::2], strict=True))
    assert flags["--master"] == "zk://10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181/mesos"
    assert flags["--zk_hosts"] == "10.0.0.11:2181,10.0.0.12:2181,10.0.0.13:2181"
    assert flags["--http_port"] == "4400"
    assert flags["--user"] == "galaxy"
    assert "sample-http-password" not in " ".join(argv)


def test_a_typo_in_an_override_fails_the_run_naming_it(tmp_path):
    rc, log = _render(tmp_path, {"mesos_master_flags": {"quorom": 1}}, limit="master-1")
    assert rc != 0
    assert "'quorom' is not a flag of Mesos 1.11 master" in log and "did you mean 'quorum'" in log


def test_a_typo_in_a_chronos_override_fails_the_run_naming_it(tmp_path):
    rc, log = _render(tmp_path, {"chronos_flags": {"mesos_framwork_name": "x"}}, limit="master-1")
    assert rc != 0
    assert "'mesos_framwork_name' is not a flag of Chronos 3" in log


def test_an_override_reaches_the_rendered_file(tmp_path):
    rc, log = _render(
        tmp_path, {"mesos_slave_flags": {"docker_remove_delay": "1hrs", "docker_stop_timeout": None}}
    )
    assert rc == 0, log
    flags = _env_flags(tmp_path / "slave-1-mesos-slave.env")
    assert flags["docker_remove_delay"] == "1hrs" and "docker_stop_timeout" not in flags


def test_missing_install_source_fails_early_naming_the_variables(tmp_path):
    rc, log = _render(tmp_path, {"mesos_install_binaries": True}, limit="master-1")
    assert rc != 0
    assert "no install source is configured" in log
    assert "Set mesos_install_source (or mesos_master_install_source) to one of" in log
    assert "or set mesos_install_binaries (or mesos_master_install_binaries) to false" in log
