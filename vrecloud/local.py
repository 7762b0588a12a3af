"""The local provider: systemd containers that act as VMs, all on one machine.

This is the one place that knows how a container must be started to behave like a VM on these
hosts (see RUN_FLAGS). The bring-up command, the local dynamic inventory and every molecule
scenario create their hosts through it.

CLI (``python -m vrecloud.local ...``):
  up SPEC          build the base image if needed, create the cluster's hosts, print inventory JSON
  down CLUSTER     remove the cluster's containers and volumes (and the network with the last one)
  stale SPEC       print the hosts of the spec's cluster that the spec no longer lists
  remove CLUSTER NAME...  remove those hosts of the cluster and their volumes
  create NAME ...  create (or start) one host (--group, --volume, --shared-volume); used by
                   molecule's create playbook
  list [CLUSTER]   print the hosts as JSON
  dockerd          start dockerd when none answers
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from vrecloud import image as base_image
from vrecloud.inventory import build as build_inventory
from vrecloud.spec import ClusterSpec, SpecError, load_spec

LABEL_CLUSTER = "vre.cluster"
LABEL_GROUPS = "vre.groups"
NETWORK = os.environ.get("VRE_LOCAL_NETWORK", "vre")

# How a container acts as a VM here. `--privileged` is refused on these hosts (one capability
# cannot be granted), so the needed capabilities are added one by one:
#   SYS_ADMIN, NET_ADMIN   systemd, mounts, docker-in-docker, network set-up
#   DAC_READ_SEARCH        NFS-Ganesha's VFS backend opens files by handle (open_by_handle_at)
# systemd needs the host cgroup namespace, /sys/fs/cgroup writable and tmpfs on /run and /tmp.
RUN_FLAGS: tuple[str, ...] = (
    "--cap-add=SYS_ADMIN",
    "--cap-add=NET_ADMIN",
    "--cap-add=DAC_READ_SEARCH",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--cgroupns=host",
    "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs=/run:exec,mode=755",
    "--tmpfs=/run/lock",
    "--tmpfs=/tmp:exec,mode=1777",
    "--stop-signal=SIGRTMIN+3",
)
SYSTEMD_CMD = ("/lib/systemd/systemd",)

# A host of these groups runs a kubelet, which needs more than systemd does. What `--privileged`
# would have given a kind node, granted one by one (docs/kubernetes.md, "The local provider"):
#   --cgroupns=private     the container sees its own cgroup as the root of each hierarchy, as a VM
#                          does, so the kubelet's and systemd's cgroup paths agree (with the host's
#                          namespace the kubelet looks for kubepods at the machine's root)
#   SYSLOG, /dev/kmsg      the kubelet's OOM watcher reads the kernel log
#   device rule a *:* rwm  runc sets each pod's device cgroup; a child can only be given what its
#                          parent has, and privileged pods (kube-proxy, flannel) ask for all
#   SYS_PTRACE             runc joins a pod's namespaces through /proc/<pause>/ns/*; when the pod
#                          runs as a non-root user (Galaxy's jobs, UID 1450) its pause process is
#                          not dumpable, and opening those files needs CAP_SYS_PTRACE
# KUBE_INIT remounts the cgroup hierarchies read-write (Docker mounts them read-only without
# --privileged) and makes / rshared (mount propagation for the kubelet's volumes), then runs
# systemd as PID 1. The other hosts keep RUN_FLAGS as they are.
KUBE_GROUPS = frozenset({"kube_control_plane", "kube_nodes"})
KUBE_RUN_FLAGS: tuple[str, ...] = (
    *(f for f in RUN_FLAGS if f not in ("--cgroupns=host", "--volume=/sys/fs/cgroup:/sys/fs/cgroup:rw")),
    "--cgroupns=private",
    "--cap-add=SYSLOG",
    "--cap-add=SYS_PTRACE",
    "--device=/dev/kmsg",
    "--device-cgroup-rule=a *:* rwm",
)
KUBE_INIT = (
    "/bin/sh",
    "-c",
    "set -e; mount --make-rshared /; "
    'for d in /sys/fs/cgroup/*; do [ -L "$d" ] || mount -o remount,bind,rw "$d"; done; '
    "exec /lib/systemd/systemd",
)

# Kernel settings the kubelet insists on (it sets them at start and stops if it cannot; inside a
# container /proc/sys is read-only). These are not namespaced: setting them is a change to this
# whole machine, made when a Kubernetes host is created and said on stderr.
KUBELET_HOST_SYSCTLS = {"vm.overcommit_memory": "1", "kernel.panic": "10", "kernel.panic_on_oops": "1"}

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ProviderError(RuntimeError):
    """A failure with a message meant for the operator."""


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ProviderError(
            f"docker {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc


def dockerd_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def ensure_dockerd(timeout: float = 60.0) -> None:
    """Start dockerd when nothing answers (these machines start no services by themselves)."""
    if dockerd_answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ProviderError(
            "no Docker engine: install it with `apt-get install docker.io` (./vre bootstrap does)"
        )
    log = open("/var/log/vre-dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen([dockerd], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dockerd_answers():
            return
        time.sleep(1)
    raise ProviderError(f"dockerd did not answer within {timeout:.0f}s; see /var/log/vre-dockerd.log")


def ensure_network(name: str = NETWORK) -> None:
    if _docker("network", "inspect", name, check=False).returncode != 0:
        _docker("network", "create", "--label", "vre.managed=true", name)


LABEL_SHARED = "vre.shared"


def _volume_name(host: str, path: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", path).strip("-") or "root"
    return f"{host}-{slug}"


def shared_volume_name(cluster: str, path: str) -> str:
    """The one docker volume of `cluster` mounted at `path` on every host whose spec lists it in
    shared_volumes: a stand-in for a shared filesystem (this kernel has no NFS client), said so in
    docs/kubernetes.md. Removed with the cluster, never with one host."""
    return _volume_name(f"{cluster}-shared", path)


def _inspect(name: str) -> dict[str, Any] | None:
    proc = _docker("container", "inspect", name, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def _wait_for_systemd(name: str, timeout: float = 90.0) -> None:
    """Wait until systemd inside the container has finished booting."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = _docker("exec", name, "systemctl", "is-system-running", check=False)
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise ProviderError(f"host {name}: systemd did not finish booting in {timeout:.0f}s (state {state!r})")


