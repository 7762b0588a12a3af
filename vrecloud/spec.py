"""The cluster spec: one YAML file, the same for every provider.

    cluster: vre                 # names every host: <cluster>-<group>-<n>
    groups:
      nfs_server:
        count: 1
        volumes: [/srv/vre]      # local provider: a docker volume per host at this path
      galaxy:
        count: 1
        extra_groups: [nfs_clients]
      mesos_slaves: 2            # short form: just the count
      kube_nodes:
        count: 1
        shared_volumes: [/srv/vre]   # local provider: ONE docker volume of the cluster, mounted at
                                     # this path on every host that lists it (a stand-in for a
                                     # shared filesystem where the kernel has no NFS client)

Each entry under `groups` is a set of identical hosts placed in that inventory group and in its
`extra_groups`. Cloud providers (OpenStack, ~okeanos) also read, per group or under `defaults`:
`flavor` (a flavor name of the cloud) or `cpus` + `ram` (MiB; the smallest flavor that fits is
picked), `disk` (GB, a lower bound on the flavor's disk), `image` and `public_ip`; and at the top
level `ssh_key` (a key pair registered in the cloud), `ssh_user`, `ssh_port`, `ssh_via` (a group
whose public host is the SSH jump host of the hosts without a public address), `network`,
`public_network` and `security_rules`. The local provider ignores them all.

`flavor`, `image`, `network`, `public_network`, `ssh_key` and `ssh_user` may also be a mapping
from provider name to value, so one file serves every cloud:

    defaults:
      image: {openstack: debian-12, okeanos: Debian Base}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

KNOWN_GROUPS = (
    "nfs_server",
    "nfs_clients",
    "zookeeper",
    "mesos_masters",
    "mesos_slaves",
    "chronos",
    "galaxy",
    "registry",
    "kube_control_plane",
    "kube_nodes",
    "slurm_controller",
    "slurm_workers",
    "monitoring",
)
PROVIDERS = ("local", "openstack", "okeanos")
CLOUD_PROVIDERS = ("openstack", "okeanos")
# Settings of a group that describe its VMs on a cloud (also allowed under `defaults`).
VM_KEYS = {"flavor", "cpus", "ram", "disk", "image", "public_ip"}
GROUP_KEYS = {"count", "extra_groups", "volumes", "shared_volumes"} | VM_KEYS
TOP_KEYS = {
    "cluster",
    "groups",
    "defaults",
    "ssh_user",
    "ssh_key",
    "ssh_port",
    "ssh_via",
    "network",
    "public_network",
    "security_rules",
}
# Values that may differ per provider: a plain value or {provider: value}.
PER_PROVIDER = {"flavor", "image", "network", "public_network", "ssh_key", "ssh_user"}
# A group that cannot work without another one ("zero masters").
NEEDS = {
    "mesos_slaves": "mesos_masters",
    "chronos": "mesos_masters",
    "kube_nodes": "kube_control_plane",
}
DEFAULT_SSH_USER = "debian"
_CLUSTER_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_PORT_RANGE_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


class SpecError(ValueError):
    """The spec is invalid; the message names the field and what to do."""


@dataclass(frozen=True)
class Node:
    name: str
    groups: tuple[str, ...]
    volumes: tuple[str, ...] = ()
    # Cluster-wide volumes (local provider): the same data on every host that lists the path.
    shared_volumes: tuple[str, ...] = ()
    # What the VM is made of on a cloud provider (None: not given in the spec).
    flavor: str | None = None
    cpus: int | None = None
    ram: int | None = None
    disk: int | None = None
    image: str | None = None
    public_ip: bool = False


@dataclass(frozen=True)
class SecurityRule:
    """One ingress rule: `protocol` traffic to ports `port_min`..`port_max` from `cidr`."""

    protocol: str = "tcp"
    port_min: int | None = None
    port_max: int | None = None
    cidr: str = "0.0.0.0/0"


@dataclass
class ClusterSpec:
    cluster: str
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    ssh_user: Any = DEFAULT_SSH_USER
    ssh_key: Any = None
    ssh_port: int = 22
    ssh_via: str | None = None
    network: Any = None
    public_network: Any = None
    security_rules: list[SecurityRule] = field(default_factory=list)
    provider: str | None = None  # set by for_provider(): per-provider values are resolved

    def nodes(self) -> list[Node]:
        out = []
        for group, conf in self.groups.items():
            prefix = f"{self.cluster}-{group.replace('_', '-')}"
            all_groups = (group, *conf.get("extra_groups", ()))
            vm = vm_settings(conf, self.defaults)
            vm["public_ip"] = bool(vm["public_ip"])
            for i in range(1, conf["count"] + 1):
                out.append(
                    Node(
                        f"{prefix}-{i}",
                        all_groups,
                        tuple(conf.get("volumes", ())),
                        tuple(conf.get("shared_volumes", ())),
                        **vm,
                    )
                )
        return out

    def for_provider(self, provider: str) -> ClusterSpec:
        """This spec with every per-provider value resolved for `provider`."""
        if provider not in PROVIDERS:
            raise SpecError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")

        def pick(value: Any) -> Any:
            return value.get(provider) if isinstance(value, dict) else value

        groups = {
            g: {k: (pick(v) if k in PER_PROVIDER else v) for k, v in conf.items()}
            for g, conf in self.groups.items()
        }
        defaults = {k: (pick(v) if k in PER_PROVIDER else v) for k, v in self.defaults.items()}
        return replace(
            self,
            groups=groups,
            defaults=defaults,
            ssh_user=pick(self.ssh_user) or DEFAULT_SSH_USER,
            ssh_key=pick(self.ssh_key),
            network=pick(self.network),
            public_network=pick(self.public_network),
            provider=provider,
        )


def vm_settings(conf: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A group's VM settings over the defaults. A group naming a flavor drops the default cpus and
    ram, and a group giving cpus or ram drops the default flavor: the group's choice wins."""
    base = dict(defaults)
    if conf.get("flavor"):
        base.pop("cpus", None)
        base.pop("ram", None)
    if conf.get("cpus") or conf.get("ram"):
        base.pop("flavor", None)
    return {k: conf.get(k, base.get(k)) for k in VM_KEYS}


