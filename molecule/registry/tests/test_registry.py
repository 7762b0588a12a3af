"""The private registry and the Docker engine on the workers, checked across hosts.

Worker A builds a test image without any registry (`docker import` of a tarball holding a static
busybox and a unique file), pushes it over TLS with credentials; worker B pulls it as the galaxy
user, whose docker configuration the role filled. Refusals (no credentials, wrong password,
push to the read-only anonymous port), garbage collection of a deleted image's blobs and the
prune timer are checked too.
"""

import json
import shlex
import time
import uuid

import pytest
from vre_testinfra import host as _host
from vre_testinfra import host_fixture

STORAGE = "/var/lib/docker-registry"
BLOBS = f"{STORAGE}/docker/registry/v2/blobs/sha256"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
GALAXY = "galaxy"

testinfra_hosts = ["ansible://registry-server"]


server = host_fixture("server", "registry-server")


worker_a = host_fixture("worker_a", "registry-worker-a")


worker_b = host_fixture("worker_b", "registry-worker-b")


@pytest.fixture(scope="module")
def registry(server):
    """The registry's addresses as the roles derive them, and the test users' credentials."""
    facts = server.ansible("setup", "gather_subset=network", check=False)["ansible_facts"]
    ip = facts["ansible_default_ipv4"]["address"]
    users = {u["name"]: u["password"] for u in server.ansible.get_variables()["docker_registry_users"]}
    return {
        "address": f"{ip}:5000",
        "public": f"{ip}:5001",
        "ca": f"/etc/docker/certs.d/{ip}:5000/ca.crt",
        "push_user": "vre-ci",
        "push_password": users["vre-ci"],
        "pull_user": "vre-pull",
        "pull_password": users["vre-pull"],
    }


def _q(*words):
    return " ".join(shlex.quote(str(w)) for w in words)


def _curl(registry):
    """curl with the registry's CA and the push user's credentials."""
    creds = f"{registry['push_user']}:{registry['push_password']}"
    return f"curl -sS --cacert {registry['ca']} -u {_q(creds)}"


def _build_image(h, ref):
    """Import a one-layer image (static busybox + a unique file) on `h`; return the file's text."""
    token = uuid.uuid4().hex
    work = f"/tmp/img-{token}"
    cmd = 'CMD ["/bin/busybox", "cat", "/probe.txt"]'
    h.check_output(
        f"mkdir -p {work}/bin && cp /bin/busybox {work}/bin/busybox && printf %s {token} > {work}/probe.txt"
        f" && tar -C {work} -cf - . | docker import --change {_q(cmd)} - {_q(ref)} && rm -rf {work}"
    )
    return token


def _login_config(h, registry, password=None):
    """A fresh DOCKER_CONFIG directory on `h`, logged in as the push user when password is given."""
    cfg = h.check_output("mktemp -d")
    if password is not None:
        h.check_output(
            f"printf %s {_q(password)} | DOCKER_CONFIG={cfg} docker login --username {registry['push_user']}"
            f" --password-stdin {registry['address']}"
        )
    return cfg


@pytest.fixture(scope="module")
def pushed(worker_a, registry):
    """An image built on worker A and pushed with credentials: (reference, content)."""
    ref = f"{registry['address']}/vre/probe-{uuid.uuid4().hex[:12]}:1"
    content = _build_image(worker_a, ref)
    cfg = _login_config(worker_a, registry, registry["push_password"])
    push = worker_a.run(f"DOCKER_CONFIG={cfg} docker push {_q(ref)}")
    assert push.rc == 0, f"push with credentials over TLS failed: {push.stderr}"
    return ref, content


def test_registry_runs_as_the_docker_registry_user(server):
    assert server.service("docker-registry").is_enabled
    assert server.service("docker-registry").is_running
    users = server.check_output("ps -o user= -C docker-registry").split()
    assert users and set(users) == {"docker-registry"}


def test_secrets_are_readable_by_their_readers_only(server):
    # nginx's workers (www-data) check the credentials; the registry behind it does not read them.
    htpasswd = server.file("/etc/docker/registry/htpasswd")
    assert (htpasswd.user, htpasswd.group, htpasswd.mode) == ("root", "www-data", 0o640)
    for line in htpasswd.content_string.splitlines():
        assert line.split(":", 1)[1].startswith("$2"), "htpasswd must hold bcrypt hashes only"
    assert server.file("/etc/docker/registry/tls/ca.key").mode == 0o600
    key = server.file("/etc/docker/registry/tls/server.key")
    assert (key.user, key.group, key.mode) == ("root", "docker-registry", 0o640)


