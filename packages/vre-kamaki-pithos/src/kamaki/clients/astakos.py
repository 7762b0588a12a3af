"""kamaki.clients.astakos.AstakosClient, the calls Galaxy's Pithos+ store makes: the user's uuid
(`user_term("id")`), the token, an endpoint of the service catalog (`get_endpoint_url`) and the
quotas per project (`get_quotas`)."""

from __future__ import annotations

import threading
from typing import Any

from vre_synnefo import SynnefoError, authenticate, call_json

from kamaki.clients._base import Client, ClientError


class AstakosClient(Client):
    service_type = "identity"

    def __init__(self, endpoint_url: str, token: str, **kw: Any) -> None:
        super().__init__(endpoint_url, token, **kw)
        self._access: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def authenticate(self) -> dict[str, Any]:
        """POST /tokens once: the user and the endpoints by service type."""
        with self._lock:
            if self._access is None:
                try:
                    self._access = authenticate(self.endpoint_url, self.token, timeout=self.timeout)
                except SynnefoError as err:
                    raise ClientError.from_synnefo(err) from None
            return self._access

    def user_info(self) -> dict[str, Any]:
        return dict(self.authenticate()["user"])

    def user_term(self, key: str) -> Any:
        """A field of the authenticated user (`id`: the uuid that names the Pithos+ account)."""
        return self.authenticate()["user"].get(key)

    def get_endpoint_url(self, service_type: str) -> str:
        endpoints = self.authenticate()["endpoints"]
        if service_type not in endpoints:
            known = ", ".join(sorted(endpoints))
            raise ClientError(f"the service catalog has no {service_type!r} endpoint (it has: {known})", 404)
        return endpoints[service_type]

    def get_quotas(self) -> dict[str, Any]:
        """GET <account endpoint>/quotas: {project: {resource: {usage, limit, project_limit, ...}}}."""
        url = f"{self.get_endpoint_url('account')}/quotas"
        try:
            return call_json("GET", url, self.token, timeout=self.timeout, what="reading the quotas")
        except SynnefoError as err:
            raise ClientError.from_synnefo(err) from None
