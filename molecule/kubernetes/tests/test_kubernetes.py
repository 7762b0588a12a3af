"""The Kubernetes layer on a control plane (also the registry host) and a worker (also the Galaxy
host), checked across hosts.

No-binary mode (what CI runs): containerd from Debian answers and runs with the rendered
configuration, trusts the private registry's CA through hosts.toml, and an image pushed to the
registry is pulled through it with `ctr --hosts-dir`; the kernel settings are written (and, where
this shared kernel allows, applied); the kubelet unit is installed and not enabled; the kubeadm
configuration and the manifests are rendered and valid. Full mode (VRE_KUBE_MIRROR) also checks
the cluster.
"""

import base64
import io
import json
import os
import shlex
import sys
import tomllib
import uuid
from pathlib import Path

import kubernetes_validate
import pytest
import testinfra
import yaml

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "tests"))
from test_kubernetes_manifests import KUBE_VERSION, check_kubeadm_document  # noqa: E402

FULL_MODE = bool(os.environ.get("VRE_KUBE_MIRROR"))
needs_binaries = pytest.mark.skipif(
    not FULL_MODE,
    reason="no-binary mode: VRE_KUBE_MIRROR not set, so kubeadm, kubelet and kubectl are not installed "
    "(no Kubernetes binaries are reachable from the CI machines)",
)
CERTS_DIR = "/etc/containerd/certs.d"
REGISTRY_CA = "/etc/docker/registry/tls/ca.crt"
SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}

testinfra_hosts = ["ansible://kube-cp-1"]


def _host(name):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def control_plane():
    return _host("kube-cp-1")


@pytest.fixture(scope="module")
def node():
    return _host("kube-node-1")


@pytest.fixture(scope="module", params=["kube-cp-1", "kube-node-1"])
def kube_host(request):
    return _host(request.param)


@pytest.fixture(scope="module")
def registry_address(control_plane):
    entries = control_plane.run(f"ls {CERTS_DIR}").stdout.split()
    assert len(entries) == 1, entries
    return entries[0]


def sh(host, command, ok=True):
    result = host.run(command)
    if ok:
        assert result.rc == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


# --- containerd ----------------------------------------------------------------------------------


def test_containerd_answers(kube_host):
    assert kube_host.service("containerd").is_running
    assert kube_host.service("containerd").is_enabled
    out = sh(kube_host, "ctr version").stdout
    server = out.split("Server:", 1)[1]
    assert "Version:" in server and "1.6." in server  # Debian 12's containerd


