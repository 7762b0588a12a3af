"""kamaki.clients.utils: only `https`, which Galaxy's store uses for its TLS settings."""

from kamaki.clients.utils import https

__all__ = ["https"]