def _missing_kube_settings(host_config: dict[str, Any]) -> list[str]:
    """What of KUBE_RUN_FLAGS an existing container lacks (created by an older provider)."""
    missing = []
    if host_config.get("CgroupnsMode") != "private":
        missing.append("its own cgroup namespace")
    have = {c.removeprefix("CAP_") for c in host_config.get("CapAdd") or []}
    want = {f.split("=", 1)[1] for f in KUBE_RUN_FLAGS if f.startswith("--cap-add=")}
    missing += [f"CAP_{c}" for c in sorted(want - have)]
    return missing


def set_kubelet_host_sysctls(proc_sys: Path = Path("/proc/sys")) -> list[str]:
    """Set KUBELET_HOST_SYSCTLS on this machine (a VM-wide change); return those changed."""
    changed = []
    for key, value in KUBELET_HOST_SYSCTLS.items():
        path = proc_sys / key.replace(".", "/")
        try:
            if path.read_text().strip() == value:
                continue
            path.write_text(value + "\n")
        except OSError as exc:
            raise ProviderError(
                f"cannot set {key}={value} on this machine ({exc}); the kubelet of a local "
                "Kubernetes host needs it: run as root, or set it yourself with sysctl"
            ) from exc
        changed.append(f"{key}={value}")
    if changed:
        print(
            "local provider: set on this whole machine for the kubelets of the Kubernetes hosts "
            f"(not namespaced; VM-wide): {', '.join(changed)}",
            file=sys.stderr,
        )
    return changed


