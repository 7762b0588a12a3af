"""Provider-neutral provisioning: from a cluster spec to running VMs that answer on SSH.

A provider (`vrecloud.openstack`, `vrecloud.okeanos`) puts one cloud's API behind `Provider`;
this module decides what to do and does it in parallel:

  plan       which of the spec's nodes exist (reuse), are missing (create) or failed (replace)
  provision  delete failed leftovers, create what is missing, wait for ACTIVE, attach public
             addresses, wait until SSH answers
  destroy    delete exactly the servers tagged with the cluster, then the addresses and security
             group made for it
  inventory  the Ansible inventory of the cluster's ACTIVE servers (read only)

Cluster membership is the server metadata `vre-cluster=<cluster>` (plus `vre-groups=a,b` for the
inventory). A server without that tag is never changed or deleted, whatever its name.

Every failure is collected per host and reported with what to do; whatever state a failed run
leaves, the next `provision` completes it (or `destroy` removes it).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from vrecloud import inventory as inv
from vrecloud.spec import ClusterSpec, Node

TAG_CLUSTER = "vre-cluster"
TAG_GROUPS = "vre-groups"
TAG_FLOATING_IP = "vre-floating-ip"  # id of the floating IP this toolkit allocated for the server

ACTIVE = "ACTIVE"
BUILD = "BUILD"
ERROR = "ERROR"
GONE = ("DELETED",)
# Rank of a server status when several servers carry one node's name: lower is kept.
_RANK = {ACTIVE: 0, BUILD: 1}


def _rank(status: str) -> int:
    return _RANK.get(status, 3 if status == ERROR else 2)


T = TypeVar("T")
R = TypeVar("R")


class ProvisionError(RuntimeError):
    """A failure with a message meant for the operator."""


class QuotaExceeded(ProvisionError):
    """The cloud refused to create a resource because a quota is used up."""


@dataclass
class Server:
    id: str
    name: str
    status: str
    metadata: dict[str, str] = field(default_factory=dict)
    private_address: str | None = None
    public_address: str | None = None
    fault: str = ""

    @property
    def cluster(self) -> str | None:
        return self.metadata.get(TAG_CLUSTER)

    @property
    def groups(self) -> list[str]:
        return [g for g in self.metadata.get(TAG_GROUPS, "").split(",") if g]

    @property
    def address(self) -> str | None:
        """Where Ansible connects: the public address when there is one."""
        return self.public_address or self.private_address


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # GB


class Provider(Protocol):
    """What a cloud must offer. Every method raises ProvisionError (or QuotaExceeded)."""

    name: str

    def prepare(self, spec: ClusterSpec) -> None:
        """Resolve flavors, images, networks and the key pair; ensure the cluster's security group.

        Creates no server: a spec the cloud cannot satisfy fails here, before anything exists."""

    def list_servers(self, cluster: str) -> list[Server]:
        """The servers tagged with `cluster` (and only those)."""

    def create_server(self, node: Node, metadata: dict[str, str]) -> Server:
        """Ask for one server; return at once (status BUILD)."""

    def set_metadata(self, server: Server, metadata: dict[str, str]) -> None: ...

    def delete_server(self, server: Server) -> None:
        """Ask for deletion; return at once."""

    def attach_public_ip(self, server: Server, cluster: str) -> str:
        """Allocate a public address tagged for the cluster (or reuse the one allocated before for
        this server) and attach it; return the address."""

    def release(self, cluster: str, servers: Sequence[Server]) -> list[str]:
        """After `servers` are gone: free the addresses and security group made for the cluster.
        Returns a description of each resource freed."""


def node_metadata(cluster: str, node: Node) -> dict[str, str]:
    return {TAG_CLUSTER: cluster, TAG_GROUPS: ",".join(node.groups)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- flavors -----------------------------------------------------------------------------------


def pick_flavor(flavors: Sequence[Flavor], node: Node, cloud: str) -> Flavor:
    """The flavor the spec names, or the smallest one with at least the cpus, ram and disk asked."""
    if node.flavor:
        found = [f for f in flavors if f.id == node.flavor] or [f for f in flavors if f.name == node.flavor]
        if len(found) > 1:
            ids = ", ".join(sorted(f.id for f in found))
            raise ProvisionError(
                f"{node.name}: flavor {node.flavor!r} names {len(found)} flavors on {cloud} (ids {ids}): "
                "give the id instead in 'flavor'"
            )
        if found:
            f = found[0]
            if node.disk and f.disk < node.disk:
                raise ProvisionError(
                    f"{node.name}: flavor {f.name!r} has a {f.disk} GB disk but the spec asks for "
                    f"disk: {node.disk}; pick a larger flavor or lower 'disk'"
                )
            return f
        names = ", ".join(sorted(f.name for f in flavors)) or "none"
        raise ProvisionError(f"{node.name}: flavor {node.flavor!r} not found on {cloud}; available: {names}")
    fits = [
        f
        for f in flavors
        if f.vcpus >= (node.cpus or 0) and f.ram >= (node.ram or 0) and f.disk >= (node.disk or 0)
    ]
    if not fits:
        raise ProvisionError(
            f"{node.name}: no flavor on {cloud} has cpus >= {node.cpus}, ram >= {node.ram} MiB"
            + (f", disk >= {node.disk} GB" if node.disk else "")
            + "; lower them or name a flavor"
        )
    return min(fits, key=lambda f: (f.vcpus, f.ram, f.disk, f.name))


# --- SSH ---------------------------------------------------------------------------------------


def wait_for_ssh(address: str, port: int = 22, timeout: float = 300.0, interval: float = 2.0) -> None:
    """Wait until `address:port` accepts a TCP connection and greets with an SSH banner."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((address, port), timeout=max(1.0, min(10.0, remaining))) as sock:
                sock.settimeout(max(1.0, min(10.0, remaining)))
                banner = sock.recv(256)
                if banner.startswith(b"SSH-"):
                    return
                last = f"answered {banner[:40]!r}, not an SSH banner"
        except OSError as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() + interval > deadline:
            raise ProvisionError(f"no SSH answer on {address}:{port} within {timeout:.0f}s (last: {last})")
        time.sleep(interval)


