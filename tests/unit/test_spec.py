"""The cluster spec: parsing, node naming, and a clear error for each kind of bad input."""

import pytest

from vrecloud.spec import SpecError, load_spec, parse_spec


def test_short_and_long_forms_give_named_nodes():
    spec = parse_spec(
        {
            "cluster": "demo",
            "groups": {
                "nfs_server": {"count": 1, "volumes": ["/srv/vre"]},
                "mesos_masters": 1,
                "mesos_slaves": {"count": 2, "extra_groups": ["nfs_clients"]},
                "galaxy": 1,
            },
        }
    )
    nodes = {n.name: n for n in spec.nodes()}
    assert sorted(nodes) == [
        "demo-galaxy-1",
        "demo-mesos-masters-1",
        "demo-mesos-slaves-1",
        "demo-mesos-slaves-2",
        "demo-nfs-server-1",
    ]
    assert nodes["demo-mesos-slaves-2"].groups == ("mesos_slaves", "nfs_clients")
    assert nodes["demo-nfs-server-1"].volumes == ("/srv/vre",)


def test_zero_count_creates_no_node():
    assert parse_spec({"cluster": "c", "groups": {"galaxy": 0}}).nodes() == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "expected a mapping"),
        ({"cluster": "Bad Name", "groups": {"galaxy": 1}}, "'cluster'"),
        ({"cluster": "c"}, "'groups'"),
        ({"cluster": "c", "groups": {"galaxy": 1}, "extra": 1}, "unknown top-level keys"),
        ({"cluster": "c", "groups": {"webservers": 1}}, "unknown group 'webservers'"),
        ({"cluster": "c", "groups": {"galaxy": -1}}, "groups.galaxy.count"),
        ({"cluster": "c", "groups": {"galaxy": True}}, "groups.galaxy"),
        ({"cluster": "c", "groups": {"galaxy": {"count": 1, "flavour": "x"}}}, "unknown keys ['flavour']"),
        (
            {"cluster": "c", "groups": {"galaxy": {"count": 1, "extra_groups": ["nope"]}}},
            "unknown group 'nope'",
        ),
        ({"cluster": "c", "groups": {"galaxy": {"count": 1, "volumes": ["rel/path"]}}}, "absolute paths"),
        ({"cluster": "c", "groups": {"nfs_server": 2}}, "nfs_server.count must be 0 or 1"),
        (
            {"cluster": "c", "groups": {"galaxy": {"count": 1, "shared_volumes": ["srv"]}}},
            "groups.galaxy.shared_volumes must be a list of absolute paths",
        ),
        (
            {
                "cluster": "c",
                "groups": {"galaxy": {"count": 1, "volumes": ["/srv"], "shared_volumes": ["/srv"]}},
            },
            "/srv is in both volumes and shared_volumes",
        ),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(data, fragment):
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert fragment in str(err.value)


def test_default_local_spec_is_valid():
    spec = load_spec("inventories/specs/local.yml")
    groups = {g for n in spec.nodes() for g in n.groups}
    assert {"nfs_server", "nfs_clients", "galaxy"} <= groups


def test_missing_spec_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yml")


def test_shared_volumes_are_given_to_each_node_of_the_group():
    spec = parse_spec(
        {
            "cluster": "c",
            "groups": {
                "galaxy": {"count": 1, "volumes": ["/var/lib/docker"], "shared_volumes": ["/srv/vre"]},
                "kube_control_plane": 1,
                "kube_nodes": {"count": 2, "shared_volumes": ["/srv/vre"]},
            },
        }
    )
    nodes = {n.name: n for n in spec.nodes()}
    assert nodes["c-galaxy-1"].volumes == ("/var/lib/docker",)
    assert nodes["c-galaxy-1"].shared_volumes == ("/srv/vre",)
    assert nodes["c-kube-nodes-2"].shared_volumes == ("/srv/vre",)
    assert nodes["c-kube-control-plane-1"].shared_volumes == ()
