"""playbooks/preflight.yml against the inventories in tests/fixtures/preflight/.

Every fixture host uses the local connection (this machine runs Debian 12), except the one host
of unreachable.yml, which points ssh at a closed port.
"""

import re
from pathlib import Path

import pytest

from tests.ansible_run import output, run_ansible

ROOT = Path(__file__).resolve().parent.parent
PREFLIGHT = ROOT / "playbooks" / "preflight.yml"
FIXTURES = ROOT / "tests" / "fixtures" / "preflight"


def run_playbook(playbook: Path, inventory: str, *args: str) -> tuple[int, str]:
    """Run ansible-playbook like a user would; return its exit code and its output."""
    proc = run_ansible("ansible-playbook", "-i", str(FIXTURES / inventory), str(playbook), *args)
    return proc.returncode, output(proc)


def error_lines(output: str) -> str:
    """The one-line `[ERROR]: ...` messages (the YAML callback wraps the `msg:` copies)."""
    return "\n".join(line for line in output.splitlines() if line.startswith("[ERROR]"))


def test_valid_inventory_passes():
    rc, out = run_playbook(PREFLIGHT, "valid.yml")
    assert rc == 0, out
    assert "TASK [vre_preflight : Gather facts once for the later plays]" in out
    assert "failed=1" not in out


def test_valid_kubernetes_inventory_passes():
    rc, out = run_playbook(PREFLIGHT, "kube_valid.yml")
    assert rc == 0, out
    assert "TASK [vre_preflight : Gather facts once for the later plays]" in out


@pytest.mark.parametrize(
    ("inventory", "expected"),
    [
        pytest.param("empty.yml", ["The inventory has no hosts", "nfs_server"], id="empty-inventory"),
        pytest.param(
            "no_nfs_server.yml",
            ["Group nfs_server has 0 hosts", "add one host to group nfs_server"],
            id="no-nfs-server",
        ),
        pytest.param(
            "two_nfs_servers.yml",
            ["Group nfs_server has 2 hosts (n1, n2)", "keep one host in group nfs_server"],
            id="two-nfs-servers",
        ),
        pytest.param(
            "even_zookeeper.yml",
            ["Group zookeeper has 2 hosts (z1, z2)", "odd ensemble", "majority quorum"],
            id="even-zookeeper",
        ),
        pytest.param(
            "even_mesos_masters.yml",
            ["defaults to group mesos_masters, which has 2 hosts (m1, m2)", "odd ensemble"],
            id="even-mesos-masters-without-zookeeper",
        ),
        pytest.param(
            "slaves_without_masters.yml",
            ["mesos_slaves/chronos have hosts (c1)", "add at least one host", "group mesos_masters"],
            id="mesos-slaves-without-masters",
        ),
        pytest.param(
            "two_registries.yml",
            ["Group registry has 2 hosts (r1, r2)", "keep one host in group registry"],
            id="two-registries",
        ),
        pytest.param(
            "registry_without_pull_password.yml",
            ["vre_registry_pull_password is not set", "(c1)"],
            id="registry-without-pull-password",
        ),
        pytest.param(
            "mesos_without_source.yml",
            ["has no install source", "mesos_install_source", "mesos_install_binaries: false"],
            id="mesos-without-install-source",
        ),
        pytest.param(
            "kube_without_source.yml",
            [
                "Host c1 (kube_nodes) has no install source",
                "kubernetes_install_source",
                "kubernetes_install_binaries: false",
            ],
            id="kubernetes-without-install-source",
        ),
        pytest.param(
            "kube_nodes_without_control_plane.yml",
            ["Group kube_nodes has hosts (c1) but group kube_control_plane has none"],
            id="kube-nodes-without-control-plane",
        ),
        pytest.param(
            "even_kube_control_plane.yml",
            ["Group kube_control_plane has 2 hosts (k1, k2)", "odd number of members"],
            id="even-kube-control-plane",
        ),
        pytest.param(
            "kube_control_planes_without_endpoint.yml",
            ["Group kube_control_plane has 3 hosts but", "kubernetes_control_plane_endpoint is not set"],
            id="kube-control-planes-without-endpoint",
        ),
        pytest.param(
            "uid_differs.yml",
            [
                "vre_galaxy_uid must be the same on every host",
                "It is 1450 on 2 host(s)",
                "differs on: c2 (1451)",
            ],
            id="galaxy-uid-differs-on-one-host",
        ),
        pytest.param(
            "gid_out_of_range.yml",
            ["vre_galaxy_gid is 70000 on host c1", "integer in 1000..59999"],
            id="galaxy-gid-out-of-range",
        ),
    ],
)
@pytest.mark.bad_input
def test_invalid_inventory_fails(inventory, expected):
    rc, out = run_playbook(PREFLIGHT, inventory)
    assert rc != 0, out
    errors = error_lines(out)
    for text in expected:
        assert text in errors, out
    # Nothing was connected to: inventory and variable checks come before any host is contacted.
    assert "TASK [vre_preflight : Wait for every host to answer]" not in out


