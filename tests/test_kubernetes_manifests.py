"""Every manifest and kubeadm configuration the Kubernetes roles write, rendered and validated.

tests/fixtures/kubernetes/render.yml renders them with the roles' own templates, defaults and vars
(ansible-playbook, local connection, no host contacted) for two inventories: the defaults
(default.yml) and a non-default cluster (custom.yml). Then:

- every Kubernetes object (flannel, namespace, RBAC, volume and claim, pull secret, default
  ServiceAccount) is validated with kubernetes-validate, strict (unknown fields are errors),
  against the schemas of Kubernetes KUBE_VERSION;
- the kubeadm configuration (InitConfiguration, ClusterConfiguration, JoinConfiguration: kubeadm
  v1beta4), the KubeletConfiguration and the KubeProxyConfiguration are checked against the field
  lists in tests/fixtures/kubernetes/kubeadm-v1beta4-fields.yml, written from the documented API
  (https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/,
  https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/ and
  https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/); kubernetes-validate
  has no schemas for them;
- flannel's cni-conf script is run on made-up subnet.env files and its CNI configuration checked;
- both checkers are shown to reject a misspelt field, so these tests can fail.
"""

import base64
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.ansible_run import VENV_BIN, output, run_ansible
from vrecloud import kube_mirror

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "kubernetes"
# The Kubernetes release whose schemas the manifests are validated against: the roles' default
# (kube_common_version 1.35.4); kubernetes-validate names schema sets by minor release.
KUBE_VERSION = "1.35.0"
FIELDS = yaml.safe_load((FIXTURES / "kubeadm-v1beta4-fields.yml").read_text())
DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


def render(inventory: str, out: Path) -> Path:
    # An offline mirror's images.json, as vrecloud.kube_mirror writes it (no binaries: only the
    # image names are read when rendering), for mirror.yml.
    mirror_dir = out / "mirror"
    mirror_dir.mkdir(parents=True)
    (mirror_dir / "images.json").write_text(json.dumps(kube_mirror.image_index()))
    proc = run_ansible(
        "ansible-playbook",
        "-i",
        str(FIXTURES / inventory),
        str(FIXTURES / "render.yml"),
        "-e",
        f"vre_render_dir={out}",
        "-e",
        f"ansible_python_interpreter={VENV_BIN / 'python'}",
        "-e",
        f"vre_mirror_dir={mirror_dir}",
        timeout=300,
    )
    assert proc.returncode == 0, output(proc)
    return out


@pytest.fixture(
    scope="module", params=["default.yml", "custom.yml", "mirror.yml"], ids=["defaults", "custom", "mirror"]
)
def rendered(request, tmp_path_factory):
    return render(request.param, tmp_path_factory.mktemp(request.param.removesuffix(".yml")))


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def manifest_files(out: Path) -> list[Path]:
    return [out / "kube" / "cni-flannel.yaml", *sorted((out / "galaxy").glob("*.yaml"))]


# --- The kubeadm/kubelet field checker -----------------------------------------------------------


SCALARS = {"str": str, "int": int, "bool": bool, "duration": str}


