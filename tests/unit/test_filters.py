"""The toolkit's Jinja2 filters (filter_plugins/vre.py): each one's output, a clear error for each
kind of bad input, and the filters working through Ansible's own templating."""

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable

from filter_plugins import vre
from tests.ansible_run import run_ansible

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "filter_plugins"
NEVER_STAR = 'exports are restricted to the cluster\'s clients and never "*"'


F = vre.FilterModule().filters()


def _error(name: str, *args: Any) -> str:
    with pytest.raises(AnsibleFilterError) as err:
        F[name](*args)
    message = str(err.value)
    assert message.startswith(f"{name}: "), message
    return message


def test_filter_module_exposes_every_filter():
    assert set(F) == {
        "vre_zk_hosts",
        "vre_zk_url",
        "vre_quorum",
        "vre_nfs_clients",
        "vre_nfs_export_line",
        "vre_host_addresses",
        "vre_host_address",
        "vre_registry_addresses",
    }


# --- vre_zk_hosts / vre_zk_url ---------------------------------------------------------------------


def test_zk_hosts_default_port_and_order():
    assert F["vre_zk_hosts"](["h2", "h1"]) == "h2:2181,h1:2181"


@pytest.mark.parametrize("port", [2182, "2182"])
def test_zk_hosts_port_as_int_or_digit_string(port):
    assert F["vre_zk_hosts"](["h1", "10.0.0.2"], port) == "h1:2182,10.0.0.2:2182"


def test_zk_hosts_strips_whitespace_and_brackets_ipv6():
    assert F["vre_zk_hosts"]([" zk-1.example.org ", "fd00::1"]) == "zk-1.example.org:2181,[fd00::1]:2181"


def test_zk_hosts_accepts_a_tuple():
    assert F["vre_zk_hosts"](("a",), 1) == "a:1"


def test_zk_url_defaults():
    assert F["vre_zk_url"](["h1", "h2"]) == "zk://h1:2181,h2:2181/mesos"


def test_zk_url_port_and_path():
    assert F["vre_zk_url"](["h1"], "2888", "/vre/mesos") == "zk://h1:2888/vre/mesos"


@pytest.mark.parametrize(
    ("hosts", "port", "fragment"),
    [
        ([], 2181, "'hosts' is an empty list"),
        ("h1,h2", 2181, "'hosts' must be a list"),
        ({"h1": 1}, 2181, "'hosts' must be a list"),
        (None, 2181, "'hosts' must be a list"),
        (["h1", "h2", "h1"], 2181, "'h1' appears twice in 'hosts'"),
        (["h1", "H1"], 2181, "'H1' (same as 'h1') appears twice"),
        (["10.0.0.1", "fd00::1", "FD00:0::1"], 2181, "appears twice in 'hosts'"),
        (["h1", ""], 2181, "'hosts' contains an empty host name"),
        (["h1", 3], 2181, "every entry of 'hosts' must be a host name or address, got 3 (int)"),
        (["h1:2181"], 2181, "give host names without a port"),
        (["bad host"], 2181, "'bad host' in 'hosts' is not a valid host name"),
        (["-bad"], 2181, "'-bad' in 'hosts' is not a valid host name"),
        (["10.0.0.256"], 2181, "'10.0.0.256' in 'hosts' is not a valid host name or IP address"),
        (["h1"], 0, "'port' must be an integer from 1 to 65535"),
        (["h1"], 65536, "'port' must be an integer from 1 to 65535"),
        (["h1"], -1, "got -1 (int)"),
        (["h1"], "21x", "got '21x' (str)"),
        (["h1"], " 2181", "'port' must be an integer"),
        (["h1"], True, "got True (bool)"),
        (["h1"], 2181.0, "got 2181.0 (float)"),
        (["h1"], None, "'port' must be an integer"),
    ],
)
@pytest.mark.parametrize("name", ["vre_zk_hosts", "vre_zk_url"])
def test_zk_bad_hosts_and_ports_are_refused(name, hosts, port, fragment):
    assert fragment in _error(name, hosts, port)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("mesos", "'path' must start with '/'"),
        ("", "'path' must start with '/'"),
        ("/me sos", "'path' must not contain spaces"),
        ("/mesos\t", "'path' must not contain spaces"),
        ("/", "'path' must name a znode"),
        ("/mesos/", "trailing '/'"),
        ("//mesos", "'path' must name a znode"),
        ("/vre/../mesos", "'path' must name a znode"),
        (5, "'path' must be a znode path string"),
        (None, "'path' must be a znode path string"),
    ],
)
def test_zk_url_bad_paths_are_refused(path, fragment):
    assert fragment in _error("vre_zk_url", ["h1"], 2181, path)


