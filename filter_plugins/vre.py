"""Jinja2 filters of the VRE toolkit: ZooKeeper connection strings, quorum sizes, NFS exports and
host addresses.

Every filter checks its input and raises ``AnsibleFilterError`` with a message that names the filter,
the bad argument and what to do about it, so a wrong inventory fails early and readably instead of
rendering a broken configuration file.

``vre_zk_hosts(hosts, port=2181)``
    ``['h1', 'h2'] | vre_zk_hosts`` -> ``"h1:2181,h2:2181"``: the ZooKeeper connection string of an
    ensemble. ``hosts`` is a non-empty list of host names or IPv4/IPv6 addresses (IPv6 addresses are
    written in brackets, ``[fd00::1]:2181``); order is preserved, duplicates are refused. ``port`` is an
    integer 1..65535 or a string of digits.

``vre_zk_url(hosts, port=2181, path="/mesos")``
    ``['h1', 'h2'] | vre_zk_url`` -> ``"zk://h1:2181,h2:2181/mesos"``: the URL Mesos masters, slaves
    and Chronos use to find the ensemble. ``path`` is the znode: it starts with ``/`` and has no
    whitespace, empty segments or trailing ``/``.

``vre_quorum(members)``
    ``floor(n / 2) + 1``, the majority of an ensemble of ``n`` members (``--quorum`` of the Mesos
    masters). ``members`` is an integer > 0 or a non-empty list (its length counts).

``vre_nfs_clients(clients, variable='')``
    The list of NFS clients allowed to mount, checked and stripped of surrounding whitespace. Each is an
    IPv4/IPv6 address, a CIDR network (``10.0.0.0/24``, ``fd00::/64``, ``10.0.0.0/255.255.255.0``) or a
    host name. Wildcards (``*``, ``?``), world networks (``0.0.0.0/0``, ``::/0``), empty lists and
    duplicates are refused: exports are restricted to the cluster's clients, never ``*``. A refusal
    starts with ``variable``, when given (the inventory variable the list came from).

``vre_nfs_export_line(path, clients, options)``
    One line of the kernel server's ``/etc/exports``::

        /srv/vre/galaxy 10.0.0.1(rw,sync,root_squash,no_subtree_check) 10.0.0.2(rw,sync,...)

    ``path`` is absolute without whitespace, ``clients`` is checked as by ``vre_nfs_clients`` and
    ``options`` is a non-empty list of export options (or one comma-separated string) from the
    options ``exports(5)`` documents: rw, ro, sync, async, root_squash, no_root_squash, all_squash,
    no_all_squash, subtree_check, no_subtree_check, secure, insecure, wdelay, no_wdelay, crossmnt,
    nohide, anonuid=N, anongid=N, sec=FLAVOR[:FLAVOR...], fsid=root|N|UUID. Unknown, repeated and
    contradictory options (``rw`` with ``ro``...) are refused. Whether ``no_root_squash`` is
    acceptable is the calling role's policy, not this filter's.

``vre_host_addresses(hostnames, hostvars)``
    ``groups['nfs_clients'] | vre_host_addresses(hostvars)`` -> the address other cluster hosts use to
    reach each host, in order: its ``vre_private_address`` if set, else the ``address`` of its
    ``ansible_default_ipv4`` fact. A host with neither is an error naming the host. An empty list of
    host names gives an empty list (the caller decides whether that is acceptable).

``vre_host_address(hostname, hostvars)``
    ``'registry-1' | vre_host_address(hostvars)`` -> that one host's address by the same rule, or
    ``""`` while it has none (no vre_private_address and its facts not gathered yet, or not in the
    inventory): for derived defaults (roles/vre_defaults), which are read lazily. The checks that
    must refuse a host without an address use ``vre_host_addresses``.

``vre_registry_addresses(address, anonymous_pull=False, public_port=5001)``
    ``vre_registry_address | vre_registry_addresses(true, 5001)`` -> ``["10.0.0.7:5000",
    "10.0.0.7:5001"]``: every address of the private registry a Docker or containerd host trusts,
    its credentials port and, when anonymous pull is served, the public port on the same host.
    ``""`` (no registry) gives ``[]``; an address without ``:port`` is refused.
"""

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError, AnsibleUndefinedVariable
from jinja2 import Undefined
from jinja2.exceptions import UndefinedError