def check_scalar(value, type_name: str, path: str) -> list[str]:
    kind = SCALARS[type_name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        return [f"{path}: expected {type_name}, got {value!r}"]
    if type_name == "duration" and not DURATION.match(value):
        return [f"{path}: {value!r} is not a duration such as 4m0s"]
    field = path.rsplit(".", 1)[-1]
    if field in FIELDS["enums"] and value not in FIELDS["enums"][field]:
        return [f"{path}: {value!r} is not one of {FIELDS['enums'][field]}"]
    return []


def check_mapping(value, type_name: str, path: str) -> list[str]:
    spec = FIELDS["types"][type_name]
    if not isinstance(value, dict):
        return [f"{path or type_name}: expected a {type_name} mapping, got {type(value).__name__}"]
    fields = {name.lstrip("!"): t for name, t in spec.items()}
    required = {name.lstrip("!") for name in spec if name.startswith("!")}
    problems: list[str] = []
    for name, item in value.items():
        where = f"{path}.{name}" if path else name
        if name not in fields:
            problems.append(f"{where}: unknown field of {type_name}")
        else:
            problems += check_fields(item, fields[name], where)
    for name in sorted(required - value.keys()):
        problems.append(f"{path or type_name}: required field {name} is missing")
    return problems


def check_fields(value, type_name: str, path: str = "") -> list[str]:
    """Problems of `value` as type `type_name` of the field list: unknown fields, wrong types,
    missing required fields."""
    if type_name == "any":
        return []
    if type_name.startswith("[") and type_name.endswith("]"):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [
            p for i, item in enumerate(value) for p in check_fields(item, type_name[1:-1], f"{path}[{i}]")
        ]
    if type_name == "{str: bool}":
        ok = isinstance(value, dict) and all(isinstance(v, bool) for v in value.values())
        return [] if ok else [f"{path}: expected a map of booleans"]
    if type_name in SCALARS:
        return check_scalar(value, type_name, path)
    return check_mapping(value, type_name, path)


def check_kubeadm_document(doc: dict) -> list[str]:
    kinds = FIELDS["kinds"].get(doc.get("apiVersion"), {})
    if doc.get("kind") not in kinds:
        return [f"{doc.get('apiVersion')}/{doc.get('kind')} is not a documented kubeadm/kubelet type"]
    return check_fields(doc, kinds[doc["kind"]], doc["kind"])


# The documents of kube_control_plane's kubeadm-config.yaml, in order.
KUBEADM_KINDS = [
    "InitConfiguration",
    "ClusterConfiguration",
    "KubeletConfiguration",
    "KubeProxyConfiguration",
]


def assert_kubeadm_documents(docs: list[dict]) -> None:
    """The rendered (here) or deployed (molecule kubernetes) kubeadm-config.yaml: the four documents
    in order, each with documented fields only."""
    assert [d["kind"] for d in docs] == KUBEADM_KINDS
    for doc in docs:
        assert check_kubeadm_document(doc) == []


# --- Kubernetes objects --------------------------------------------------------------------------


def test_every_manifest_is_valid_for_kubernetes(rendered):
    files = manifest_files(rendered)
    assert [f.name for f in files] == [
        "cni-flannel.yaml",
        "namespace.yaml",
        "rbac.yaml",
        "registry.yaml",
        "storage.yaml",
    ]
    count = 0
    for path in files:
        for doc in documents(path):
            # Raises ValidationError (unknown field, wrong type, missing required field).
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            count += 1
    assert count >= 12


def test_kubernetes_validate_rejects_a_misspelt_field(rendered):
    claim = next(
        d for d in documents(rendered / "galaxy" / "storage.yaml") if d["kind"] == "PersistentVolumeClaim"
    )
    claim["spec"]["accesModes"] = claim["spec"].pop("accessModes")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(claim, KUBE_VERSION, strict=True)


def test_runner_rbac_is_least_privilege_in_its_namespace(rendered):
    runner = json.loads((rendered / "galaxy-runner.json").read_text())
    docs = documents(rendered / "galaxy" / "rbac.yaml")
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ServiceAccount", "Role", "RoleBinding", "Secret"}  # no ClusterRole
    rules = {
        (tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in kinds["Role"]["rules"]
    }
    assert rules == {
        (("batch",), ("jobs",)): sorted(["create", "get", "list", "watch", "delete", "patch"]),
        (("",), ("pods",)): sorted(["get", "list", "watch", "delete"]),
        (("",), ("pods/log",)): ["get"],
    }
    for doc in docs:
        assert doc["metadata"]["namespace"] == runner["namespace"]
    assert kinds["RoleBinding"]["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": kinds["ServiceAccount"]["metadata"]["name"],
            "namespace": runner["namespace"],
        }
    ]
    token = kinds["Secret"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "galaxy"


def test_share_volume_and_claim_match_the_runner(rendered):
    runner = json.loads((rendered / "galaxy-runner.json").read_text())
    pv, pvc = documents(rendered / "galaxy" / "storage.yaml")
    custom = "custom" in rendered.name
    if "mirror" in rendered.name:
        # The local provider's stand-in for the NFS mount: the shared docker volume on each node.
        assert "nfs" not in pv["spec"] and "mountOptions" not in pv["spec"]
        assert pv["spec"]["hostPath"] == {"path": "/srv/vre/galaxy", "type": "Directory"}
    else:
        assert "hostPath" not in pv["spec"]
        assert pv["spec"]["nfs"] == (
            {"server": "192.168.7.40", "path": "/export/vre/galaxy"}
            if custom
            else {"server": "10.0.0.40", "path": "/srv/vre/galaxy"}
        )
    assert pv["spec"]["accessModes"] == pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pv["spec"]["claimRef"] == {"namespace": runner["namespace"], "name": pvc["metadata"]["name"]}
    assert runner["persistent_volume_claims"] == [
        {"claim": pvc["metadata"]["name"], "mount": "/export/vre/galaxy" if custom else "/srv/vre/galaxy"}
    ]
    assert (runner["run_as_uid"], runner["run_as_gid"]) == ((2001, 2002) if custom else (1450, 1450))
    assert runner["namespace"] == ("galaxy-jobs" if custom else "galaxy")
    assert runner["config_path"] == "/etc/galaxy/kubeconfig"


def test_pull_secret_is_attached_to_the_default_service_account(rendered):
    path = rendered / "galaxy" / "registry.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    docs = {d["kind"]: d for d in documents(path)}
    default_sa = docs["ServiceAccount"]
    assert default_sa["metadata"]["name"] == "default"
    if "custom" in rendered.name:  # no registry in that inventory: no secret
        assert "Secret" not in docs
        assert "imagePullSecrets" not in default_sa
        return
    secret = docs["Secret"]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert default_sa["imagePullSecrets"] == [{"name": secret["metadata"]["name"]}]
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    auth = config["auths"]["10.0.0.30:5000"]
    assert auth["username"] == "vre-pull" and auth["password"] == "pull-password-for-tests"
    assert base64.b64decode(auth["auth"]).decode() == "vre-pull:pull-password-for-tests"


def test_flannel_uses_the_pod_subnet(rendered):
    config = next(d for d in documents(rendered / "kube" / "cni-flannel.yaml") if d["kind"] == "ConfigMap")
    net = json.loads(config["data"]["net-conf.json"])
    assert net["Network"] == ("172.20.0.0/16" if "custom" in rendered.name else "10.244.0.0/16")


@pytest.mark.parametrize(
    ("subnet", "network"),
    [
        ("10.244.3.1/24", "10.244.3.0/24"),
        ("10.244.5.1/23", "10.244.4.0/23"),
        ("172.20.0.65/26", "172.20.0.64/26"),
    ],
)
def test_flannel_cni_conf_script_writes_the_bridge_configuration(rendered, tmp_path, subnet, network):
    """The DaemonSet's cni-conf container turns flanneld's subnet.env into the node's CNI
    configuration (what flannel's CNI plugin would compute): run it as the pod would, with sh."""
    config = next(d for d in documents(rendered / "kube" / "cni-flannel.yaml") if d["kind"] == "ConfigMap")
    script = tmp_path / "cni-conf.sh"
    script.write_text(config["data"]["cni-conf.sh"])
    env_file = tmp_path / "subnet.env"
    env_file.write_text(
        f"FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET={subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
    )
    conf = tmp_path / "10-flannel.conflist"
    env = {"PATH": os.environ["PATH"], "FLANNEL_SUBNET_ENV": str(env_file), "CNI_CONF_FILE": str(conf)}
    proc = subprocess.Popen(["sh", str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"subnet {network}, mtu 1450" in line
    bridge, portmap = json.loads(conf.read_text())["plugins"]
    assert bridge["type"] == "bridge" and bridge["isGateway"] and bridge["mtu"] == 1450
    assert bridge["ipam"] == {"type": "host-local", "ranges": [[{"subnet": network}]]}
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


# --- kubeadm and kubelet configuration -----------------------------------------------------------


def test_kubeadm_configuration_has_only_documented_fields(rendered):
    path = rendered / "kube" / "kubeadm-config.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert_kubeadm_documents(documents(path))


def test_kubeadm_configuration_values(rendered):
    init, cluster, kubelet, proxy = documents(rendered / "kube" / "kubeadm-config.yaml")
    assert proxy["mode"] == "iptables"
    assert proxy["clusterCIDR"] == cluster["networking"]["podSubnet"]
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    if "mirror" in rendered.name:
        # Images from the offline mirror; cgroup v1 hosts; the local provider's container settings.
        assert cluster["imageRepository"] == kube_mirror.IMAGE_REPOSITORY
        assert cluster["etcd"] == {"local": {"imageTag": f"{kube_mirror.ETCD_VERSION}-0"}}
        assert cluster["dns"] == {"imageTag": f"v{kube_mirror.COREDNS_VERSION}"}
        assert cluster["kubernetesVersion"] == f"v{kube_mirror.KUBERNETES_VERSION}"
        assert init["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
        assert kubelet["failCgroupV1"] is False
        assert proxy["conntrack"] == {
            "maxPerCore": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        }
    elif "custom" in rendered.name:
        assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.7.11", "bindPort": 6443}
        assert init["nodeRegistration"]["taints"] == []
        assert cluster["controlPlaneEndpoint"] == "k8s-api.vre.example.org:443"
        assert cluster["kubernetesVersion"] == "v1.32.9"
        assert cluster["networking"]["podSubnet"] == "172.20.0.0/16"
        assert cluster["apiServer"]["certSANs"] == ["k8s-api.vre.example.org", "k8s-api.internal"]
        assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd-vre"}}
        assert kubelet["maxPods"] == 60
    else:
        assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.10", "bindPort": 6443}
        assert "taints" not in init["nodeRegistration"]
        assert cluster["controlPlaneEndpoint"] == "10.0.0.10:6443"
        assert cluster["kubernetesVersion"] == "v1.35.4"
        assert cluster["imageRepository"] == "registry.k8s.io"
        assert "etcd" not in cluster and "dns" not in cluster  # kubeadm's own images for its release
        assert init["nodeRegistration"]["ignorePreflightErrors"] == []  # cgroup v2 unless facts say v1
        assert kubelet["failCgroupV1"] is True
        assert cluster["networking"] == {
            "podSubnet": "10.244.0.0/16",
            "serviceSubnet": "10.96.0.0/12",
            "dnsDomain": "cluster.local",
        }


@pytest.mark.parametrize("role", ["worker", "control-plane"])
def test_join_configuration_has_only_documented_fields(rendered, role):
    path = rendered / "kube" / f"kubeadm-join-{role}.yaml"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    (doc,) = documents(path)
    assert check_kubeadm_document(doc) == []
    assert re.match(r"^[a-z0-9]{6}\.[a-z0-9]{16}$", doc["discovery"]["bootstrapToken"]["token"])
    assert ("controlPlane" in doc) == (role == "control-plane")


def test_field_checker_rejects_unknown_and_misspelt_fields(rendered):
    init, cluster, kubelet, proxy = documents(rendered / "kube" / "kubeadm-config.yaml")
    proxy["conntrack"] = {"maxPerCores": 0}
    assert check_kubeadm_document(proxy) == [
        "KubeProxyConfiguration.conntrack.maxPerCores: unknown field of KubeProxyConntrackConfiguration"
    ]
    cluster["apiserver"] = cluster.pop("apiServer")  # wrong case
    cluster["networking"]["podSubnets"] = cluster["networking"].pop("podSubnet")
    init["localAPIEndpoint"]["bindPort"] = "6443"  # a string, not an int
    kubelet["cgroupDriver"] = "system"
    assert check_kubeadm_document(cluster) == [
        "ClusterConfiguration.networking.podSubnets: unknown field of Networking",
        "ClusterConfiguration.apiserver: unknown field of ClusterConfiguration",
    ]
    assert check_kubeadm_document(init) == [
        "InitConfiguration.localAPIEndpoint.bindPort: expected int, got '6443'"
    ]
    assert check_kubeadm_document(kubelet) == [
        "KubeletConfiguration.cgroupDriver: 'system' is not one of ['systemd', 'cgroupfs']"
    ]
    assert check_kubeadm_document({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration"}) == [
        "JoinConfiguration: required field discovery is missing"
    ]


def test_galaxy_kubeconfig(rendered):
    path = rendered / "galaxy-kubeconfig"
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "galaxy"
    (cluster,) = config["clusters"]
    (user,) = config["users"]
    (context,) = config["contexts"]
    custom = "custom" in rendered.name
    assert cluster["cluster"]["server"] == (
        "https://k8s-api.vre.example.org:443" if custom else "https://10.0.0.10:6443"
    )
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == b"not a real CA"
    assert user == {"name": "galaxy", "user": {"token": "token-for-tests"}}
    assert context["context"] == {
        "cluster": cluster["name"],
        "user": "galaxy",
        "namespace": "galaxy-jobs" if custom else "galaxy",
    }


def test_runner_settings_render_galaxy_kubernetes_destination(rendered):
    """galaxy_kubernetes_runner through role galaxy's job_conf filter: the runner plugin's params
    name this layer's kubeconfig, claim, namespace and the galaxy UID/GID."""
    spec = importlib.util.spec_from_file_location(
        "galaxy_conf", ROOT / "roles" / "galaxy" / "filter_plugins" / "galaxy_conf.py"
    )
    galaxy_conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(galaxy_conf)
    runner = json.loads((rendered / "galaxy-runner.json").read_text())
    custom = "custom" in rendered.name
    conf = galaxy_conf.galaxy_job_conf(
        [{"id": "local", "runner": "local"}, {"id": "k8s", "runner": "kubernetes"}],
        "k8s",
        [],
        {"kubernetes": runner},
        1450,
        1450,
    )
    plugin = conf["runners"]["kubernetes"]
    assert plugin["load"] == "galaxy.jobs.runners.kubernetes:KubernetesJobRunner"
    assert plugin["k8s_config_path"] == "/etc/galaxy/kubeconfig"
    assert plugin["k8s_namespace"] == ("galaxy-jobs" if custom else "galaxy")
    share = "/export/vre/galaxy" if custom else "/srv/vre/galaxy"
    assert plugin["k8s_persistent_volume_claims"] == f"galaxy-share:{share}"
    ids = ("2001", "2002") if custom else ("1450", "1450")
    assert (str(plugin["k8s_run_as_user_id"]), str(plugin["k8s_run_as_group_id"])) == ids
