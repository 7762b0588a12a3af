"""The offline Kubernetes mirror's builder (vrecloud/kube_mirror.py) without building: the wrapper
modules it generates, the image archives it writes, how it verifies a mirror, and the filters
that read its images.json (filter_plugins/kube.py)."""

import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from vrecloud import kube_mirror

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "filter_plugins"))
import kube as kube_filters  # noqa: E402

KUBE = next(c for c in kube_mirror.COMPONENTS if c.name == "kubernetes")
ETCD = next(c for c in kube_mirror.COMPONENTS if c.name == "etcd")
FLANNEL = next(c for c in kube_mirror.COMPONENTS if c.name == "flannel")


def _replaces(go_mod: str) -> dict[str, str]:
    out = {}
    for line in go_mod.splitlines():
        if line.startswith("replace "):
            old, new = line.removeprefix("replace ").split(" => ")
            out[old] = new
    return out


def test_kubernetes_staging_modules_are_replaced_with_their_published_versions():
    upstream = {
        "Go": "1.25.0",
        "Require": [
            {"Path": "k8s.io/api", "Version": "v0.0.0"},
            {"Path": "k8s.io/client-go", "Version": "v0.0.0"},
            {"Path": "github.com/spf13/cobra", "Version": "v1.10.0"},
        ],
        "Replace": [
            {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
            {"Old": {"Path": "k8s.io/client-go"}, "New": {"Path": "./staging/src/k8s.io/client-go"}},
            {"Old": {"Path": "example.com/fork"}, "New": {"Path": "example.com/fork2", "Version": "v1.2.3"}},
        ],
    }
    go_mod = kube_mirror.wrapper_go_mod(KUBE, upstream)
    assert f"require k8s.io/kubernetes {KUBE.version}" in go_mod
    assert "go 1.25.0" in go_mod
    assert _replaces(go_mod) == {
        "k8s.io/api": f"k8s.io/api {KUBE.sibling_version}",
        "k8s.io/client-go": f"k8s.io/client-go {KUBE.sibling_version}",
        # Upstream's other replace directives do not apply to a module that requires it: copied.
        "example.com/fork": "example.com/fork2 v1.2.3",
    }
    assert KUBE.sibling_version == "v0." + kube_mirror.KUBERNETES_VERSION.split(".", 1)[1]


def test_etcd_siblings_keep_their_required_version_and_forbidden_paths_are_dropped():
    upstream = {
        "Go": "1.24.0",
        "Require": [{"Path": "go.etcd.io/etcd/api/v3", "Version": "v3.6.8"}],
        "Replace": [
            {"Old": {"Path": "go.etcd.io/etcd/api/v3"}, "New": {"Path": "../api"}},
            {"Old": {"Path": "go.etcd.io/etcd"}, "New": {"Path": "./FORBIDDEN_DEPENDENCY"}},
        ],
    }
    assert _replaces(kube_mirror.wrapper_go_mod(ETCD, upstream)) == {
        "go.etcd.io/etcd/api/v3": "go.etcd.io/etcd/api/v3 v3.6.8"
    }


def test_flannel_bumps_the_module_the_proxy_does_not_serve():
    go_mod = kube_mirror.wrapper_go_mod(FLANNEL, {"Go": "1.25.0"})
    (bump,) = FLANNEL.bumps
    assert f"require {bump[0]} {bump[1]}" in go_mod
    assert f"// {bump[2]}" in go_mod
    assert FLANNEL.cgo  # the udp backend is C


def test_tools_go_names_every_command_and_is_never_compiled():
    text = kube_mirror.wrapper_tools_go(KUBE)
    assert text.startswith("//go:build tools\n")
    for pkg in KUBE.commands.values():
        assert f'_ "{pkg}"' in text
    assert set(KUBE.commands) == set(kube_mirror.KUBE_COMMANDS)


def test_generated_wrapper_is_a_valid_go_module(tmp_path):
    go = subprocess.run(["go", "version"], capture_output=True, check=False)
    if go.returncode != 0:
        pytest.skip("no Go toolchain here")
    (tmp_path / "go.mod").write_text(kube_mirror.wrapper_go_mod(ETCD, {"Go": "1.24.0", "Replace": []}))
    out = subprocess.run(
        ["go", "mod", "edit", "-json"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    parsed = json.loads(out.stdout)
    assert parsed["Module"]["Path"] == "vre.invalid/kube-mirror/etcd"
    assert parsed["Require"] == [{"Path": ETCD.module, "Version": ETCD.version}]


def test_kube_version_is_stamped_into_both_version_packages():
    flags = " ".join(KUBE.ldflags)
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v{kube_mirror.KUBERNETES_VERSION}" in flags
        assert f"-X {pkg}.gitTreeState=clean" in flags


def test_image_archive_is_a_docker_archive_of_its_layers(tmp_path):
    binary = tmp_path / "hello"
    binary.write_bytes(b"\x7fELF not really")
    static = tmp_path / "static.tar"
    files = tmp_path / "files.tar"
    kube_mirror._static_layer(static)
    kube_mirror._files_layer(files, {"usr/local/bin/hello": binary})
    spec = kube_mirror.ImageSpec(
        "hello", "kube-mirror.vre.invalid/hello:v1", {"usr/local/bin/hello": "hello"}
    )
    archive = tmp_path / "hello.tar"
    config_id = kube_mirror.write_image_archive(archive, spec, [static, files])
    with tarfile.open(archive) as tar:
        (manifest,) = json.load(tar.extractfile("manifest.json"))
        assert manifest["RepoTags"] == ["kube-mirror.vre.invalid/hello:v1"]
        config_bytes = tar.extractfile(manifest["Config"]).read()
        assert f"sha256:{hashlib.sha256(config_bytes).hexdigest()}" == config_id
        config = json.loads(config_bytes)
        layers = [tar.extractfile(name).read() for name in manifest["Layers"]]
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(data).hexdigest()}" for data in layers]
    assert layers[0] == static.read_bytes() and layers[1] == files.read_bytes()
    with tarfile.open(files) as tar:
        member = tar.getmember("usr/local/bin/hello")
        assert member.mode == 0o755 and tar.extractfile(member).read() == binary.read_bytes()
    with tarfile.open(static) as tar:
        assert tar.getmember("tmp").mode == 0o1777
        assert b"nobody" in tar.extractfile("etc/passwd").read()


def _fake_mirror(directory: Path) -> None:
    (directory / "images").mkdir(parents=True)
    for name in kube_mirror.HOST_BINARIES:
        (directory / name).write_text(name)
    for entry in kube_mirror.image_index():
        (directory / entry["archive"]).write_text(entry["ref"])
    (directory / "images.json").write_text(json.dumps(kube_mirror.image_index()))
    (directory / "MANIFEST.json").write_text(json.dumps({"recipe": kube_mirror.recipe()}))
    kube_mirror._write_sums(directory)


def test_verify_accepts_a_complete_mirror_and_names_what_is_wrong(tmp_path):
    _fake_mirror(tmp_path)
    assert kube_mirror.verify(tmp_path) == []
    (tmp_path / "kubelet").write_text("tampered")
    assert kube_mirror.verify(tmp_path) == ["kubelet does not match its SHA-256 in SHA256SUMS"]
    (tmp_path / "kubelet").write_text("kubelet")
    (tmp_path / "images/pause.tar").unlink()
    assert kube_mirror.verify(tmp_path) == ["images/pause.tar is listed in SHA256SUMS but missing"]


def test_verify_refuses_a_mirror_of_another_recipe(tmp_path):
    _fake_mirror(tmp_path)
    recipe = {**kube_mirror.recipe(), "kubernetes": "1.34.0"}
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"recipe": recipe}))
    kube_mirror._write_sums(tmp_path)
    assert kube_mirror.verify(tmp_path) == ["it was built from another recipe (versions or format differ)"]
    assert kube_mirror.verify(tmp_path / "absent") == [f"{tmp_path / 'absent' / 'SHA256SUMS'} is missing"]