def _check_group(where: str, name: Any) -> str:
    if name not in KNOWN_GROUPS:
        raise SpecError(f"{where}: unknown group {name!r}; known groups: {', '.join(KNOWN_GROUPS)}")
    return name


def _check_str(where: str, key: str, value: Any) -> None:
    """A string setting, or (for PER_PROVIDER keys) a mapping from provider to string."""
    if value is None:
        return
    if key in PER_PROVIDER and isinstance(value, dict):
        bad = set(value) - set(PROVIDERS)
        if bad:
            raise SpecError(f"{where}.{key}: unknown providers {sorted(bad)}; known: {', '.join(PROVIDERS)}")
        for prov, v in value.items():
            if not isinstance(v, str) or not v:
                raise SpecError(f"{where}.{key}.{prov} must be a non-empty string, got {v!r}")
        return
    if not isinstance(value, str) or not value:
        per = " or a mapping from provider to string" if key in PER_PROVIDER else ""
        raise SpecError(f"{where}.{key} must be a non-empty string{per}, got {value!r}")


def _check_vm_keys(where: str, conf: dict[str, Any]) -> None:
    for key in ("flavor", "image"):
        _check_str(where, key, conf.get(key))
    for key in ("cpus", "ram", "disk"):
        v = conf.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            unit = {"ram": " (MiB)", "disk": " (GB)"}.get(key, "")
            raise SpecError(f"{where}.{key} must be a whole number > 0{unit}, got {v!r}")
    if "public_ip" in conf and not isinstance(conf["public_ip"], bool):
        raise SpecError(f"{where}.public_ip must be true or false, got {conf['public_ip']!r}")