def test_registry_speaks_tls_only_and_asks_for_credentials(worker_b, registry):
    url = f"https://{registry['address']}/v2/"
    # With the CA the role installed: TLS is valid for the address and credentials are required.
    out = worker_b.check_output(f"curl -sS --cacert {registry['ca']} -o /dev/null -D - {url}")
    assert out.split()[1] == "401"
    assert 'www-authenticate: basic realm="vre registry"' in out.lower()
    # Without it the certificate is not trusted: it comes from the registry's private CA.
    assert worker_b.run(f"curl -sS -o /dev/null {url}").rc == 60
    # Plain HTTP is not served.
    plain = worker_b.run(f"curl -sS -o /dev/null -w '%{{http_code}}' http://{registry['address']}/v2/")
    assert plain.stdout.strip() not in ("200", "401")


def test_image_from_worker_a_is_pulled_on_worker_b_as_galaxy(worker_b, pushed):
    ref, content = pushed
    pull = worker_b.run(f"runuser -u {GALAXY} -- docker pull {_q(ref)}")
    assert pull.rc == 0, f"galaxy could not pull {ref}: {pull.stderr}"
    assert worker_b.check_output(f"runuser -u {GALAXY} -- docker run --rm {_q(ref)}") == content


def test_galaxy_holds_the_pull_credentials_privately(worker_b, registry):
    cfg = worker_b.file(f"/home/{GALAXY}/.docker/config.json")
    assert (cfg.user, cfg.mode) == (GALAXY, 0o600)
    auths = json.loads(cfg.content_string)["auths"]
    assert registry["address"] in auths
    assert worker_b.check_output(f"echo {auths[registry['address']]['auth']} | base64 -d").startswith(
        registry["pull_user"] + ":"
    )
    assert GALAXY in worker_b.user(GALAXY).groups and "docker" in worker_b.user(GALAXY).groups


def test_push_without_credentials_is_refused(worker_a, registry, pushed):
    ref = f"{registry['address']}/vre/anonymous-{uuid.uuid4().hex[:12]}:1"
    worker_a.check_output(f"docker tag {_q(pushed[0])} {_q(ref)}")
    cfg = _login_config(worker_a, registry)
    push = worker_a.run(f"DOCKER_CONFIG={cfg} docker push {_q(ref)}")
    assert push.rc != 0, "a push without credentials was accepted"
    assert "no basic auth credentials" in push.stderr or "unauthorized" in push.stderr


def test_pull_without_credentials_is_refused(worker_b, pushed):
    cfg = worker_b.check_output("mktemp -d")
    worker_b.run(f"docker image rm {_q(pushed[0])}")
    pull = worker_b.run(f"DOCKER_CONFIG={cfg} docker pull {_q(pushed[0])}")
    assert pull.rc != 0, "root pulled a private image without credentials"


def test_wrong_password_is_refused(worker_a, registry):
    cfg = worker_a.check_output("mktemp -d")
    login = worker_a.run(
        f"printf %s wrong-password | DOCKER_CONFIG={cfg} docker login --username {registry['push_user']}"
        f" --password-stdin {registry['address']}"
    )
    assert login.rc != 0
    assert "unauthorized" in login.stderr.lower()


def test_anonymous_pull_is_read_only(worker_b, registry, pushed):
    ref = pushed[0].replace(registry["address"], registry["public"], 1)
    cfg = worker_b.check_output("mktemp -d")
    pull = worker_b.run(f"DOCKER_CONFIG={cfg} docker pull {_q(ref)}")
    assert pull.rc == 0, f"anonymous pull from the public port failed: {pull.stderr}"
    other = f"{registry['public']}/vre/readonly-{uuid.uuid4().hex[:12]}:1"
    worker_b.check_output(f"docker tag {_q(ref)} {_q(other)}")
    push = worker_b.run(f"DOCKER_CONFIG={cfg} docker push {_q(other)}")
    assert push.rc != 0, "the anonymous port accepted a push"


