"""The state behind the cloud API test doubles: a fleet of pretend VMs. Not a real cloud.

What it models, so the provisioning code meets real behaviour at the HTTP level:
  - a server is BUILD for `boot_latency` seconds, then ACTIVE (or ERROR / stuck in BUILD when a
    fault is injected for its name); deletion takes `delete_latency` seconds;
  - each server gets ports with loopback addresses (127.<block>.x.y, a block per fleet), and when
    it is ACTIVE a TCP listener on each of its addresses at `ssh_port` greets like sshd, so
    "wait for SSH" really connects;
  - quotas on instances and floating IPs, refused the way each API refuses them;
  - every request is logged, and requests the double does not model are recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_BLOCKS = itertools.cycle(range(64, 250))
_BLOCK_LOCK = threading.Lock()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class QuotaFault(Exception):
    def __init__(self, resource: str, used: int, limit: int) -> None:
        super().__init__(f"{resource}: {used} of {limit}")
        self.resource, self.used, self.limit = resource, used, limit


class NotFound(Exception):
    pass


class SshListeners:
    """A TCP listener per address that greets like sshd ("SSH-2.0-...") and hangs up."""

    BANNER = b"SSH-2.0-vre-test-double\r\n"

    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sel = selectors.DefaultSelector()
        self._socks: dict[str, socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="ssh-double", daemon=True)
        self._thread.start()

    def open(self, address: str) -> None:
        with self._lock:
            if address in self._socks or self._stop:
                return
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self.port))
            sock.listen(128)
            sock.setblocking(False)
            self._socks[address] = sock
            self._sel.register(sock, selectors.EVENT_READ)

    def close(self, address: str) -> None:
        with self._lock:
            sock = self._socks.pop(address, None)
            if sock is not None:
                self._sel.unregister(sock)
                sock.close()

    def listening(self) -> set[str]:
        with self._lock:
            return set(self._socks)

    def _loop(self) -> None:
        while not self._stop:
            with self._lock:
                has = bool(self._socks)
            if not has:
                time.sleep(0.01)
                continue
            for key, _ in self._sel.select(timeout=0.02):
                with contextlib.suppress(OSError):
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    with conn:
                        conn.sendall(self.BANNER)

    def shutdown(self) -> None:
        self._stop = True
        for address in list(self._socks):
            self.close(address)
        self._thread.join(timeout=2)


@dataclass
class Vm:
    id: str
    name: str
    flavor_id: str
    image_id: str
    key_name: str | None
    metadata: dict[str, str]
    security_groups: list[str]
    ready_at: float
    status: str = "BUILD"
    fault: str = ""
    created: str = field(default_factory=now_iso)
    delete_at: float | None = None


class Fleet:
    """Servers, networks, ports and floating IPs of one pretend tenant."""

    def __init__(
        self,
        *,
        boot_latency: float = 0.2,
        delete_latency: float = 0.05,
        max_instances: int = 100,
        max_floating_ips: int = 100,
        int_ids: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.boot_latency = boot_latency
        self.delete_latency = delete_latency
        self.max_instances = max_instances
        self.max_floating_ips = max_floating_ips
        self.int_ids = int_ids
        self._ids = itertools.count(1000)
        with _BLOCK_LOCK:
            self.block = next(_BLOCKS)
        self._private = itertools.count(0)
        self._public = itertools.count(0)
        self.ssh = SshListeners()
        self.vms: dict[str, Vm] = {}
        self.networks: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.floating_ips: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.sg_rules: dict[str, dict[str, Any]] = {}
        self.flavors: list[dict[str, Any]] = []
        self.images: list[dict[str, Any]] = []
        self.keypairs: dict[str, str] = {}
        # Injected faults, by server name.
        self.boot_errors: set[str] = set()
        self.never_active: set[str] = set()
        self.no_ssh: set[str] = set()  # ACTIVE, but nothing answers on the SSH port
        self.created_count = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="fleet-ticker", daemon=True)
        self._ticker.start()

    # -- ids and addresses ----------------------------------------------------------------------

    def new_id(self) -> str:
        return str(next(self._ids)) if self.int_ids else str(uuid.uuid4())

    def private_address(self) -> str:
        i = next(self._private)
        return f"127.{self.block}.{i // 200}.{i % 200 + 1}"

    def public_address(self) -> str:
        i = next(self._public)
        return f"127.{self.block}.{100 + i // 200}.{i % 200 + 1}"

    def add_network(self, name: str, external: bool, **extra: Any) -> dict[str, Any]:
        net = {"id": self.new_id(), "name": name, "external": external, **extra}
        self.networks[net["id"]] = net
        return net

    # -- servers --------------------------------------------------------------------------------

    def live(self) -> list[Vm]:
        with self.lock:
            return [vm for vm in self.vms.values() if vm.delete_at is None]

    def create_server(
        self,
        name: str,
        flavor_id: str,
        image_id: str,
        *,
        key_name: str | None = None,
        metadata: dict[str, str] | None = None,
        network_ids: list[str] | None = None,
        security_groups: list[str] | None = None,
    ) -> Vm:
        with self.lock:
            used = len(self.live())
            if used >= self.max_instances:
                raise QuotaFault("instances", used, self.max_instances)
            vm = Vm(
                id=self.new_id(),
                name=name,
                flavor_id=flavor_id,
                image_id=image_id,
                key_name=key_name,
                metadata=dict(metadata or {}),
                security_groups=list(security_groups or []),
                ready_at=time.monotonic() + self.boot_latency,
            )
            self.vms[vm.id] = vm
            self.created_count += 1
            for net_id in network_ids or []:
                self.add_port(net_id, vm.id)
            return vm

    def add_port(self, network_id: str, device_id: str, address: str | None = None) -> dict[str, Any]:
        with self.lock:
            net = self.networks[network_id]
            if address is None:
                address = self.public_address() if net["external"] else self.private_address()
            port = {"id": self.new_id(), "network_id": network_id, "device_id": device_id, "address": address}
            self.ports[port["id"]] = port
            self._serve_ssh(self.vms.get(device_id), address)
            return port

    def get(self, server_id: str) -> Vm:
        with self.lock:
            vm = self.vms.get(server_id)
            if vm is None:
                raise NotFound(server_id)
            return vm

    def delete_server(self, server_id: str) -> None:
        with self.lock:
            vm = self.vms.get(server_id)
            if vm is None:
                raise NotFound(server_id)
            if vm.delete_at is None:
                vm.delete_at = time.monotonic() + self.delete_latency

    def addresses(self, vm: Vm) -> list[tuple[dict[str, Any], str, str, dict[str, Any]]]:
        """(network, address, "fixed" | "floating", port) for each address of the server."""
        out = []
        with self.lock:
            for port in self.ports.values():
                if port["device_id"] != vm.id:
                    continue
                net = self.networks[port["network_id"]]
                out.append((net, port["address"], "fixed", port))
                for fip in self.floating_ips.values():
                    if fip["port_id"] == port["id"]:
                        out.append((self.networks[fip["network_id"]], fip["address"], "floating", port))
        return out

    # -- floating IPs ---------------------------------------------------------------------------

    def allocate_ip(self, network_id: str, description: str = "") -> dict[str, Any]:
        with self.lock:
            if len(self.floating_ips) >= self.max_floating_ips:
                raise QuotaFault("floatingip", len(self.floating_ips), self.max_floating_ips)
            fip = {
                "id": self.new_id(),
                "network_id": network_id,
                "address": self.public_address(),
                "port_id": None,
                "description": description,
            }
            self.floating_ips[fip["id"]] = fip
            return fip

    def associate_ip(self, fip_id: str, port_id: str | None) -> dict[str, Any]:
        with self.lock:
            fip = self.floating_ips[fip_id]
            if fip["port_id"] and fip["port_id"] != port_id:
                self.ssh.close(fip["address"])
            fip["port_id"] = port_id
            if port_id is not None:
                self._serve_ssh(self.vms.get(self.ports[port_id]["device_id"]), fip["address"])
            return fip

    def release_ip(self, fip_id: str) -> None:
        with self.lock:
            fip = self.floating_ips.pop(fip_id, None)
            if fip is None:
                raise NotFound(fip_id)
            self.ssh.close(fip["address"])

    def _serve_ssh(self, vm: Vm | None, address: str) -> None:
        if vm is not None and vm.status == "ACTIVE" and vm.delete_at is None and vm.name not in self.no_ssh:
            self.ssh.open(address)

    # -- time passes ----------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        while not self._stop.wait(0.01):
            self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            for vm in list(self.vms.values()):
                if vm.delete_at is not None and now >= vm.delete_at:
                    self._remove(vm)
                elif vm.status == "BUILD" and now >= vm.ready_at and vm.name not in self.never_active:
                    if vm.name in self.boot_errors:
                        vm.status = "ERROR"
                        vm.fault = "No valid host was found. There are not enough hosts available."
                    else:
                        vm.status = "ACTIVE"
                        for _, address, _, _ in self.addresses(vm):
                            self._serve_ssh(vm, address)

    def _remove(self, vm: Vm) -> None:
        for _net, address, kind, port in self.addresses(vm):
            self.ssh.close(address)
            if kind == "fixed":
                self.ports.pop(port["id"], None)
        for fip in self.floating_ips.values():
            if fip["port_id"] is not None and fip["port_id"] not in self.ports:
                fip["port_id"] = None
        del self.vms[vm.id]

    def close(self) -> None:
        self._stop.set()
        self._ticker.join(timeout=2)
        self.ssh.shutdown()