def test_build_reuses_a_verified_mirror_without_a_toolchain(tmp_path, monkeypatch):
    _fake_mirror(kube_mirror.mirror_dir(tmp_path))
    monkeypatch.setattr(kube_mirror, "toolchain_problem", lambda: pytest.fail("nothing should be built"))
    directory, timings = kube_mirror.build(tmp_path)
    assert directory == kube_mirror.mirror_dir(tmp_path)
    assert set(timings) == {"total"}


def test_build_without_go_names_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kube_mirror.MirrorError, match="no Go toolchain"):
        kube_mirror.build(tmp_path)


def test_images_are_named_under_a_repository_that_resolves_nowhere():
    assert kube_mirror.IMAGE_REPOSITORY.endswith(".invalid")  # RFC 2606: never resolves
    assert all(i.ref.startswith(kube_mirror.IMAGE_REPOSITORY + "/") for i in kube_mirror.IMAGES)
    control_plane_only = {i.name for i in kube_mirror.IMAGES if i.nodes == "control-plane"}
    assert control_plane_only == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}


# --- The filters that read images.json ----------------------------------------------------------


def test_filters_read_the_mirrors_images(tmp_path):
    (tmp_path / "images.json").write_text(json.dumps(kube_mirror.image_index()))
    images = kube_filters.vre_kube_mirror_images({"type": "mirror", "path": str(tmp_path)})
    assert [i["name"] for i in images] == [i.name for i in kube_mirror.IMAGES]
    assert kube_filters.vre_kube_image_repository(images, "registry.k8s.io") == kube_mirror.IMAGE_REPOSITORY
    assert kube_filters.vre_kube_image_tag(images, "etcd") == f"{kube_mirror.ETCD_VERSION}-0"
    assert (
        kube_filters.vre_kube_image_ref(images, "pause", "x")
        == f"{kube_mirror.IMAGE_REPOSITORY}/pause:3.10.1"
    )
    # Other sources, or a mirror of host binaries only: no images, the defaults apply.
    assert kube_filters.vre_kube_mirror_images({"type": "binaries"}) == []
    assert kube_filters.vre_kube_mirror_images({"type": "mirror", "path": str(tmp_path / "none")}) == []
    assert kube_filters.vre_kube_image_repository([], "registry.k8s.io") == "registry.k8s.io"
    assert kube_filters.vre_kube_image_tag([], "etcd") == ""


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ("{not json", "cannot be read as JSON"),
        ('{"a": 1}', "must be a list"),
        ('[{"name": "x", "archive": "images/x.tar"}]', "each image needs name, archive, ref and nodes"),
        ('[{"name": "x", "archive": "../x.tar", "ref": "r/x:1"}]', "must stay inside the mirror"),
        (
            '[{"name": "x", "archive": "x.tar", "ref": "r/x:1", "nodes": "workers"}]',
            "one of all, control-plane",
        ),
    ],
)
def test_a_bad_images_json_is_refused_with_the_reason(tmp_path, index, message):
    (tmp_path / "images.json").write_text(index)
    with pytest.raises(AnsibleFilterError, match=message):
        kube_filters.vre_kube_mirror_images({"type": "mirror", "path": str(tmp_path)})


def test_images_from_several_repositories_are_refused():
    images = [{"name": "a", "ref": "one.example/a:1"}, {"name": "b", "ref": "two.example/b:1"}]
    with pytest.raises(AnsibleFilterError, match="several repositories"):
        kube_filters.vre_kube_image_repository(images)


def test_build_steps_print_to_stderr_so_stdout_carries_only_the_result(capfd):
    # `./vre` reads the mirror's path from the build's stdout: a step such as debootstrap must not
    # print there (a cold build once handed its whole log to the inventory as the path).
    from vrecloud import image

    image._run([sys.executable, "-c", "print('progress of a build step')"])
    out, err = capfd.readouterr()
    assert out == ""
    assert "progress of a build step" in err
