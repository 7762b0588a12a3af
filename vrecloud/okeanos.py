"""The ~okeanos provider: Synnefo's Cyclades compute and network APIs, through `vrecloud.synnefo`.

What it makes for a cluster, all recognisable as the cluster's:
  servers       metadata vre-cluster=<cluster>, vre-groups=<groups>
  floating IPs  recorded in the server's metadata (vre-floating-ip=<id>) the moment they are
                reserved, and released by `destroy` after the server is gone
Key pairs, networks and images are the operator's: looked up by name, never created or deleted.
Cyclades has no security groups: `security_rules` in the spec are ignored here (with a warning).
Without `network` in the spec, Cyclades applies its default policy (a public address per VM).
A name that matches several images or networks is refused with their ids.

Every call goes through `vrecloud.apicall` (retries on passing failures, a timeout on every
request, one line when it still fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vrecloud.apicall import ApiCaller, CloudApiError, Transient
from vrecloud.provision import (
    TAG_FLOATING_IP,
    Flavor,
    ProvisionError,
    QuotaExceeded,
    Server,
    log,
    pick_flavor,
)
from vrecloud.spec import ClusterSpec, Node
from vrecloud.synnefo import CredentialsError, SynnefoClient, SynnefoError, credentials


def _error(exc: SynnefoError) -> ProvisionError:
    if exc.status == 413 or exc.kind == "overLimit":
        return QuotaExceeded(str(exc))
    return ProvisionError(str(exc))


def _transient(exc: BaseException) -> Transient | None:
    """A failure that may pass: HTTP 5xx or 429, no connection, no answer in time, a cut answer."""
    if not isinstance(exc, SynnefoError):
        return None
    if exc.status in (429, 503):
        return Transient(f"HTTP {exc.status}: {exc.message}", not_processed=True)
    if exc.status >= 500 or exc.kind in ("unreachable", "badReply"):
        return Transient(f"HTTP {exc.status}: {exc.message}" if exc.status else exc.message)
    return None


def _explain(what: str, exc: BaseException) -> ProvisionError | None:
    return _error(exc) if isinstance(exc, SynnefoError) else None


# How a client call is named in messages.
_WHAT = {
    "servers": "server list",
    "flavors": "flavor list",
    "images": "image list",
    "networks": "network list",
    "floating_ips": "floating IP list",
    "keypair": "key pair lookup",
    "create_server": "creating a server",
    "delete_server": "deleting a server",
    "update_metadata": "tagging a server",
    "create_floating_ip": "reserving a floating IP",
    "delete_floating_ip": "releasing a floating IP",
    "create_port": "attaching a floating IP",
}


def _one(kind: str, key: str, wanted: str, items: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The item whose id is `wanted`, else the only one named so; (None, why) otherwise."""
    by_id = [i for i in items if str(i["id"]) == wanted]
    found = by_id or [i for i in items if i.get("name") == wanted]
    if len(found) > 1:
        ids = ", ".join(sorted(str(i["id"]) for i in found))
        return (
            None,
            f"{kind} {wanted!r} names {len(found)} of them (ids {ids}): give the id instead in '{key}'",
        )
    return (found[0], None) if found else (None, None)


