"""Print, at the top of the verifier's output, which mode the scenario runs in."""

from vre_testinfra import mode_header


def pytest_report_header(config):
    return mode_header(
        "kubernetes",
        "VRE_KUBE_MIRROR",
        full="kubeadm cluster checked too",
        no_binary="containerd, the registry CA, the rendered kubeadm configuration and manifests are "
        "checked; the tests that need kubeadm, kubelet or kubectl are skipped",
    )