def test_containerd_runs_the_rendered_configuration(kube_host):
    # The effective configuration of the running daemon, not just the file.
    dump = tomllib.loads(sh(kube_host, "containerd config dump").stdout)
    cri = dump["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["config_path"] == CERTS_DIR
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["cni"]["bin_dir"] == "/opt/cni/bin"
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert "io.containerd.grpc.v1.cri" not in dump.get("disabled_plugins", [])


def test_containerd_trusts_the_registry_ca(kube_host, control_plane, registry_address):
    hosts = tomllib.loads(kube_host.file(f"{CERTS_DIR}/{registry_address}/hosts.toml").content_string)
    assert hosts["server"] == f"https://{registry_address}"
    assert hosts["host"][f"https://{registry_address}"]["ca"] == f"{CERTS_DIR}/{registry_address}/ca.crt"
    ca = kube_host.file(f"{CERTS_DIR}/{registry_address}/ca.crt")
    assert ca.mode == 0o644
    assert ca.content_string.strip() == control_plane.file(REGISTRY_CA).content_string.strip()


# A docker-archive image with one file, built without any registry or image tool.
BUILD_IMAGE = r"""
import hashlib, io, json, sys, tarfile
name, out, marker = sys.argv[1:4]
def add(tar, path, data):
    info = tarfile.TarInfo(path); info.size = len(data); info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    add(t, "marker.txt", marker.encode())
layer = layer.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer/layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    add(t, "layer/layer.tar", layer); add(t, config_name, config); add(t, "manifest.json", manifest)
"""


def test_image_pushed_to_the_registry_is_pulled_through_hosts_dir(control_plane, node, registry_address):
    image = f"{registry_address}/vre-test/hello:{uuid.uuid4().hex[:12]}"
    ns = "ctr -n vre-test"
    sh(control_plane, f"python3 -c {shlex.quote(BUILD_IMAGE)} {image} /tmp/hello.tar {uuid.uuid4().hex}")
    sh(control_plane, f"{ns} images import /tmp/hello.tar")
    sh(
        control_plane,
        f"{ns} images push --hosts-dir {CERTS_DIR} --user vre-ci:push-secret-for-molecule {image}",
    )
    # Without the hosts directory containerd does not know the registry's CA: TLS fails.
    refused = sh(node, f"{ns} images pull --user vre-pull:pull-secret-for-molecule {image}", ok=False)
    assert refused.rc != 0
    assert "certificate" in (refused.stderr + refused.stdout).lower()
    # With it (what the kubelet's CRI uses through config_path) the pull succeeds, as the pull user.
    sh(node, f"{ns} images pull --hosts-dir {CERTS_DIR} --user vre-pull:pull-secret-for-molecule {image}")
    assert image in sh(node, f"{ns} images ls -q").stdout.split()
    for host in (control_plane, node):
        host.run(f"{ns} images rm {image}")


# --- Kernel settings -----------------------------------------------------------------------------


def test_kernel_modules_and_sysctls_are_persisted(kube_host):
    modules = kube_host.file("/etc/modules-load.d/vre-kubernetes.conf").content_string.split()
    assert {"overlay", "br_netfilter"} <= set(modules)
    conf = kube_host.file("/etc/sysctl.d/90-vre-kubernetes.conf").content_string
    for name, value in SYSCTLS.items():
        assert f"{name} = {value}" in conf


@pytest.mark.parametrize("name", sorted(SYSCTLS))
def test_sysctl_is_in_effect(kube_host, name):
    path = "/proc/sys/" + name.replace(".", "/")
    if not kube_host.file(path).exists:
        pytest.skip(f"{name}: absent in this container (br_netfilter not loaded on this machine's kernel)")
    value = kube_host.file(path).content_string.strip()
    writable = kube_host.run(f"test -w {path}").rc == 0
    if not writable and value != SYSCTLS[name]:
        pytest.skip(
            f"{name} is {value} and /proc/sys is read-only in this container: the role could not set it "
            "(on VMs it must, and the role fails when it cannot)"
        )
    assert value == SYSCTLS[name]


# --- kubelet and kubeadm -------------------------------------------------------------------------


def test_kubelet_unit_and_kubeadm_dropin(kube_host):
    assert kube_host.file("/etc/systemd/system/kubelet.service").exists
    dropin = kube_host.file("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf").content_string
    assert "--config=/var/lib/kubelet/config.yaml" in dropin
    assert "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env" in dropin
    props = sh(kube_host, "systemctl show kubelet -p LoadState -p DropInPaths -p UnitFileState").stdout
    assert "LoadState=loaded" in props
    assert "10-kubeadm.conf" in props
    if FULL_MODE:
        assert kube_host.service("kubelet").is_enabled
    else:
        assert "UnitFileState=disabled" in props
        for binary in ("kubeadm", "kubelet", "kubectl"):
            assert not kube_host.exists(binary), f"{binary} is installed in no-binary mode"


def test_kubeadm_configuration_is_rendered_and_valid(control_plane):
    path = "/etc/kubernetes/vre/kubeadm-config.yaml"
    f = control_plane.file(path)
    assert (f.user, f.group, f.mode) == ("root", "root", 0o600)
    docs = [d for d in yaml.safe_load_all(io.StringIO(control_plane.check_output(f"cat {path}"))) if d]
    assert [d["kind"] for d in docs] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
    for doc in docs:
        assert check_kubeadm_document(doc) == []
    address = (
        control_plane.ansible.get_variables().get("vre_private_address")
        or control_plane.interface("eth0").addresses[0]
    )
    init, cluster, _ = docs
    assert init["localAPIEndpoint"]["advertiseAddress"] == address
    assert cluster["controlPlaneEndpoint"] == f"{address}:6443"
    assert cluster["clusterName"] == "molecule"


def test_manifests_are_rendered_and_valid(control_plane, registry_address):
    files = sorted(
        control_plane.check_output(
            "ls /etc/kubernetes/vre/cni-flannel.yaml /etc/kubernetes/vre/galaxy/*.yaml"
        ).split()
    )
    assert [Path(f).name for f in files] == [
        "cni-flannel.yaml",
        "namespace.yaml",
        "rbac.yaml",
        "registry.yaml",
        "storage.yaml",
    ]
    kinds = []
    for path in files:
        for doc in yaml.safe_load_all(io.StringIO(control_plane.check_output(f"cat {path}"))):
            if doc:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
                kinds.append(doc["kind"])
    assert kinds.count("ServiceAccount") == 3  # flannel, galaxy, default (with the pull secret)
    registry = control_plane.file("/etc/kubernetes/vre/galaxy/registry.yaml")
    assert registry.mode == 0o600
    secret = next(d for d in yaml.safe_load_all(registry.content_string) if d and d["kind"] == "Secret")
    assert registry_address in json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]


def test_no_join_configuration_is_left_behind(kube_host):
    # It holds a token: removed after a join, never written in no-binary mode.
    assert not kube_host.file("/etc/kubernetes/vre/kubeadm-join.yaml").exists


def test_install_source_code_installed_the_stand_ins(node):
    # The mirror and binaries sources, exercised by converge with two shell scripts (not Kubernetes).
    for source in ("from-mirror", "from-urls"):
        for name in ("vre-install-test-a", "vre-install-test-b"):
            f = node.file(f"/opt/vre-install-test/{source}/{name}")
            assert (f.user, f.mode) == ("root", 0o755), (source, name)
            assert "not Kubernetes" in sh(node, f.path).stdout


# --- Full mode only ------------------------------------------------------------------------------


@needs_binaries
def test_nodes_are_ready(control_plane):
    out = sh(control_plane, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes --no-headers").stdout
    lines = [line.split() for line in out.splitlines()]
    assert {line[0] for line in lines} == {"kube-cp-1", "kube-node-1"}
    assert all(line[1] == "Ready" for line in lines), out


@needs_binaries
def test_galaxy_kubeconfig_has_least_rights(node):
    f = node.file("/etc/galaxy/kubeconfig")
    assert (f.user, f.group, f.mode) == ("root", "galaxy", 0o640)
    kubectl = "kubectl --kubeconfig /etc/galaxy/kubeconfig auth can-i"
    for verb, resource in [("create", "jobs"), ("delete", "jobs"), ("list", "pods"), ("get", "pods/log")]:
        assert node.run(f"{kubectl} {verb} {resource} -n galaxy").stdout.strip() == "yes"
    assert node.run(f"{kubectl} create deployments -n galaxy").stdout.strip() == "no"
    assert node.run(f"{kubectl} list pods -n kube-system").stdout.strip() == "no"