# --- plan ----------------------------------------------------------------------------------------


@dataclass
class Plan:
    reuse: dict[str, Server] = field(default_factory=dict)  # node name -> ACTIVE or BUILD server
    create: list[Node] = field(default_factory=list)  # nodes without a usable server
    delete: list[Server] = field(default_factory=list)  # ERROR servers and extra same-name servers
    retag: dict[str, Server] = field(default_factory=dict)  # reused servers whose groups changed
    blocked: dict[str, str] = field(default_factory=dict)  # node name -> why it is left alone
    surplus: list[Server] = field(default_factory=list)  # cluster servers the spec no longer names


def make_plan(spec: ClusterSpec, servers: Iterable[Server]) -> Plan:
    plan = Plan()
    ours = [s for s in servers if s.cluster == spec.cluster and s.status not in GONE]
    by_name: dict[str, list[Server]] = {}
    for s in ours:
        by_name.setdefault(s.name, []).append(s)
    nodes = spec.nodes()
    for node in nodes:
        found = sorted(by_name.pop(node.name, []), key=lambda s: _rank(s.status))
        keeper = found[0] if found and found[0].status != ERROR else None
        plan.delete += [s for s in found if s is not keeper]
        if keeper is None:
            plan.create.append(node)
        elif keeper.status in _RANK:
            plan.reuse[node.name] = keeper
            if keeper.groups != list(node.groups):
                plan.retag[node.name] = keeper
        else:
            plan.blocked[node.name] = (
                f"server {keeper.id} is {keeper.status}: left untouched; start it, or delete it and run "
                "provision again"
            )
    plan.surplus = [s for rest in by_name.values() for s in rest]
    return plan


# --- provision -----------------------------------------------------------------------------------