class OkeanosProvider:
    name = "okeanos"

    def __init__(self, client: SynnefoClient | None = None, api: ApiCaller | None = None) -> None:
        self._client = client
        self.api = api or ApiCaller("~okeanos", _transient, _explain)
        self.spec: ClusterSpec | None = None
        self._boot: dict[str, dict[str, Any]] = {}
        self._public_net: str | None = None
        self._networks: dict[str, dict[str, Any]] | None = None

    @property
    def client(self) -> SynnefoClient:
        if self._client is None:
            try:
                self._client = SynnefoClient(*credentials())
            except CredentialsError as exc:
                raise ProvisionError(str(exc)) from exc
        return self._client

    def _call(
        self, fn: Any, *args: Any, creates: bool = False, missing_ok: bool = False, **kwargs: Any
    ) -> Any:
        what = _WHAT.get(fn.__name__, fn.__name__.replace("_", " "))
        try:
            return self.api.call(what, fn, *args, creates=creates, **kwargs)
        except ProvisionError as exc:
            if missing_ok and isinstance(exc.__cause__, SynnefoError) and exc.__cause__.status == 404:
                return None
            raise

    def _network_index(self) -> dict[str, dict[str, Any]]:
        if self._networks is None:
            self._networks = {str(n["id"]): n for n in self._call(self.client.networks)}
        return self._networks

    @staticmethod
    def _is_public(net: dict[str, Any] | None) -> bool:
        return bool(net and (net.get("public") or net.get("router:external")))

    # -- prepare ------------------------------------------------------------------------------

    def prepare(self, spec: ClusterSpec) -> None:
        self.spec = spec
        c = self.client
        problems: list[str] = []
        if spec.security_rules:
            log("okeanos: security_rules ignored: Cyclades has no security groups (firewall the VMs instead)")
        if self._call(c.keypair, spec.ssh_key) is None:
            problems.append(
                f"key pair {spec.ssh_key!r} not found in this ~okeanos account: upload your public key under "
                "that name (web UI: SSH keys)"
            )
        flavors = [
            Flavor(str(f["id"]), f["name"], int(f["vcpus"]), int(f["ram"]), int(f["disk"]))
            for f in self._call(c.flavors)
            if f.get("SNF:allow_create", True)
        ]
        images = self._call(c.images)
        networks = self._network_index()
        network_id = None
        if spec.network:
            match, why = _one("network", "network", spec.network, networks.values())
            if why:
                problems.append(why)
            elif match is None:
                problems.append(
                    f"network {spec.network!r} not found: name an existing private network in 'network'"
                )
            else:
                network_id = str(match["id"])
        nodes = spec.nodes()
        if any(n.public_ip for n in nodes):
            pools = [
                n
                for n in networks.values()
                if n.get("SNF:floating_ip_pool")
                and (not spec.public_network or spec.public_network in (n.get("name"), str(n["id"])))
            ]
            if not pools:
                problems.append(
                    "public_ip is asked for but no floating IP pool network matches 'public_network'"
                )
            else:
                self._public_net = str(pools[0]["id"])
        for node in nodes:
            try:
                flavor = pick_flavor(flavors, node, "~okeanos")
            except ProvisionError as exc:
                problems.append(str(exc))
                continue
            image, why = _one("image", "image", node.image, images)
            if image is None:
                problems.append(why or f"image {node.image!r} not found: name an ~okeanos image in 'image'")
                continue
            args: dict[str, Any] = {
                "name": node.name,
                "flavorRef": flavor.id,
                "imageRef": str(image["id"]),
                "key_name": spec.ssh_key,
            }
            if network_id:
                args["networks"] = [{"uuid": network_id}]
            self._boot[node.name] = args
        if problems:
            raise ProvisionError(
                "~okeanos cannot satisfy the spec (nothing was created):\n  - "
                + "\n  - ".join(dict.fromkeys(problems))
            )

    # -- servers ------------------------------------------------------------------------------

    def _server(self, s: dict[str, Any]) -> Server:
        nets = self._network_index()
        private = public = None
        for att in s.get("attachments") or []:
            ip = att.get("ipv4")
            if not ip:
                continue
            if att.get("OS-EXT-IPS:type") == "floating" or self._is_public(
                nets.get(str(att.get("network_id")))
            ):
                public = public or ip
            else:
                private = private or ip
        fault = ""
        if s.get("status") == "ERROR":
            diags = s.get("diagnostics") or []
            fault = (diags[0].get("message") or "") if diags else ""
        return Server(
            id=str(s["id"]),
            name=s["name"],
            status=str(s.get("status", "BUILD")).upper(),
            metadata={str(k): str(v) for k, v in (s.get("metadata") or {}).items()},
            private_address=private,
            public_address=public,
            fault=fault,
        )

    def list_servers(self, cluster: str) -> list[Server]:
        servers = [self._server(s) for s in self._call(self.client.servers)]
        return [s for s in servers if s.cluster == cluster]

    def create_server(self, node: Node, metadata: dict[str, str]) -> Server:
        args = self._boot.get(node.name)
        if args is None:
            raise ProvisionError(f"{node.name}: prepare() did not resolve this node")
        s = self._call(self.client.create_server, **args, metadata=metadata, creates=True)
        return Server(id=str(s["id"]), name=node.name, status="BUILD", metadata=dict(metadata))

    def set_metadata(self, server: Server, metadata: dict[str, str]) -> None:
        self._call(self.client.update_metadata, server.id, metadata)

    def delete_server(self, server: Server) -> None:
        self._call(self.client.delete_server, server.id, missing_ok=True)

    # -- addresses ----------------------------------------------------------------------------

    def attach_public_ip(self, server: Server, cluster: str) -> str:
        c = self.client
        fips = {str(f["id"]): f for f in self._call(c.floating_ips)}
        fip = fips.get(server.metadata.get(TAG_FLOATING_IP, ""))  # reserved by an interrupted run
        if fip is not None and str(fip.get("instance_id") or "") not in ("", server.id):
            fip = None  # attached elsewhere since: not ours to take
        if fip is None:
            if not self._public_net:
                raise ProvisionError("no floating IP pool resolved: set 'public_network' in the spec")
            fip = self._reserve_floating_ip(set(fips))
            # Record it at once so destroy can release it even if the next step fails.
            server.metadata[TAG_FLOATING_IP] = str(fip["id"])
            self._call(c.update_metadata, server.id, {TAG_FLOATING_IP: str(fip["id"])})
        if not fip.get("port_id"):
            self._call(
                c.create_port,
                str(fip["floating_network_id"]),
                server.id,
                fip["floating_ip_address"],
                creates=True,
            )
        return str(fip["floating_ip_address"])

    def _reserve_floating_ip(self, known: set[str]) -> dict[str, Any]:
        """Reserve a floating IP. Cyclades' floating IPs carry no name or tag, so when the answer
        to the reservation is lost (a 504 after the cloud acted), the one that appeared meanwhile,
        free and in the pool, is taken as this reservation instead of leaking it: a re-run could
        not tell it from the tenant's others. Two or more such (another client reserving at the
        same moment) are not guessed between: the error lists them."""
        try:
            return self._call(self.client.create_floating_ip, self._public_net, creates=True)
        except CloudApiError as exc:
            try:
                after = self._call(self.client.floating_ips)
            except ProvisionError:
                raise exc from None
            new = [
                f
                for f in after
                if str(f["id"]) not in known
                and not f.get("instance_id")
                and not f.get("port_id")
                and str(f.get("floating_network_id")) == str(self._public_net)
            ]
            if len(new) == 1:
                address = new[0]["floating_ip_address"]
                log(f"{exc.brief}; the reservation was made: floating IP {address} appeared")
                return new[0]
            if not new:
                raise  # not made: the re-run reserves one
            listed = ", ".join(f"{f['floating_ip_address']} (id {f['id']})" for f in new)
            raise ProvisionError(
                f"{exc} Several free floating IPs appeared meanwhile ({listed}): one may be this "
                "run's; release the ones nothing uses (kamaki ip release ID, or the web UI)"
            ) from exc

    def release(self, cluster: str, servers: Sequence[Server]) -> list[str]:
        recorded = {
            s.metadata[TAG_FLOATING_IP]
            for s in servers
            if s.cluster == cluster and TAG_FLOATING_IP in s.metadata
        }
        released = []
        for fip in self._call(self.client.floating_ips):
            if str(fip["id"]) not in recorded:
                continue
            self._call(self.client.delete_floating_ip, str(fip["id"]), missing_ok=True)
            released.append(f"floating IP {fip['floating_ip_address']}")
        return released