@pytest.mark.parametrize("name", ["registry-worker-a", "registry-worker-b"])
def test_daemon_configuration(name):
    h = _host(name)
    daemon = json.loads(h.file("/etc/docker/daemon.json").content_string)
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"] == {"max-size": "50m", "max-file": "3"}
    info = json.loads(h.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    assert info["Driver"] == "overlay2"


def test_prune_timer_removes_old_stopped_containers_and_dangling_images(worker_b, pushed):
    timer = worker_b.service("docker-prune.timer")
    assert timer.is_enabled and timer.is_running
    ref = pushed[0]
    worker_b.check_output(f"runuser -u {GALAXY} -- docker pull {_q(ref)}")
    tag = f"vre/dangling-{uuid.uuid4().hex[:8]}:1"
    _build_image(worker_b, tag)
    dangling = worker_b.check_output(f"docker image inspect --format '{{{{.Id}}}}' {tag}")
    _build_image(worker_b, tag)  # the first image loses its tag: dangling
    old = f"prune-old-{uuid.uuid4().hex[:8]}"
    young = f"prune-young-{uuid.uuid4().hex[:8]}"
    worker_b.check_output(f"docker run --name {old} {_q(ref)}")
    time.sleep(7)  # older than docker_engine_prune_container_age (5s in this scenario)
    worker_b.check_output(f"docker run --name {young} {_q(ref)}")
    worker_b.check_output("systemctl start docker-prune.service")
    names = worker_b.check_output("docker ps --all --format '{{.Names}}'").split()
    assert old not in names, "the prune service left an old stopped container"
    assert young in names, "the prune service removed a container younger than the age filter"
    assert worker_b.run(f"docker image inspect {dangling}").rc != 0, "a dangling image survived the prune"
    assert worker_b.run(f"docker image inspect {_q(ref)}").rc == 0, "a tagged image was pruned"
    worker_b.check_output(f"docker rm {young}")


def _manifest(h, registry, repo, tag):
    out = h.check_output(
        f"{_curl(registry)} -f -H 'Accept: {MANIFEST_V2}' -D /tmp/manifest-headers"
        f" https://{registry['address']}/v2/{repo}/manifests/{tag}"
    )
    headers = h.file("/tmp/manifest-headers").content_string.lower().splitlines()
    prefix = "docker-content-digest:"
    digest = next(line.split(":", 1)[1].strip() for line in headers if line.startswith(prefix))
    return digest, json.loads(out)


def _wait_active(h, unit, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if h.run(f"systemctl is-active --quiet {unit}").rc == 0:
            return True
        time.sleep(1)
    return False


def test_garbage_collection_removes_the_blobs_of_a_deleted_image(
    server, worker_a, worker_b, registry, pushed
):
    timer = server.service("docker-registry-gc.timer")
    assert timer.is_enabled and timer.is_running
    repo = f"vre/gc-{uuid.uuid4().hex[:12]}"
    ref = f"{registry['address']}/{repo}:1"
    _build_image(worker_a, ref)
    cfg = _login_config(worker_a, registry, registry["push_password"])
    worker_a.check_output(f"DOCKER_CONFIG={cfg} docker push {_q(ref)}")
    digest, manifest = _manifest(worker_a, registry, repo, "1")
    blobs = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
    dirs = [f"{BLOBS}/{d.split(':')[1][:2]}/{d.split(':')[1]}" for d in blobs]
    for d in dirs:
        assert server.file(d).is_directory, f"{d} missing right after the push"

    delete = worker_a.run(
        f"{_curl(registry)} -o /dev/null -w '%{{http_code}}' -X DELETE"
        f" https://{registry['address']}/v2/{repo}/manifests/{digest}"
    )
    assert delete.stdout.strip() == "202", f"deleting the manifest failed: {delete.stdout} {delete.stderr}"

    server.check_output("systemctl start docker-registry-gc.service")
    for d in dirs:
        assert not server.file(d).exists, f"{d} survived garbage collection"
    assert _wait_active(server, "docker-registry"), "the registry did not come back after garbage collection"

    # Images still tagged survive, and the registry serves them again.
    worker_b.run(f"docker image rm {_q(pushed[0])}")
    deadline = time.monotonic() + 30
    while True:
        pull = worker_b.run(f"runuser -u {GALAXY} -- docker pull {_q(pushed[0])}")
        if pull.rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert pull.rc == 0, f"a tagged image was lost by garbage collection: {pull.stderr}"


# -- rights: the pull account reads, only the push account writes (skopeo, used nowhere else) ----


def test_the_registry_process_listens_on_loopback_only(server):
    # ss cannot name the docker-registry user's process here (no CAP_SYS_PTRACE in the
    # containers), so the backend port is checked by address, and nginx by name on the front port.
    listening = server.check_output("ss -Hltnp").splitlines()
    backend = [line.split()[3] for line in listening if line.split()[3].endswith(":5002")]
    assert backend == ["127.0.0.1:5002"], listening
    front = [line for line in listening if line.split()[3].endswith(":5000")]
    assert front and all('"nginx"' in line for line in front), listening
    assert server.run("curl -sS -o /dev/null http://127.0.0.1:5002/v2/").rc == 0, (
        "the backend answers locally"
    )


def _metrics_url(registry):
    return f"http://{registry['address'].rsplit(':', 1)[0]}:5004/metrics"


def _storage_actions(body):
    """The registry's storage actions counted so far (distribution 2.8's registry_storage_*)."""
    prefix = "registry_storage_action_seconds_count{"
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefix))


