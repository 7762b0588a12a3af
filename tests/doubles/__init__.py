"""Test doubles of HTTP APIs, started by the tests on loopback. None of them is the real service.

Cloud APIs (inventories/openstack.py, inventories/okeanos.py): `fleet` models what the clouds
have in common (servers that boot after a latency, ports, floating IPs, quotas, injected
faults, an SSH listener per booted VM); `openstack` and `synnefo` speak the two APIs over HTTP
(`http`) on top of it; `harness` points the provisioning code at one of them. Other doubles in
this package stand in for other services (e.g. `chronos_api`).
"""
