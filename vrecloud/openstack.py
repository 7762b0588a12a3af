"""The OpenStack provider: Nova servers, Neutron networks and floating IPs, Glance images.

Talks to the cloud through openstacksdk, configured the usual way: a `clouds.yaml` entry named by
$OS_CLOUD (the file found in the usual places or at $OS_CLIENT_CONFIG_FILE), or the OS_* variables.

What it makes for a cluster, all recognisable as the cluster's:
  servers         metadata vre-cluster=<cluster>, vre-groups=<groups>
  floating IPs    description "vre-cluster=<cluster>;vre-host=<server name>"
  security group  named vre-<cluster>, description "vre-cluster=<cluster>" (only when the spec
                  has security_rules): the spec's ingress rules plus any traffic between members
Key pairs, networks and images are the operator's: looked up by name, never created or deleted.
A name that matches several flavors, images or networks is refused with their ids. Without
`network` in the spec, the project's only internal network is taken (or the spec must name one).

Every call goes through `vrecloud.apicall` (retries on passing failures, a timeout on every
request, one line when it still fails).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from vrecloud.apicall import ApiCaller, Transient, default_timeout
from vrecloud.provision import (
    TAG_CLUSTER,
    Flavor,
    ProvisionError,
    QuotaExceeded,
    Server,
    log,
    pick_flavor,
)
from vrecloud.spec import ClusterSpec, Node, SecurityRule

try:
    import openstack
    import openstack.config
    import openstack.connection
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as os_exc
except ImportError as exc:  # pragma: no cover - reported when used
    openstack = None
    os_exc = ksa_exc = None
    _IMPORT_ERROR = str(exc)


def connect(cloud: str | None = None, config_files: Sequence[str] | None = None) -> Any:
    """An openstacksdk connection to `cloud` (clouds.yaml entry, or the OS_* variables) whose
    requests time out after the configuration's `api_timeout`, else `default_timeout()`."""
    if openstack is None:
        raise ProvisionError(
            f"openstacksdk cannot be imported ({_IMPORT_ERROR}): pip install -r requirements-dev.txt"
        )
    try:
        loader = openstack.config.OpenStackConfig(config_files=list(config_files) if config_files else None)
        region = loader.get_one(cloud=cloud)
    except Exception as exc:  # openstacksdk raises many kinds for a bad configuration
        raise ProvisionError(
            f"cannot connect to OpenStack: its configuration does not load ({type(exc).__name__}: "
            f"{exc}); set OS_CLOUD to a clouds.yaml entry (and OS_CLIENT_CONFIG_FILE if the file is "
            "elsewhere)"
        ) from exc
    if not region.config.get("api_timeout"):
        region.config["api_timeout"] = default_timeout()
    return openstack.connection.Connection(config=region)


def _transient(exc: BaseException) -> Transient | None:
    """A failure that may pass: HTTP 5xx or 429, no connection, no answer in time."""
    status = None
    if os_exc is not None and isinstance(exc, os_exc.HttpException):
        status = exc.status_code
    elif ksa_exc is not None and isinstance(exc, ksa_exc.HttpError):
        status = exc.http_status
    if status:
        status = int(status)
        if status in (429, 503):
            return Transient(f"HTTP {status}", not_processed=True)
        return Transient(f"HTTP {status}") if status >= 500 else None
    if ksa_exc is not None and isinstance(exc, ksa_exc.ConnectTimeout):
        return Transient(f"no answer in time: {exc}")
    if (
        ksa_exc is not None
        and isinstance(exc, ksa_exc.ConnectionError)
        and not isinstance(exc, ksa_exc.SSLError)
    ):
        return Transient(f"connection failed: {exc}")
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return Transient(f"{type(exc).__name__}: {exc}")
    return None


def _explain(what: str, exc: BaseException) -> ProvisionError | None:
    if os_exc is not None and isinstance(exc, os_exc.SDKException):
        return _error(what, exc)
    if ksa_exc is not None and isinstance(exc, ksa_exc.ClientException):
        return ProvisionError(f"OpenStack API: {what}: {type(exc).__name__}: {exc}")
    return None


def _fip_description(cluster: str, host: str) -> str:
    return f"vre-cluster={cluster};vre-host={host}"