def _parse_rule(where: str, rule: Any) -> SecurityRule:
    if isinstance(rule, int) and not isinstance(rule, bool):
        rule = {"port": rule}
    if not isinstance(rule, dict):
        raise SpecError(f"{where}: expected a port or a mapping with port, protocol, cidr")
    bad = set(rule) - {"port", "protocol", "cidr"}
    if bad:
        raise SpecError(f"{where}: unknown keys {sorted(bad)}; allowed: ['cidr', 'port', 'protocol']")
    protocol = rule.get("protocol", "tcp")
    if protocol not in ("tcp", "udp", "icmp"):
        raise SpecError(f"{where}.protocol must be tcp, udp or icmp, got {protocol!r}")
    cidr = rule.get("cidr", "0.0.0.0/0")
    if not isinstance(cidr, str) or "/" not in cidr:
        raise SpecError(f"{where}.cidr must be an address range like 10.0.0.0/8, got {cidr!r}")
    port = rule.get("port")
    if protocol == "icmp":
        if port is not None:
            raise SpecError(f"{where}: icmp rules take no port")
        return SecurityRule("icmp", None, None, cidr)
    m = (
        _PORT_RANGE_RE.match(str(port))
        if isinstance(port, (int, str)) and not isinstance(port, bool)
        else None
    )
    lo, hi = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, 0)
    if not m or not 1 <= lo <= hi <= 65535:
        raise SpecError(f"{where}.port must be a port (22) or a range ('8000-8100'), got {port!r}")
    return SecurityRule(protocol, lo, hi, cidr)


def parse_spec(data: Any, source: str = "spec") -> ClusterSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with 'cluster' and 'groups'")
    cluster = data.get("cluster")
    if not isinstance(cluster, str) or not _CLUSTER_RE.match(cluster):
        raise SpecError(
            f"{source}: 'cluster' must be a short lower-case name (letters, digits, '-'), got {cluster!r}"
        )
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise SpecError(f"{source}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}")
    raw_groups = data.get("groups")
    if not isinstance(raw_groups, dict) or not raw_groups:
        raise SpecError(f"{source}: 'groups' must map inventory groups to counts or settings")
    groups: dict[str, dict[str, Any]] = {}
    for group, raw in raw_groups.items():
        where = f"{source}: groups.{group}"
        _check_group(f"{source}: groups", group)
        conf = {"count": raw} if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not isinstance(conf, dict):
            raise SpecError(f"{where}: expected a count or a mapping with 'count'")
        bad = set(conf) - GROUP_KEYS
        if bad:
            raise SpecError(f"{where}: unknown keys {sorted(bad)}; allowed: {sorted(GROUP_KEYS)}")
        count = conf.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SpecError(f"{where}.count must be a whole number >= 0, got {count!r}")
        extra = conf.get("extra_groups", [])
        if not isinstance(extra, list):
            raise SpecError(f"{where}.extra_groups must be a list of group names")
        for g in extra:
            _check_group(f"{where}.extra_groups", g)
        lists = {}
        for key in ("volumes", "shared_volumes"):
            paths = conf.get(key, [])
            if not isinstance(paths, list) or not all(
                isinstance(v, str) and v.startswith("/") for v in paths
            ):
                raise SpecError(f"{where}.{key} must be a list of absolute paths")
            lists[key] = paths
        both = sorted(set(lists["volumes"]) & set(lists["shared_volumes"]))
        if both:
            raise SpecError(f"{where}: {', '.join(both)} is in both volumes and shared_volumes: pick one")
        _check_vm_keys(where, conf)
        groups[group] = {**conf, "count": count, "extra_groups": extra, **lists}
    if groups.get("nfs_server", {}).get("count", 0) > 1:
        raise SpecError(f"{source}: groups.nfs_server.count must be 0 or 1 (one NFS server per cluster)")
    members: dict[str, int] = {}
    for group, conf in groups.items():
        for g in {group, *conf["extra_groups"]}:
            members[g] = members.get(g, 0) + conf["count"]
    for group, needed in NEEDS.items():
        if members.get(group, 0) > 0 and members.get(needed, 0) == 0:
            raise SpecError(
                f"{source}: groups.{group} has hosts but there are zero {needed}: "
                f"add groups.{needed} with count >= 1 (or set {group}'s count to 0)"
            )

    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SpecError(f"{source}: 'defaults' must be a mapping of {sorted(VM_KEYS)}")
    bad = set(defaults) - VM_KEYS
    if bad:
        raise SpecError(f"{source}: defaults: unknown keys {sorted(bad)}; allowed: {sorted(VM_KEYS)}")
    _check_vm_keys(f"{source}: defaults", defaults)
    for key in ("ssh_user", "ssh_key", "network", "public_network"):
        _check_str(source, key, data.get(key))
    ssh_port = data.get("ssh_port", 22)
    if not isinstance(ssh_port, int) or isinstance(ssh_port, bool) or not 1 <= ssh_port <= 65535:
        raise SpecError(f"{source}: ssh_port must be a port number, got {ssh_port!r}")
    ssh_via = data.get("ssh_via")
    if ssh_via is not None and ssh_via not in groups:
        raise SpecError(
            f"{source}: ssh_via must name a group of this spec (one with public_ip: true), got {ssh_via!r}"
        )
    rules = data.get("security_rules", [])
    if not isinstance(rules, list):
        raise SpecError(f"{source}: security_rules must be a list of rules like {{port: 22}}")
    return ClusterSpec(
        cluster=cluster,
        groups=groups,
        defaults=defaults,
        ssh_user=data.get("ssh_user") or DEFAULT_SSH_USER,
        ssh_key=data.get("ssh_key"),
        ssh_port=ssh_port,
        ssh_via=ssh_via,
        network=data.get("network"),
        public_network=data.get("public_network"),
        security_rules=[_parse_rule(f"{source}: security_rules[{i}]", r) for i, r in enumerate(rules)],
    )