DEFAULT_ZK_PORT = 2181
DEFAULT_ZK_PATH = "/mesos"

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DIGITS_RE = re.compile(r"[0-9]+")
_WHITESPACE_RE = re.compile(r"\s")

_NFS_NEVER = 'exports are restricted to the cluster\'s clients and never "*"'

# Options of exports(5) that take no value, and the pairs that contradict each other.
_EXPORT_FLAGS = frozenset(
    {
        "rw",
        "ro",
        "sync",
        "async",
        "root_squash",
        "no_root_squash",
        "all_squash",
        "no_all_squash",
        "subtree_check",
        "no_subtree_check",
        "secure",
        "insecure",
        "wdelay",
        "no_wdelay",
        "crossmnt",
        "nohide",
    }
)
_EXPORT_CONFLICTS = (
    ("rw", "ro"),
    ("sync", "async"),
    ("root_squash", "no_root_squash"),
    ("all_squash", "no_all_squash"),
    ("subtree_check", "no_subtree_check"),
    ("secure", "insecure"),
    ("wdelay", "no_wdelay"),
)
_SEC_FLAVORS = frozenset({"sys", "krb5", "krb5i", "krb5p", "none"})


def _valid_fsid(value: str) -> bool:
    if value == "root" or _DIGITS_RE.fullmatch(value):
        return True
    hex_digits = re.sub(r"[-:]", "", value)
    return len(hex_digits) == 32 and re.fullmatch(r"[0-9A-Fa-f]+", hex_digits) is not None


# Options of exports(5) that take a value: the check of the value and an example for the message.
_EXPORT_VALUED: dict[str, tuple[Callable[[str], bool], str]] = {
    "anonuid": (lambda v: _DIGITS_RE.fullmatch(v) is not None, "anonuid=65534"),
    "anongid": (lambda v: _DIGITS_RE.fullmatch(v) is not None, "anongid=65534"),
    "sec": (lambda v: all(f in _SEC_FLAVORS for f in v.split(":")), "sec=sys or sec=krb5p:krb5i:sys"),
    "fsid": (_valid_fsid, "fsid=root, fsid=1 or fsid=<32 hex digits UUID>"),
}


def _fail(filter_name: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{filter_name}: {message}")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_undefined(value: Any) -> bool:
    return isinstance(value, Undefined)


def _as_list(filter_name: str, arg: str, value: Any, what: str, allow_empty: bool = False) -> list[Any]:
    """Check that ``value`` is a list-like sequence (not a string or mapping) and return it as a list."""
    if _is_undefined(value):
        raise _fail(filter_name, f"'{arg}' is undefined; pass a list of {what}")
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | set | frozenset):
        raise _fail(
            filter_name,
            f"'{arg}' must be a list of {what}, got {_describe(value)}; wrap a single value in a list",
        )
    items = list(value)
    if not items and not allow_empty:
        raise _fail(filter_name, f"'{arg}' is an empty list; give at least one of {what}")
    return items


def _check_port(filter_name: str, port: Any) -> int:
    """Return ``port`` as an int 1..65535; it may be given as an int or a string of digits."""
    number: int | None = None
    if isinstance(port, int) and not isinstance(port, bool):
        number = port
    elif isinstance(port, str) and _DIGITS_RE.fullmatch(port):
        number = int(port)
    if number is None or not 1 <= number <= 65535:
        raise _fail(
            filter_name,
            f"'port' must be an integer from 1 to 65535 (or a string of digits), got {_describe(port)}",
        )
    return number