def test_metrics_are_served_to_the_prometheus_host_only(worker_a, worker_b, registry, pushed):
    """Worker B is the scenario's Prometheus host (group monitoring): it reads the registry's own
    metrics, and a manifest read between two scrapes is counted in them; worker A gets 403."""
    before = _storage_actions(worker_b.check_output(f"curl -sSf {_metrics_url(registry)}"))
    repo, tag = pushed[0].split("/", 1)[1].rsplit(":", 1)
    accept = f"Accept: {MANIFEST_V2}"
    worker_b.check_output(
        f"{_curl(registry)} -f -o /dev/null -H {_q(accept)} https://{registry['address']}/v2/{repo}/manifests/{tag}"
    )
    after = _storage_actions(worker_b.check_output(f"curl -sSf {_metrics_url(registry)}"))
    assert after > before, (before, after)
    code = worker_a.check_output(f"curl -sS -o /dev/null -w '%{{http_code}}' {_metrics_url(registry)}")
    assert code == "403"


def test_the_metrics_port_serves_nothing_but_metrics_and_the_debug_server_stays_local(
    server, worker_b, registry
):
    base = _metrics_url(registry).removesuffix("/metrics")
    code = worker_b.check_output(f"curl -sS -o /dev/null -w '%{{http_code}}' {base}/debug/pprof/")
    assert code == "404"
    listening = [line.split()[3] for line in server.check_output("ss -Hltn").splitlines()]
    assert [a for a in listening if a.endswith(":5003")] == ["127.0.0.1:5003"], listening
    host = registry["address"].rsplit(":", 1)[0]
    assert worker_b.run(f"curl -sS -o /dev/null http://{host}:5003/metrics").rc == 7, "refused"


def _skopeo(h, *args):
    return h.run("skopeo " + _q(*args))


def _cert_dir(registry):
    return f"/etc/docker/certs.d/{registry['address']}"


def test_skopeo_anonymous_requests_are_refused(worker_a, registry, pushed):
    ref = f"docker://{pushed[0]}"
    inspect = _skopeo(worker_a, "inspect", "--no-creds", "--cert-dir", _cert_dir(registry), ref)
    assert inspect.rc != 0 and "unauthorized" in inspect.stderr.lower(), inspect.stderr


def test_skopeo_pull_account_reads_and_is_refused_writes(worker_a, registry, pushed):
    creds = f"{registry['pull_user']}:{registry['pull_password']}"
    certs = _cert_dir(registry)
    ref = f"docker://{pushed[0]}"
    inspect = _skopeo(worker_a, "inspect", "--creds", creds, "--cert-dir", certs, ref)
    assert inspect.rc == 0, inspect.stderr
    digest = json.loads(inspect.stdout)["Digest"]

    # Overwriting the very tag Galaxy runs, and pushing a new one: both refused.
    for target in (pushed[0], f"{registry['address']}/vre/evil-{uuid.uuid4().hex[:8]}:1"):
        copy = _skopeo(
            worker_a,
            "copy",
            "--src-creds",
            creds,
            "--dest-creds",
            creds,
            "--src-cert-dir",
            certs,
            "--dest-cert-dir",
            certs,
            ref,
            f"docker://{target}",
        )
        assert copy.rc != 0, f"the pull account pushed {target}"
        assert "denied" in copy.stderr.lower(), copy.stderr
    delete = _skopeo(worker_a, "delete", "--creds", creds, "--cert-dir", certs, ref)
    assert delete.rc != 0 and "denied" in delete.stderr.lower(), delete.stderr
    again = _skopeo(worker_a, "inspect", "--creds", creds, "--cert-dir", certs, ref)
    assert again.rc == 0 and json.loads(again.stdout)["Digest"] == digest, "the image was changed"


def test_skopeo_push_account_writes(worker_a, registry, pushed):
    push = f"{registry['push_user']}:{registry['push_password']}"
    pull = f"{registry['pull_user']}:{registry['pull_password']}"
    certs = _cert_dir(registry)
    target = f"{registry['address']}/vre/copied-{uuid.uuid4().hex[:8]}:1"
    copy = _skopeo(
        worker_a,
        "copy",
        "--src-creds",
        push,
        "--dest-creds",
        push,
        "--src-cert-dir",
        certs,
        "--dest-cert-dir",
        certs,
        f"docker://{pushed[0]}",
        f"docker://{target}",
    )
    assert copy.rc == 0, copy.stderr
    seen = _skopeo(worker_a, "inspect", "--creds", pull, "--cert-dir", certs, f"docker://{target}")
    assert seen.rc == 0, seen.stderr