# --- vre_quorum ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "quorum"),
    [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4), (["a"], 1), (["a", "b", "c"], 2), (("a", "b"), 2)],
)
def test_quorum_is_a_majority(members, quorum):
    assert F["vre_quorum"](members) == quorum


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        (0, "'members' must be an integer > 0 (the ensemble size), got 0"),
        (-3, "got -3"),
        (True, "got True (bool)"),
        (False, "got False (bool)"),
        ([], "'members' is an empty list"),
        ("3", "got the string '3'; use '| int'"),
        (None, "'members' must be a list"),
        (3.0, "'members' must be a list"),
        ({"a": 1}, "'members' must be a list"),
        (["a", "b", "a"], "'a' appears twice in 'members'"),
    ],
)
def test_quorum_bad_members_are_refused(members, fragment):
    assert fragment in _error("vre_quorum", members)


# --- vre_nfs_clients -------------------------------------------------------------------------------


def test_nfs_clients_accepts_addresses_networks_and_host_names_stripped():
    clients = [
        " 10.0.0.1",
        "10.0.1.0/24 ",
        "10.0.2.0/255.255.255.0",
        "fd00::1",
        "fd00:1::/64",
        "galaxy-1.vre",
    ]
    assert F["vre_nfs_clients"](clients) == [
        "10.0.0.1",
        "10.0.1.0/24",
        "10.0.2.0/255.255.255.0",
        "fd00::1",
        "fd00:1::/64",
        "galaxy-1.vre",
    ]


@pytest.mark.parametrize(
    ("clients", "fragment"),
    [
        (["*"], "client '*' is a wildcard"),
        (["10.0.0.1", " * "], "client '*' is a wildcard"),
        (["*.example.org"], "client '*.example.org' is a wildcard"),
        (["host?"], "client 'host?' is a wildcard"),
        (["0.0.0.0/0"], "client '0.0.0.0/0' is the whole world"),
        (["::/0"], "client '::/0' is the whole world"),
        (["10.0.0.0/0"], "client '10.0.0.0/0' is the whole world"),
        (["0.0.0.0/0.0.0.0"], "is the whole world"),
        (["0.0.0.0"], "the unspecified address"),
        ([], "'clients' is empty"),
        (["10.0.0.1", "10.0.0.1 "], "'10.0.0.1' appears twice in 'clients'"),
        (["10.0.0.0/24", "10.0.0.5/24"], "appears twice in 'clients'"),
        (["galaxy", "GALAXY"], "appears twice in 'clients'"),
        (["  "], "'clients' contains an empty entry"),
        (["10.0.0.0/33"], "client '10.0.0.0/33' is not a valid CIDR network"),
        (["@netgroup"], "client '@netgroup' is not an IPv4/IPv6 address, CIDR network or host name"),
        (["host(rw)"], "is not an IPv4/IPv6 address, CIDR network or host name"),
        (["a b"], "is not an IPv4/IPv6 address, CIDR network or host name"),
        ([None], "every client must be an address, CIDR network or host name, got None"),
        ("10.0.0.1", "'clients' must be a list"),
        (None, "'clients' must be a list"),
    ],
)
def test_nfs_clients_refuses_wildcards_world_and_bad_specs(clients, fragment):
    message = _error("vre_nfs_clients", clients)
    assert fragment in message
    assert NEVER_STAR in message


