"""Galaxy through its real API: nginx TLS, the admin key, a BioBlend upload that lands in the object
store on the NFS share (read back over NFS from another host), and a real tool job run to `ok` as the
galaxy UID.

The controller reaches the Galaxy host at its container address and trusts the CA the role
generated (copied from the host), so TLS is verified, not skipped.
"""

import os
import time
import uuid

import pytest
import requests
from bioblend.galaxy import GalaxyInstance
from vre_testinfra import CLUSTER_DEFAULTS, host_fixture

GALAXY_UID = CLUSTER_DEFAULTS["vre_galaxy_uid"]
SHARE = "/srv/vre/galaxy"
CA = "/etc/galaxy/tls/ca.crt"
KEY_FILE = "/root/galaxy-admin-api-key"

testinfra_hosts = ["ansible://galaxy-server"]


server = host_fixture("server", "galaxy-server")


reader = host_fixture("reader", "galaxy-reader")


@pytest.fixture(scope="module")
def address(server):
    return server.interface("eth0").addresses[0]


@pytest.fixture(scope="module")
def ca_file(server, tmp_path_factory):
    path = tmp_path_factory.mktemp("ca") / "galaxy-ca.crt"
    path.write_text(server.file(CA).content_string)
    return str(path)


@pytest.fixture(scope="module")
def api_key(server):
    return server.file(KEY_FILE).content_string.strip()


@pytest.fixture(scope="module")
def gi(address, api_key, ca_file):
    gi = GalaxyInstance(f"https://{address}", key=api_key)
    gi.verify = ca_file  # handed to requests: verify against the role's CA
    # BioBlend's tus uploads go through tuspy's own requests calls, which read the CA from here.
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    yield gi
    if previous is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = previous


@pytest.fixture(scope="module")
def history(gi):
    h = gi.histories.create_history(name=f"molecule-{uuid.uuid4().hex[:8]}")
    yield h
    gi.histories.delete_history(h["id"], purge=True)


def test_api_answers_over_tls_with_the_generated_ca(address, ca_file):
    r = requests.get(f"https://{address}/api/version", verify=ca_file, timeout=30)
    assert r.status_code == 200
    assert r.json()["version_major"] == "26.1"


def test_plain_http_redirects_to_https(address):
    r = requests.get(f"http://{address}/api/version", allow_redirects=False, timeout=30)
    assert r.status_code == 301
    assert r.headers["Location"].startswith("https://")


def test_upload_size_limit_is_set(server):
    conf = server.file("/etc/nginx/sites-enabled/galaxy.conf").content_string
    assert "client_max_body_size 10g;" in conf


def test_admin_key_is_root_only_and_works(server, gi):
    key = server.file(KEY_FILE)
    assert key.user == "root" and key.mode == 0o600
    user = gi.users.get_current_user()
    assert user["is_admin"] is True
    assert user["email"] == "admin@vre.test"


def test_no_bootstrap_key_and_config_is_not_world_readable(server):
    conf = server.file("/etc/galaxy/galaxy.yml")
    assert conf.user == "root" and conf.group == "galaxy" and conf.mode == 0o640
    assert "bootstrap_admin_api_key" not in conf.content_string
    secrets = server.file("/etc/galaxy/secrets")
    assert secrets.user == "root" and secrets.mode == 0o700


def test_services_run_as_galaxy_under_systemd(server):
    assert server.service("galaxy.target").is_running
    for unit in ("galaxy-gunicorn", "galaxy-handler"):
        assert server.service(unit).is_running, unit
    users = {p.user for p in server.process.filter(comm="gunicorn")} | {
        p.user for p in server.process.filter(comm="galaxy-main")
    }
    assert users == {"galaxy"}, users
    assert server.service("postgresql").is_running
    assert server.service("nginx").is_running
    # Galaxy listens on loopback only; nginx is the way in.
    assert server.socket("tcp://127.0.0.1:8080").is_listening
    assert not server.socket("tcp://0.0.0.0:8080").is_listening


