"""Role kube_common's install-source check (validate_source): no source, malformed sources, the
accepted forms, and no-binary mode, which must say plainly that it is in no-binary mode."""

import json
from pathlib import Path

import pytest

from tests.ansible_run import VENV_BIN, output, run_ansible

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "tests" / "fixtures" / "kubernetes" / "validate_source.yml"
SHA = "a" * 64


def check(source: dict, binaries: bool = True) -> tuple[int, str]:
    extra = {
        "kubernetes_install_source": source,
        "kubernetes_install_binaries": binaries,
        "ansible_python_interpreter": str(VENV_BIN / "python"),
    }
    proc = run_ansible(
        "ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", json.dumps(extra), timeout=120
    )
    # The YAML callback wraps long messages: compare with whitespace collapsed.
    return proc.returncode, " ".join(output(proc).split())


def test_no_source_fails_naming_the_variables():
    rc, out = check({})
    assert rc != 0, out
    assert "no install source is configured" in out
    assert "kubernetes_install_source" in out and "kubernetes_install_binaries to false" in out


def test_no_binary_mode_without_source_passes_and_says_so():
    rc, out = check({}, binaries=False)
    assert rc == 0, out
    assert "NO-BINARY MODE (kubernetes_install_binaries: false)" in out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param({"type": "tarball"}, "type must be apt_repo, binaries or mirror", id="unknown-type"),
        pytest.param(
            {
                "type": "apt_repo",
                "url": "https://pkgs.k8s.io/core:/stable:/v1.33/deb/",
                "key_url": "https://x/k",
            },
            "key_sha256 must be the 64 hex digits",
            id="apt-repo-without-key-checksum",
        ),
        pytest.param(
            {
                "type": "binaries",
                "base_url": "https://dl.k8s.io/release",
                "sha256": {"kubeadm": SHA, "kubelet": SHA},
            },
            "sha256.kubectl must be the 64 hex digits",
            id="binaries-missing-a-checksum",
        ),
        pytest.param(
            {
                "type": "binaries",
                "base_url": "https://dl.k8s.io/release",
                "version": "v1.33.5",
                "sha256": {"kubeadm": SHA, "kubelet": SHA, "kubectl": SHA},
            },
            "version must be a release such as 1.33.5",
            id="binaries-version-with-v",
        ),
        pytest.param(
            {"type": "mirror", "path": "mirror/k8s"}, "path must be the absolute path", id="relative-mirror"
        ),
    ],
)
def test_malformed_source_is_refused_with_the_reason(source, expected):
    rc, out = check(source)
    assert rc != 0, out
    assert "kubernetes_install_source on localhost is malformed" in out
    assert expected in out


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            {
                "type": "apt_repo",
                "url": "https://pkgs.k8s.io/core:/stable:/v1.33/deb/",
                "key_url": "https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key",
                "key_sha256": SHA,
            },
            id="apt-repo",
        ),
        pytest.param(
            {
                "type": "binaries",
                "base_url": "https://dl.k8s.io/release",
                "version": "1.33.5",
                "sha256": {"kubeadm": SHA, "kubelet": SHA, "kubectl": SHA},
            },
            id="binaries",
        ),
        pytest.param({"type": "mirror", "path": "/srv/mirror/kubernetes"}, id="mirror"),
    ],
)
def test_accepted_sources_pass_in_full_mode(source):
    rc, out = check(source)
    assert rc == 0, out
    assert f"full mode: kubeadm, kubelet and kubectl are installed from the {source['type']} source" in out