def _parse_host(filter_name: str, arg: str, value: Any) -> tuple[str, str | ipaddress.IPv6Address]:
    """Check a host name or IP address; return (stripped text, duplicate key or IPv6 address).

    The second element is the parsed address for IPv6 (callers may need to bracket it) and a
    normalised string key otherwise.
    """
    if _is_undefined(value) or not isinstance(value, str):
        raise _fail(
            filter_name, f"every entry of '{arg}' must be a host name or address, got {_describe(value)}"
        )
    text = value.strip()
    if not text:
        raise _fail(filter_name, f"'{arg}' contains an empty host name; remove it or fill it in")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address):
            return text, address
        return text, str(address)
    if ":" in text:
        raise _fail(
            filter_name,
            f"{text!r} in '{arg}' is neither a host name nor an IP address; give host names without a "
            "port (the port is a separate argument)",
        )
    labels = text.split(".")
    if not _HOSTNAME_RE.fullmatch(text) or len(text) > 253 or labels[-1].isdigit():
        raise _fail(
            filter_name,
            f"{text!r} in '{arg}' is not a valid host name or IP address (letters, digits, '-', '_' and "
            "dots; IPv4 addresses as a.b.c.d)",
        )
    return text, text.lower()


def _check_unique(filter_name: str, arg: str, keyed: Iterable[tuple[str, Any]], note: str = "") -> None:
    seen: dict[Any, str] = {}
    for text, key in keyed:
        if key in seen:
            same = f"{text!r}" if seen[key] == text else f"{text!r} (same as {seen[key]!r})"
            raise _fail(filter_name, f"{same} appears twice in '{arg}'; list each entry once{note}")
        seen[key] = text


def _zk_connect(filter_name: str, hosts: Any, port: Any) -> str:
    items = _as_list(filter_name, "hosts", hosts, "ZooKeeper host names or addresses")
    number = _check_port(filter_name, port)
    parsed = [_parse_host(filter_name, "hosts", item) for item in items]
    _check_unique(filter_name, "hosts", parsed)
    rendered = []
    for text, key in parsed:
        host = f"[{key.compressed}]" if isinstance(key, ipaddress.IPv6Address) else text
        rendered.append(f"{host}:{number}")
    return ",".join(rendered)


def vre_zk_hosts(hosts: Sequence[str], port: int | str = DEFAULT_ZK_PORT) -> str:
    """``['h1', 'h2'] | vre_zk_hosts`` -> ``"h1:2181,h2:2181"``."""
    return _zk_connect("vre_zk_hosts", hosts, port)


def vre_zk_url(hosts: Sequence[str], port: int | str = DEFAULT_ZK_PORT, path: str = DEFAULT_ZK_PATH) -> str:
    """``['h1', 'h2'] | vre_zk_url`` -> ``"zk://h1:2181,h2:2181/mesos"``."""
    name = "vre_zk_url"
    connect = _zk_connect(name, hosts, port)
    if _is_undefined(path) or not isinstance(path, str):
        raise _fail(name, f"'path' must be a znode path string such as '/mesos', got {_describe(path)}")
    if not path.startswith("/"):
        raise _fail(name, f"'path' must start with '/', got {path!r}; use e.g. '/mesos'")
    if _WHITESPACE_RE.search(path):
        raise _fail(name, f"'path' must not contain spaces or other whitespace, got {path!r}")
    segments = path[1:].split("/")
    if path == "/" or any(s in ("", ".", "..") for s in segments):
        raise _fail(
            name,
            f"'path' must name a znode, e.g. '/mesos', without empty, '.' or '..' segments or a trailing "
            f"'/', got {path!r}",
        )
    return f"zk://{connect}{path}"