def test_galaxy_started_once_and_no_process_crashed(server):
    # Converge and the idempotent re-run since the host booted: the schema and the admin were made
    # before the first start (files/galaxy_db.py, galaxy_admin.py), so each process started once,
    # and none exited (a crash would show as a restart of its unit).
    for unit in ("galaxy-gunicorn", "galaxy-handler"):
        log = server.check_output(f"journalctl --no-pager -o cat -u {unit}.service")
        starts = [line for line in log.splitlines() if line.startswith("Started ")]
        assert len(starts) == 1, f"{unit} started {len(starts)} times:\n{log[-3000:]}"
        assert "Main process exited" not in log and "Scheduled restart" not in log, log[-3000:]
        workdir = server.check_output(f"systemctl show -P WorkingDirectory {unit}.service")
        assert workdir == "/var/lib/galaxy", f"{unit} runs in {workdir}"


def test_database_is_postgresql(server):
    out = server.check_output('runuser -u postgres -- psql -tAc "select count(*) from galaxy_user" galaxy')
    assert int(out) >= 1


def _wait_ok(gi, dataset_id, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        ds = gi.datasets.show_dataset(dataset_id)
        if ds["state"] in ("ok", "error", "failed_metadata", "discarded"):
            return ds
        assert time.monotonic() < deadline, f"dataset {dataset_id} still {ds['state']} after {timeout}s"
        time.sleep(2)


@pytest.fixture(scope="module")
def uploaded(gi, history, tmp_path_factory):
    payload = "gamma\nalpha\nbeta\n"
    path = tmp_path_factory.mktemp("upload") / "lines.txt"
    path.write_text(payload)
    out = gi.tools.upload_file(str(path), history["id"], file_type="txt")
    ds = _wait_ok(gi, out["outputs"][0]["id"])
    return payload, ds


def test_uploaded_dataset_lands_in_the_object_store_on_the_share(server, reader, uploaded):
    payload, ds = uploaded
    assert ds["state"] == "ok", ds.get("misc_info")
    path = ds["file_name"]
    assert path.startswith(f"{SHARE}/objects/"), path
    on_disk = server.file(path)
    assert on_disk.content_string == payload
    assert on_disk.uid == GALAXY_UID
    # Read back over the NFS protocol, from another host, as the galaxy UID.
    url = f"nfs://galaxy-server{path}?version=3&uid={GALAXY_UID}&gid={GALAXY_UID}"
    assert reader.check_output(f"nfs-cat '{url}'") == payload.rstrip("\n")


def test_a_real_tool_job_runs_to_ok_as_the_galaxy_uid(server, gi, history, uploaded):
    payload, ds = uploaded
    run = gi.tools.run_tool(history["id"], "cat1", {"input1": {"src": "hda", "id": ds["id"]}})
    job_id = run["jobs"][0]["id"]
    out = _wait_ok(gi, run["outputs"][0]["id"])
    job = gi.jobs.show_job(job_id, full_details=True)
    assert out["state"] == "ok" and job["state"] == "ok", job.get("stderr")
    assert gi.datasets.download_dataset(out["id"]).decode() == payload
    result = server.file(out["file_name"])
    assert out["file_name"].startswith(f"{SHARE}/objects/")
    assert result.uid == GALAXY_UID and result.gid == GALAXY_UID
    # The role's job metrics (galaxy_job_metrics), recorded by the job's script and read back
    # through the API as the admin: the runtime, the cores allocated and the node that ran it.
    metrics = {(m["plugin"], m["name"]): m["raw_value"] for m in gi.jobs.get_metrics(job_id)}
    assert float(metrics[("core", "runtime_seconds")]) >= 0, metrics
    assert float(metrics[("core", "galaxy_slots")]) >= 1, metrics
    assert metrics[("hostname", "hostname")] == server.check_output("hostname -f"), metrics
    assert float(metrics[("meminfo", "memtotal")]) > 0, metrics
