"""The controller's package caches: reading what they fetched and served (vrecloud/caches.py),
and how the local provider hands them to the hosts."""

from vrecloud import caches, local

ACNG_LOG = """\
1796179484|I|10764|172.18.0.5|deb.debian.org/debian/pool/main/h/hostname/hostname_3.23+nmu1_amd64.deb
1796179484|O|10742|172.18.0.5|deb.debian.org/debian/pool/main/h/hostname/hostname_3.23+nmu1_amd64.deb
1796179485|I|2048|172.18.0.5|deb.debian.org/debian/dists/bookworm/InRelease
1796179486|O|10742|172.18.0.6|deb.debian.org/debian/pool/main/h/hostname/hostname_3.23+nmu1_amd64.deb
1796179487|E|2512|172.18.0.6|debrep/pool/main/t/tree/tree_2.1.0-1_amd64.deb [HTTP error, code: 503]
"""
SIX = "six-1.16.0-py2.py3-none-any.whl"
DEVPI_LOG = "\n".join(
    [
        "2026-12-02 02:45:33,947 INFO  [req0] GET /root/pypi/+simple/six/",
        f"2026-12-02 02:45:54,852 INFO  [req1] GET /root/pypi/+f/8ab/b2f1d86890a2d/{SIX}",
        "2026-12-02 02:45:54,863 INFO  [req1] [Rtx1] reading remote: "
        f"URL('https://files.pythonhosted.org/packages/d9/5a/e7/{SIX}'), "
        f"target root/pypi/+f/8ab/b2f1d86890a2d/{SIX}",
        f"2026-12-02 02:46:06,889 INFO  [req5] GET /root/pypi/+f/8ab/b2f1d86890a2d/{SIX}",
        "2026-12-02 02:46:07,001 INFO  [req6] [Rtx2] reading remote: "
        "URL('https://pypi.org/simple/idna/'), target root/pypi/+simple/idna",
    ]
)


def test_fetched_counts_upstream_fetches_and_serves_per_file(tmp_path):
    apt, pip = tmp_path / "apt.log", tmp_path / "devpi.log"
    apt.write_text(ACNG_LOG)
    pip.write_text(DEVPI_LOG)
    got = caches.fetched(apt, pip)
    deb = "deb.debian.org/debian/pool/main/h/hostname/hostname_3.23+nmu1_amd64.deb"
    # Index files and errors are not package files; each client is counted on its own.
    assert got["debs_fetched"] == {deb: 1}
    assert got["debs_served"] == {"172.18.0.5": {deb: 1}, "172.18.0.6": {deb: 1}}
    # The index page devpi refreshed is not a release file.
    assert got["files_fetched"] == {"six-1.16.0-py2.py3-none-any.whl": 1}
    assert got["files_served"] == {"six-1.16.0-py2.py3-none-any.whl": 2}


def test_a_restarted_download_is_one_fetch_and_a_fetch_after_serving_is_another(tmp_path):
    deb = "deb.debian.org/debian/pool/main/f/fontconfig/fontconfig-config_2.14.1-4_amd64.deb"
    apt = tmp_path / "apt.log"
    apt.write_text(
        # Seen on a fresh machine: the first transfer broke after 12 kB, apt-cacher-ng started
        # over, then served the file once.
        f"1796221640|I|12271|172.28.0.5|{deb}\n"
        f"1796221640|I|315130|172.28.0.5|{deb}\n"
        f"1796221640|O|315117|172.28.0.5|{deb}\n"
    )
    assert caches.fetched(apt, tmp_path / "none.log")["debs_fetched"] == {deb: 1}
    with apt.open("a") as log:  # fetched again after it was served: the cache did not hold it
        log.write(f"1796221700|I|315130|172.28.0.6|{deb}\n1796221700|O|315117|172.28.0.6|{deb}\n")
    assert caches.fetched(apt, tmp_path / "none.log")["debs_fetched"] == {deb: 2}


def test_fetched_without_logs_is_empty(tmp_path):
    got = caches.fetched(tmp_path / "none.log", tmp_path / "none2.log")
    assert got == {"debs_fetched": {}, "debs_served": {}, "files_fetched": {}, "files_served": {}}


def test_local_provider_hands_the_caches_to_the_hosts():
    env = {
        "VRE_APT_PROXY": "http://172.18.0.1:3142",
        "VRE_PIP_INDEX_URL": "http://172.18.0.1:3141/root/pypi/+simple/",
    }
    got = local.local_vars(env)
    assert got["vre_apt_proxy"] == "http://172.18.0.1:3142"
    assert got["vre_pip_index_url"] == "http://172.18.0.1:3141/root/pypi/+simple/"
    # Unset: the hosts fetch from the internet directly (role common removes its files).
    assert local.local_vars({})["vre_apt_proxy"] == "" and local.local_vars({})["vre_pip_index_url"] == ""


def test_a_read_a_client_breaks_off_or_a_head_is_not_a_fetch(tmp_path):
    """Seen on a fresh machine with uv as the client: a HEAD on a wheel devpi did not hold (devpi
    starts a remote read, sends no body), a GET uv broke off after the first bytes (devpi logs
    the disconnect and keeps nothing); the next full read is the file's one fetch."""
    gx = "galaxy_app-26.1.2-py3-none-any.whl"
    np = "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    remote = (
        "reading remote: URL('https://files.pythonhosted.org/packages/4f/ef/{0}'), target root/pypi/+f/1/{0}"
    )
    gone = "Client disconnected while serving /root/pypi/+f/89c/d468399cfd250/"
    pip = tmp_path / "devpi.log"
    pip.write_text(
        "\n".join(
            [
                f"2026-12-02 18:47:34,277 INFO  [req15] HEAD /root/pypi/+f/240/eea6480c1854e/{gx}",
                f"2026-12-02 18:47:34,299 INFO  [req15] [Rtx5] {remote.format(gx)}",
                f"2026-12-02 18:47:34,307 INFO  [req17] GET /root/pypi/+f/240/eea6480c1854e/{gx}",
                f"2026-12-02 18:47:34,323 INFO  [req17] [Rtx5] {remote.format(gx)}",
                f"2026-12-02 18:48:24,956 INFO  [req486] GET /root/pypi/+f/89c/d468399cfd250/{np}",
                f"2026-12-02 18:48:24,974 INFO  [req486] [Rtx399] {remote.format(np)}",
                f"2026-12-02 18:48:26,978 INFO  {gone}{np}",
                f"2026-12-02 18:48:57,220 INFO  [req664] GET /root/pypi/+f/89c/d468399cfd250/{np}",
                f"2026-12-02 18:48:57,367 INFO  [req664] [Rtx565] {remote.format(np)}",
                f"2026-12-02 18:50:38,102 INFO  [req1218] GET /root/pypi/+f/89c/d468399cfd250/{np}",
                # Served from the cache, the client went away: no fetch to take back.
                f"2026-12-02 18:50:39,000 INFO  {gone}{np}",
            ]
        )
        + "\n"
    )
    got = caches.fetched(tmp_path / "none.log", pip)
    assert got["files_fetched"] == {gx: 1, np: 1}
    with pip.open("a") as log:  # a full GET read again later: the cache did not hold it
        log.write(f"2026-12-02 19:00:00,000 INFO  [req2000] GET /root/pypi/+f/89c/d/{np}\n")
        log.write(f"2026-12-02 19:00:00,100 INFO  [req2000] [Rtx9] {remote.format(np)}\n")
    assert caches.fetched(tmp_path / "none.log", pip)["files_fetched"] == {gx: 1, np: 2}
