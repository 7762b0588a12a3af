"""The Pithos+ client Galaxy's object store uses (packages/vre-kamaki-pithos: kamaki.clients'
subset), against the Pithos+ double (tests/doubles/pithos.py): Astakos' calls, containers, the
hashmap upload of a file larger than a block read block by block, streamed downloads, public
URLs, and errors that carry the HTTP status and the server's message. Also the package's own
build backend: a reproducible wheel, installed offline by pip."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
import vre_synnefo
from kamaki.clients import ClientError, astakos, pithos, utils

from tests.doubles.pithos import PithosDouble

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "vre-kamaki-pithos"
BLOCK = 64 * 1024


@pytest.fixture
def cloud():
    with PithosDouble(block_size=BLOCK) as double:
        yield double


def _clients(
    cloud: PithosDouble, container: str = "galaxy"
) -> tuple[astakos.AstakosClient, pithos.PithosClient]:
    auth = astakos.AstakosClient(cloud.auth_url, cloud.token)
    url = auth.get_endpoint_url(pithos.PithosClient.service_type)
    store = pithos.PithosClient(url, auth.token, auth.user_term("id"), container)
    return auth, store


def _payload(blocks: float) -> bytes:
    """Random-looking bytes, one block ending in zeros (Pithos hashes blocks with those trimmed)."""
    size = int(blocks * BLOCK)
    data = bytearray(hashlib.shake_256(b"vre").digest(size))
    data[BLOCK - 100 : BLOCK] = b"\0" * 100
    return bytes(data)


class Reads(io.BytesIO):
    """A file that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.reads.append(len(chunk))
        return chunk


class Writes(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, data) -> int:
        self.writes.append(len(data))
        return super().write(data)


def test_astakos_gives_the_user_the_endpoints_and_the_quotas(cloud):
    auth, store = _clients(cloud)
    assert auth.user_term("id") == cloud.user
    assert auth.token == cloud.token and cloud.token not in repr(auth) + repr(store)
    assert auth.get_endpoint_url("object-store") == f"{cloud.url}/object-store/v1"
    store.create_container(project_id=cloud.project)
    store.upload_from_string("a.txt", "hello")
    quota = auth.get_quotas()[cloud.project]["pithos.diskspace"]
    assert quota["usage"] == 5 and quota["limit"] == quota["project_limit"] > 0
    with pytest.raises(ClientError, match="no 'compute' endpoint") as err:
        auth.get_endpoint_url("compute")
    assert err.value.status == 404


