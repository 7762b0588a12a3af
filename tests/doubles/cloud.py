"""What the two clouds' test doubles share (OpenStack, Synnefo): not a real cloud either.

A `CloudDouble` is a JsonDouble over one `Fleet` (tests.doubles.fleet) with the cloud's flavors,
images and one key pair, started and stopped as a context manager, and the compute and network
routes both APIs lay out alike (Cyclades follows Nova and Neutron there). Each cloud's double
writes its own handlers: the replies' shapes differ (ids, faults, fields).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from tests.doubles.fleet import Fleet
from tests.doubles.http import JsonDouble

# The one key pair both doubles know (the public half of no real key).
KEYPAIRS = {"vre-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDoubleKeyOnly double@test"}


class CloudDouble(JsonDouble):
    """A fleet of pretend VMs behind a cloud's HTTP API; `fleet` takes Fleet's keyword arguments
    (boot_latency, delete_latency, max_instances, max_floating_ips, int_ids)."""

    flavors: ClassVar[list[dict[str, Any]]] = []
    images: ClassVar[list[str]] = []

    def __init__(self, **fleet: Any) -> None:
        super().__init__()
        self.fleet = Fleet(**fleet)
        self.fleet.flavors = [dict(x) for x in self.flavors]
        self.fleet.images = [{"id": str(uuid.uuid4()), "name": n} for n in self.images]
        self.fleet.keypairs = dict(KEYPAIRS)

    def __enter__(self) -> CloudDouble:
        return self.start()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.fleet.close()

    @property
    def ssh_port(self) -> int:
        return self.fleet.ssh.port

    def route_servers(self, prefix: str) -> None:
        """Nova's server and flavor-list routes under `prefix` (/servers/detail before /servers/ID)."""
        r = self.route
        r("GET", f"{prefix}/servers/detail", self._list_servers)
        r("GET", f"{prefix}/servers", self._list_servers)
        r("POST", f"{prefix}/servers", self._create_server)
        r("GET", f"{prefix}/servers/(?P<sid>[^/]+)", self._get_server)
        r("DELETE", f"{prefix}/servers/(?P<sid>[^/]+)", self._delete_server)
        r("POST", f"{prefix}/servers/(?P<sid>[^/]+)/metadata", self._set_metadata)
        r("GET", f"{prefix}/flavors/detail", self._list_flavors)

    def route_network(self, prefix: str) -> None:
        """Neutron's network, port and floating-IP list routes under `prefix`."""
        r = self.route
        r("GET", f"{prefix}/networks", self._list_networks)
        r("GET", f"{prefix}/ports", self._list_ports)
        r("GET", f"{prefix}/floatingips", self._list_fips)
        r("POST", f"{prefix}/floatingips", self._create_fip)