def vre_quorum(members: int | Sequence[Any]) -> int:
    """The majority of an ensemble: ``floor(n / 2) + 1`` for ``n`` members (an int or a list)."""
    name = "vre_quorum"
    if isinstance(members, bool) or _is_undefined(members):
        raise _fail(name, f"'members' must be an integer > 0 or a non-empty list, got {_describe(members)}")
    if isinstance(members, int):
        if members <= 0:
            raise _fail(name, f"'members' must be an integer > 0 (the ensemble size), got {members}")
        count = members
    elif isinstance(members, str):
        raise _fail(
            name,
            f"'members' must be an integer > 0 or a non-empty list, got the string {members!r}; "
            "use '| int' for a number given as a string, or pass the list of members",
        )
    else:
        items = _as_list(name, "members", members, "ensemble members")
        for i, item in enumerate(items):
            if item in items[:i]:
                raise _fail(name, f"{item!r} appears twice in 'members'; list each member once")
        count = len(items)
    return math.floor(count / 2) + 1


def _nfs_client(filter_name: str, value: Any) -> tuple[str, str]:
    """Check one NFS client spec; return (stripped text, duplicate key)."""
    if _is_undefined(value) or not isinstance(value, str):
        raise _fail(
            filter_name,
            f"every client must be an address, CIDR network or host name, got {_describe(value)}; "
            f"{_NFS_NEVER}",
        )
    text = value.strip()
    if not text:
        raise _fail(filter_name, f"'clients' contains an empty entry; {_NFS_NEVER}")
    if "*" in text or "?" in text:
        raise _fail(
            filter_name,
            f"client {text!r} is a wildcard; {_NFS_NEVER}: list the clients' addresses or networks",
        )
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise _fail(
                filter_name,
                f"client {text!r} is not a valid CIDR network (e.g. 10.0.0.0/24 or fd00::/64); {_NFS_NEVER}",
            ) from None
        if network.prefixlen == 0:
            raise _fail(
                filter_name,
                f"client {text!r} is the whole world; {_NFS_NEVER}: use the cluster's network or addresses",
            )
        return text, f"net:{network.compressed}"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        if address.is_unspecified:
            raise _fail(
                filter_name,
                f"client {text!r} is the unspecified address, not a client; {_NFS_NEVER}",
            )
        return text, f"ip:{address.compressed}"
    try:
        host, key = _parse_host(filter_name, "clients", text)
    except AnsibleFilterError:
        raise _fail(
            filter_name,
            f"client {text!r} is not an IPv4/IPv6 address, CIDR network or host name; {_NFS_NEVER}",
        ) from None
    return host, f"host:{key}"


def _nfs_clients(filter_name: str, clients: Any) -> list[str]:
    if _is_undefined(clients):
        raise _fail(filter_name, f"'clients' is undefined; {_NFS_NEVER}: pass the list of the clients")
    items = _as_list(
        filter_name, "clients", clients, f"client addresses, networks or host names ({_NFS_NEVER})", True
    )
    if not items:
        raise _fail(
            filter_name,
            f"'clients' is empty: no host may mount the export; {_NFS_NEVER}: put the client hosts in the "
            "nfs_clients group or list their addresses or networks",
        )
    parsed = [_nfs_client(filter_name, item) for item in items]
    _check_unique(filter_name, "clients", parsed, f" ({_NFS_NEVER})")
    return [text for text, _ in parsed]


def vre_nfs_clients(clients: Sequence[str], variable: str = "") -> list[str]:
    """Check the clients allowed to mount an export; return them stripped, in order. `variable`,
    the inventory variable they came from, is named in the message."""
    try:
        return _nfs_clients("vre_nfs_clients", clients)
    except AnsibleFilterError as exc:
        if not variable:
            raise
        raise AnsibleFilterError(f"{variable}: {exc.message}") from None