# --- vre_nfs_export_line ---------------------------------------------------------------------------


def test_export_line_from_a_list_of_options():
    line = F["vre_nfs_export_line"](
        "/srv/vre/galaxy", ["10.0.0.1", "10.0.0.2"], ["rw", "sync", "root_squash", "no_subtree_check"]
    )
    assert line == (
        "/srv/vre/galaxy 10.0.0.1(rw,sync,root_squash,no_subtree_check) "
        "10.0.0.2(rw,sync,root_squash,no_subtree_check)"
    )


def test_export_line_from_a_comma_string_with_valued_options():
    line = F["vre_nfs_export_line"](
        "/srv/vre/galaxy",
        [" 10.0.0.0/24 "],
        "rw, sync,all_squash,anonuid=1450,anongid=1450,sec=krb5p:sys,fsid=root,crossmnt,nohide,no_wdelay",
    )
    assert line == (
        "/srv/vre/galaxy 10.0.0.0/24"
        "(rw,sync,all_squash,anonuid=1450,anongid=1450,sec=krb5p:sys,fsid=root,crossmnt,nohide,no_wdelay)"
    )


@pytest.mark.parametrize(
    "option",
    [
        "ro",
        "async",
        "no_root_squash",
        "no_all_squash",
        "subtree_check",
        "secure",
        "insecure",
        "wdelay",
        "fsid=7",
        "fsid=6e0f1b2c-3d4e-5f60-7182-93a4b5c6d7e8",
        "sec=sys",
    ],
)
def test_export_line_accepts_each_documented_option(option):
    assert F["vre_nfs_export_line"]("/x", ["h"], [option]) == f"/x h({option})"


@pytest.mark.parametrize(
    ("path", "clients", "options", "fragment"),
    [
        ("srv/vre", ["h"], ["rw"], "'path' must be absolute"),
        ("", ["h"], ["rw"], "'path' must be absolute"),
        ("/srv/my vre", ["h"], ["rw"], "'path' must not contain spaces"),
        (None, ["h"], ["rw"], "'path' must be an absolute path string"),
        ("/srv", ["*"], ["rw"], NEVER_STAR),
        ("/srv", [], ["rw"], "'clients' is empty"),
        ("/srv", ["h", "h"], ["rw"], "'h' appears twice in 'clients'"),
        ("/srv", ["h"], [], "'options' is an empty list"),
        ("/srv", ["h"], "", "'options' is empty"),
        ("/srv", ["h"], None, "'options' must be a list"),
        ("/srv", ["h"], ["rw", 1], "every export option must be a string, got 1 (int)"),
        ("/srv", ["h"], ["rw", "bogus"], "unknown export option 'bogus'"),
        ("/srv", ["h"], "rw,RW", "unknown export option 'RW'"),
        ("/srv", ["h"], "rw,,sync", "'options' contains an empty option"),
        ("/srv", ["h"], ["rw", "sync", "rw"], "export option 'rw' is given twice"),
        ("/srv", ["h"], ["sec=sys", "sec=krb5"], "export option 'sec' is given twice"),
        ("/srv", ["h"], ["rw", "ro"], "export options 'rw' and 'ro' contradict each other"),
        ("/srv", ["h"], ["sync", "async"], "'sync' and 'async' contradict"),
        ("/srv", ["h"], ["root_squash", "no_root_squash"], "'root_squash' and 'no_root_squash' contradict"),
        ("/srv", ["h"], ["rw=1"], "export option 'rw' takes no value"),
        ("/srv", ["h"], ["anonuid"], "export option 'anonuid' has a bad value"),
        ("/srv", ["h"], ["anonuid=-1"], "export option 'anonuid=-1' has a bad value"),
        ("/srv", ["h"], ["anongid=x"], "export option 'anongid=x' has a bad value"),
        ("/srv", ["h"], ["sec=krb6"], "export option 'sec=krb6' has a bad value"),
        ("/srv", ["h"], ["fsid=nope"], "export option 'fsid=nope' has a bad value"),
    ],
)
def test_export_line_bad_input_is_refused(path, clients, options, fragment):
    assert fragment in _error("vre_nfs_export_line", path, clients, options)