def create_host(
    name: str,
    cluster: str,
    groups: Sequence[str],
    volumes: Iterable[str] = (),
    shared_volumes: Iterable[str] = (),
    *,
    image: str = base_image.IMAGE,
    network: str = NETWORK,
) -> dict[str, Any]:
    """Create `name` (or start it if it exists stopped) and return its host record."""
    if not _NAME_RE.match(name):
        raise ProviderError(f"host name {name!r} is not valid: use lower-case letters, digits and '-'")
    info = _inspect(name)
    created = info is None
    kube = bool(KUBE_GROUPS & set(groups))
    if info is not None:
        labels = info["Config"]["Labels"] or {}
        if labels.get(LABEL_CLUSTER) != cluster:
            raise ProviderError(
                f"a container named {name} exists but is not part of cluster {cluster!r}; "
                "it was left untouched: remove or rename it, or pick another cluster name"
            )
        if kube:
            missing = _missing_kube_settings(info.get("HostConfig") or {})
            if missing:
                raise ProviderError(
                    f"host {name} was created without what a kubelet needs ({', '.join(missing)}; "
                    "see KUBE_RUN_FLAGS): remove it (./vre down) and bring it up again"
                )
        mounted = {m.get("Destination"): m.get("Name") for m in info.get("Mounts") or []}
        wrong = [v for v in shared_volumes if v in mounted and mounted[v] != shared_volume_name(cluster, v)]
        if wrong:
            raise ProviderError(
                f"host {name} has its own volume at {', '.join(wrong)}, which its spec now shares with "
                "other hosts (shared_volumes); volumes are set when a host is created: remove it "
                "(./vre down) and bring it up again"
            )
        missing = [v for v in (*volumes, *shared_volumes) if v not in mounted]
        if missing:
            raise ProviderError(
                f"host {name} exists without the volume(s) {', '.join(missing)} its spec now asks for; "
                "volumes are set when a host is created: remove it (./vre down) and bring it up again"
            )
        if kube:
            set_kubelet_host_sysctls()
        if not info["State"]["Running"]:
            _docker("start", name)
    else:
        ensure_network(network)
        args = [
            "run",
            "--detach",
            f"--name={name}",
            f"--hostname={name}",
            f"--network={network}",
            f"--label={LABEL_CLUSTER}={cluster}",
            f"--label={LABEL_GROUPS}={','.join(groups)}",
            *(KUBE_RUN_FLAGS if kube else RUN_FLAGS),
        ]
        own = [(_volume_name(name, path), path, ()) for path in volumes]
        shared = [
            (shared_volume_name(cluster, p), p, ("--label", f"{LABEL_SHARED}=true")) for p in shared_volumes
        ]
        for vol, path, extra in own + shared:
            _docker("volume", "create", "--label", f"{LABEL_CLUSTER}={cluster}", *extra, vol)
            args.append(f"--volume={vol}:{path}")
        if kube:
            set_kubelet_host_sysctls()
        args += [image, *(KUBE_INIT if kube else SYSTEMD_CMD)]
        _docker(*args)
    _wait_for_systemd(name)
    return {**host_record(_inspect(name) or {}), "created": created}


def host_record(info: dict[str, Any]) -> dict[str, Any]:
    labels = info["Config"]["Labels"] or {}
    networks = info["NetworkSettings"]["Networks"] or {}
    address = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), None)
    return {
        "name": info["Name"].lstrip("/"),
        "cluster": labels.get(LABEL_CLUSTER),
        "groups": [g for g in labels.get(LABEL_GROUPS, "").split(",") if g],
        "address": address,
        "running": info["State"]["Running"],
    }


def list_hosts(cluster: str | None = None) -> list[dict[str, Any]]:
    flt = f"label={LABEL_CLUSTER}" + (f"={cluster}" if cluster else "")
    ids = _docker("ps", "--all", "--quiet", "--filter", flt).stdout.split()
    if not ids:
        return []
    infos = json.loads(_docker("container", "inspect", *ids).stdout)
    return sorted((host_record(i) for i in infos), key=lambda h: h["name"])


