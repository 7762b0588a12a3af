"""Test double of the Synnefo APIs ~okeanos runs (Astakos identity, Cyclades compute and
network). Not a real Synnefo or ~okeanos.

One HTTP server on 127.0.0.1 answers, under path prefixes: token authentication with the service
catalog (/identity/v2.0/tokens), servers with metadata, flavors, images and key pairs
(/compute/v2.0), networks, ports and floating IPs (/network/v2.0). Faults have Synnefo's shape
(`{"overLimit": {"code": 413, "message": ..., "details": ...}}`), server ids are integers, a VM
in ERROR explains itself in `diagnostics`, and without `networks` a VM gets a public address
(the default policy). Servers boot, fail and answer SSH as `tests.doubles.fleet` models.

    with SynnefoDouble(boot_latency=0.2) as cloud:
        env = {"OKEANOS_URL": cloud.auth_url, "OKEANOS_TOKEN": cloud.token}
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.doubles.cloud import CloudDouble
from tests.doubles.fleet import NotFound, QuotaFault, Vm, now_iso
from tests.doubles.http import HttpFault, Reply, Request

FLAVORS = [
    {"id": 1, "name": "C1R1024D20drbd", "vcpus": 1, "ram": 1024, "disk": 20},
    {"id": 2, "name": "C2R2048D40drbd", "vcpus": 2, "ram": 2048, "disk": 40},
    {"id": 3, "name": "C4R4096D40drbd", "vcpus": 4, "ram": 4096, "disk": 40},
    {"id": 4, "name": "C8R8192D80drbd", "vcpus": 8, "ram": 8192, "disk": 80},
]
IMAGES = ["Debian Base", "Ubuntu Server LTS"]
RESOURCE_NAMES = {"instances": "Virtual Machine", "floatingip": "Floating IP address"}


def _fault(status: int, kind: str, message: str, details: str = "") -> HttpFault:
    body: dict[str, Any] = {"code": status, "message": message}
    if details:
        body["details"] = details
    return HttpFault(status, {kind: body})


def _over_limit(q: QuotaFault) -> HttpFault:
    return _fault(
        413,
        "overLimit",
        "Resource Limit Exceeded for your account.",
        f"Limit for resource '{RESOURCE_NAMES.get(q.resource, q.resource)}' exceeded for your account. "
        f"Available: {max(0, q.limit - q.used)}, Requested: 1",
    )


class SynnefoDouble(CloudDouble):
    label = "synnefo-double"
    flavors = FLAVORS
    images = IMAGES

    def __init__(self, **fleet: Any) -> None:
        super().__init__(int_ids=True, **fleet)
        self.token = f"double-token-{uuid.uuid4().hex}"
        self.user = str(uuid.uuid4())
        self.public_net = self.fleet.add_network("Public IPv4 Network", external=True, pool=True)
        self.private_net = self.fleet.add_network("vre-net", external=False, pool=False)
        self._routes()

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v2.0"

    def check_auth(self, req: Request) -> None:
        if req.headers.get("X-Auth-Token") != self.token:
            raise _fault(401, "unauthorized", "Missing or expired user token")

    def _routes(self) -> None:
        r = self.route
        r("POST", "/identity/v2.0/tokens", self._tokens, public=True)
        c = "/compute/v2.0"
        self.route_servers(c)
        r("GET", f"{c}/images/detail", self._list_images)
        r("GET", f"{c}/os-keypairs/(?P<name>[^/]+)", self._get_keypair)
        n = "/network/v2.0"
        self.route_network(n)
        r("POST", f"{n}/ports", self._create_port)
        r("DELETE", f"{n}/floatingips/(?P<fid>[^/]+)", self._delete_fip)

    # -- Astakos --------------------------------------------------------------------------------

    def _tokens(self, req: Request) -> Reply:
        auth = (req.body or {}).get("auth") or {}
        if ((auth.get("token") or {}).get("id")) != self.token:
            raise _fault(401, "unauthorized", "Invalid token")

        def svc(kind: str, name: str, path: str, version: str) -> dict[str, Any]:
            ep = {"versionId": version, "publicURL": f"{self.url}{path}", "SNF:uiURL": f"{self.url}/ui"}
            return {"type": kind, "name": name, "endpoints": [ep], "endpoints_links": []}

        access = {
            "token": {
                "id": self.token,
                "expires": "2999-01-01T00:00:00+00:00",
                "tenant": {"id": self.user, "name": "Researcher"},
            },
            "serviceCatalog": [
                svc("identity", "astakos_identity", "/identity/v2.0", "v2.0"),
                svc("compute", "cyclades_compute", "/compute/v2.0", "v2.0"),
                svc("network", "cyclades_network", "/network/v2.0", "v2.0"),
                svc("image", "cyclades_plankton", "/image/v1.0", "v1.0"),
            ],
            "user": {
                "id": self.user,
                "name": "Researcher",
                "roles": [{"id": 1, "name": "default"}],
                "roles_links": [],
            },
        }
        return Reply(200, {"access": access})

    # -- Cyclades compute -----------------------------------------------------------------------

    def _server_json(self, vm: Vm) -> dict[str, Any]:
        attachments, addresses = [], {}
        fips = {f["port_id"]: f for f in self.fleet.floating_ips.values() if f["port_id"]}
        for port in [p for p in self.fleet.ports.values() if p["device_id"] == vm.id]:
            kind = "floating" if port["id"] in fips else "fixed"
            attachments.append(
                {
                    "id": port["id"],
                    "network_id": port["network_id"],
                    "mac_address": "aa:00:00:00:00:01",
                    "firewallProfile": "DISABLED",
                    "ipv4": port["address"],
                    "ipv6": "",
                    "OS-EXT-IPS:type": kind,
                }
            )
            addresses.setdefault(port["network_id"], []).append(
                {"version": 4, "addr": port["address"], "OS-EXT-IPS:type": kind}
            )
        body = {
            "id": int(vm.id),
            "name": vm.name,
            "status": vm.status,
            "metadata": dict(vm.metadata),
            "attachments": attachments,
            "addresses": addresses,
            "flavor": {"id": int(vm.flavor_id), "links": []},
            "image": {"id": vm.image_id, "links": []},
            "key_name": vm.key_name,
            "SNF:key_names": [vm.key_name] if vm.key_name else [],
            "created": vm.created,
            "updated": vm.created,
            "user_id": self.user,
            "tenant_id": self.user,
            "progress": 100 if vm.status == "ACTIVE" else 0,
            "SNF:task_state": "DESTROYING" if vm.delete_at else ("BUILDING" if vm.status == "BUILD" else ""),
            "SNF:fqdn": f"snf-{vm.id}.vm.okeanos.example.org",
            "suspended": False,
            "hostId": "",
            "deleted": False,
            "diagnostics": [],
            "links": [],
        }
        if vm.status == "ERROR":
            body["diagnostics"] = [
                {
                    "level": "ERROR",
                    "source": "ganeti",
                    "created": vm.created,
                    "source_date": vm.created,
                    "message": vm.fault,
                    "details": None,
                }
            ]
        return body

    def _list_servers(self, req: Request) -> Reply:
        vms = list(self.fleet.vms.values())
        if req.path.endswith("/detail"):
            return Reply(200, {"servers": [self._server_json(vm) for vm in vms]})
        return Reply(200, {"servers": [{"id": int(vm.id), "name": vm.name, "links": []} for vm in vms]})

    def _vm(self, sid: str) -> Vm:
        try:
            return self.fleet.get(sid)
        except NotFound:
            raise _fault(404, "itemNotFound", "Server not found") from None

    def _get_server(self, req: Request, sid: str) -> Reply:
        return Reply(200, {"server": self._server_json(self._vm(sid))})

    def _create_server(self, req: Request) -> Reply:
        s = (req.body or {}).get("server") or {}
        for key in ("name", "flavorRef", "imageRef"):
            if not s.get(key):
                raise _fault(400, "badRequest", f"Malformed request: missing {key}")
        f = self.fleet
        if str(s["flavorRef"]) not in {str(x["id"]) for x in f.flavors}:
            raise _fault(404, "itemNotFound", f"Flavor {s['flavorRef']} not found")
        if s["imageRef"] not in {x["id"] for x in f.images}:
            raise _fault(404, "itemNotFound", f"Image {s['imageRef']} not found")
        if s.get("key_name") and s["key_name"] not in f.keypairs:
            raise _fault(404, "itemNotFound", f"Keypair {s['key_name']} not found")
        if "networks" in s:
            nets = [str(n["uuid"]) for n in s["networks"]]
            for nid in nets:
                if nid not in f.networks:
                    raise _fault(404, "itemNotFound", f"Network {nid} not found")
        else:  # the default policy: a public address
            nets = [self.public_net["id"]]
        try:
            vm = f.create_server(
                s["name"],
                str(s["flavorRef"]),
                s["imageRef"],
                key_name=s.get("key_name"),
                metadata={str(k): str(v) for k, v in (s.get("metadata") or {}).items()},
                network_ids=nets,
            )
        except QuotaFault as q:
            raise _over_limit(q) from None
        return Reply(202, {"server": {**self._server_json(vm), "adminPass": "double-admin-pass"}})

    def _delete_server(self, req: Request, sid: str) -> Reply:
        self._vm(sid)
        self.fleet.delete_server(sid)
        return Reply(204)

    def _set_metadata(self, req: Request, sid: str) -> Reply:
        vm = self._vm(sid)
        vm.metadata.update({str(k): str(v) for k, v in ((req.body or {}).get("metadata") or {}).items()})
        return Reply(201, {"metadata": dict(vm.metadata)})

    def _list_flavors(self, req: Request) -> Reply:
        return Reply(
            200,
            {
                "flavors": [
                    {**f, "SNF:disk_template": "drbd", "SNF:allow_create": True, "links": []}
                    for f in self.fleet.flavors
                ]
            },
        )

    def _list_images(self, req: Request) -> Reply:
        return Reply(
            200,
            {
                "images": [
                    {
                        **i,
                        "status": "ACTIVE",
                        "progress": 100,
                        "created": now_iso(),
                        "updated": now_iso(),
                        "metadata": {"OS": "debian", "USERS": "user"},
                    }
                    for i in self.fleet.images
                ]
            },
        )

    def _get_keypair(self, req: Request, name: str) -> Reply:
        if name not in self.fleet.keypairs:
            raise _fault(404, "itemNotFound", "Keypair not found")
        return Reply(
            200,
            {
                "keypair": {
                    "name": name,
                    "public_key": self.fleet.keypairs[name],
                    "fingerprint": "00:11",
                    "id": 1,
                    "deleted": False,
                    "created_at": now_iso(),
                    "updated_at": now_iso(),
                    "deleted_at": None,
                }
            },
        )

    # -- Cyclades network -----------------------------------------------------------------------

    def _list_networks(self, req: Request) -> Reply:
        nets = [
            {
                "id": n["id"],
                "name": n["name"],
                "status": "ACTIVE",
                "router:external": n["external"],
                "public": n["external"],
                "shared": n["external"],
                "SNF:floating_ip_pool": n.get("pool", False),
                "type": "IP_LESS_ROUTED" if n["external"] else "MAC_FILTERED",
                "subnets": [],
                "user_id": None if n["external"] else self.user,
                "admin_state_up": True,
            }
            for n in self.fleet.networks.values()
        ]
        return Reply(200, {"networks": nets})

    def _list_ports(self, req: Request) -> Reply:
        ports = [
            {
                "id": p["id"],
                "network_id": p["network_id"],
                "device_id": p["device_id"],
                "device_owner": "vm",
                "fixed_ips": [{"ip_address": p["address"], "subnet": "1"}],
                "status": "ACTIVE",
            }
            for p in self.fleet.ports.values()
        ]
        return Reply(200, {"ports": ports})

    def _create_port(self, req: Request) -> Reply:
        body = (req.body or {}).get("port") or {}
        net_id = str(body.get("network_id", ""))
        if net_id not in self.fleet.networks:
            raise _fault(404, "itemNotFound", "Network not found")
        vm = self._vm(str(body.get("device_id", "")))
        ips = [x.get("ip_address") for x in body.get("fixed_ips") or []]
        fip = next((f for f in self.fleet.floating_ips.values() if f["address"] in ips), None)
        if ips and fip is None:
            raise _fault(400, "badRequest", f"Floating IP address {ips[0]} is not reserved by the user")
        if fip is not None and fip["port_id"]:
            raise _fault(409, "conflict", f"Floating IP {fip['id']} is in use")
        port = self.fleet.add_port(net_id, vm.id, fip["address"] if fip else None)
        if fip is not None:
            self.fleet.associate_ip(fip["id"], port["id"])
        return Reply(
            201,
            {
                "port": {
                    "id": port["id"],
                    "network_id": net_id,
                    "device_id": int(vm.id),
                    "fixed_ips": [{"ip_address": port["address"]}],
                    "status": "BUILD",
                }
            },
        )

    def _fip_json(self, fip: dict[str, Any]) -> dict[str, Any]:
        port = self.fleet.ports.get(fip["port_id"] or "")
        return {
            "id": fip["id"],
            "floating_ip_address": fip["address"],
            "floating_network_id": fip["network_id"],
            "fixed_ip_address": None,
            "port_id": fip["port_id"],
            "instance_id": int(port["device_id"]) if port else None,
            "user_id": self.user,
            "tenant_id": self.user,
            "deleted": False,
        }

    def _list_fips(self, req: Request) -> Reply:
        return Reply(200, {"floatingips": [self._fip_json(f) for f in self.fleet.floating_ips.values()]})

    def _create_fip(self, req: Request) -> Reply:
        body = (req.body or {}).get("floatingip") or {}
        net_id = str(body.get("floating_network_id") or self.public_net["id"])
        net = self.fleet.networks.get(net_id)
        if net is None or not net.get("pool"):
            raise _fault(400, "badRequest", f"Network {net_id} is not a floating IP pool")
        try:
            fip = self.fleet.allocate_ip(net_id)
        except QuotaFault as q:
            raise _over_limit(q) from None
        return Reply(200, {"floatingip": self._fip_json(fip)})

    def _delete_fip(self, req: Request, fid: str) -> Reply:
        fip = self.fleet.floating_ips.get(fid)
        if fip is None:
            raise _fault(404, "itemNotFound", f"Floating IP {fid} not found")
        if fip["port_id"]:
            raise _fault(409, "conflict", f"Floating IP '{fid}' is used by a server; detach it first")
        self.fleet.release_ip(fid)
        return Reply(204)
