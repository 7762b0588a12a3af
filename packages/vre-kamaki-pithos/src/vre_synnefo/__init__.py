"""HTTP and authentication for the Synnefo APIs (~okeanos): one copy, standard library only.

Shared by the toolkit's cloud provider (vrecloud/synnefo.py: Astakos and Cyclades) and by this
package's kamaki.clients (Astakos and Pithos+, for Galaxy's object store):

  request(method, url, token, ...)   one request with X-Auth-Token; the open response, or a
                                      SynnefoError with the HTTP status and the server's message
  call_json(method, url, token, ...) the same with JSON in and out
  authenticate(auth_url, token, ...) Astakos' POST <auth url>/tokens: the user and the service
                                      catalog (endpoints by service type)
  set_tls(cafile=..., verify=...)     the CA bundle (or no verification) for every later request

The token travels only in the X-Auth-Token header; no message or repr shows it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_TIMEOUT = 60.0
_TLS: dict[str, Any] = {"cafile": None, "verify": True}


class SynnefoError(RuntimeError):
    """An API refusal: HTTP status (0: no answer), the fault kind (overLimit, itemNotFound...) and
    the server's message; `body` is the start of the answer's body (a 409's list of hashes)."""

    def __init__(self, status: int, kind: str, message: str, what: str = "", body: bytes = b"") -> None:
        super().__init__(
            f"{what}: {message} (HTTP {status} {kind})" if what else f"{message} (HTTP {status} {kind})"
        )
        self.status = status
        self.kind = kind
        self.message = message
        self.what = what
        self.body = body


def set_tls(cafile: str | None = None, verify: bool = True) -> None:
    """Verify servers against `cafile` (else the system's CAs), or not at all (verify=False)."""
    _TLS.update(cafile=cafile, verify=verify)


def _context() -> ssl.SSLContext | None:
    if not _TLS["verify"]:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if _TLS["cafile"]:
        return ssl.create_default_context(cafile=_TLS["cafile"])
    return None


def _fault(raw: bytes, reason: str) -> tuple[str, str]:
    """(kind, message) of an error body: Synnefo's {"kind": {"message", "details"}} JSON, else the
    first words of the text (Pithos answers many errors in plain text)."""
    kind, message = "error", " ".join(raw.decode(errors="replace").split())[:200] or reason
    try:
        fault = json.loads(raw)
    except ValueError:
        return kind, message
    if isinstance(fault, dict) and len(fault) == 1:
        kind, detail = next(iter(fault.items()))
        if isinstance(detail, dict):
            message = str(detail.get("message", message))
            if detail.get("details"):
                message += f": {detail['details']}"
    return kind, message


def request(
    method: str,
    url: str,
    token: str,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    what: str = "",
) -> http.client.HTTPResponse:
    """Send one request; the caller reads (and closes) the response. `data`: bytes, or a file
    object read in chunks by http.client (give Content-Length in `headers`)."""
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("X-Auth-Token", token)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        return urllib.request.urlopen(req, timeout=timeout, context=_context())
    except urllib.error.HTTPError as err:
        raw = err.read()
        kind, message = _fault(raw, str(err.reason))
        raise SynnefoError(err.code, kind, message, what, raw[:1_000_000]) from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or f"{type(err).__name__}: {err}"
        raise SynnefoError(0, "unreachable", f"{urllib.parse.urlsplit(url).netloc}: {reason}", what) from None


def call_json(
    method: str, url: str, token: str, body: Any = None, *, timeout: float = DEFAULT_TIMEOUT, what: str = ""
) -> Any:
    """A JSON request and its JSON answer (None for an empty one)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    resp = request(method, url, token, data=data, headers=headers, timeout=timeout, what=what)
    try:
        with resp:
            raw = resp.read()
        return json.loads(raw) if raw else None
    except ValueError as err:  # an answer that is not JSON: a proxy's error page, a cut body
        raise SynnefoError(0, "badReply", f"the answer is not JSON ({err})", what) from None
    except (TimeoutError, OSError, http.client.HTTPException) as err:
        raise SynnefoError(0, "unreachable", f"{type(err).__name__}: {err}", what) from None


def authenticate(auth_url: str, token: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Astakos' token authentication: {"user": {...}, "endpoints": {service type: public URL}}."""
    body = {"auth": {"token": {"id": token}}}
    access = call_json(
        "POST",
        f"{auth_url.rstrip('/')}/tokens",
        token,
        body,
        timeout=timeout,
        what="authenticating at Astakos",
    )
    try:
        catalog = access["access"]["serviceCatalog"]
        user = access["access"]["user"]
    except (KeyError, TypeError):
        raise SynnefoError(
            0,
            "badReply",
            "the answer has no access.serviceCatalog and access.user",
            "authenticating at Astakos",
        ) from None
    endpoints = {
        service["type"]: service["endpoints"][0]["publicURL"].rstrip("/")
        for service in catalog
        if service.get("endpoints")
    }
    return {"user": user, "endpoints": endpoints}
