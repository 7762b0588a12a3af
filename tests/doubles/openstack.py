"""Test double of an OpenStack cloud's HTTP APIs (Keystone v3, Nova, Neutron, Glance subset).
Not a real OpenStack.

One HTTP server on 127.0.0.1 answers, under path prefixes, the calls openstacksdk makes for the
provider: password authentication and the service catalog (/identity/v3), servers, flavors and
key pairs (/compute/v2.1), networks, ports, floating IPs and security groups (/network/v2.0),
images (/image/v2), and the version documents clients discover endpoints with. Errors have the
shapes the real services use (Nova `{"forbidden": {...}}` quota refusals, Neutron
`{"NeutronError": {...}}`). Servers boot, fail and answer SSH as `tests.doubles.fleet` models.

    with OpenStackDouble(boot_latency=0.2) as cloud:
        cloud.write_clouds_yaml(tmp_path / "clouds.yaml")   # OS_CLOUD=double
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.doubles.cloud import CloudDouble
from tests.doubles.fleet import NotFound, QuotaFault, Vm, now_iso
from tests.doubles.http import HttpFault, Reply, Request

FLAVORS = [
    {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
    {"id": "2", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20},
    {"id": "3", "name": "m1.medium", "vcpus": 2, "ram": 4096, "disk": 40},
    {"id": "4", "name": "m1.large", "vcpus": 4, "ram": 8192, "disk": 80},
]
IMAGES = ["debian-12", "ubuntu-24.04"]


def _nova_fault(status: int, kind: str, message: str) -> HttpFault:
    return HttpFault(status, {kind: {"code": status, "message": message}})


def _neutron_fault(status: int, kind: str, message: str) -> HttpFault:
    return HttpFault(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}})


def _matches(resource: dict[str, Any], req: Request, skip: tuple[str, ...] = ()) -> bool:
    """Neutron-style filtering: every query parameter naming an attribute must equal it."""
    for key, values in req.query.items():
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir", *skip) or key not in resource:
            continue
        value = resource[key]
        want = values[0]
        if isinstance(value, bool):
            if value != (want.lower() == "true"):
                return False
        elif str(value) != want:
            return False
    return True


class OpenStackDouble(CloudDouble):
    label = "openstack-double"
    flavors = FLAVORS
    images = IMAGES

    def __init__(
        self,
        *,
        username: str = "researcher",
        password: str = "double-password",
        project: str = "vre-project",
        **fleet: Any,
    ) -> None:
        super().__init__(**fleet)
        self.username, self.password, self.project = username, password, project
        self.project_id = uuid.uuid4().hex
        self.tokens: set[str] = set()
        self.page_size: int | None = None  # servers per page of a server list (None: one page)
        self.private_net = self.fleet.add_network("vre-net", external=False)
        self.public_net = self.fleet.add_network("public", external=True)
        self._routes()

    def write_clouds_yaml(self, path: Path, cloud: str = "double") -> Path:
        config = {
            "clouds": {
                cloud: {
                    "auth": {
                        "auth_url": f"{self.url}/identity/v3",
                        "username": self.username,
                        "password": self.password,
                        "project_name": self.project,
                        "user_domain_name": "Default",
                        "project_domain_name": "Default",
                    },
                    "identity_api_version": 3,
                    "region_name": "RegionOne",
                    "interface": "public",
                }
            }
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def check_auth(self, req: Request) -> None:
        if req.headers.get("X-Auth-Token") not in self.tokens:
            raise HttpFault(401, {"error": {"code": 401, "title": "Unauthorized", "message": "bad token"}})

    # -- routes ---------------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.route
        r("GET", "/identity", self._identity_versions, public=True)
        r("GET", "/identity/v3", self._identity_version, public=True)
        r("POST", "/identity/v3/auth/tokens", self._issue_token, public=True)
        r("GET", "/compute", self._compute_versions, public=True)
        r("GET", "/compute/v2.1", self._compute_version, public=True)
        r("GET", "/network", self._network_versions, public=True)
        r("GET", "/image", self._image_versions, public=True)
        c = "/compute/v2.1"
        self.route_servers(c)
        r("GET", f"{c}/flavors", self._list_flavors)
        r("GET", f"{c}/flavors/(?P<fid>[^/]+)", self._get_flavor)
        r("GET", f"{c}/os-keypairs", self._list_keypairs)
        r("GET", f"{c}/os-keypairs/(?P<name>[^/]+)", self._get_keypair)
        n = "/network/v2.0"
        self.route_network(n)
        r("GET", f"{n}/networks/(?P<nid>[^/]+)", self._get_network)
        r("GET", f"{n}/floatingips/(?P<fid>[^/]+)", self._get_fip)
        r("PUT", f"{n}/floatingips/(?P<fid>[^/]+)", self._update_fip)
        r("DELETE", f"{n}/floatingips/(?P<fid>[^/]+)", self._delete_fip)
        r("GET", f"{n}/security-groups", self._list_sgs)
        r("POST", f"{n}/security-groups", self._create_sg)
        r("DELETE", f"{n}/security-groups/(?P<gid>[^/]+)", self._delete_sg)
        r("GET", f"{n}/security-group-rules", self._list_rules)
        r("POST", f"{n}/security-group-rules", self._create_rule)
        r("GET", "/image/v2/images", self._list_images)
        r("GET", "/image/v2/images/(?P<iid>[^/]+)", self._get_image)

    # -- Keystone -------------------------------------------------------------------------------

    def _v3(self) -> dict[str, Any]:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.url}/identity/v3/"}],
            "media-types": [
                {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
            ],
        }

    def _identity_versions(self, req: Request) -> Reply:
        return Reply(300, {"versions": {"values": [self._v3()]}})

    def _identity_version(self, req: Request) -> Reply:
        return Reply(200, {"version": self._v3()})

    def _issue_token(self, req: Request) -> Reply:
        ident = ((req.body or {}).get("auth") or {}).get("identity") or {}
        user = (ident.get("password") or {}).get("user") or {}
        if user.get("name") != self.username or user.get("password") != self.password:
            raise HttpFault(
                401,
                {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                },
            )
        token = uuid.uuid4().hex
        self.tokens.add(token)

        def svc(kind: str, name: str, path: str) -> dict[str, Any]:
            return {
                "type": kind,
                "name": name,
                "id": uuid.uuid4().hex,
                "endpoints": [
                    {
                        "id": uuid.uuid4().hex,
                        "interface": "public",
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": f"{self.url}{path}",
                    }
                ],
            }

        body = {
            "token": {
                "methods": ["password"],
                "user": {"id": "u-1", "name": self.username, "domain": {"id": "default", "name": "Default"}},
                "project": {
                    "id": self.project_id,
                    "name": self.project,
                    "domain": {"id": "default", "name": "Default"},
                },
                "roles": [{"id": "r-1", "name": "member"}],
                "issued_at": now_iso(),
                "expires_at": "2999-01-01T00:00:00.000000Z",
                "catalog": [
                    svc("identity", "keystone", "/identity"),
                    svc("compute", "nova", "/compute/v2.1"),
                    svc("network", "neutron", "/network"),
                    svc("image", "glance", "/image"),
                ],
            }
        }
        return Reply(201, body, {"X-Subject-Token": token})

    # -- version documents ----------------------------------------------------------------------

    def _compute_v21(self) -> dict[str, Any]:
        return {
            "id": "v2.1",
            "status": "CURRENT",
            "version": "2.1",
            "min_version": "2.1",
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/"}],
        }

    def _compute_versions(self, req: Request) -> Reply:
        return Reply(200, {"versions": [self._compute_v21()]})

    def _compute_version(self, req: Request) -> Reply:
        return Reply(200, {"version": self._compute_v21()})

    def _network_versions(self, req: Request) -> Reply:
        v = {
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": f"{self.url}/network/v2.0/"}],
        }
        return Reply(200, {"versions": [v]})

    def _image_versions(self, req: Request) -> Reply:
        v = {"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": f"{self.url}/image/v2/"}]}
        return Reply(300, {"versions": [v]})

    # -- Nova -----------------------------------------------------------------------------------

    def _server_json(self, vm: Vm) -> dict[str, Any]:
        addresses: dict[str, list[dict[str, Any]]] = {}
        for _net, address, kind, port in self.fleet.addresses(vm):
            # Nova lists a floating IP under the network of the port it is attached to.
            net_name = self.fleet.networks[port["network_id"]]["name"]
            addresses.setdefault(net_name, []).append(
                {
                    "addr": address,
                    "version": 4,
                    "OS-EXT-IPS:type": kind,
                    "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
                }
            )
        body = {
            "id": vm.id,
            "name": vm.name,
            "status": vm.status,
            "metadata": dict(vm.metadata),
            "addresses": addresses,
            "flavor": {"id": vm.flavor_id, "links": []},
            "image": {"id": vm.image_id, "links": []},
            "key_name": vm.key_name,
            "security_groups": [{"name": g} for g in vm.security_groups] or [{"name": "default"}],
            "created": vm.created,
            "updated": vm.created,
            "tenant_id": self.project_id,
            "user_id": "u-1",
            "hostId": "",
            "accessIPv4": "",
            "accessIPv6": "",
            "progress": 100 if vm.status == "ACTIVE" else 0,
            "OS-EXT-STS:vm_state": vm.status.lower(),
            "OS-EXT-STS:task_state": "deleting" if vm.delete_at else None,
            "OS-EXT-STS:power_state": 1 if vm.status == "ACTIVE" else 0,
            "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/servers/{vm.id}"}],
        }
        if vm.status == "ERROR":
            body["fault"] = {"code": 500, "message": vm.fault, "created": vm.created}
        return body

    def _list_servers(self, req: Request) -> Reply:
        name = req.arg("name")
        vms = list(self.fleet.vms.values())
        if name:
            vms = [vm for vm in vms if re.search(name, vm.name)]
        links = []
        if self.page_size:  # Nova's paging: a next link until the last page
            marker = req.arg("marker")
            start = next((i + 1 for i, vm in enumerate(vms) if vm.id == marker), 0)
            if len(vms) > start + self.page_size:
                nxt = f"{self.url}{req.path}?marker={vms[start + self.page_size - 1].id}"
                links = [{"rel": "next", "href": nxt}]
            vms = vms[start : start + self.page_size]
        if req.path.endswith("/detail"):
            body: dict[str, Any] = {"servers": [self._server_json(vm) for vm in vms]}
            if links:
                body["servers_links"] = links
            return Reply(200, body)
        return Reply(200, {"servers": [{"id": vm.id, "name": vm.name, "links": []} for vm in vms]})

    def _get_server(self, req: Request, sid: str) -> Reply:
        try:
            return Reply(200, {"server": self._server_json(self.fleet.get(sid))})
        except NotFound:
            raise _nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.") from None

    def _create_server(self, req: Request) -> Reply:
        s = (req.body or {}).get("server") or {}
        if not s.get("name") or not s.get("flavorRef") or not s.get("imageRef"):
            raise _nova_fault(400, "badRequest", "Invalid input: name, flavorRef and imageRef are required")
        f = self.fleet
        if s["flavorRef"] not in {x["id"] for x in f.flavors}:
            raise _nova_fault(400, "badRequest", f"Flavor {s['flavorRef']} could not be found.")
        if s["imageRef"] not in {x["id"] for x in f.images}:
            raise _nova_fault(400, "badRequest", f"Image {s['imageRef']} could not be found.")
        if s.get("key_name") and s["key_name"] not in f.keypairs:
            raise _nova_fault(400, "badRequest", f"Invalid key_name provided: {s['key_name']}")
        nets = [n["uuid"] for n in s.get("networks") or []]
        for nid in nets:
            if nid not in f.networks:
                raise _nova_fault(400, "badRequest", f"Network {nid} could not be found.")
        if not nets:  # Nova attaches the project's only network when none is asked for
            nets = [self.private_net["id"]]
        groups = [g["name"] for g in s.get("security_groups") or []]
        for g in groups:
            if g not in {x["name"] for x in f.security_groups.values()}:
                raise _nova_fault(
                    400, "badRequest", f"Security group {g} not found for project {self.project_id}."
                )
        try:
            vm = f.create_server(
                s["name"],
                s["flavorRef"],
                s["imageRef"],
                key_name=s.get("key_name"),
                metadata=s.get("metadata") or {},
                network_ids=nets,
                security_groups=groups,
            )
        except QuotaFault as q:
            raise _nova_fault(
                403,
                "forbidden",
                "Quota exceeded for instances: Requested 1, but already used "
                f"{q.used} of {q.limit} instances",
            ) from None
        body = {
            "id": vm.id,
            "links": [{"rel": "self", "href": f"{self.url}/compute/v2.1/servers/{vm.id}"}],
            "adminPass": "double-admin-pass",
            "security_groups": [{"name": g} for g in groups] or [{"name": "default"}],
            "OS-DCF:diskConfig": "MANUAL",
        }
        return Reply(202, {"server": body})

    def _delete_server(self, req: Request, sid: str) -> Reply:
        try:
            self.fleet.delete_server(sid)
        except NotFound:
            raise _nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.") from None
        return Reply(204)

    def _set_metadata(self, req: Request, sid: str) -> Reply:
        try:
            vm = self.fleet.get(sid)
        except NotFound:
            raise _nova_fault(404, "itemNotFound", f"Instance {sid} could not be found.") from None
        vm.metadata.update((req.body or {}).get("metadata") or {})
        return Reply(200, {"metadata": dict(vm.metadata)})

    def _flavor_json(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            **f,
            "swap": 0,
            "OS-FLV-EXT-DATA:ephemeral": 0,
            "os-flavor-access:is_public": True,
            "rxtx_factor": 1.0,
            "OS-FLV-DISABLED:disabled": False,
            "links": [],
        }

    def _list_flavors(self, req: Request) -> Reply:
        return Reply(200, {"flavors": [self._flavor_json(f) for f in self.fleet.flavors]})

    def _get_flavor(self, req: Request, fid: str) -> Reply:
        for f in self.fleet.flavors:
            if f["id"] == fid:
                return Reply(200, {"flavor": self._flavor_json(f)})
        raise _nova_fault(404, "itemNotFound", f"Flavor {fid} could not be found.")

    def _keypair_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "public_key": self.fleet.keypairs[name],
            "fingerprint": "00:11",
            "type": "ssh",
            "user_id": "u-1",
            "id": 1,
            "created_at": now_iso(),
            "deleted": False,
        }

    def _list_keypairs(self, req: Request) -> Reply:
        return Reply(200, {"keypairs": [{"keypair": self._keypair_json(n)} for n in self.fleet.keypairs]})

    def _get_keypair(self, req: Request, name: str) -> Reply:
        if name not in self.fleet.keypairs:
            raise _nova_fault(404, "itemNotFound", f"Keypair {name} not found for user u-1")
        return Reply(200, {"keypair": self._keypair_json(name)})

    # -- Neutron --------------------------------------------------------------------------------

    def _net_json(self, net: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": net["id"],
            "name": net["name"],
            "router:external": net["external"],
            "status": "ACTIVE",
            "admin_state_up": True,
            "shared": False,
            "subnets": [],
            "project_id": self.project_id,
            "tenant_id": self.project_id,
            "description": "",
        }

    def _list_networks(self, req: Request) -> Reply:
        nets = [self._net_json(n) for n in self.fleet.networks.values()]
        return Reply(200, {"networks": [n for n in nets if _matches(n, req)]})

    def _get_network(self, req: Request, nid: str) -> Reply:
        net = self.fleet.networks.get(nid)
        if net is None:
            raise _neutron_fault(404, "NetworkNotFound", f"Network {nid} could not be found.")
        return Reply(200, {"network": self._net_json(net)})

    def _list_ports(self, req: Request) -> Reply:
        ports = [
            {
                "id": p["id"],
                "network_id": p["network_id"],
                "device_id": p["device_id"],
                "device_owner": "compute:nova",
                "fixed_ips": [{"ip_address": p["address"], "subnet_id": "s-1"}],
                "status": "ACTIVE",
                "name": "",
                "project_id": self.project_id,
            }
            for p in self.fleet.ports.values()
        ]
        return Reply(200, {"ports": [p for p in ports if _matches(p, req)]})

    def _fip_json(self, fip: dict[str, Any]) -> dict[str, Any]:
        port = self.fleet.ports.get(fip["port_id"] or "")
        return {
            "id": fip["id"],
            "floating_ip_address": fip["address"],
            "floating_network_id": fip["network_id"],
            "port_id": fip["port_id"],
            "fixed_ip_address": port["address"] if port else None,
            "description": fip["description"],
            "status": "ACTIVE" if port else "DOWN",
            "router_id": None,
            "project_id": self.project_id,
            "tenant_id": self.project_id,
        }

    def _list_fips(self, req: Request) -> Reply:
        fips = [self._fip_json(f) for f in self.fleet.floating_ips.values()]
        return Reply(200, {"floatingips": [f for f in fips if _matches(f, req)]})

    def _get_fip(self, req: Request, fid: str) -> Reply:
        fip = self.fleet.floating_ips.get(fid)
        if fip is None:
            raise _neutron_fault(404, "FloatingIPNotFound", f"Floating IP {fid} could not be found")
        return Reply(200, {"floatingip": self._fip_json(fip)})

    def _create_fip(self, req: Request) -> Reply:
        body = (req.body or {}).get("floatingip") or {}
        net = self.fleet.networks.get(body.get("floating_network_id", ""))
        if net is None or not net["external"]:
            raise _neutron_fault(
                400, "BadRequest", "Invalid input: floating_network_id must be an external network"
            )
        try:
            fip = self.fleet.allocate_ip(net["id"], body.get("description", ""))
        except QuotaFault:
            raise _neutron_fault(409, "OverQuota", "Quota exceeded for resources: ['floatingip'].") from None
        if body.get("port_id"):
            self.fleet.associate_ip(fip["id"], body["port_id"])
        return Reply(201, {"floatingip": self._fip_json(fip)})

    def _update_fip(self, req: Request, fid: str) -> Reply:
        if fid not in self.fleet.floating_ips:
            raise _neutron_fault(404, "FloatingIPNotFound", f"Floating IP {fid} could not be found")
        body = (req.body or {}).get("floatingip") or {}
        port_id = body.get("port_id")
        if port_id is not None and port_id not in self.fleet.ports:
            raise _neutron_fault(404, "PortNotFound", f"Port {port_id} could not be found.")
        return Reply(200, {"floatingip": self._fip_json(self.fleet.associate_ip(fid, port_id))})

    def _delete_fip(self, req: Request, fid: str) -> Reply:
        try:
            self.fleet.release_ip(fid)
        except NotFound:
            raise _neutron_fault(404, "FloatingIPNotFound", f"Floating IP {fid} could not be found") from None
        return Reply(204)

    def _list_sgs(self, req: Request) -> Reply:
        groups = [
            {
                **g,
                "security_group_rules": [
                    r for r in self.fleet.sg_rules.values() if r["security_group_id"] == g["id"]
                ],
            }
            for g in self.fleet.security_groups.values()
        ]
        return Reply(200, {"security_groups": [g for g in groups if _matches(g, req)]})

    def _create_sg(self, req: Request) -> Reply:
        body = (req.body or {}).get("security_group") or {}
        g = {
            "id": str(uuid.uuid4()),
            "name": body.get("name", ""),
            "description": body.get("description", ""),
            "project_id": self.project_id,
            "tenant_id": self.project_id,
        }
        self.fleet.security_groups[g["id"]] = g
        return Reply(201, {"security_group": {**g, "security_group_rules": []}})

    def _delete_sg(self, req: Request, gid: str) -> Reply:
        if gid not in self.fleet.security_groups:
            raise _neutron_fault(404, "SecurityGroupNotFound", f"Security group {gid} does not exist")
        name = self.fleet.security_groups[gid]["name"]
        if any(name in vm.security_groups for vm in self.fleet.vms.values()):
            raise _neutron_fault(409, "SecurityGroupInUse", f"Security Group {gid} in use.")
        del self.fleet.security_groups[gid]
        for rid in [r for r, v in self.fleet.sg_rules.items() if v["security_group_id"] == gid]:
            del self.fleet.sg_rules[rid]
        return Reply(204)

    def _list_rules(self, req: Request) -> Reply:
        return Reply(
            200, {"security_group_rules": [r for r in self.fleet.sg_rules.values() if _matches(r, req)]}
        )

    def _create_rule(self, req: Request) -> Reply:
        body = (req.body or {}).get("security_group_rule") or {}
        if body.get("security_group_id") not in self.fleet.security_groups:
            raise _neutron_fault(404, "SecurityGroupNotFound", "Security group does not exist")
        rule = {
            "id": str(uuid.uuid4()),
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": None,
            "port_range_min": None,
            "port_range_max": None,
            "remote_ip_prefix": None,
            "remote_group_id": None,
            "description": "",
            "project_id": self.project_id,
        }
        rule.update({k: v for k, v in body.items() if k in rule or k == "security_group_id"})
        self.fleet.sg_rules[rule["id"]] = rule
        return Reply(201, {"security_group_rule": rule})

    # -- Glance ---------------------------------------------------------------------------------

    def _image_json(self, img: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": img["id"],
            "name": img["name"],
            "status": "active",
            "visibility": "public",
            "disk_format": "qcow2",
            "container_format": "bare",
            "min_disk": 0,
            "min_ram": 0,
            "created_at": now_iso(),
            "updated_at": now_iso(),
            "tags": [],
            "self": f"/v2/images/{img['id']}",
        }

    def _list_images(self, req: Request) -> Reply:
        imgs = [self._image_json(i) for i in self.fleet.images]
        return Reply(
            200,
            {
                "images": [i for i in imgs if _matches(i, req)],
                "first": "/v2/images",
                "schema": "/v2/schemas/images",
            },
        )

    def _get_image(self, req: Request, iid: str) -> Reply:
        for i in self.fleet.images:
            if i["id"] == iid:
                return Reply(200, self._image_json(i))
        return Reply(
            404, {"message": f"No image found with ID {iid}", "code": "404 Not Found", "title": "Not Found"}
        )