# What containers cannot do that VMs can, as inventory-wide variables (group_vars override them):
# the kernel NFS server cannot run in a container, so NFS-Ganesha serves the share; where the
# kernel has no NFS client the clients write fstab and check the export with libnfs instead of
# mounting (nfs_client still mounts when the kernel can).
# Containers share this machine's kernel: the Kubernetes prerequisites write the module and sysctl
# files but report, instead of failing, the modules they cannot load, the swap they leave alone and
# the sysctls they cannot set (docs/kubernetes.md).
# In those containers no process may lower oom_score_adj (CAP_SYS_RESOURCE is absent on these
# machines), so containerd clamps the scores it is asked for (restrict_oom_score_adj), and kube-proxy
# leaves the conntrack sysctls alone (not namespaced: they would be this machine's; read-only here).
# molecule/kubernetes/molecule.yml sets the same (tests/test_local_provider.py checks they agree).
LOCAL_VARS: dict[str, Any] = {
    "nfs_server_implementation": "ganesha",
    "nfs_client_allow_unmounted": True,
    "kube_common_shared_kernel": True,
    "kube_common_containerd_restrict_oom_score_adj": True,
    "kube_control_plane_kube_proxy_config": {
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}
    },
    # The containers' resolver is Docker's 127.0.0.11, which CoreDNS would reach as itself (a loop),
    # and nothing outside this machine is to be asked: CoreDNS answers for the cluster only.
    "kube_control_plane_dns_upstream": "",
    # STAND-IN for the NFS mount of Galaxy's job pods (this kernel has no NFS client): the share
    # is one docker volume at vre_shared_root on the Galaxy host and every Kubernetes node (spec
    # shared_volumes), reached by the pods as a hostPath volume. Ganesha keeps serving it over NFS.
    "galaxy_kubernetes_share_type": "host_path",
}

# Layers whose binaries come from a mirror directory on this machine, named by an environment
# variable (the same variables as the molecule scenarios). Without it a layer runs in no-binary
# mode (what does not need the binaries is converged, nothing is faked). Mesos has no reachable
# source; for Kubernetes `./vre` builds the offline mirror from Go modules (vrecloud/kube_mirror.py)
# and sets VRE_KUBE_MIRROR itself, unless no Go toolchain is there.
BINARY_MIRRORS = {
    "mesos": "VRE_MESOS_MIRROR",
    "kubernetes": "VRE_KUBE_MIRROR",
}


# The controller's package caches (vrecloud/caches.py, started by `./vre`): the hosts' apt proxy
# and pip index (role common). Unset or empty: the hosts fetch from the internet directly.
CACHE_VARS = {"vre_apt_proxy": "VRE_APT_PROXY", "vre_pip_index_url": "VRE_PIP_INDEX_URL"}


