"""Client and ClientError, imported by the clients and re-exported by kamaki.clients."""

from __future__ import annotations

from typing import Any

from vre_synnefo import DEFAULT_TIMEOUT, SynnefoError, request


class ClientError(Exception):
    """kamaki's error: `status` is the HTTP status (0 when the server did not answer), `message`
    the server's message (or what went wrong), `details` more lines when there are any."""

    def __init__(self, message: str, status: int = 0, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or []
        self.body = b""  # the start of the answer's body (a 409's list of missing blocks)

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message

    @classmethod
    def from_synnefo(cls, err: SynnefoError) -> ClientError:
        text = f"{err.what}: {err.message}" if err.what else err.message
        error = cls(text, err.status, [err.kind] if err.kind != "error" else [])
        error.body = err.body
        return error


class Client:
    """Base of the clients: an endpoint URL and the user's token (never shown by repr)."""

    service_type = ""

    def __init__(self, endpoint_url: str, token: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.base_url = self.endpoint_url
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url!r})"

    def _request(self, method: str, url: str, what: str, **kw: Any):
        try:
            return request(method, url, self.token, timeout=self.timeout, what=what, **kw)
        except SynnefoError as err:
            raise ClientError.from_synnefo(err) from None