def _export_options(filter_name: str, options: Any) -> list[str]:
    """Check export options (list or comma-separated string); return them in order."""
    if _is_undefined(options):
        raise _fail(
            filter_name, "'options' is undefined; pass a list of export options such as ['rw', 'sync']"
        )
    if isinstance(options, str):
        raw = [options]
    else:
        raw = _as_list(filter_name, "options", options, "export options such as 'rw' or 'sync'")
    tokens: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise _fail(filter_name, f"every export option must be a string, got {_describe(item)}")
        tokens.extend(t.strip() for t in item.split(","))
    if tokens == [""]:
        raise _fail(filter_name, "'options' is empty; give at least one export option such as 'rw'")
    seen: dict[str, str] = {}
    for token in tokens:
        if not token:
            raise _fail(filter_name, f"'options' contains an empty option: {options!r}")
        key, has_value, value = token.partition("=")
        if key in _EXPORT_FLAGS:
            if has_value:
                raise _fail(filter_name, f"export option {key!r} takes no value, got {token!r}")
        elif key in _EXPORT_VALUED:
            check, example = _EXPORT_VALUED[key]
            if not value or not check(value):
                raise _fail(filter_name, f"export option {token!r} has a bad value; use e.g. {example}")
        else:
            known = ", ".join(sorted(_EXPORT_FLAGS | {f"{k}=..." for k in _EXPORT_VALUED}))
            raise _fail(filter_name, f"unknown export option {token!r}; known options: {known}")
        if key in seen:
            raise _fail(filter_name, f"export option {key!r} is given twice ({seen[key]!r} and {token!r})")
        seen[key] = token
    for first, second in _EXPORT_CONFLICTS:
        if first in seen and second in seen:
            raise _fail(
                filter_name, f"export options {first!r} and {second!r} contradict each other; keep one"
            )
    return tokens


def vre_nfs_export_line(path: str, clients: Sequence[str], options: Sequence[str] | str) -> str:
    """One ``/etc/exports`` line: ``PATH CLIENT(OPTIONS) CLIENT(OPTIONS)...``."""
    name = "vre_nfs_export_line"
    if _is_undefined(path) or not isinstance(path, str):
        raise _fail(name, f"'path' must be an absolute path string, got {_describe(path)}")
    if not path.startswith("/"):
        raise _fail(name, f"'path' must be absolute (start with '/'), got {path!r}")
    if _WHITESPACE_RE.search(path):
        raise _fail(name, f"'path' must not contain spaces or other whitespace, got {path!r}")
    allowed = _nfs_clients(name, clients)
    opts = ",".join(_export_options(name, options))
    return " ".join([path, *(f"{client}({opts})" for client in allowed)])


def _var(host_vars: Any, key: str) -> Any:
    """A host's variable, or None when it is missing, undefined or refers to something undefined."""
    try:
        value = host_vars.get(key)
    except (KeyError, AnsibleUndefinedVariable, UndefinedError):
        return None
    if _is_undefined(value) or value is None or value == "":
        return None
    return value


def _fact_address(host_vars: Any) -> Any:
    facts = _var(host_vars, "ansible_default_ipv4")
    if not isinstance(facts, Mapping):
        ansible_facts = _var(host_vars, "ansible_facts")
        facts = _var(ansible_facts, "default_ipv4") if isinstance(ansible_facts, Mapping) else None
    return _var(facts, "address") if isinstance(facts, Mapping) else None


def vre_host_address(hostname: str, hostvars: Mapping[str, Any]) -> str:
    """One host's address, as vre_host_addresses finds it, or "" while it has none: a bad one (a
    typo'd address, a host:port) is refused as there."""
    if _is_undefined(hostvars) or not isinstance(hostvars, Mapping):
        raise _fail(
            "vre_host_address",
            f"'hostvars' must be the hostvars mapping (pass `hostvars`), got {_describe(hostvars)}",
        )
    if not isinstance(hostname, str) or hostname not in hostvars:
        return ""
    host_vars = hostvars[hostname]
    if _var(host_vars, "vre_private_address") is None and _fact_address(host_vars) is None:
        return ""
    return vre_host_addresses([hostname], hostvars)[0]


