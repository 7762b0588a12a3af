"""Print, at the top of the verifier's output, which mode the scenario runs in."""

import os


def pytest_report_header(config):
    mirror = os.environ.get("VRE_KUBE_MIRROR")
    if mirror:
        return f"kubernetes scenario: FULL MODE (VRE_KUBE_MIRROR={mirror}): kubeadm cluster checked too"
    return (
        "kubernetes scenario: NO-BINARY MODE (VRE_KUBE_MIRROR not set): containerd, the registry CA, "
        "the rendered kubeadm configuration and manifests are checked; the tests that need kubeadm, "
        "kubelet or kubectl are skipped"
    )