def test_a_file_larger_than_a_block_goes_up_by_hashmap_block_by_block_and_comes_back(cloud, tmp_path):
    _, store = _clients(cloud)
    store.create_container()
    data = _payload(3.5)
    src = Reads(data)
    store.upload_object("000/dataset_1.dat", src)
    assert max(src.reads) <= BLOCK, "the upload read more than a block at once"
    hashmaps = [e for e in cloud.events if e[0] == "hashmap"]
    blocks = [e for e in cloud.events if e[0] == "block"]
    assert hashmaps == [
        ("hashmap", "000/dataset_1.dat: 4 missing"),
        ("hashmap", "000/dataset_1.dat: 0 missing"),
    ]
    assert len(blocks) == 4
    assert int(store.get_object_info("000/dataset_1.dat")["content-length"]) == len(data)
    # Galaxy downloads to a path; a file object works too, written as the data arrives.
    store.download_object("000/dataset_1.dat", str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == data
    sink = Writes()
    pithos.CHUNK, chunk = 16 * 1024, pithos.CHUNK
    try:
        store.download_object("000/dataset_1.dat", sink)
    finally:
        pithos.CHUNK = chunk
    assert sink.getvalue() == data and max(sink.writes) <= 16 * 1024


def test_blocks_the_store_has_are_not_sent_again(cloud):
    _, store = _clients(cloud)
    store.create_container()
    data = _payload(2.25)
    store.upload_object("one", io.BytesIO(data))
    cloud.events.clear()
    store.upload_object("two", io.BytesIO(data[:BLOCK] + b"x" * 10))
    assert cloud.events == [
        ("hashmap", "two: 1 missing"),
        ("block", cloud.events[1][1]),
        ("hashmap", "two: 0 missing"),
    ]


def test_a_file_opened_in_text_mode_is_uploaded_as_its_bytes(cloud, tmp_path):
    """Galaxy's store opens its cache file with open(path) before upload_object."""
    _, store = _clients(cloud)
    store.create_container()
    data = _payload(1.5)
    (tmp_path / "f").write_bytes(data)
    with open(tmp_path / "f") as f:
        store.upload_object("f", f)
    store.download_object("f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data


def test_empty_objects_and_directory_markers(cloud):
    _, store = _clients(cloud)
    store.create_container()
    store.upload_from_string("000", "", content_type="application/directory")
    store.upload_from_string("000/dataset_1.dat", "")
    assert store.get_object_info("000")["content-type"] == "application/directory"
    assert store.get_object_info("000/dataset_1.dat")["content-length"] == "0"


def test_containers_are_created_in_a_project_and_reassigned(cloud):
    _, store = _clients(cloud)
    with pytest.raises(ClientError) as err:
        store.get_container_info()
    assert err.value.status == 404
    store.create_container()
    assert store.get_container_info()["x-container-policy-project"] == cloud.user
    store.reassign_container(cloud.project)
    info = store.get_container_info()
    assert info["x-container-policy-project"] == cloud.project
    assert info["x-container-block-size"] == str(BLOCK) and info["x-container-block-hash"] == "sha256"
    with pytest.raises(ClientError, match="already exists") as err:
        store.create_container()
    assert err.value.status == 202
    with pytest.raises(ClientError, match="not a member") as err:
        store.reassign_container("no-such-project")
    assert err.value.status == 403


def test_delete_one_object_or_a_whole_directory(cloud):
    _, store = _clients(cloud)
    store.create_container()
    for name in ("d/x", "d/sub/y", "d", "e"):
        store.upload_from_string(name, name)
    store.del_object("e")
    store.del_object("d", delimiter="/")
    assert cloud.containers["galaxy"].objects == {}
    with pytest.raises(ClientError, match="Object does not exist") as err:
        store.del_object("e")
    assert err.value.status == 404


def test_a_published_object_has_a_url_that_needs_no_token(cloud):
    _, store = _clients(cloud)
    store.create_container()
    store.upload_from_string("shared.txt", "public data")
    url = store.publish_object("shared.txt")
    assert url.startswith(f"{cloud.url}/public/")
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"public data"


def test_errors_carry_the_status_and_the_servers_message(cloud):
    _, store = _clients(cloud)
    store.create_container()
    with pytest.raises(ClientError) as err:
        store.get_object_info("nothing")
    assert err.value.status == 404 and "object nothing" in str(err.value)
    with pytest.raises(ClientError) as err:
        store.download_object("nothing", io.BytesIO())
    assert err.value.status == 404 and "Object does not exist" in str(err.value)
    bad = pithos.PithosClient(store.endpoint_url, "wrong-token", cloud.user, "galaxy")
    with pytest.raises(ClientError, match="Unauthorized") as err:  # a HEAD's answer has no body
        bad.get_container_info()
    assert err.value.status == 401 and "wrong-token" not in str(err.value)
    with pytest.raises(ClientError, match="Missing or expired user token") as err:
        bad.download_object("x", io.BytesIO())
    assert err.value.status == 401
    with pytest.raises(ClientError, match="Invalid token") as err:
        astakos.AstakosClient(cloud.auth_url, "wrong-token").user_term("id")
    assert err.value.status == 401
    cloud.limits[cloud.user] = 10
    with pytest.raises(ClientError, match="Resource Limit Exceeded") as err:
        store.upload_from_string("big", "x" * 11)
    assert err.value.status == 413


def test_a_store_that_keeps_asking_for_blocks_is_an_error_not_a_loop(cloud):
    _, store = _clients(cloud)
    store.create_container()
    cloud._store = lambda data: [cloud._hash(data)]  # takes the block, keeps nothing
    with pytest.raises(ClientError, match="still lacks blocks") as err:
        store.upload_object("x", io.BytesIO(_payload(1.2)))
    assert err.value.status == 409


def test_an_unreachable_server_is_status_0_and_named():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    auth = astakos.AstakosClient(f"http://127.0.0.1:{port}/identity/v2.0", "s3cret", timeout=2)
    with pytest.raises(ClientError) as err:
        auth.user_term("id")
    assert err.value.status == 0 and f"127.0.0.1:{port}" in str(err.value) and "s3cret" not in str(err.value)


def test_tls_settings_apply_to_the_later_requests():
    try:
        utils.https.patch_ignore_ssl()
        assert vre_synnefo._context().verify_mode.name == "CERT_NONE"
        utils.https.patch_with_certs("/nonexistent/ca.pem")
        with pytest.raises(FileNotFoundError):
            vre_synnefo._context()
    finally:
        vre_synnefo.set_tls()
    assert vre_synnefo._context() is None


def test_the_wheel_is_reproducible_and_installs_offline(tmp_path):
    sys.path.insert(0, str(PACKAGE))
    try:
        import vre_build
    finally:
        sys.path.remove(str(PACKAGE))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    name = vre_build.build_wheel(str(tmp_path / "a"))
    assert name == vre_build.build_wheel(str(tmp_path / "b")) == "vre_kamaki_pithos-0.1.0-py3-none-any.whl"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    names = zipfile.ZipFile(tmp_path / "a" / name).namelist()
    assert "kamaki/clients/pithos.py" in names and "vre_synnefo/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # pip builds it from the directory with the package's own backend, with no index at all.
    target = tmp_path / "site"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--target", str(target), str(PACKAGE)]
    proc = subprocess.run(pip, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    probe = "import kamaki.clients as k; from kamaki.clients import pithos; print(k.__file__)"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith(str(target))