def validate_for_cloud(spec: ClusterSpec, provider: str) -> ClusterSpec:
    """Resolve `spec` for a cloud provider and check it has what creating VMs there needs.

    Every problem is reported at once, each naming the field to set."""
    if provider not in CLOUD_PROVIDERS:
        raise SpecError(
            f"{provider!r} is not a cloud provider; cloud providers: {', '.join(CLOUD_PROVIDERS)}"
        )
    resolved = spec.for_provider(provider)
    problems = []
    if not resolved.ssh_key:
        problems.append(f"ssh_key: name the key pair registered in your {provider} account")
    for group, conf in resolved.groups.items():
        if conf["count"] == 0:
            continue
        vm = vm_settings(conf, resolved.defaults)
        if vm["flavor"] and (vm["cpus"] or vm["ram"]):
            problems.append(f"groups.{group}: set either 'flavor' or 'cpus' + 'ram', not both")
        elif not vm["flavor"] and not (vm["cpus"] and vm["ram"]):
            problems.append(
                f"groups.{group}: flavor missing: set 'flavor' (a flavor name of {provider}) or 'cpus' and "
                "'ram' (here or under 'defaults')"
            )
        if not vm["image"]:
            problems.append(f"groups.{group}: image missing: set 'image' (here or under 'defaults')")
        if group == resolved.ssh_via and not vm["public_ip"]:
            problems.append(f"ssh_via: {group} is the jump host group, so it needs public_ip: true")
    if resolved.ssh_via and resolved.groups[resolved.ssh_via]["count"] == 0:
        problems.append(f"ssh_via: group {resolved.ssh_via} has no hosts to jump through")
    if problems:
        raise SpecError(f"cluster spec is not ready for {provider}:\n  - " + "\n  - ".join(problems))
    return resolved


def load_spec(path: str | Path) -> ClusterSpec:
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"cluster spec {p} not found")
    with p.open() as fh:
        return parse_spec(yaml.safe_load(fh), source=str(p))
