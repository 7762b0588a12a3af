"""What the local provider gives its Kubernetes hosts, checked without Docker: the container flags,
the machine-wide sysctls the kubelets need (on a stand-in /proc/sys), and the container settings
the molecule scenario repeats."""

from pathlib import Path

import pytest
import yaml

from vrecloud import local

ROOT = Path(__file__).resolve().parents[2]


def test_kube_hosts_get_their_own_cgroup_namespace_and_the_kernel_log():
    flags = local.KUBE_RUN_FLAGS
    assert "--cgroupns=private" in flags and "--cgroupns=host" not in flags
    # With a private namespace the hierarchies are mounted by Docker, not bound from the machine.
    assert not any(f.startswith("--volume=/sys/fs/cgroup") for f in flags)
    assert {"--cap-add=SYSLOG", "--device=/dev/kmsg", "--device-cgroup-rule=a *:* rwm"} <= set(flags)
    # runc opens a non-root pod's /proc/<pause>/ns/* (not dumpable): CAP_SYS_PTRACE.
    assert "--cap-add=SYS_PTRACE" in flags
    # Everything else is the same as for any host: no --privileged, the same capabilities.
    assert "--privileged" not in flags
    assert {f for f in local.RUN_FLAGS if f.startswith("--cap-add")} <= set(flags)


def test_kube_init_remounts_cgroups_and_execs_systemd():
    script = local.KUBE_INIT[-1]
    assert "mount --make-rshared /" in script
    assert "remount,bind,rw" in script
    assert script.rstrip().endswith("exec /lib/systemd/systemd")


def test_kubelet_sysctls_are_set_once(tmp_path, capsys):
    for key in local.KUBELET_HOST_SYSCTLS:
        path = tmp_path / key.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("0\n")
    changed = local.set_kubelet_host_sysctls(tmp_path)
    assert sorted(changed) == sorted(f"{k}={v}" for k, v in local.KUBELET_HOST_SYSCTLS.items())
    assert "VM-wide" in capsys.readouterr().err
    for key, value in local.KUBELET_HOST_SYSCTLS.items():
        assert (tmp_path / key.replace(".", "/")).read_text().strip() == value
    assert local.set_kubelet_host_sysctls(tmp_path) == []


def test_kubelet_sysctl_that_cannot_be_set_is_named(tmp_path):
    with pytest.raises(local.ProviderError, match=r"vm\.overcommit_memory=1"):
        local.set_kubelet_host_sysctls(tmp_path / "absent")


def test_molecule_kubernetes_scenario_sets_the_local_providers_container_settings():
    scenario = yaml.safe_load((ROOT / "molecule/kubernetes/molecule.yml").read_text())
    group_vars = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    for key, value in local.LOCAL_VARS.items():
        if key.startswith("kube_"):
            assert group_vars.get(key) == value, key


def test_kubernetes_mirror_from_the_environment():
    out = local.local_vars({"VRE_KUBE_MIRROR": "/var/cache/vre/kube-mirror/v1"})
    assert out["kubernetes_install_binaries"] is True
    assert out["kubernetes_install_source"] == {"type": "mirror", "path": "/var/cache/vre/kube-mirror/v1"}
    assert local.local_vars({})["kubernetes_install_binaries"] is False


def test_an_old_kube_host_is_named_with_what_it_lacks():
    caps = [f.split("=", 1)[1] for f in local.KUBE_RUN_FLAGS if f.startswith("--cap-add=")]
    assert local._missing_kube_settings({"CgroupnsMode": "private", "CapAdd": caps}) == []
    old = {"CgroupnsMode": "host", "CapAdd": [c for c in caps if c != "SYS_PTRACE"]}
    assert local._missing_kube_settings(old) == ["its own cgroup namespace", "CAP_SYS_PTRACE"]