@pytest.mark.bad_input
def test_example_secrets_are_named_but_never_printed():
    # -vvv: even verbose output must not carry a secret value.
    rc, out = run_playbook(PREFLIGHT, "example_secrets.yml", "-vvv")
    assert rc != 0, out
    errors = error_lines(out)
    assert "Host c1 has secrets that are empty or left at an example value" in errors, out
    assert "registry_password (example value)" in errors, out
    assert "galaxy_api_key (example value)" in errors, out
    assert "chronos_token (empty)" in errors, out
    assert "vault_db_secret" not in errors, out  # a real value is accepted
    # The fixture values, each unique in the output if they leaked at all.
    for value in (
        "ChangeMe-Qz7k41",
        "Qz7k41",
        "your-galaxy-api-key-Wp3n",
        "Wp3n",
        "Good-Secret-Value-Kj8r",
        "Kj8r",
    ):
        assert value not in out


def test_unreachable_host_is_named():
    rc, out = run_playbook(PREFLIGHT, "unreachable.yml")
    assert rc != 0, out
    summary = [line for line in error_lines(out).splitlines() if "did not answer" in line]
    assert len(summary) == 1, out
    # Exactly the unreachable host, not the reachable ones.
    hosts = re.search(r"These hosts did not answer within 3 s: (.*?)\. Check", summary[0])
    assert hosts is not None, out
    assert hosts.group(1) == "down1", out
    # Facts are not gathered once a host is known to be down.
    assert "TASK [vre_preflight : Gather facts once for the later plays]" not in out


@pytest.mark.parametrize(
    "args",
    [pytest.param(("--tags", "storage"), id="tags"), pytest.param(("--limit", "c1"), id="limit")],
)
def test_checks_run_under_tags_and_limit(args):
    rc, out = run_playbook(PREFLIGHT, "two_nfs_servers.yml", *args)
    assert rc != 0, out
    assert "Group nfs_server has 2 hosts (n1, n2)" in error_lines(out), out


WRAPPER = """\
---
- name: Preflight
  ansible.builtin.import_playbook: {preflight}

- name: A later play that changes hosts
  hosts: all:localhost
  gather_facts: false
  tasks:
    - name: Leave a marker
      ansible.builtin.copy:
        content: ran
        dest: "{marker_dir}/{{{{ inventory_hostname }}}}"
        mode: "0644"
"""


@pytest.mark.parametrize(
    ("inventory", "failure"),
    [
        pytest.param(None, None, id="control-valid-inventory-runs-later-play"),
        # The localhost play fails: no host at all.
        pytest.param("empty.yml", "The inventory has no hosts", id="empty-inventory"),
        # A run_once check fails on the first host only.
        pytest.param("two_nfs_servers.yml", "Group nfs_server has 2 hosts", id="run-once-check"),
        # A per-host check fails on one host (c1) only; n1 and c2 passed it.
        pytest.param("gid_out_of_range.yml", "vre_galaxy_gid is 70000 on host c1", id="per-host-check"),
        # After connection errors that the preflight itself ignored.
        pytest.param("unreachable.yml", "These hosts did not answer", id="unreachable-host"),
    ],
)
def test_nothing_runs_after_a_failed_preflight(tmp_path, inventory, failure):
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    wrapper = tmp_path / "site.yml"
    wrapper.write_text(WRAPPER.format(preflight=PREFLIGHT, marker_dir=marker_dir))

    rc, out = run_playbook(wrapper, inventory or "valid.yml")

    markers = sorted(path.name for path in marker_dir.iterdir())
    if failure is None:
        assert rc == 0, out
        assert markers == ["c1", "c2", "localhost", "n1"], out
    else:
        assert rc != 0, out
        assert failure in error_lines(out), out
        assert markers == [], out
        assert "A later play that changes hosts" not in out