def local_vars(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """LOCAL_VARS plus each binary layer's install mode and the package caches, read from the
    environment."""
    env = os.environ if environ is None else environ
    out = dict(LOCAL_VARS)
    for var, name in CACHE_VARS.items():
        out[var] = env.get(name, "")
    for layer, var in BINARY_MIRRORS.items():
        mirror = env.get(var, "")
        out[f"{layer}_install_binaries"] = bool(mirror)
        if mirror:
            out[f"{layer}_install_source"] = {"type": "mirror", "path": mirror}
    return out


def inventory(hosts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Ansible's dynamic-inventory JSON for these hosts (``--list`` format)."""
    inv = build_inventory(
        (
            host["name"],
            host["groups"],
            {
                # The short name, which Ansible routes to community.docker.docker: Mitogen's
                # strategy (strategy_plugins/vre_linear.py) takes over connections by short name.
                "ansible_connection": "docker",
                # The base image's Python (vrecloud/image.py installs python3): no discovery.
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_host": host["name"],
                "vre_private_address": host["address"],
                "vre_provider": "local",
            },
        )
        for host in hosts
    )
    inv["all"]["vars"] = local_vars()
    return inv


def up(spec: ClusterSpec) -> list[dict[str, Any]]:
    ensure_dockerd()
    base_image.build()
    hosts = []
    for node in spec.nodes():
        hosts.append(create_host(node.name, spec.cluster, node.groups, node.volumes, node.shared_volumes))
        print(f"host {node.name}: {', '.join(node.groups)}", file=sys.stderr)
    return hosts


def stale(spec: ClusterSpec) -> list[str]:
    """The cluster's hosts that the spec no longer lists (e.g. a slave scaled away)."""
    if not dockerd_answers():
        return []
    wanted = {node.name for node in spec.nodes()}
    return [h["name"] for h in list_hosts(spec.cluster) if h["name"] not in wanted]


def remove(cluster: str, names: Sequence[str]) -> list[str]:
    """Remove these hosts of `cluster` and their volumes; refuse hosts of another cluster."""
    removed = []
    for name in names:
        info = _inspect(name)
        if info is None:
            continue
        if (info["Config"]["Labels"] or {}).get(LABEL_CLUSTER) != cluster:
            raise ProviderError(f"host {name} is not part of cluster {cluster!r}; it was left untouched")
        # The host's own volumes; the cluster's shared ones stay for the other hosts.
        shared = set(
            _docker("volume", "ls", "--quiet", "--filter", f"label={LABEL_SHARED}=true").stdout.split()
        )
        volumes = [
            m["Name"]
            for m in info.get("Mounts") or []
            if m.get("Type") == "volume" and m.get("Name") and m["Name"] not in shared
        ]
        _docker("rm", "--force", "--volumes", name)
        if volumes:
            _docker("volume", "rm", "--force", *volumes)
        removed.append(name)
    return removed


def down(cluster: str) -> list[str]:
    """Remove exactly the cluster's containers and volumes; return the names removed."""
    if not dockerd_answers():
        return []
    removed = [h["name"] for h in list_hosts(cluster)]
    if removed:
        _docker("rm", "--force", "--volumes", *removed)
    vols = _docker("volume", "ls", "--quiet", "--filter", f"label={LABEL_CLUSTER}={cluster}").stdout.split()
    if vols:
        _docker("volume", "rm", "--force", *vols)
    # The network is shared by every local cluster (and molecule's hosts): removed with the last one.
    net = _docker("network", "inspect", NETWORK, check=False)
    if net.returncode == 0 and not (json.loads(net.stdout)[0].get("Containers") or {}):
        _docker("network", "rm", NETWORK, check=False)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vrecloud.local", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="create the hosts of a cluster spec")
    p_up.add_argument("spec")
    p_down = sub.add_parser("down", help="remove a cluster's hosts")
    p_down.add_argument("cluster")
    p_create = sub.add_parser("create", help="create or start one host")
    p_create.add_argument("name")
    p_create.add_argument("--cluster", required=True)
    p_create.add_argument("--group", action="append", default=[], dest="groups")
    p_create.add_argument("--volume", action="append", default=[], dest="volumes")
    p_create.add_argument("--shared-volume", action="append", default=[], dest="shared_volumes")
    p_stale = sub.add_parser("stale", help="print the cluster's hosts the spec no longer lists")
    p_stale.add_argument("spec")
    p_remove = sub.add_parser("remove", help="remove some hosts of a cluster and their volumes")
    p_remove.add_argument("cluster")
    p_remove.add_argument("names", nargs="+")
    p_list = sub.add_parser("list", help="print hosts as JSON")
    p_list.add_argument("cluster", nargs="?")
    sub.add_parser("dockerd", help="start dockerd when none answers")
    sub.add_parser("image", help="build the base image when it is missing or stale")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            print(json.dumps(inventory(up(load_spec(args.spec))), indent=2))
        elif args.cmd == "down":
            for name in down(args.cluster):
                print(f"removed {name}")
        elif args.cmd == "stale":
            for name in stale(load_spec(args.spec)):
                print(name)
        elif args.cmd == "remove":
            for name in remove(args.cluster, args.names):
                print(f"removed {name}")
        elif args.cmd == "create":
            ensure_dockerd()
            base_image.build()
            print(
                json.dumps(
                    create_host(args.name, args.cluster, args.groups, args.volumes, args.shared_volumes)
                )
            )
        elif args.cmd == "list":
            print(json.dumps(list_hosts(args.cluster), indent=2))
        elif args.cmd == "dockerd":
            ensure_dockerd()
        elif args.cmd == "image":
            ensure_dockerd()
            base_image.build()
    except (ProviderError, SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