def security_group_name(cluster: str) -> str:
    return f"vre-{cluster}"


def _error(what: str, exc: Exception) -> ProvisionError:
    """An operator's message for an openstacksdk failure; quota refusals become QuotaExceeded."""
    status = getattr(exc, "status_code", None)
    detail = " ".join((getattr(exc, "details", None) or str(exc)).split())
    text = f"{what}: {detail}" + (f" (HTTP {status})" if status else "")
    if status in (403, 409, 413) and ("quota" in detail.lower() or "overquota" in detail.lower()):
        return QuotaExceeded(text)
    return ProvisionError(text)


class Ambiguous(ProvisionError):
    """A name that several of the cloud's resources carry."""


class OpenStackProvider:
    name = "openstack"

    def __init__(
        self,
        cloud: str | None = None,
        connection: Any = None,
        workers: int = 50,
        api: ApiCaller | None = None,
    ) -> None:
        self._cloud = cloud
        self._conn = connection
        self._workers = workers
        self.api = api or ApiCaller("OpenStack", _transient, _explain)
        self._lock = threading.Lock()
        self.spec: ClusterSpec | None = None
        self._boot: dict[str, dict[str, Any]] = {}  # node name -> create_server arguments
        self._public_net: str | None = None

    # -- connection ---------------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        with self._lock:
            if self._conn is None:
                conn = connect(self._cloud)
                self.api.call("authentication", conn.authorize)
                self._conn = conn
                self._widen_pool(self._conn)
            return self._conn

    def _widen_pool(self, conn: Any) -> None:
        """One HTTP connection per worker thread instead of requests' default pool of 10."""
        try:
            from keystoneauth1.session import TCPKeepAliveAdapter

            for scheme in ("http://", "https://"):
                conn.session.session.mount(scheme, TCPKeepAliveAdapter(pool_maxsize=self._workers))
        except (ImportError, AttributeError):  # pragma: no cover - other keystoneauth layouts
            pass

    def _find(self, what: str, fn: Any, name_or_id: str, same_name: Any = None) -> Any:
        """openstacksdk's find_*: the resource, or None when the cloud has none by that name.
        A name several resources share is refused with their ids (`same_name` lists them)."""
        try:
            return self._call(what, fn, name_or_id, ignore_missing=False)
        except ProvisionError as exc:
            if isinstance(exc.__cause__, os_exc.NotFoundException):
                return None
            if isinstance(exc.__cause__, os_exc.DuplicateResource) and same_name is not None:
                ids = sorted(str(r.id) for r in self._call(what, same_name, name=name_or_id))
                raise Ambiguous(
                    f"{name_or_id!r} names {len(ids)} of them (ids {', '.join(ids)}): give the id instead"
                ) from None
            raise

    def _call(self, what: str, fn: Any, *args: Any, creates: bool = False, **kwargs: Any) -> Any:
        return self.api.call(what, fn, *args, creates=creates, **kwargs)

    # -- prepare ------------------------------------------------------------------------------

    def prepare(self, spec: ClusterSpec) -> None:
        self.spec = spec
        conn = self.conn
        problems: list[str] = []
        if self._find("key pair lookup", conn.compute.find_keypair, spec.ssh_key) is None:
            problems.append(
                f"key pair {spec.ssh_key!r} not found in this project: create it with "
                f"`openstack keypair create --public-key ~/.ssh/id_ed25519.pub {spec.ssh_key}`"
            )
        flavors = [
            Flavor(str(f.id), f.name, int(f.vcpus), int(f.ram), int(f.disk or 0))
            for f in self._call("flavor list", conn.compute.flavors, details=True)
        ]
        images: dict[str, str | None] = {}
        network_id = None
        if spec.network:
            try:
                net = self._find(
                    "network lookup", conn.network.find_network, spec.network, conn.network.networks
                )
            except Ambiguous as exc:
                problems.append(f"network: {exc} in 'network'")
            else:
                if net is None:
                    problems.append(
                        f"network {spec.network!r} not found: name an existing network in 'network'"
                    )
                else:
                    network_id = net.id
        else:
            network_id = self._only_network(problems)
        nodes = spec.nodes()
        if any(n.public_ip for n in nodes):
            self._public_net = self._find_public_network(spec, problems)
        for node in nodes:
            try:
                flavor = pick_flavor(flavors, node, "this OpenStack cloud")
            except ProvisionError as exc:
                problems.append(str(exc))
                continue
            if node.image not in images:
                try:
                    image = self._find("image lookup", conn.image.find_image, node.image, conn.image.images)
                except Ambiguous as exc:
                    image = None
                    problems.append(f"image: {exc} in 'image'")
                else:
                    if image is None:
                        problems.append(
                            f"image {node.image!r} not found: name an image of this cloud in 'image'"
                        )
                images[node.image] = image.id if image is not None else None
            args: dict[str, Any] = {
                "name": node.name,
                "flavor_id": flavor.id,
                "image_id": images[node.image],
                "key_name": spec.ssh_key,
            }
            if network_id:
                args["networks"] = [{"uuid": network_id}]
            if spec.security_rules:
                args["security_groups"] = [{"name": security_group_name(spec.cluster)}]
            self._boot[node.name] = args
        if problems:
            raise ProvisionError(
                "the cloud cannot satisfy the spec (nothing was created):\n  - "
                + "\n  - ".join(dict.fromkeys(problems))
            )
        if spec.security_rules:
            self._ensure_security_group(spec.cluster, spec.security_rules)

    def _only_network(self, problems: list[str]) -> str | None:
        """No network in the spec: Nova refuses to choose when the project sees several, so take
        the only internal one, or say which to name."""
        nets = self._call("network list", self.conn.network.networks)
        internal = [n for n in nets if not n.is_router_external]
        if len(internal) == 1:
            log(f"network: taking the project's only internal network, {internal[0].name} ({internal[0].id})")
            return str(internal[0].id)
        found = ", ".join(f"{n.name} ({n.id})" for n in sorted(internal, key=lambda n: n.name)) or "none"
        problems.append(
            f"the spec names no network and this project has {len(internal)} internal networks ({found}): "
            "name the one for the cluster in 'network'"
        )
        return None

    def _find_public_network(self, spec: ClusterSpec, problems: list[str]) -> str | None:
        conn = self.conn
        if spec.public_network:
            try:
                net = self._find(
                    "network lookup", conn.network.find_network, spec.public_network, conn.network.networks
                )
            except Ambiguous as exc:
                problems.append(f"public_network: {exc} in 'public_network'")
                return None
            if net is None:
                problems.append(f"public_network {spec.public_network!r} not found")
                return None
            return net.id
        external = list(self._call("network list", conn.network.networks, is_router_external=True))
        if len(external) != 1:
            names = ", ".join(n.name for n in external) or "none"
            problems.append(
                f"public_ip is asked for but there are {len(external)} external networks ({names}): "
                "name the one to take floating IPs from in 'public_network'"
            )
            return None
        return external[0].id

    def _ensure_security_group(self, cluster: str, rules: Sequence[SecurityRule]) -> None:
        conn = self.conn
        name = security_group_name(cluster)
        tag = f"{TAG_CLUSTER}={cluster}"
        groups = list(self._call("security group list", conn.network.security_groups, name=name))
        if groups and groups[0].description != tag:
            raise ProvisionError(
                f"a security group named {name} exists but was not made for cluster {cluster!r}; it was left "
                "untouched: rename it or choose another cluster name"
            )
        if groups:
            sg = groups[0]
        else:
            sg = self._call(
                "security group create",
                conn.network.create_security_group,
                name=name,
                description=tag,
                creates=True,
            )
            log(f"created security group {name}")
        have = {
            (
                r.direction,
                r.protocol,
                r.port_range_min,
                r.port_range_max,
                r.remote_ip_prefix,
                r.remote_group_id,
            )
            for r in self._call(
                "security group rules", conn.network.security_group_rules, security_group_id=sg.id
            )
        }
        want = [("ingress", r.protocol, r.port_min, r.port_max, r.cidr, None) for r in rules]
        want += [("ingress", proto, None, None, None, sg.id) for proto in ("tcp", "udp", "icmp")]
        for direction, proto, lo, hi, cidr, group in want:
            if (direction, proto, lo, hi, cidr, group) in have:
                continue
            args = {
                "security_group_id": sg.id,
                "direction": direction,
                "ethertype": "IPv4",
                "protocol": proto,
            }
            if lo is not None:
                args |= {"port_range_min": lo, "port_range_max": hi}
            if cidr:
                args["remote_ip_prefix"] = cidr
            if group:
                args["remote_group_id"] = group
            self._call(
                "security group rule create", conn.network.create_security_group_rule, creates=True, **args
            )

    # -- servers ------------------------------------------------------------------------------

    def _server(self, s: Any) -> Server:
        private = public = None
        for addrs in (s.addresses or {}).values():
            for a in addrs:
                if a.get("version", 4) != 4:
                    continue
                if a.get("OS-EXT-IPS:type") == "floating":
                    public = public or a["addr"]
                else:
                    private = private or a["addr"]
        fault = (s.fault or {}).get("message", "") if isinstance(s.fault, dict) else ""
        return Server(
            id=str(s.id),
            name=s.name,
            status=(s.status or "BUILD").upper(),
            metadata=dict(s.metadata or {}),
            private_address=private,
            public_address=public,
            fault=fault,
        )

    def list_servers(self, cluster: str) -> list[Server]:
        # Nova cannot filter on metadata, and a name filter would miss a renamed server: list the
        # project's servers (openstacksdk follows the pages) and let the tag decide membership.
        found = self._call("server list", self.conn.compute.servers, details=True)
        return [srv for srv in (self._server(s) for s in found) if srv.cluster == cluster]

    def create_server(self, node: Node, metadata: dict[str, str]) -> Server:
        args = self._boot.get(node.name)
        if args is None:
            raise ProvisionError(f"{node.name}: prepare() did not resolve this node")
        s = self._call(
            f"creating {node.name}", self.conn.compute.create_server, **args, metadata=metadata, creates=True
        )
        return Server(id=str(s.id), name=node.name, status="BUILD", metadata=dict(metadata))

    def set_metadata(self, server: Server, metadata: dict[str, str]) -> None:
        self._call(f"tagging {server.name}", self.conn.compute.set_server_metadata, server.id, **metadata)

    def delete_server(self, server: Server) -> None:
        self._call(f"deleting {server.name}", self.conn.compute.delete_server, server.id, ignore_missing=True)

    # -- addresses ----------------------------------------------------------------------------

    def attach_public_ip(self, server: Server, cluster: str) -> str:
        conn = self.conn
        desc = _fip_description(cluster, server.name)
        mine = [
            ip
            for ip in self._call("floating IP list", conn.network.ips, description=desc)
            if ip.description == desc
        ]
        if mine:
            fip = mine[0]  # allocated by an earlier, interrupted run
        else:
            if not self._public_net:
                raise ProvisionError("no public network resolved: set 'public_network' in the spec")
            fip = self._call(
                f"allocating a floating IP for {server.name}",
                conn.network.create_ip,
                floating_network_id=self._public_net,
                description=desc,
                creates=True,
            )
        ports = list(self._call("port list", conn.network.ports, device_id=server.id))
        if not ports:
            raise ProvisionError(f"server {server.id} has no network port to attach a floating IP to")
        if fip.port_id != ports[0].id:
            self._call(
                f"attaching {fip.floating_ip_address}", conn.network.update_ip, fip, port_id=ports[0].id
            )
        return str(fip.floating_ip_address)

    def release(self, cluster: str, servers: Sequence[Server]) -> list[str]:
        conn = self.conn
        released = []
        prefix = _fip_description(cluster, "")
        for ip in self._call("floating IP list", conn.network.ips):
            if (ip.description or "").startswith(prefix):
                self._call(
                    f"releasing {ip.floating_ip_address}", conn.network.delete_ip, ip, ignore_missing=True
                )
                released.append(f"floating IP {ip.floating_ip_address}")
        name = security_group_name(cluster)
        for sg in self._call("security group list", conn.network.security_groups, name=name):
            if sg.name == name and sg.description == f"{TAG_CLUSTER}={cluster}":
                self._call(f"deleting security group {name}", conn.network.delete_security_group, sg)
                released.append(f"security group {name}")
        return released