# -- bad inputs refused by the roles' own rules and the raw-inventory checks, before any change ----


def variant(tmp_path: Path, base: str, edit) -> str:
    """A copy of fixture `base` changed by `edit(data)`, written under tmp_path."""
    import yaml

    data = yaml.safe_load((FIXTURES / base).read_text())
    edit(data)
    path = tmp_path / f"variant-{base}"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _children(data):
    return data["all"]["children"]


def _host_vars(data, group, host):
    hosts = _children(data)[group]["hosts"]
    hosts[host] = hosts.get(host) or {}
    return hosts[host]


def _set_all(**values):
    return lambda data: data["all"]["vars"].update(values)


def _lookalike_group(data):
    _children(data)["mesos_master"] = _children(data).pop("mesos_masters")


def _galaxy_host(**values):
    def edit(data):
        _children(data)["galaxy"] = {"hosts": {"c1": values or None}}

    return edit


def _pithos_token(token, **values):
    """galaxy_pithos.yml with the Pithos+ store's token (complete), and `values` on the Galaxy host."""

    def edit(data):
        host = _children(data)["galaxy"]["hosts"]["c1"]
        host["galaxy_object_store"]["backends"][1]["auth"]["token"] = token
        host.update(values)

    return edit


def _upper_case_node(data):
    nodes = _children(data)["kube_nodes"]["hosts"]
    nodes["Node_1"] = nodes.pop("c1")


def _with_registry(**values):
    """valid.yml with a registry (n1) and a Galaxy host (c1) that builds the tool images."""

    def edit(data):
        _children(data)["registry"] = {"hosts": {"n1": None}}
        _children(data)["galaxy"] = {"hosts": {"c1": None}}
        data["all"]["vars"].update(
            vre_registry_pull_password="Pull-Pass-5150", vre_registry_push_password="Push-Pass-6160", **values
        )

    return edit


def _slurm(controllers, workers, **values):
    """valid.yml with Slurm groups (and any cluster-wide values)."""

    def edit(data):
        if controllers:
            _children(data)["slurm_controller"] = {"hosts": dict.fromkeys(controllers)}
        _children(data)["slurm_workers"] = {"hosts": dict.fromkeys(workers)}
        data["all"]["vars"].update(values)

    return edit


def _uid_on_c2(data):
    _host_vars(data, "nfs_clients", "c2")["vre_galaxy_uid"] = 1451