# --- vre_host_addresses ----------------------------------------------------------------------------


HOSTVARS = {
    "private": {"vre_private_address": "192.168.5.1", "ansible_default_ipv4": {"address": "10.0.0.9"}},
    "facts": {"ansible_default_ipv4": {"address": "10.0.0.2"}},
    "facts_dict": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.3"}}},
    "empty_private": {"vre_private_address": "", "ansible_default_ipv4": {"address": "10.0.0.4"}},
    "none": {"inventory_hostname": "none"},
    "no_route": {"ansible_default_ipv4": {}},
    "bad_address": {"vre_private_address": ["10.0.0.5"]},
    "typo_address": {"vre_private_address": "192.0.2.300"},
    "port_address": {"vre_private_address": "192.0.2.3:22"},
    "name_address": {"vre_private_address": "vre-galaxy.example.org"},
    "v6_address": {"vre_private_address": "fd00::5"},
}


def test_host_addresses_prefer_private_address_then_facts_in_order():
    hosts = ["facts", "private", "facts_dict", "empty_private"]
    assert F["vre_host_addresses"](hosts, HOSTVARS) == ["10.0.0.2", "192.168.5.1", "10.0.0.3", "10.0.0.4"]


def test_host_addresses_of_no_hosts_is_empty():
    assert F["vre_host_addresses"]([], HOSTVARS) == []


def test_host_addresses_take_host_names_and_ipv6():
    hosts = ["name_address", "v6_address"]
    assert F["vre_host_addresses"](hosts, HOSTVARS) == ["vre-galaxy.example.org", "fd00::5"]


