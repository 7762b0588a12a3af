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

Each entry under `groups` is a set of identical hosts placed in that inventory group and in its
`extra_groups`. Cloud providers also read `flavor`, `image` and `disk`; the local provider ignores
them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
)
GROUP_KEYS = {"count", "extra_groups", "volumes", "flavor", "image", "disk"}
_CLUSTER_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class SpecError(ValueError):
    """The spec is invalid; the message names the field and what to do."""


@dataclass(frozen=True)
class Node:
    name: str
    groups: tuple[str, ...]
    volumes: tuple[str, ...] = ()


@dataclass
class ClusterSpec:
    cluster: str
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def nodes(self) -> list[Node]:
        out = []
        for group, conf in self.groups.items():
            prefix = f"{self.cluster}-{group.replace('_', '-')}"
            all_groups = (group, *conf.get("extra_groups", ()))
            for i in range(1, conf["count"] + 1):
                out.append(Node(f"{prefix}-{i}", all_groups, tuple(conf.get("volumes", ()))))
        return out


def _check_group(where: str, name: Any) -> str:
    if name not in KNOWN_GROUPS:
        raise SpecError(f"{where}: unknown group {name!r}; known groups: {', '.join(KNOWN_GROUPS)}")
    return name


def parse_spec(data: Any, source: str = "spec") -> ClusterSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with 'cluster' and 'groups'")
    cluster = data.get("cluster")
    if not isinstance(cluster, str) or not _CLUSTER_RE.match(cluster):
        raise SpecError(
            f"{source}: 'cluster' must be a short lower-case name (letters, digits, '-'), got {cluster!r}"
        )
    unknown = set(data) - {"cluster", "groups"}
    if unknown:
        raise SpecError(f"{source}: unknown top-level keys {sorted(unknown)}")
    raw_groups = data.get("groups")
    if not isinstance(raw_groups, dict) or not raw_groups:
        raise SpecError(f"{source}: 'groups' must map inventory groups to counts or settings")
    groups: dict[str, dict[str, Any]] = {}
    for group, conf in raw_groups.items():
        where = f"{source}: groups.{group}"
        _check_group(f"{source}: groups", group)
        if isinstance(conf, int) and not isinstance(conf, bool):
            conf = {"count": conf}
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
        volumes = conf.get("volumes", [])
        if not isinstance(volumes, list) or not all(isinstance(v, str) and v.startswith("/") for v in volumes):
            raise SpecError(f"{where}.volumes must be a list of absolute paths")
        groups[group] = {**conf, "count": count, "extra_groups": extra, "volumes": volumes}
    if groups.get("nfs_server", {}).get("count", 0) > 1:
        raise SpecError(f"{source}: groups.nfs_server.count must be 0 or 1 (one NFS server per cluster)")
    return ClusterSpec(cluster=cluster, groups=groups)


def load_spec(path: str | Path) -> ClusterSpec:
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"cluster spec {p} not found")
    with p.open() as fh:
        return parse_spec(yaml.safe_load(fh), source=str(p))
