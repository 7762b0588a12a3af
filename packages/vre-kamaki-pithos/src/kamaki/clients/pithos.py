"""kamaki.clients.pithos.PithosClient, the calls Galaxy's Pithos+ store makes, over the Pithos+
REST API (OpenStack Object Storage with Synnefo's extensions).

Objects live at <endpoint>/<account uuid>/<container>/<object path>. Uploads use Pithos' hashmap
protocol: the file is read one block at a time (the container's X-Container-Block-Size, 4 MiB on
~okeanos) to hash each block (X-Container-Block-Hash, after trimming the block's trailing zero
bytes), the object is PUT as its list of hashes (`?hashmap&format=json`), and when the server
answers 409 with the hashes it lacks, those blocks are read again from the file, POSTed to the
container and the hashmap PUT again. Downloads are written to the destination as they arrive. So
neither holds more than one block in memory. Results are kamaki's: info calls return the
response's headers with lower-case names, errors are ClientError with the HTTP status.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.parse
from typing import Any, BinaryIO

from kamaki.clients._base import Client, ClientError

CHUNK = 1 << 20  # bytes per read while downloading
ROUNDS = 3  # hashmap PUTs before giving up on a server that keeps asking for blocks


def _headers(resp: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in resp.getheaders()}


def _binary(f: Any) -> BinaryIO:
    """The byte stream under a file opened in text mode (Galaxy opens its cache files so)."""
    return f.buffer if isinstance(f, io.TextIOBase) and hasattr(f, "buffer") else f


class PithosClient(Client):
    service_type = "object-store"

    def __init__(
        self,
        endpoint_url: str,
        token: str,
        account: str | None = None,
        container: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(endpoint_url, token, **kw)
        self.account = account
        self.container = container
        self._blocks: tuple[int, str] | None = None

    # -- URLs and requests ----------------------------------------------------------------------

    def _url(self, obj: str | None = None, container: str | None = None, **query: str | None) -> str:
        container = container or self.container
        if not self.account or not container:
            raise ClientError("PithosClient needs an account and a container", 0)
        parts = [
            self.endpoint_url,
            urllib.parse.quote(self.account, safe=""),
            urllib.parse.quote(container, safe=""),
        ]
        if obj is not None:
            parts.append(urllib.parse.quote(obj, safe="/"))
        url = "/".join(parts)
        args = [
            k if v == "" else f"{k}={urllib.parse.quote(v, safe='')}"
            for k, v in query.items()
            if v is not None
        ]
        return f"{url}?{'&'.join(args)}" if args else url

    def _call(
        self, method: str, url: str, what: str, data: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """A request whose answer is small: (status, headers, body)."""
        send = dict(headers or {})
        if method in ("PUT", "POST"):
            send["Content-Length"] = str(len(data))
        resp = self._request(
            method, url, what, data=data if method in ("PUT", "POST") else None, headers=send
        )
        with resp:
            return resp.status, _headers(resp), resp.read()

    # -- containers -----------------------------------------------------------------------------

    def get_container_info(self, container: str | None = None, until: str | None = None) -> dict[str, str]:
        name = container or self.container
        return self._call("HEAD", self._url(container=name, until=until), f"container {name}")[1]

    def create_container(
        self,
        container: str | None = None,
        sizelimit: int | None = None,
        versioning: str | None = None,
        metadata: dict[str, str] | None = None,
        project_id: str | None = None,
    ) -> dict[str, str]:
        name = container or self.container
        headers = {f"X-Container-Meta-{k}": str(v) for k, v in (metadata or {}).items()}
        if sizelimit is not None:
            headers["X-Container-Policy-Quota"] = str(sizelimit)
        if versioning:
            headers["X-Container-Policy-Versioning"] = versioning
        if project_id:
            headers["X-Container-Policy-Project"] = project_id
        status, info, _ = self._call(
            "PUT", self._url(container=name), f"creating container {name}", b"", headers
        )
        if status == 202:
            raise ClientError(f'Container "{name}" already exists', status)
        return info

    def reassign_container(self, project_id: str, container: str | None = None) -> dict[str, str]:
        """Charge the container to another project (POST ?update, X-Container-Policy-Project)."""
        name = container or self.container
        headers = {"X-Container-Policy-Project": project_id}
        return self._call("POST", self._url(container=name, update=""), f"reassigning {name}", b"", headers)[
            1
        ]

    def _block_info(self) -> tuple[int, str]:
        if self._blocks is None:
            info = self.get_container_info()
            try:
                size, algorithm = int(info["x-container-block-size"]), info["x-container-block-hash"]
                hashlib.new(algorithm)
            except (KeyError, ValueError) as err:
                raise ClientError(
                    f"container {self.container}: no usable block size and hash in its headers ({err})", 0
                ) from None
            self._blocks = (size, algorithm)
        return self._blocks

    # -- objects --------------------------------------------------------------------------------

    def get_object_info(self, obj: str, version: str | None = None) -> dict[str, str]:
        return self._call("HEAD", self._url(obj, version=version), f"object {obj}")[1]

    def download_object(self, obj: str, dst: Any, version: str | None = None) -> None:
        """Write the object to `dst`, a binary file object or a path (Galaxy passes a path)."""
        if isinstance(dst, (str, os.PathLike)):
            with open(dst, "wb") as f:
                self.download_object(obj, f, version)
            return
        resp = self._request("GET", self._url(obj, version=version), f"downloading {obj}")
        with resp:
            try:
                while chunk := resp.read(CHUNK):
                    dst.write(chunk)
            except (TimeoutError, OSError) as err:
                raise ClientError(f"downloading {obj}: {type(err).__name__}: {err}", 0) from None
        dst.flush()

    def upload_object(
        self,
        obj: str,
        f: Any,
        size: int | None = None,
        content_type: str | None = None,
        public: bool | None = None,
    ) -> dict[str, str]:
        """Upload the file object `f` from its current position (`size` bytes, else to its end)
        with Pithos' hashmap protocol; the headers of the object's creation."""
        f = _binary(f)
        start = f.tell()
        headers = {"Content-Type": content_type or "application/octet-stream"}
        if public is not None:
            headers["X-Object-Public"] = "true" if public else "false"
        block_size, algorithm = self._block_info()
        hashes, total = [], 0
        while size is None or total < size:
            block = f.read(block_size if size is None else min(block_size, size - total))
            if not block:
                break
            hashes.append(hashlib.new(algorithm, block.rstrip(b"\0")).hexdigest())
            total += len(block)
        if not hashes:
            return self._call("PUT", self._url(obj), f"uploading {obj}", b"", headers)[1]
        hashmap = json.dumps(
            {"block_hash": algorithm, "block_size": block_size, "bytes": total, "hashes": hashes}
        ).encode()
        for _ in range(ROUNDS):
            try:
                url = self._url(obj, hashmap="", format="json")
                return self._call("PUT", url, f"uploading {obj}", hashmap, headers)[1]
            except ClientError as err:
                if err.status != 409:
                    raise
                missing = self._missing(err, obj)
            for i in sorted({hashes.index(h) for h in missing if h in hashes}):
                f.seek(start + i * block_size)
                block = f.read(min(block_size, total - i * block_size))
                self._upload_block(block, hashes[i], obj)
        raise ClientError(f"uploading {obj}: the server still lacks blocks after {ROUNDS} rounds", 409)

    def _missing(self, err: ClientError, obj: str) -> list[str]:
        body = err.body
        try:
            missing = json.loads(body)
        except ValueError:
            missing = body.decode(errors="replace").split()
        if not isinstance(missing, list) or not missing:
            raise ClientError(f"uploading {obj}: 409 without a list of missing blocks: {err.message}", 409)
        return [str(h) for h in missing]

    def _upload_block(self, block: bytes, expected: str, obj: str) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        url = self._url(update="", format="json")
        _, _, body = self._call("POST", url, f"uploading a block of {obj}", block, headers)
        try:
            stored = json.loads(body)
        except ValueError:
            stored = body.decode(errors="replace").split()
        if stored != [expected]:
            raise ClientError(f"uploading {obj}: the server stored block {stored!r}, not [{expected!r}]", 0)

    def upload_from_string(
        self, obj: str, input_str: str | bytes, content_type: str | None = None
    ) -> dict[str, str]:
        data = input_str.encode() if isinstance(input_str, str) else input_str
        return self.upload_object(obj, io.BytesIO(data), len(data), content_type=content_type)

    def del_object(self, obj: str, until: str | None = None, delimiter: str | None = None) -> dict[str, str]:
        """Delete the object; with delimiter "/" also every object under `obj/`."""
        return self._call("DELETE", self._url(obj, until=until, delimiter=delimiter), f"deleting {obj}")[1]

    def publish_object(self, obj: str) -> str:
        """Make the object public (X-Object-Public: true); its public URL."""
        self._call("POST", self._url(obj, update=""), f"publishing {obj}", b"", {"X-Object-Public": "true"})
        public = self.get_object_info(obj).get("x-object-public")
        if not public:
            raise ClientError(f"publishing {obj}: the server did not report a public URL", 0)
        if public.startswith("/"):  # older Pithos answers a path on its own host
            parts = urllib.parse.urlsplit(self.endpoint_url)
            public = f"{parts.scheme}://{parts.netloc}{public}"
        return public
