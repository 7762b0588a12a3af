"""The controller's package caches: every .deb and every wheel fetched from the internet once.

The local provider's hosts install the same Debian packages and the same PyPI wheels (Galaxy's
~250 among them) again and again: every host, every molecule scenario, every bring-up. This
module runs two caching proxies on the controller (this machine), the way a site with many VMs
runs a package mirror:
  - apt: Debian's apt-cacher-ng, on port 3142, as its own user `apt-cacher-ng`, with a
    configuration of its own (no remapping to Debian's mirror list: a host's sources.list names
    the mirror, the cache keeps what it fetched from there);
  - pip: devpi-server (from PyPI, in its own virtualenv), on port 3141, as the system user
    `vre-cache` (created here), mirroring PyPI at /root/pypi/+simple/.
Both listen on every address of the controller; the hosts reach them at the controller's main
address (the source of its default route), which every container can reach. The roles take them
through the cluster-wide `vre_apt_proxy` and `vre_pip_index_url` (role common), which a site with
its own mirror sets the same way; local.py passes them from VRE_APT_PROXY and VRE_PIP_INDEX_URL,
which `./vre` sets from `up` here.
The pins stay the pins: the caches serve what Debian's mirror and PyPI serve, by the same name.

What it changes on this machine (said in the README): the user `vre-cache`, two daemons on ports
3141 and 3142, their data under /var/cache/vre/{apt-cacher-ng,devpi} (kept across runs, which is
the point; `rm -rf` them to start cold).

CLI (``python -m vrecloud.caches ...``):
  up               start both caches when they do not answer; print `apt URL` and `pip URL`
  fetched          print what the caches fetched from the internet and served, per file, as JSON
  stop             stop both caches (their data stays); `up` starts them again
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from vrecloud import local

ROOT = Path(os.environ.get("VRE_CACHE_DIR", "/var/cache/vre"))
APT_DIR = ROOT / "apt-cacher-ng"
PIP_DIR = ROOT / "devpi"
APT_PORT = 3142
PIP_PORT = 3141
APT_USER = "apt-cacher-ng"  # created by Debian's package
ACNG = "/usr/sbin/apt-cacher-ng"
PIP_USER = "vre-cache"
# The cache's own version, pinned like the toolkit's tools (requirements-dev.txt).
DEVPI_SERVER = "devpi-server==6.20.3"
# Seconds devpi-server waits for PyPI (its --request-timeout; its default, 5, is too short cold).
DEVPI_REQUEST_TIMEOUT = 60
# The machine's CA bundle: PyPI is reached over https, through an intercepting proxy on some
# machines whose CA only the system bundle carries.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SYSTEM_PYTHON = "/usr/bin/python3"

ACNG_CONF = f"""\
# Written by vrecloud/caches.py: apt-cacher-ng for the local provider's hosts.
CacheDir: {APT_DIR}/cache
LogDir: {APT_DIR}/log
SupportDir: /usr/lib/apt-cacher-ng
Port: {APT_PORT}
ReportPage: acng-report.html
ExThreshold: 4
# Each transfer is in the log as it happens (vrecloud.caches.fetched reads it).
UnbufferLogs: 1
# An index fetched less than this many seconds ago is served without asking upstream (default 27):
# role common refreshes on one host first, then on the others, which get that copy.
FreshIndexMaxAge: 120
"""


class CacheError(RuntimeError):
    """A failure with a message meant for the operator."""


def controller_address() -> str:
    """The controller's address as the hosts see it: the source address of its default route
    (its own main address). Not docker0's: the hosts that run Docker themselves (Galaxy, the Mesos
    slaves) have a docker0 of their own on the same subnet, which shadows it; not the local
    provider's network gateway either, which goes with a cluster's last host and may come back on
    another subnet. Containers of every network reach it."""
    proc = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False
    )  # a route lookup only: nothing is sent
    m = re.search(r"\bsrc (\d+\.\d+\.\d+\.\d+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise CacheError(
            "this machine has no default IPv4 route, so the hosts have no address to reach the caches "
            f"at ({proc.stderr.strip() or proc.stdout.strip()}); set VRE_APT_PROXY= and VRE_PIP_INDEX_URL= "
            "(empty) to go without them"
        )
    return m[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _wait(url: str, what: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return
        time.sleep(1)
    raise CacheError(f"{what} did not answer {url} within {timeout:.0f} s; see {log}")


def _chown_tree(path: Path, user: str) -> None:
    ids = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.lchown(p, ids.pw_uid, ids.pw_gid)


def ensure_apt() -> None:
    if not Path(ACNG).exists():
        raise CacheError(
            "apt-cacher-ng is not installed: `apt-get install apt-cacher-ng` (./vre bootstrap does)"
        )
    url = f"http://127.0.0.1:{APT_PORT}/acng-report.html"
    if _answers(url):
        return
    for d in (APT_DIR / "cache", APT_DIR / "log"):
        d.mkdir(parents=True, exist_ok=True)
    (APT_DIR / "acng.conf").write_text(ACNG_CONF)
    run = Path("/run/apt-cacher-ng")
    run.mkdir(exist_ok=True)
    _chown_tree(APT_DIR, APT_USER)
    _chown_tree(run, APT_USER)
    subprocess.run(
        [
            "runuser",
            "-u",
            APT_USER,
            "--",
            ACNG,
            "-c",
            str(APT_DIR),
            "ForeGround=0",
            f"pidfile={run}/pid",
            f"SocketPath={run}/socket",
        ],
        check=True,
    )
    _wait(url, "apt-cacher-ng", APT_DIR / "log/apt-cacher.err")


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--home-dir",
                str(PIP_DIR),
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
        )


def ensure_pip() -> None:
    url = f"http://127.0.0.1:{PIP_PORT}/+api"
    if _answers(url):
        return
    _ensure_user(PIP_USER)
    PIP_DIR.mkdir(parents=True, exist_ok=True)
    venv, data, log = PIP_DIR / "venv", PIP_DIR / "server", PIP_DIR / "devpi-server.log"
    stamp = venv / ".vre-requirement"
    if not stamp.exists() or stamp.read_text() != DEVPI_SERVER:
        # Debian's Python: the daemon's user must be able to read the interpreter the venv links
        # to (a pyenv Python under /root is not).
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", DEVPI_SERVER], check=True)
        stamp.write_text(DEVPI_SERVER)
    # The code stays root's; the daemon owns its data and log.
    data.mkdir(exist_ok=True)
    log.touch()
    _chown_tree(data, PIP_USER)
    _chown_tree(log, PIP_USER)
    env = {**os.environ, "SSL_CERT_FILE": CA_BUNDLE, "REQUESTS_CA_BUNDLE": CA_BUNDLE}
    runuser = ["runuser", "-u", PIP_USER, "--"]
    if not (data / ".serverversion").exists():
        subprocess.run(
            [*runuser, str(venv / "bin/devpi-init"), "--serverdir", str(data)],
            check=True,
            env=env,
            capture_output=True,
        )
    out = open(log, "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(
        [
            *runuser,
            str(venv / "bin/devpi-server"),
            "--serverdir",
            str(data),
            "--host",
            "0.0.0.0",
            "--port",
            str(PIP_PORT),
            # A cold mirror fetches each project's page from PyPI while the hosts wait: with
            # devpi's default of 5 s, uv's ~250 parallel requests of a Galaxy install got 502s
            # ("timeout after 5 seconds while getting data for ..."); 60 s served them all (20 s
            # at most, measured on 2026-12-04 with a fresh mirror and 50 parallel requests).
            "--request-timeout",
            str(DEVPI_REQUEST_TIMEOUT),
        ],
        stdout=out,
        stderr=out,
        env=env,
        start_new_session=True,
    )
    _wait(url, "devpi-server", log)
    # The first page a fresh mirror serves makes it load PyPI's project list (8 s here): done now,
    # once, rather than while every host's first requests wait for it.
    warm = f"http://127.0.0.1:{PIP_PORT}/root/pypi/+simple/pip/"
    try:
        with urllib.request.urlopen(warm, timeout=DEVPI_REQUEST_TIMEOUT + 30) as r:
            r.read()
    except OSError as exc:
        raise CacheError(f"devpi-server answers but cannot read PyPI ({warm}: {exc}); see {log}") from exc


def up() -> dict[str, str]:
    """Start both caches when needed; the URLs the hosts use."""
    address = controller_address()
    ensure_apt()
    ensure_pip()
    return {
        "apt": f"http://{address}:{APT_PORT}",
        "pip": f"http://{address}:{PIP_PORT}/root/pypi/+simple/",
    }


def stop(timeout: float = 30.0) -> None:
    """Stop both daemons, whichever data directory they serve (each runs as its own user)."""
    for user, name in ((APT_USER, "apt-cacher-ng"), (PIP_USER, "devpi-server")):
        subprocess.run(["pkill", "-TERM", "-u", user, "-f", name], check=False)
    urls = (f"http://127.0.0.1:{APT_PORT}/acng-report.html", f"http://127.0.0.1:{PIP_PORT}/+api")
    deadline = time.monotonic() + timeout
    while any(_answers(u) for u in urls):
        if time.monotonic() > deadline:
            raise CacheError(f"the caches still answer {timeout:.0f} s after SIGTERM: {', '.join(urls)}")
        time.sleep(0.5)


# apt-cacher-ng's transfer log: time|I or O|bytes|client|path (I: fetched from upstream, O: served).
_ACNG_LINE = re.compile(r"^\d+\|(?P<kind>[IO])\|\d+\|(?P<client>[^|]+)\|(?P<path>.+)$")
# devpi-server's log: a file fetched from upstream, and a file served.
_DEVPI_REMOTE = re.compile(r"reading remote: URL\('(?P<url>[^']+)'\)")
_DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")  # release files, not the index's pages
_DEVPI_GET = re.compile(r"\] GET /root/pypi/\+f/\S+/(?P<file>[^/\s]+)$")
_DEVPI_REQUEST = re.compile(r"\[(?P<req>req\d+)\] (?P<method>[A-Z]+) /")
_DEVPI_READ_REQ = re.compile(r"\[(?P<req>req\d+)\] \[\w+\] reading remote")
_DEVPI_DISCONNECT = re.compile(r"Client disconnected while serving \S+/(?P<file>[^/\s]+)$")


def fetched(apt_log: Path | None = None, pip_log: Path | None = None) -> dict[str, Any]:
    """Per package file: how often the caches fetched it from upstream, and served it (with the
    clients, for apt). Reads the whole logs, so counts span every run on this machine."""
    apt_log = apt_log or APT_DIR / "log/apt-cacher.log"
    pip_log = pip_log or PIP_DIR / "devpi-server.log"
    debs_up: Counter[str] = Counter()
    debs_served: dict[str, Counter[str]] = {}
    # A download apt-cacher-ng restarts before it serves the file (the upstream connection dropped
    # mid-transfer) logs one `I` line per attempt: that is one fetch. A fetch of a file that was
    # already served once is a second one.
    pending: set[str] = set()
    if apt_log.exists():
        for line in apt_log.read_text(errors="replace").splitlines():
            m = _ACNG_LINE.match(line)
            if not m or not m["path"].endswith(".deb"):
                continue
            if m["kind"] == "I":
                if m["path"] not in pending:
                    debs_up[m["path"]] += 1
                    pending.add(m["path"])
            else:
                pending.discard(m["path"])
                debs_served.setdefault(m["client"], Counter())[m["path"]] += 1
    wheels_up: Counter[str] = Counter()
    wheels_served: Counter[str] = Counter()
    # devpi streams a file to the client while it fetches it, and keeps it only once the fetch
    # ends. A client that reads a wheel's metadata lazily (uv: a HEAD, or a GET it breaks off after
    # the first bytes) stops that fetch: devpi logs the remote read, then for a GET "Client
    # disconnected while serving". Such a broken-off read, and the read a HEAD starts (devpi sends
    # no body to a HEAD), is not a download of the file; the next full read is its one fetch.
    method: dict[str, str] = {}
    open_reads: set[str] = set()  # files whose last remote read was for a GET, not yet ended
    if pip_log.exists():
        for line in pip_log.read_text(errors="replace").splitlines():
            if m := _DEVPI_REQUEST.search(line):
                method[m["req"]] = m["method"]
            if (m := _DEVPI_REMOTE.search(line)) and m["url"].endswith(_DIST_SUFFIXES):
                name = m["url"].rsplit("/", 1)[-1]
                req = _DEVPI_READ_REQ.search(line)
                if req and method.get(req["req"]) == "HEAD":
                    continue
                wheels_up[name] += 1
                open_reads.add(name)
            elif (m := _DEVPI_DISCONNECT.search(line)) and m["file"] in open_reads:
                wheels_up[m["file"]] -= 1
                open_reads.discard(m["file"])
            elif m := _DEVPI_GET.search(line):
                wheels_served[m["file"]] += 1
                open_reads.discard(m["file"])
    return {
        "debs_fetched": dict(debs_up),
        "debs_served": {c: dict(v) for c, v in debs_served.items()},
        "files_fetched": {f: n for f, n in wheels_up.items() if n > 0},
        "files_served": dict(wheels_served),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vrecloud.caches", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start both caches when they do not answer, print their URLs")
    sub.add_parser("fetched", help="what the caches fetched and served, per file, as JSON")
    sub.add_parser("stop", help="stop both caches (their data stays)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            for name, url in up().items():
                print(name, url)
        elif args.cmd == "stop":
            stop()
        else:
            print(json.dumps(fetched(), indent=1, sort_keys=True))
    except (CacheError, local.ProviderError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