@dataclass
class Result:
    cluster: str
    provider: str
    created: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    retagged: list[str] = field(default_factory=list)
    public_ips: dict[str, str] = field(default_factory=dict)
    surplus: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ready: dict[str, Server] = field(default_factory=dict)
    ssh_unchecked: list[str] = field(default_factory=list)  # private hosts behind the ssh_via host

    @property
    def changed(self) -> bool:
        return bool(self.created or self.deleted or self.retagged or self.public_ips)

    def summary(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "cluster": self.cluster,
            "changed": self.changed,
            "created": sorted(self.created),
            "reused": sorted(self.reused),
            "replaced": sorted(self.replaced),
            "deleted": sorted(self.deleted),
            "retagged": sorted(self.retagged),
            "public_ips": dict(sorted(self.public_ips.items())),
            "surplus": sorted(self.surplus),
            "failed": dict(sorted(self.failed.items())),
            "ready": sorted(self.ready),
            "ssh_unchecked": sorted(self.ssh_unchecked),
        }

    def message(self) -> str:
        """Why the run failed and what to do, one line per host."""
        lines = [f"{len(self.failed)} of the cluster's hosts are not ready:"]
        lines += [f"  {name}: {why}" for name, why in sorted(self.failed.items())]
        quota = [n for n, why in self.failed.items() if "quota" in why.lower()]
        if quota:
            lines.append(
                f"  quota: {len(quota)} hosts could not be created; "
                f"the {len(self.ready)} ready hosts are kept. Raise the quota (or lower the counts in "
                "the spec) and run provision again, or run destroy."
            )
        return "\n".join(lines)


def parallel(
    fn: Callable[[T], R], items: Sequence[T], workers: int
) -> list[tuple[T, R | None, Exception | None]]:
    """Run `fn` over `items` on up to `workers` threads; (item, result, error) in input order."""
    if not items:
        return []

    def call(item: T) -> tuple[T, R | None, Exception | None]:
        try:
            return item, fn(item), None
        except Exception as exc:  # reported per item by the caller
            return item, None, exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(call, items))


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ProvisionError) else f"{type(exc).__name__}: {exc}"


def _list(provider: Provider, cluster: str) -> list[Server]:
    # Belt and braces: whatever the provider's filter, act only on servers carrying the tag.
    return [s for s in provider.list_servers(cluster) if s.cluster == cluster and s.status not in GONE]


def _wait_gone(provider: Provider, cluster: str, ids: set[str], timeout: float, poll: float) -> set[str]:
    """Wait until none of `ids` is listed any more; return those still there at the deadline."""
    deadline = time.monotonic() + timeout
    while ids:
        ids = ids & {s.id for s in _list(provider, cluster)}
        if not ids or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    return ids


def _wait_active(
    provider: Provider,
    cluster: str,
    pending: dict[str, str],
    *,
    timeout: float,
    poll: float,
    result: Result,
) -> tuple[dict[str, Server], list[Server]]:
    """Poll the cluster's servers (one list call per round) until every id in `pending`
    (id -> name) is ACTIVE, ERROR, gone, or the deadline passes."""
    ready: dict[str, Server] = {}
    errored: list[Server] = []
    deadline = time.monotonic() + timeout
    pending = dict(pending)
    last_status: dict[str, str] = {}
    list_failure = ""  # why the last round's server list failed, if it did
    while pending:
        try:
            current = {s.id: s for s in _list(provider, cluster)}
            list_failure = ""
        except ProvisionError as exc:  # a passing API failure must not abandon a 50-VM run
            brief = getattr(exc, "brief", str(exc))
            if brief != list_failure:
                log(f"{brief}; still waiting (until the {timeout:.0f}s wait runs out)")
            list_failure = brief
            current = None
        if current is not None:
            for sid, name in list(pending.items()):
                server = current.get(sid)
                if server is None:
                    result.failed[name] = f"server {sid} disappeared while booting; run provision again"
                elif server.status == ACTIVE:
                    ready[name] = server
                elif server.status == ERROR:
                    errored.append(server)
                    result.failed[name] = (
                        f"server {sid} went to ERROR ({server.fault or 'the cloud gave no reason'}); "
                        "it was deleted: run provision again to create it anew"
                    )
                else:
                    last_status[sid] = server.status
                    continue
                del pending[sid]
        if not pending:
            break
        if time.monotonic() + poll > deadline:
            for sid, name in pending.items():
                state = (
                    f"the server list kept failing ({list_failure}) until the {timeout:.0f}s wait ran out"
                    if list_failure
                    else f"still {last_status.get(sid, BUILD)} after {timeout:.0f}s"
                )
                result.failed[name] = (
                    f"server {sid}: {state}: left in place; run provision again to keep waiting for it, "
                    "or destroy"
                )
            break
        time.sleep(poll)
    return ready, errored


