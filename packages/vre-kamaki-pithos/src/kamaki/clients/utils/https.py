"""TLS settings for every later request of these clients (process-wide, as kamaki's were):
Galaxy's store calls one of them when its configuration has auth `ca_certs` or `ignore_ssl`."""

from __future__ import annotations

from vre_synnefo import set_tls


def patch_with_certs(ca_file: str) -> None:
    """Verify servers against the CA bundle `ca_file`."""
    set_tls(cafile=ca_file, verify=True)


def patch_ignore_ssl() -> None:
    """Do not verify servers' certificates (test clouds only)."""
    set_tls(verify=False)