class _LazyHostVars(Mapping):
    """Like Ansible's HostVarsVars: templating on access, which fails for an undefined reference."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if value == "{{ undefined }}":
            raise AnsibleUndefinedVariable("'ansible_default_ipv4' is undefined")
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_host_addresses_fall_back_to_facts_when_private_address_is_undefined():
    hostvars = {
        "h": _LazyHostVars(
            {"vre_private_address": "{{ undefined }}", "ansible_default_ipv4": {"address": "10.0.0.7"}}
        )
    }
    assert F["vre_host_addresses"](["h"], hostvars) == ["10.0.0.7"]


@pytest.mark.parametrize(
    ("hosts", "hostvars", "fragment"),
    [
        (["none"], HOSTVARS, "host none has no address: set vre_private_address for it or gather facts"),
        (["facts", "no_route"], HOSTVARS, "host no_route has no address"),
        (["h"], {"h": _LazyHostVars({"vre_private_address": "{{ undefined }}"})}, "host h has no address"),
        (["ghost"], HOSTVARS, "host 'ghost' is not in the inventory"),
        ([""], HOSTVARS, "every entry of 'hostnames' must be an inventory host name"),
        ([None], HOSTVARS, "every entry of 'hostnames' must be an inventory host name, got None"),
        ("facts", HOSTVARS, "'hostnames' must be a list"),
        (["facts"], None, "'hostvars' must be the hostvars mapping"),
        (["facts"], ["facts"], "'hostvars' must be the hostvars mapping"),
        (["bad_address"], HOSTVARS, "host bad_address: vre_private_address must be an address"),
        (["typo_address"], HOSTVARS, "host typo_address: vre_private_address is '192.0.2.300', not a valid"),
        (["port_address"], HOSTVARS, "host port_address: vre_private_address is '192.0.2.3:22', not a valid"),
    ],
)
def test_host_addresses_bad_input_is_refused(hosts, hostvars, fragment):
    assert fragment in _error("vre_host_addresses", hosts, hostvars)


# --- vre_host_address: the same rule, "" while a host has no address yet -----------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("private", "192.168.5.1"),
        ("facts", "10.0.0.2"),
        ("facts_dict", "10.0.0.3"),
        ("v6_address", "fd00::5"),
    ],
)
def test_host_address_follows_the_same_rule(host, expected):
    assert F["vre_host_address"](host, HOSTVARS) == expected == F["vre_host_addresses"]([host], HOSTVARS)[0]


@pytest.mark.parametrize("host", ["none", "no_route", "ghost", "", None])
def test_host_address_is_empty_while_a_host_has_none(host):
    assert F["vre_host_address"](host, HOSTVARS) == ""


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("typo_address", "vre_private_address is '192.0.2.300', not a valid"),
        ("port_address", "vre_private_address is '192.0.2.3:22', not a valid"),
    ],
)
def test_host_address_still_refuses_a_bad_address(host, fragment):
    assert fragment in _error("vre_host_addresses", [host], HOSTVARS)
    with pytest.raises(AnsibleFilterError, match="not a valid"):
        F["vre_host_address"](host, HOSTVARS)


def test_host_address_needs_hostvars():
    with pytest.raises(AnsibleFilterError, match="vre_host_address: 'hostvars' must be the hostvars mapping"):
        F["vre_host_address"]("facts", None)


# --- through Ansible's templating ------------------------------------------------------------------


def _adhoc(tmp_path: Path, expression: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_ansible(
        "ansible",
        *("localhost", "-i", "localhost,", "-c", "local"),
        *("-m", "ansible.builtin.debug", "-a", f"msg={expression}", *extra),
        env={"ANSIBLE_FILTER_PLUGINS": str(PLUGIN_DIR), "ANSIBLE_LOCAL_TEMP": str(tmp_path)},
        timeout=120,
    )


def test_zk_url_through_ansible_templating(tmp_path):
    run = _adhoc(tmp_path, "{{ ['a','b','c'] | vre_zk_url }}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "zk://a:2181,b:2181,c:2181/mesos" in run.stdout, run.stdout


def test_host_addresses_with_ansible_hostvars(tmp_path):
    run = _adhoc(
        tmp_path, "{{ ['localhost'] | vre_host_addresses(hostvars) }}", "-e", "vre_private_address=10.9.8.7"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "10.9.8.7" in run.stdout, run.stdout


def test_filter_error_surfaces_through_ansible(tmp_path):
    run = _adhoc(tmp_path, "{{ ['*'] | vre_nfs_clients }}")
    assert run.returncode != 0, run.stdout
    assert "client '*' is a wildcard" in run.stdout + run.stderr


# --- vre_registry_addresses ------------------------------------------------------------------------


def test_registry_addresses_are_the_credentials_port_and_with_anonymous_pull_the_public_one():
    f = F["vre_registry_addresses"]
    assert f("10.0.0.7:5000") == ["10.0.0.7:5000"]
    assert f("10.0.0.7:5000", False, 5001) == ["10.0.0.7:5000"]
    assert f("10.0.0.7:5000", True, 5001) == ["10.0.0.7:5000", "10.0.0.7:5001"]
    named = ["registry.example.org:443", "registry.example.org:8443"]
    assert f("registry.example.org:443", "yes", "8443") == named
    assert f("") == []
    assert f("", True, 5001) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("10.0.0.7",), "'10.0.0.7' must be host:port"),
        ((":5000",), "must be host:port"),
        (("10.0.0.7:http",), "must be host:port"),
        (("10.0.0.7:70000",), "70000"),
        ((None,), "must be a string host:port"),
        (("10.0.0.7:5000", "maybe", 5001), "anonymous_pull must be true or false"),
        (("10.0.0.7:5000", True, 0), "port"),
    ],
)
def test_registry_addresses_refuse_what_is_not_an_address(args, message):
    with pytest.raises(AnsibleFilterError, match="vre_registry_addresses") as error:
        F["vre_registry_addresses"](*args)
    assert message in str(error.value)