def provision(
    spec: ClusterSpec,
    provider: Provider,
    *,
    timeout: float = 900.0,
    ssh_timeout: float = 300.0,
    poll: float = 2.0,
    workers: int = 50,
    ssh_check: Callable[[str, int, float], None] = wait_for_ssh,
) -> Result:
    """Bring the cluster to the spec: reuse what exists, create what is missing, in parallel.

    `spec` must be resolved for the provider (`spec.validate_for_cloud`). Never raises for a
    per-host failure: those are in `Result.failed`, the ready hosts in `Result.ready`."""
    result = Result(cluster=spec.cluster, provider=provider.name)
    provider.prepare(spec)
    plan = make_plan(spec, _list(provider, spec.cluster))
    nodes = {n.name: n for n in spec.nodes()}
    result.surplus = [s.name for s in plan.surplus]
    result.failed.update(plan.blocked)
    if plan.surplus:
        log(
            f"{len(plan.surplus)} servers of the cluster are not in the spec (kept; destroy removes them): "
            + ", ".join(sorted(result.surplus))
        )

    # 1. Failed leftovers (ERROR) and extra servers with a node's name go first: they hold quota.
    if plan.delete:
        log(
            f"deleting {len(plan.delete)} failed or duplicate servers: "
            + ", ".join(s.name for s in plan.delete)
        )
        problems: dict[str, str] = {}
        for server, _, exc in parallel(provider.delete_server, plan.delete, workers):
            if exc is not None:
                problems[server.id] = f"could not delete server {server.id} ({server.status}): {_reason(exc)}"
        left = _wait_gone(provider, spec.cluster, {s.id for s in plan.delete} - set(problems), timeout, poll)
        problems |= {sid: f"server {sid} is still being deleted after {timeout:.0f}s" for sid in left}
        for server in plan.delete:
            if server.id not in problems:
                result.deleted.append(server.name)
            elif server.name in plan.reuse:  # a duplicate: the node has its server anyway
                log(f"{server.name}: {problems[server.id]}; destroy removes it")
            else:  # an ERROR server in the way: do not create its replacement yet
                result.failed.setdefault(server.name, problems[server.id] + "; run provision again")
        result.replaced = sorted(
            {s.name for s in plan.delete if s.status == ERROR and s.id not in problems} & set(nodes)
        )

    # 2. Servers that exist: keep; fix their group tags when the spec's groups changed.
    result.reused = sorted(plan.reuse)
    for name, server in plan.retag.items():
        meta = {**server.metadata, **node_metadata(spec.cluster, nodes[name])}
        try:
            provider.set_metadata(server, meta)
            server.metadata = meta
            result.retagged.append(name)
        except ProvisionError as exc:
            result.failed[name] = f"could not update the groups tag: {exc}"

    # 3. Create what is missing, all at once.
    to_create = [n for n in plan.create if n.name not in result.failed]
    if to_create:
        log(f"creating {len(to_create)} servers")
    pending = {s.id: name for name, s in plan.reuse.items() if s.status != ACTIVE}
    ready = {name: s for name, s in plan.reuse.items() if s.status == ACTIVE}
    for node, server, exc in parallel(
        lambda n: provider.create_server(n, node_metadata(spec.cluster, n)), to_create, workers
    ):
        if exc is not None:
            kind = "quota exceeded" if isinstance(exc, QuotaExceeded) else "create failed"
            result.failed[node.name] = f"{kind}: {_reason(exc)}"
        else:
            assert server is not None
            result.created.append(node.name)
            pending[server.id] = node.name

    # 4. Wait for ACTIVE (one list call per round for the whole cluster).
    if pending:
        log(f"waiting for {len(pending)} servers to become ACTIVE")
        booted, errored = _wait_active(
            provider, spec.cluster, pending, timeout=timeout, poll=poll, result=result
        )
        ready.update(booted)
        for server, _, exc in parallel(provider.delete_server, errored, workers):
            if exc is not None:
                result.failed[server.name] += f" (deleting it failed too: {_reason(exc)}; destroy removes it)"

    # 5. Public addresses where the spec asks for them.
    wants_ip = [s for name, s in ready.items() if nodes[name].public_ip and not s.public_address]
    if wants_ip:
        log(f"attaching public addresses to {len(wants_ip)} servers")
    for server, address, exc in parallel(
        lambda s: provider.attach_public_ip(s, spec.cluster), wants_ip, workers
    ):
        if exc is not None:
            kind = "public address: quota exceeded" if isinstance(exc, QuotaExceeded) else "public address"
            result.failed[server.name] = f"{kind}: {_reason(exc)}"
            ready.pop(server.name)
        else:
            server.public_address = address
            result.public_ips[server.name] = str(address)

    # 6. SSH must answer before a host counts as ready. Hosts without a public address behind an
    # `ssh_via` jump host cannot be reached from here: Ansible goes through the jump host, and
    # they are reported as not checked.
    def check(server: Server) -> None:
        if not server.address:
            raise ProvisionError(f"server {server.id} has no address")
        ssh_check(server.address, spec.ssh_port, ssh_timeout)

    behind = {n: s for n, s in ready.items() if spec.ssh_via and not s.public_address}
    result.ssh_unchecked = sorted(behind)
    result.ready.update(behind)
    direct = [s for n, s in ready.items() if n not in behind]
    if direct:
        log(f"waiting for SSH on {len(direct)} servers")
    if behind:
        log(
            f"not checking SSH on {len(behind)} servers without a public address "
            f"(Ansible reaches them through {spec.ssh_via})"
        )
    for server, _, exc in parallel(check, direct, workers):
        if exc is not None:
            result.failed[server.name] = (
                f"{_reason(exc)}; the server is kept: run provision again to wait again"
            )
        else:
            result.ready[server.name] = server
    return result


