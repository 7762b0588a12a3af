"""The cluster spec's cloud settings: per-provider values, defaults, security rules, and the
checks a spec must pass before a cloud provider creates anything (zero masters, flavor missing)."""

import pytest

from vrecloud.spec import SecurityRule, SpecError, load_spec, parse_spec, validate_for_cloud

BASE = {"cluster": "c", "ssh_key": "k", "defaults": {"image": "debian-12", "cpus": 2, "ram": 2048}}


def spec(groups, **top):
    return parse_spec({**BASE, **top, "groups": groups})


def test_per_provider_values_resolve_for_each_cloud():
    s = spec(
        {
            "galaxy": {
                "count": 1,
                "image": {"openstack": "debian-12", "okeanos": "Debian Base"},
                "public_ip": True,
            }
        },
        ssh_user={"okeanos": "user"},
        network={"openstack": "private", "okeanos": "vre-net"},
    )
    os_ = validate_for_cloud(s, "openstack")
    ok = validate_for_cloud(s, "okeanos")
    assert (os_.nodes()[0].image, ok.nodes()[0].image) == ("debian-12", "Debian Base")
    assert (os_.ssh_user, ok.ssh_user) == ("debian", "user")
    assert (os_.network, ok.network) == ("private", "vre-net")
    assert os_.nodes()[0].public_ip is True


def test_group_settings_win_over_defaults():
    s = spec({"galaxy": {"count": 1, "flavor": "m1.large"}, "nfs_server": {"count": 1, "ram": 8192}})
    nodes = {n.name: n for n in validate_for_cloud(s, "openstack").nodes()}
    assert (nodes["c-galaxy-1"].flavor, nodes["c-galaxy-1"].cpus, nodes["c-galaxy-1"].ram) == (
        "m1.large",
        None,
        None,
    )
    assert (nodes["c-nfs-server-1"].cpus, nodes["c-nfs-server-1"].ram) == (2, 8192)


def test_security_rules_are_parsed():
    s = spec(
        {"galaxy": 1}, security_rules=[22, {"port": "8000-8100", "cidr": "10.0.0.0/8"}, {"protocol": "icmp"}]
    )
    assert s.security_rules == [
        SecurityRule("tcp", 22, 22, "0.0.0.0/0"),
        SecurityRule("tcp", 8000, 8100, "10.0.0.0/8"),
        SecurityRule("icmp", None, None, "0.0.0.0/0"),
    ]


def test_local_provider_ignores_cloud_keys():
    s = spec({"nfs_server": {"count": 1, "volumes": ["/srv/vre"], "flavor": "x", "public_ip": True}})
    assert [n.name for n in s.for_provider("local").nodes()] == ["c-nfs-server-1"]


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        ({"mesos_slaves": 2}, "groups.mesos_slaves has hosts but there are zero mesos_masters"),
        ({"chronos": 1, "mesos_masters": 0}, "zero mesos_masters"),
        ({"kube_nodes": 1}, "zero kube_control_plane"),
        ({"galaxy": {"count": 1, "cpus": 0}}, "groups.galaxy.cpus must be a whole number > 0"),
        ({"galaxy": {"count": 1, "ram": "2G"}}, "groups.galaxy.ram must be a whole number > 0 (MiB)"),
        ({"galaxy": {"count": 1, "public_ip": "yes"}}, "groups.galaxy.public_ip must be true or false"),
        ({"galaxy": {"count": 1, "image": {"aws": "x"}}}, "unknown providers ['aws']"),
        ({"galaxy": {"count": 1, "flavor": 3}}, "groups.galaxy.flavor must be a non-empty string"),
    ],
)
def test_bad_groups_are_refused(groups, fragment):
    with pytest.raises(SpecError) as err:
        spec(groups)
    assert fragment in str(err.value)


def test_masters_from_extra_groups_count():
    s = spec({"zookeeper": {"count": 3, "extra_groups": ["mesos_masters"]}, "mesos_slaves": 2})
    assert len(s.nodes()) == 5


@pytest.mark.parametrize(
    ("top", "fragment"),
    [
        ({"security_rules": [{"port": 70000}]}, "security_rules[0].port must be a port"),
        ({"security_rules": [{"port": 22, "protocol": "sctp"}]}, "protocol must be tcp, udp or icmp"),
        ({"security_rules": [{"port": 22, "cidr": "anywhere"}]}, "cidr must be an address range"),
        ({"security_rules": [{"protocol": "icmp", "port": 1}]}, "icmp rules take no port"),
        ({"security_rules": "22"}, "security_rules must be a list"),
        ({"ssh_port": 0}, "ssh_port must be a port number"),
        ({"defaults": {"count": 2}}, "defaults: unknown keys ['count']"),
        ({"ssh_key": ""}, "ssh_key must be a non-empty string"),
        ({"flavour": "x"}, "unknown top-level keys ['flavour']"),
    ],
)
def test_bad_top_level_settings_are_refused(top, fragment):
    with pytest.raises(SpecError) as err:
        spec({"galaxy": 1}, **top)
    assert fragment in str(err.value)


def test_cloud_validation_reports_every_missing_setting_at_once():
    s = parse_spec(
        {
            "cluster": "c",
            "groups": {"galaxy": 1, "nfs_server": {"count": 1, "flavor": "m1", "cpus": 2}, "registry": 0},
        }
    )
    with pytest.raises(SpecError) as err:
        validate_for_cloud(s, "okeanos")
    msg = str(err.value)
    assert "not ready for okeanos" in msg
    assert "ssh_key: name the key pair" in msg
    assert "groups.galaxy: flavor missing" in msg
    assert "groups.galaxy: image missing" in msg
    assert "groups.nfs_server: set either 'flavor' or 'cpus' + 'ram', not both" in msg
    assert "registry" not in msg  # a group of 0 hosts needs nothing


def test_a_value_for_another_provider_only_is_missing_here():
    s = spec({"galaxy": {"count": 1, "image": {"openstack": "debian-12"}}})
    validate_for_cloud(s, "openstack")
    with pytest.raises(SpecError, match=r"groups\.galaxy: image missing"):
        validate_for_cloud(s, "okeanos")


def test_local_is_not_a_cloud_provider():
    with pytest.raises(SpecError, match="not a cloud provider"):
        validate_for_cloud(spec({"galaxy": 1}), "local")


def test_example_cloud_spec_is_ready_for_both_clouds():
    s = load_spec("inventories/specs/cloud.yml")
    for provider in ("openstack", "okeanos"):
        nodes = validate_for_cloud(s, provider).nodes()
        assert {g for n in nodes for g in n.groups} >= {"nfs_server", "nfs_clients", "galaxy"}


@pytest.mark.parametrize(
    ("groups", "ssh_via", "fragment"),
    [
        ({"galaxy": 1}, "registry", "ssh_via must name a group of this spec"),
        (
            {"galaxy": 1, "nfs_server": 1},
            "galaxy",
            "ssh_via: galaxy is the jump host group, so it needs public_ip",
        ),
        ({"galaxy": {"count": 0, "public_ip": True}, "nfs_server": 1}, "galaxy", "group galaxy has no hosts"),
    ],
)
def test_ssh_via_must_be_a_public_group_with_hosts(groups, ssh_via, fragment):
    with pytest.raises(SpecError) as err:
        validate_for_cloud(spec(groups, ssh_via=ssh_via), "openstack")
    assert fragment in str(err.value)
