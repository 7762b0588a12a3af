"""A small Python 3 client for the Synnefo APIs ~okeanos runs: Astakos identity, Cyclades compute
and Cyclades network. Standard library only.

kamaki, Synnefo's own client, is Python 2 code (0.16 is the last release); this client speaks the
same REST API: authenticate with the user's token at Astakos (`POST <auth url>/tokens`), take the
compute and network endpoints from the service catalog, then call them with `X-Auth-Token`.

Credentials, in this order:
  OKEANOS_URL + OKEANOS_TOKEN   the identity URL (https://accounts.okeanos.grnet.gr/identity/v2.0)
                                and the API token from the ~okeanos web UI
  kamaki's configuration file   ~/.kamakirc (or $KAMAKI_CONFIG): the cloud named by $OKEANOS_CLOUD,
                                else kamaki's default_cloud, else its only cloud
The token is sent only in the X-Auth-Token header and never printed. The HTTP requests, error
messages and Astakos authentication are `vre_synnefo`, shared with the Pithos+ client of Galaxy's
object store (packages/vre-kamaki-pithos).
"""

from __future__ import annotations

import configparser
import os
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any

# The HTTP and Astakos code is shared with the Pithos+ client Galaxy's object store uses
# (packages/vre-kamaki-pithos, module vre_synnefo): imported from the repository's copy, which
# needs no install (vrecloud runs from the clone).
_SHARED = Path(__file__).resolve().parent.parent / "packages" / "vre-kamaki-pithos" / "src"
if str(_SHARED) not in sys.path:
    sys.path.insert(0, str(_SHARED))

from vre_synnefo import SynnefoError, authenticate, call_json  # noqa: E402

__all__ = ["CredentialsError", "SynnefoClient", "SynnefoError", "credentials"]


class CredentialsError(RuntimeError):
    pass


def credentials(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(identity URL, token) from the environment or kamaki's configuration file."""
    env = dict(os.environ if env is None else env)
    url, token = env.get("OKEANOS_URL"), env.get("OKEANOS_TOKEN")
    if url and token:
        return url, token
    path = Path(env.get("KAMAKI_CONFIG") or Path(env.get("HOME", "~")).expanduser() / ".kamakirc")
    if path.is_file():
        cfg = configparser.ConfigParser(interpolation=None)
        cfg.read(path)
        clouds = {
            s[len('cloud "') : -1]: s for s in cfg.sections() if s.startswith('cloud "') and s.endswith('"')
        }
        name = (
            env.get("OKEANOS_CLOUD")
            or cfg.get("global", "default_cloud", fallback="")
            or (next(iter(clouds)) if len(clouds) == 1 else "")
        )
        section = clouds.get(name)
        if section and cfg.get(section, "url", fallback="") and cfg.get(section, "token", fallback=""):
            return url or cfg.get(section, "url"), token or cfg.get(section, "token")
        if clouds:
            raise CredentialsError(
                f"{path}: no usable cloud {name!r} (clouds: {', '.join(sorted(clouds))}); "
                "set OKEANOS_CLOUD to one that has both url and token"
            )
    raise CredentialsError(
        "no ~okeanos credentials: set OKEANOS_URL (the identity URL, e.g. "
        "https://accounts.okeanos.grnet.gr/identity/v2.0) and OKEANOS_TOKEN (the API token from the web "
        "UI), or configure kamaki (`kamaki config set cloud.default.url ...` and `... .token ...`)"
    )


class SynnefoClient:
    """Astakos + Cyclades over HTTP. Thread-safe: every call is one independent request."""

    def __init__(self, auth_url: str, token: str, timeout: float | None = None) -> None:
        from vrecloud.apicall import default_timeout

        self.auth_url = auth_url.rstrip("/")
        self._token = token
        self.timeout = timeout if timeout is not None else default_timeout()
        self._endpoints: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"SynnefoClient({self.auth_url!r})"

    # -- transport ------------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: Any = None, what: str = "") -> Any:
        return call_json(method, url, self._token, body, timeout=self.timeout, what=what)

    def authenticate(self) -> dict[str, str]:
        """POST /tokens; remember the endpoints of the service catalog by service type."""
        with self._lock:
            if not self._endpoints:
                self._endpoints = authenticate(self.auth_url, self._token, timeout=self.timeout)["endpoints"]
                for needed in ("compute", "network"):
                    if needed not in self._endpoints:
                        self._endpoints = {}
                        raise SynnefoError(0, "catalog", f"the service catalog has no {needed} endpoint")
            return dict(self._endpoints)

    def call(self, service: str, method: str, path: str, body: Any = None, what: str = "") -> Any:
        base = self.authenticate()[service]
        return self._send(method, f"{base}{path}", body, what or f"{method} {path}")

    # -- Cyclades compute -----------------------------------------------------------------------

    def servers(self) -> list[dict[str, Any]]:
        return self.call("compute", "GET", "/servers/detail", what="listing servers")["servers"]

    def server(self, server_id: str) -> dict[str, Any]:
        return self.call("compute", "GET", f"/servers/{server_id}", what=f"server {server_id}")["server"]

    def create_server(self, **server: Any) -> dict[str, Any]:
        return self.call("compute", "POST", "/servers", {"server": server}, f"creating {server.get('name')}")[
            "server"
        ]

    def delete_server(self, server_id: str) -> None:
        self.call("compute", "DELETE", f"/servers/{server_id}", what=f"deleting server {server_id}")

    def update_metadata(self, server_id: str, metadata: dict[str, str]) -> dict[str, str]:
        return self.call(
            "compute", "POST", f"/servers/{server_id}/metadata", {"metadata": metadata}, "setting metadata"
        )["metadata"]

    def flavors(self) -> list[dict[str, Any]]:
        return self.call("compute", "GET", "/flavors/detail", what="listing flavors")["flavors"]

    def images(self) -> list[dict[str, Any]]:
        return self.call("compute", "GET", "/images/detail", what="listing images")["images"]

    def keypair(self, name: str) -> dict[str, Any] | None:
        try:
            path = f"/os-keypairs/{urllib.parse.quote(name, safe='')}"
            return self.call("compute", "GET", path, what=f"key pair {name}")["keypair"]
        except SynnefoError as err:
            if err.status == 404:
                return None
            raise

    # -- Cyclades network -----------------------------------------------------------------------

    def networks(self) -> list[dict[str, Any]]:
        return self.call("network", "GET", "/networks", what="listing networks")["networks"]

    def floating_ips(self) -> list[dict[str, Any]]:
        return self.call("network", "GET", "/floatingips", what="listing floating IPs")["floatingips"]

    def create_floating_ip(self, network_id: str | None) -> dict[str, Any]:
        body = {"floatingip": {"floating_network_id": network_id} if network_id else {}}
        return self.call("network", "POST", "/floatingips", body, "reserving a floating IP")["floatingip"]

    def delete_floating_ip(self, fip_id: str) -> None:
        self.call("network", "DELETE", f"/floatingips/{fip_id}", what=f"releasing floating IP {fip_id}")

    def create_port(self, network_id: str, device_id: str, ip_address: str) -> dict[str, Any]:
        body = {
            "port": {
                "network_id": network_id,
                "device_id": device_id,
                "fixed_ips": [{"ip_address": ip_address}],
            }
        }
        return self.call("network", "POST", "/ports", body, f"attaching {ip_address}")["port"]
