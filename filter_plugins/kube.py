"""Filters for the Kubernetes roles: the images of an offline mirror (vrecloud/kube_mirror.py).

A `mirror` install source (role kube_common) is a directory on the Ansible controller. Besides
kubeadm, kubelet, kubectl and SHA256SUMS it may hold images (images/<name>.tar) described by
images.json: a list of {name, archive, ref, nodes}. These filters are the one place that reads it:

    {{ kubernetes_install_source | vre_kube_mirror_images }}              the list ([] without one)
    {{ images | vre_kube_image_ref('pause', 'registry.k8s.io/pause:3.10.1') }}   an image's ref
    {{ images | vre_kube_image_tag('etcd') }}                             its tag ('' if absent)
    {{ images | vre_kube_image_repository('registry.k8s.io') }}           the repository of them all
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

INDEX = "images.json"
NODES = ("all", "control-plane")


def _fail(name: str, message: str) -> AnsibleFilterError:
    return AnsibleFilterError(f"{name}: {message}")


def vre_kube_mirror_images(source: Any) -> list[dict[str, str]]:
    """The images.json of a `mirror` install source; [] for other sources or a mirror without one."""
    if not isinstance(source, Mapping) or source.get("type") != "mirror":
        return []
    path = Path(str(source.get("path", ""))) / INDEX
    if not path.is_file():
        return []
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _fail("vre_kube_mirror_images", f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(index, list):
        raise _fail("vre_kube_mirror_images", f"{path} must be a list of images")
    for entry in index:
        problems = [
            k for k in ("name", "archive", "ref") if not isinstance(entry, Mapping) or not entry.get(k)
        ]
        if problems or entry.get("nodes", "all") not in NODES:
            raise _fail(
                "vre_kube_mirror_images",
                f"{path}: each image needs name, archive, ref and nodes "
                f"(one of {', '.join(NODES)}); got {entry!r}",
            )
        if Path(entry["archive"]).is_absolute() or ".." in Path(entry["archive"]).parts:
            raise _fail(
                "vre_kube_mirror_images", f"{path}: archive {entry['archive']!r} must stay inside the mirror"
            )
    return [dict(e) for e in index]


def _find(images: Sequence[Mapping[str, str]], name: str) -> Mapping[str, str] | None:
    return next((i for i in images or [] if i.get("name") == name), None)


def vre_kube_image_ref(images: Sequence[Mapping[str, str]], name: str, default: str = "") -> str:
    image = _find(images, name)
    return image["ref"] if image else default


def vre_kube_image_tag(images: Sequence[Mapping[str, str]], name: str, default: str = "") -> str:
    image = _find(images, name)
    if not image:
        return default
    ref = image["ref"]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[colon + 1 :] if colon > slash else default


def vre_kube_image_repository(images: Sequence[Mapping[str, str]], default: str = "") -> str:
    """The repository (registry/path) all the images share; `default` when there are none."""
    repos = {i["ref"].rsplit(":", 1)[0].rsplit("/", 1)[0] for i in images or [] if "/" in i.get("ref", "")}
    if not repos:
        return default
    if len(repos) > 1:
        raise _fail(
            "vre_kube_image_repository", f"the images come from several repositories: {sorted(repos)}"
        )
    return repos.pop()


class FilterModule:
    """Kubernetes mirror filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "vre_kube_mirror_images": vre_kube_mirror_images,
            "vre_kube_image_ref": vre_kube_image_ref,
            "vre_kube_image_tag": vre_kube_image_tag,
            "vre_kube_image_repository": vre_kube_image_repository,
        }
