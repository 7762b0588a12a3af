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
import yaml
from vre_testinfra import host as _host
from vre_testinfra import host_fixture

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
sys.path.insert(0, str(PROJECT / "tests"))
from test_kubernetes_manifests import KUBE_VERSION, assert_kubeadm_documents  # noqa: E402

FULL_MODE = bool(os.environ.get("VRE_KUBE_MIRROR"))
# The offline mirror's images (vrecloud/kube_mirror.py): name -> reference.
MIRROR_REFS = (
    {
        i["name"]: i["ref"]
        for i in json.loads((Path(os.environ["VRE_KUBE_MIRROR"]) / "images.json").read_text())
    }
    if FULL_MODE
    else {}
)
ADMIN = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
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


control_plane = host_fixture("control_plane", "kube-cp-1")


node = host_fixture("node", "kube-node-1")


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
    # The mirror's pause image in full mode (imported, never pulled), kubeadm 1.35's otherwise.
    assert cri["sandbox_image"] == (MIRROR_REFS["pause"] if FULL_MODE else "registry.k8s.io/pause:3.10.1")
    # These containers cannot lower OOM scores: containerd clamps them (LOCAL_VARS).
    assert cri["restrict_oom_score_adj"] is True
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
    assert_kubeadm_documents(docs)
    address = (
        control_plane.ansible.get_variables().get("vre_private_address")
        or control_plane.interface("eth0").addresses[0]
    )
    init, cluster, kubelet, proxy = docs
    # These containers have cgroup v1: kubeadm's SystemVerification skipped, the kubelet told to run.
    assert init["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
    assert kubelet["failCgroupV1"] is False
    assert proxy["conntrack"]["maxPerCore"] == 0
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


@needs_binaries
def test_the_control_plane_runs_the_mirrors_images(control_plane, node):
    """kubeadm pulled nothing: every system pod runs an image of the offline mirror, imported into
    containerd by kube_common (control-plane images on the control plane only)."""
    pods = json.loads(sh(control_plane, f"{ADMIN} get pods -A -o json").stdout)["items"]
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images <= set(MIRROR_REFS.values()), images
    cp_images = set(sh(control_plane, "ctr -n k8s.io images ls -q").stdout.split())
    node_images = set(sh(node, "ctr -n k8s.io images ls -q").stdout.split())
    assert set(MIRROR_REFS.values()) <= cp_images
    assert MIRROR_REFS["kube-apiserver"] not in node_images
    assert {MIRROR_REFS[n] for n in ("kube-proxy", "pause", "flannel")} <= node_images


@needs_binaries
def test_system_pods_are_running_and_ready(control_plane):
    pods = json.loads(sh(control_plane, f"{ADMIN} get pods -A -o json").stdout)["items"]
    names = [p["metadata"]["name"] for p in pods]
    for prefix in (
        "etcd-kube-cp-1",
        "kube-apiserver-kube-cp-1",
        "kube-controller-manager-kube-cp-1",
        "kube-scheduler-kube-cp-1",
        "kube-proxy-",
        "kube-flannel-ds-",
        "coredns-",
    ):
        assert any(n.startswith(prefix) for n in names), (prefix, names)
    not_ready = [
        p["metadata"]["name"]
        for p in pods
        if not p["status"].get("containerStatuses")
        or not all(c.get("ready") for c in p["status"]["containerStatuses"])
    ]
    assert not_ready == [], not_ready


# A pod that resolves a Service name through CoreDNS (cluster DNS and kube-proxy's Service rules),
# then asks a CoreDNS pod on the other node for its health over the pod network (flannel's VXLAN
# between the nodes), from the Debian-based flannel image of the mirror (bash, getent).
PROBE_POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default}}
spec:
  nodeName: {node}
  restartPolicy: Never
  containers:
    - name: probe
      image: {image}
      imagePullPolicy: Never
      command:
        - /bin/bash
        - -c
        - >-
          getent hosts kubernetes.default.svc.cluster.local &&
          exec 3<>/dev/tcp/{peer}/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3
"""


@needs_binaries
def test_pods_reach_dns_and_each_other_across_nodes(control_plane):
    coredns = json.loads(
        sh(control_plane, f"{ADMIN} -n kube-system get pods -l k8s-app=kube-dns -o json").stdout
    )
    target = coredns["items"][0]
    peer, peer_node = target["status"]["podIP"], target["spec"]["nodeName"]
    node = next(n for n in ("kube-cp-1", "kube-node-1") if n != peer_node)
    name = f"vre-probe-{uuid.uuid4().hex[:6]}"
    manifest = PROBE_POD.format(name=name, node=node, image=MIRROR_REFS["flannel"], peer=peer)
    sh(control_plane, f"printf '%s\\n' {shlex.quote(manifest)} | {ADMIN} apply -f -")
    try:
        waited = control_plane.run(
            f"{ADMIN} wait --for=jsonpath='{{.status.phase}}'=Succeeded pod/{name} --timeout=120s"
        )
        logs = control_plane.run(f"{ADMIN} logs {name}").stdout
        assert waited.rc == 0, logs + waited.stderr
        service_ip = sh(control_plane, f"{ADMIN} get svc kubernetes -o jsonpath='{{.spec.clusterIP}}'").stdout
        assert service_ip.strip() in logs.split(), logs
        assert "200 OK" in logs and logs.rstrip().endswith("OK"), logs  # CoreDNS' /health on the other node
    finally:
        control_plane.run(f"{ADMIN} delete pod {name} --wait=false")


@needs_binaries
def test_galaxy_service_account_is_refused_secrets_and_other_namespaces(node):
    """Not only `auth can-i`: the API server itself answers 403 Forbidden."""
    kubectl = "kubectl --kubeconfig /etc/galaxy/kubeconfig"
    for command in ("get secrets -n galaxy", "get pods -n kube-system", "get jobs -n default"):
        refused = node.run(f"{kubectl} {command}")
        assert refused.rc != 0, command
        assert "Forbidden" in refused.stderr, (command, refused.stderr)
    assert node.run(f"{kubectl} get jobs -n galaxy").rc == 0