# --- destroy -------------------------------------------------------------------------------------


def destroy(
    cluster: str, provider: Provider, *, timeout: float = 600.0, poll: float = 2.0, workers: int = 50
) -> list[str]:
    """Delete every server tagged with `cluster`, then what was allocated for it. Returns what
    was removed. Raises ProvisionError when something could not be removed (run it again)."""
    servers = _list(provider, cluster)
    errors = [
        f"{s.name}: {_reason(exc)}" for s, _, exc in parallel(provider.delete_server, servers, workers) if exc
    ]
    left = _wait_gone(provider, cluster, {s.id for s in servers}, timeout, poll)
    if left:
        errors.append(f"{len(left)} servers still listed after {timeout:.0f}s: " + ", ".join(sorted(left)))
    if errors:
        raise ProvisionError("destroy did not finish; run it again:\n  " + "\n  ".join(errors))
    removed = [f"server {s.name}" for s in sorted(servers, key=lambda s: s.name)]
    return removed + provider.release(cluster, servers)


# --- inventory -----------------------------------------------------------------------------------


def jump_host(servers: Iterable[Server], spec: ClusterSpec) -> Server | None:
    """The `ssh_via` group's first ACTIVE host with a public address, if the spec names one."""
    if not spec.ssh_via:
        return None
    candidates = [s for s in servers if s.status == ACTIVE and s.public_address and spec.ssh_via in s.groups]
    return min(candidates, key=lambda s: s.name) if candidates else None


def hostvars(server: Server, spec: ClusterSpec, provider: str, jump: Server | None = None) -> dict[str, Any]:
    hv: dict[str, Any] = {
        "ansible_host": server.address,
        "ansible_user": spec.ssh_user,
        "vre_private_address": server.private_address or server.public_address,
        "vre_provider": provider,
        "vre_server_id": server.id,
    }
    if server.public_address:
        hv["vre_public_address"] = server.public_address
    if spec.ssh_port != 22:
        hv["ansible_port"] = spec.ssh_port
    if jump is not None and not server.public_address:
        hv["ansible_ssh_common_args"] = f"-o ProxyJump={spec.ssh_user}@{jump.public_address}:{spec.ssh_port}"
        hv["vre_ssh_via"] = jump.name
    return hv


def inventory(servers: Iterable[Server], spec: ClusterSpec, provider: str) -> dict[str, Any]:
    """The inventory of the cluster's ACTIVE servers that have an address."""
    usable = sorted(
        (s for s in servers if s.cluster == spec.cluster and s.status == ACTIVE and s.address),
        key=lambda s: s.name,
    )
    jump = jump_host(usable, spec)
    return inv.build((s.name, s.groups, hostvars(s, spec, provider, jump)) for s in usable)