def vre_host_addresses(hostnames: Sequence[str], hostvars: Mapping[str, Any]) -> list[str]:
    """The address of each host: its ``vre_private_address``, else its default IPv4 address fact."""
    name = "vre_host_addresses"
    items = _as_list(name, "hostnames", hostnames, "inventory host names", allow_empty=True)
    if _is_undefined(hostvars) or not isinstance(hostvars, Mapping):
        raise _fail(
            name, f"'hostvars' must be the hostvars mapping (pass `hostvars`), got {_describe(hostvars)}"
        )
    addresses = []
    for host in items:
        if not isinstance(host, str) or not host.strip():
            raise _fail(
                name,
                f"every entry of 'hostnames' must be an inventory host name, got {_describe(host)} "
                "(is the inventory group empty?)",
            )
        if host not in hostvars:
            raise _fail(name, f"host {host!r} is not in the inventory (hostvars has no entry for it)")
        host_vars = hostvars[host]
        if _is_undefined(host_vars) or not isinstance(host_vars, Mapping):
            raise _fail(name, f"host {host!r} is not in the inventory (hostvars has no entry for it)")
        address = _var(host_vars, "vre_private_address")
        source = "vre_private_address"
        if address is None:
            address = _fact_address(host_vars)
            source = "ansible_default_ipv4.address"
        if address is None:
            raise _fail(name, f"host {host} has no address: set vre_private_address for it or gather facts")
        if not isinstance(address, str) or not address.strip() or _WHITESPACE_RE.search(address.strip()):
            raise _fail(
                name,
                f"host {host}: {source} must be an address or host name, got {_describe(address)}",
            )
        try:
            _parse_host(name, source, address)
        except AnsibleFilterError:
            raise _fail(
                name,
                f"host {host}: {source} is {address.strip()!r}, not a valid IPv4/IPv6 address or host name "
                "(IPv4 as a.b.c.d, each part 0-255): fix it in the inventory",
            ) from None
        addresses.append(address.strip())
    return addresses


_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_BOOL_WORDS = dict.fromkeys(_TRUE_WORDS, True) | dict.fromkeys(_FALSE_WORDS, False)


def vre_registry_addresses(address: Any, anonymous_pull: Any = False, public_port: Any = 5001) -> list[str]:
    """The registry's addresses a host trusts: ``host:port``, and ``host:public_port`` with anonymous pull."""
    name = "vre_registry_addresses"
    if _is_undefined(address) or not isinstance(address, str):
        raise _fail(name, f"the registry address must be a string host:port or '', got {_describe(address)}")
    if not address.strip():
        return []
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not _DIGITS_RE.fullmatch(port):
        raise _fail(name, f"the registry address {address!r} must be host:port (e.g. 10.0.0.7:5000)")
    _check_port(name, port)
    anon = anonymous_pull
    if isinstance(anon, str) and anon.strip().lower() in _BOOL_WORDS:
        anon = _BOOL_WORDS[anon.strip().lower()]
    if not isinstance(anon, bool):
        raise _fail(name, f"anonymous_pull must be true or false, got {_describe(anonymous_pull)}")
    addresses = [f"{host}:{port}"]
    if anon:
        addresses.append(f"{host}:{_check_port(name, public_port)}")
    return addresses


class FilterModule:
    """The VRE toolkit's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "vre_zk_hosts": vre_zk_hosts,
            "vre_zk_url": vre_zk_url,
            "vre_quorum": vre_quorum,
            "vre_nfs_clients": vre_nfs_clients,
            "vre_nfs_export_line": vre_nfs_export_line,
            "vre_host_addresses": vre_host_addresses,
            "vre_host_address": vre_host_address,
            "vre_registry_addresses": vre_registry_addresses,
        }