BAD_INPUTS = {
    "misspelt-variable": (
        "valid.yml",
        _set_all(galaxy_db_pasword="Strong-Pass-88"),
        ["galaxy_db_pasword (did you mean galaxy_db_password?)"],
        [],
    ),
    "group-that-looks-like-ours": (
        "valid.yml",
        _lookalike_group,
        ["groups that look like the VRE's but are not: mesos_master (did you mean mesos_masters?)"],
        [],
    ),
    "secret-with-template-delimiters": (
        "valid.yml",
        _set_all(registry_password="Rq{{7x%}Zp-Delim"),
        ["registry_password (is not a valid template", "!unsafe"],
        [],
    ),
    "secret-in-a-list-left-at-an-example": (
        "valid.yml",
        _set_all(docker_registry_users=[{"name": "vre-push", "password": "changeme"}]),
        ["docker_registry_users[0].password (example value)"],
        [],
    ),
    "argument-spec-type": (
        "valid.yml",
        _galaxy_host(galaxy_gunicorn_workers="many"),
        ["role galaxy:", "galaxy_gunicorn_workers"],
        ["--limit", "c1"],
    ),
    "nfs-export-open-to-everyone": (
        "valid.yml",
        _set_all(nfs_server_allowed_clients=["*"]),
        ["nfs_server_allowed_clients: vre_nfs_clients: client '*' is a wildcard"],
        [],
    ),
    "kubernetes-node-name": (
        "kube_valid.yml",
        _upper_case_node,
        ['Kubernetes would register this node as "Node_1"', "lower-case DNS names"],
        [],
    ),
    # The galaxy role's own object-store rule, at any depth of the tree (the preflight used to
    # keep a copy of it that looked one level down): a Pithos+ store needs its token and project.
    "galaxy-pithos-store-without-its-token": (
        "galaxy_pithos.yml",
        lambda data: None,
        [
            "galaxy_object_store.backends[1].auth.token is not set: a pithos store needs it",
            "API token of the ~okeanos account",
        ],
        [],
    ),
    # A secret at any depth of a VRE variable: the Pithos+ token left at an example value.
    "galaxy-pithos-token-left-at-an-example": (
        "galaxy_pithos.yml",
        _pithos_token("changeme"),
        ["galaxy_object_store.backends[1].auth.token (example value)"],
        [],
    ),
    # A complete Pithos+ store, refused for Galaxy's own store's gaps unless the operator accepts them.
    "galaxy-pithos-complete-but-galaxy-cannot-write": (
        "galaxy_pithos.yml",
        _pithos_token("Pithos-Token-8f3a"),
        [
            "galaxy_object_store.backends[1]: a pithos store is complete, but Galaxy's own Pithos+ store",
            "cannot write a dataset",
            "galaxy_pithos_allow_unwritable: true",
        ],
        [],
    ),
    "galaxy-pithos-two-levels-down": (
        "valid.yml",
        _galaxy_host(
            galaxy_object_store={
                "type": "distributed",
                "backends": [
                    {"id": "files", "type": "disk", "files_dir": "/srv/vre/galaxy/objects"},
                    {
                        "id": "tiers",
                        "type": "hierarchical",
                        "backends": [
                            {
                                "id": "pithos",
                                "type": "pithos",
                                "auth": {
                                    "url": "https://accounts.okeanos.grnet.gr/identity/v2.0",
                                    "token": "Pithos-Token-8f3a",
                                },
                                "container": {"name": "galaxy"},
                            }
                        ],
                    },
                ],
            }
        ),
        ["galaxy_object_store.backends[1].backends[0].container.project is not set", "~okeanos project"],
        ["--limit", "c1"],
    ),
    "galaxy-relative-path": (
        "valid.yml",
        _galaxy_host(galaxy_data_dir="var/lib/galaxy"),
        ["var/lib/galaxy must be an absolute path"],
        ["--limit", "c1"],
    ),
    "kubernetes-install-source-shape": (
        "kube_valid.yml",
        _set_all(kubernetes_install_binaries=True, kubernetes_install_source={"type": "binaries"}),
        ["kubernetes_install_source on", "is malformed"],
        [],
    ),
    "host-address-typo": (
        "valid.yml",
        lambda data: _host_vars(data, "nfs_clients", "c1").update(vre_private_address="192.0.2.300"),
        ["host c1: vre_private_address is '192.0.2.300', not a valid IPv4/IPv6 address"],
        [],
    ),
    "docker-engine-mirror-without-scheme": (
        "valid.yml",
        lambda data: _host_vars(data, "mesos_slaves", "c2").update(
            docker_engine_registry_mirrors=["mirror.example.org"]
        ),
        ["docker_engine_registry_mirrors URLs must start with https://"],
        [],
    ),
    # The registry's metrics have no TLS or credentials: never answered to the whole world.
    "registry-metrics-for-the-whole-world": (
        "valid.yml",
        _with_registry(docker_registry_metrics_allow=["0.0.0.0/0"]),
        ["n1: docker_registry_metrics_allow must be a list of addresses", "never the whole world"],
        [],
    ),
    "tool-image-name": (
        "valid.yml",
        _with_registry(tool_images_list=[{"name": "VRE/BusyBox", "tag": "1.36", "context": "files/busybox"}]),
        ["tool_images_list on c1:", "lower-case repository `name`"],
        [],
    ),
    "kubernetes-namespace": (
        "kube_valid.yml",
        _set_all(galaxy_kubernetes_namespace="Galaxy_Jobs"),
        ["galaxy_kubernetes_namespace (Galaxy_Jobs)", "must be DNS labels"],
        [],
    ),
    "port-out-of-range": (
        "valid.yml",
        _set_all(zookeeper_client_port=70000),
        ["zookeeper_client_port, zookeeper_quorum_port and", "must be three different ports (got 70000"],
        [],
    ),
    "slurm-two-controllers": (
        "valid.yml",
        _slurm(["c1", "n1"], ["c2"]),
        ["group slurm_controller has 2 hosts (c1, n1)", "put exactly one host in group slurm_controller"],
        [],
    ),
    "slurm-workers-without-controller": (
        "valid.yml",
        _slurm([], ["c2"]),
        ["group slurm_controller has 0 hosts (none)"],
        [],
    ),
    "slurm-worker-without-the-share": (
        "valid.yml",
        _slurm(["c1"], ["n1-worker"]),
        ["Slurm worker n1-worker is in neither nfs_clients nor nfs_server"],
        [],
    ),
    "slurm-munge-key-too-short": (
        "valid.yml",
        _slurm(["c1"], ["c2"], slurm_munge_key="Short-Munge-4477"),
        ["slurm_munge_key on", "is not a usable munge key", "at least 32 characters"],
        [],
    ),
    "slurm-munge-key-left-at-an-example": (
        "valid.yml",
        _slurm(["c1"], ["c2"], slurm_munge_key="changeme"),
        ["slurm_munge_key (example value)"],
        [],
    ),
    "uid-differs-outside-the-limit": (
        "valid.yml",
        _uid_on_c2,
        ["vre_galaxy_uid must be the same on every host", "differs on: c2 (1451)"],
        ["--limit", "c1"],
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize(("base", "edit", "expected", "args"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_refused_before_any_change(tmp_path, base, edit, expected, args):
    inventory = variant(tmp_path, base, edit)
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    wrapper = tmp_path / "site.yml"
    wrapper.write_text(WRAPPER.format(preflight=PREFLIGHT, marker_dir=marker_dir))

    rc, out = run_playbook(wrapper, inventory, "-vvv", *args)

    assert rc != 0, out
    errors = error_lines(out)
    for text in expected:
        assert text in errors, out
    assert sorted(marker_dir.iterdir()) == [], "a later play ran"
    assert "Traceback" not in out
    for secret in (
        "Rq{{7x%}Zp-Delim",
        "7x%}Zp",
        "Strong-Pass-88",
        "Pull-Pass-5150",
        "Push-Pass-6160",
        "Short-Munge-4477",
        "Pithos-Token-8f3a",
    ):
        assert secret not in out, "a secret value was printed"


def test_the_roles_rules_run_in_site_order_whichever_host_comes_first(tmp_path):
    """One bad value that two roles on two hosts refuse: zookeeper's rule (c1) and mesos_slave's
    (c2, the ZooKeeper URL it builds). The roles' rule files run in site.yaml's order on every host,
    so zookeeper's message is the one reported, with c2 listed first in the inventory too (a loop
    over each host's own roles ran the files in the order the hosts' includes returned)."""

    def edit(data):
        _set_all(zookeeper_client_port=70000)(data)
        clients = _children(data)["nfs_clients"]["hosts"]
        _children(data)["nfs_clients"]["hosts"] = {"c2": clients["c2"], "c1": clients["c1"]}

    inventory = variant(tmp_path, "valid.yml", edit)
    for _ in range(2):
        rc, out = run_playbook(PREFLIGHT, inventory)
        assert rc != 0, out
        errors = error_lines(out)
        assert "must be three different ports (got 70000" in errors, out
        assert "vre_zk_url" not in errors, out
        first_zookeeper = out.index("TASK [zookeeper : ")
        assert out.find("TASK [mesos_slave : ") in (-1, *range(first_zookeeper, len(out))), out


def test_a_complete_pithos_store_is_accepted_when_its_gaps_are_accepted(tmp_path):
    inventory = variant(
        tmp_path, "galaxy_pithos.yml", _pithos_token("Pithos-Token-8f3a", galaxy_pithos_allow_unwritable=True)
    )
    rc, out = run_playbook(PREFLIGHT, inventory)
    assert rc == 0, out
    assert "Pithos-Token-8f3a" not in out


def test_an_empty_secret_the_role_generates_is_accepted(tmp_path):
    """galaxy_db_password: "" means "generate one" in the role; preflight agrees."""
    inventory = variant(tmp_path, "valid.yml", _galaxy_host(galaxy_db_password=""))
    rc, out = run_playbook(PREFLIGHT, inventory, "--limit", "c1")
    assert rc == 0, out


def test_a_vault_style_indirection_is_followed_and_checked(tmp_path):
    def edit(data):
        data["all"]["vars"].update(vault_registry="changeme", registry_password="{{ vault_registry }}")

    rc, out = run_playbook(PREFLIGHT, variant(tmp_path, "valid.yml", edit))
    assert rc != 0, out
    assert "registry_password (example value)" in error_lines(out), out
