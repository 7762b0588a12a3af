"""Test double of ~okeanos' Pithos+ object storage and the Astakos calls around it (token
authentication with the service catalog, quotas per project). Not a real Synnefo or ~okeanos.

One HTTP server on 127.0.0.1 answers:

  POST /identity/v2.0/tokens            the user (uuid) and the catalog: identity, account,
                                        object-store
  GET  /account/v1.0/quotas             pithos.diskspace per project, usage counted from the
                                        containers charged to it
  /object-store/v1/<uuid>/<container>   HEAD (block size and hash, policy, counts), GET (listing,
                                        ?prefix, ?delimiter, ?format=json), PUT (create, 201; 202
                                        when it exists), POST ?update (X-Container-Policy-Project
                                        reassigns it; a body of application/octet-stream stores
                                        blocks and answers their hashes)
  .../<container>/<object path>         HEAD, GET, PUT (the data, or ?hashmap&format=json: the list
                                        of block hashes, answered 409 with the JSON list of the
                                        blocks the store lacks), POST ?update (X-Object-Public),
                                        DELETE (?delimiter=/ takes what is under the path too)
  GET /public/<id>                      a published object, without a token

As Pithos does, blocks are stored by the hash of their bytes with trailing zero bytes trimmed and an
object is its list of hashes; uploads count against the quota of the container's project (413);
every request but the public one needs the token (401), and an account other than the user's is
refused (403). Errors are Pithos' plain-text bodies. `events` records the block uploads and
hashmap PUTs, so a test can see which path an upload took.

    with PithosDouble(block_size=64 * 1024) as cloud:
        AstakosClient(cloud.auth_url, cloud.token)
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.http import HttpFault, JsonDouble, Reply, Request

GIB = 1 << 30
P = "/object-store/v1"


def _text(status: int, message: str) -> HttpFault:
    return HttpFault(status, message.encode())


@dataclass
class Obj:
    hashes: list[str]
    size: int
    content_type: str
    etag: str
    public_id: str | None = None
    version: int = 1


@dataclass
class Container:
    project: str
    objects: dict[str, Obj] = field(default_factory=dict)
    versioning: str = "auto"


class PithosDouble(JsonDouble):
    label = "pithos-double"

    def __init__(
        self, *, block_size: int = 4 * 1024 * 1024, block_hash: str = "sha256", project_limit: int = 100 * GIB
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.block_hash = block_hash
        self.token = f"double-token-{uuid.uuid4().hex}"
        self.user = str(uuid.uuid4())
        # The user's base project has the user's uuid, as in Synnefo; `project` is a VRE's project.
        self.project = str(uuid.uuid4())
        self.limits = {self.user: 5 * GIB, self.project: project_limit}
        self.blocks: dict[str, bytes] = {}
        self.containers: dict[str, Container] = {}
        self.events: list[tuple[str, str]] = []
        self._state = threading.Lock()
        self._routes()

    def __enter__(self) -> PithosDouble:
        return self.start()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v2.0"

    def check_auth(self, req: Request) -> None:
        if req.headers.get("X-Auth-Token") != self.token:
            raise _text(401, "Missing or expired user token")

    def _routes(self) -> None:
        r = self.route
        r("POST", "/identity/v2.0/tokens", self._tokens, public=True)
        r("GET", "/account/v1.0/quotas", self._quotas)
        r("GET", "/public/(?P<pid>[^/]+)", self._public, public=True)
        c = f"{P}/(?P<account>[^/]+)/(?P<container>[^/]+)"
        for method in ("GET", "PUT", "POST", "DELETE"):
            r(method, f"{c}/(?P<obj>.+)", self._object)
            r(method, c, self._container)

    # -- Astakos --------------------------------------------------------------------------------

    def _tokens(self, req: Request) -> Reply:
        auth = (req.body or {}).get("auth") if isinstance(req.body, dict) else None
        if ((auth or {}).get("token") or {}).get("id") != self.token:
            raise HttpFault(401, {"unauthorized": {"code": 401, "message": "Invalid token"}})

        def svc(kind: str, name: str, path: str, version: str) -> dict[str, Any]:
            ep = {"versionId": version, "publicURL": f"{self.url}{path}"}
            return {"type": kind, "name": name, "endpoints": [ep], "endpoints_links": []}

        access = {
            "token": {"id": self.token, "expires": "2999-01-01T00:00:00+00:00", "tenant": {"id": self.user}},
            "serviceCatalog": [
                svc("identity", "astakos_identity", "/identity/v2.0", "v2.0"),
                svc("account", "astakos_account", "/account/v1.0", "v1.0"),
                svc("object-store", "pithos_object-store", P, "v1"),
            ],
            "user": {"id": self.user, "name": "Researcher", "roles": [{"id": 1, "name": "default"}]},
        }
        return Reply(200, {"access": access})

    def usage(self, project: str) -> int:
        return sum(
            o.size for c in self.containers.values() if c.project == project for o in c.objects.values()
        )

    def _quotas(self, req: Request) -> Reply:
        with self._state:
            quotas = {
                p: {
                    "pithos.diskspace": {
                        "usage": self.usage(p),
                        "limit": limit,
                        "pending": 0,
                        "project_limit": limit,
                        "project_usage": self.usage(p),
                        "project_pending": 0,
                    }
                }
                for p, limit in self.limits.items()
            }
        return Reply(200, quotas)

    # -- Pithos ---------------------------------------------------------------------------------

    def _hash(self, block: bytes) -> str:
        return hashlib.new(self.block_hash, block.rstrip(b"\0")).hexdigest()

    def _store(self, data: bytes) -> list[str]:
        hashes = []
        for i in range(0, len(data), self.block_size):
            block = data[i : i + self.block_size]
            h = self._hash(block)
            self.blocks[h] = block.rstrip(b"\0")
            hashes.append(h)
        return hashes

    def data(self, obj: Obj) -> bytes:
        """The object's bytes, from its blocks (each padded back with the zeros trimmed off)."""
        out = bytearray()
        for i, h in enumerate(obj.hashes):
            want = min(self.block_size, obj.size - i * self.block_size)
            out += self.blocks[h].ljust(want, b"\0")
        return bytes(out)

    def _container_of(self, req: Request, account: str, container: str) -> tuple[str, Container | None]:
        if urllib.parse.unquote(account) != self.user:
            raise _text(403, "Forbidden")
        name = urllib.parse.unquote(container)
        return name, self.containers.get(name)

    def _flags(self, req: Request) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(req.query_string, keep_blank_values=True))

    def _length(self, req: Request) -> None:
        if req.method in ("PUT", "POST") and req.headers.get("Content-Length") is None:
            raise _text(411, "Missing Content-Length header")

    def _check_quota(self, project: str, extra: int) -> None:
        if self.usage(project) + extra > self.limits.get(project, 0):
            raise _text(413, "Resource Limit Exceeded for your account.")

    def _container(self, req: Request, account: str, container: str) -> Reply:
        flags = self._flags(req)
        with self._state:
            name, cont = self._container_of(req, account, container)
            self._length(req)
            project = req.headers.get("X-Container-Policy-Project")
            if project is not None and project not in self.limits:
                raise _text(403, f"Project {project} does not exist or you are not a member")
            if req.method == "PUT":
                if cont is not None:
                    cont.project = project or cont.project
                    return Reply(202)
                self.containers[name] = Container(project or self.user)
                return Reply(201)
            if cont is None:
                raise _text(404, "Container does not exist")
            if req.method == "DELETE":
                if cont.objects:
                    raise _text(409, "Container is not empty")
                del self.containers[name]
                return Reply(204)
            if req.method == "POST":
                if project is not None:
                    cont.project = project
                stored = None
                if req.raw and req.headers.get("Content-Type") == "application/octet-stream":
                    hashes = self._store(req.raw)
                    self.events += [("block", h) for h in hashes]
                    stored = json.dumps(hashes).encode()
                return Reply(202, stored)
            headers = {
                "X-Container-Block-Size": str(self.block_size),
                "X-Container-Block-Hash": self.block_hash,
                "X-Container-Policy-Project": cont.project,
                "X-Container-Policy-Versioning": cont.versioning,
                "X-Container-Policy-Quota": "0",
                "X-Container-Object-Count": str(len(cont.objects)),
                "X-Container-Bytes-Used": str(sum(o.size for o in cont.objects.values())),
            }
            if req.method == "HEAD":
                return Reply(204, None, headers)
            return self._listing(cont, flags, headers)

    def _listing(self, cont: Container, flags: dict[str, str], headers: dict[str, str]) -> Reply:
        prefix, delimiter = flags.get("prefix", ""), flags.get("delimiter")
        names: list[str] = []
        for obj_name in sorted(cont.objects):
            if not obj_name.startswith(prefix):
                continue
            rest = obj_name[len(prefix) :]
            if delimiter and delimiter in rest:
                sub = prefix + rest.split(delimiter, 1)[0] + delimiter
                if sub not in names:
                    names.append(sub)
                continue
            names.append(obj_name)
        if flags.get("format") == "json":
            listing = [
                {"name": n, "bytes": cont.objects[n].size, "content_type": cont.objects[n].content_type}
                if n in cont.objects
                else {"subdir": n}
                for n in names
            ]
            return Reply(200, listing, headers)
        if not names:
            return Reply(204, None, headers)
        return Reply(200, "".join(f"{n}\n" for n in names).encode(), headers)

    def _obj_headers(self, obj: Obj) -> dict[str, str]:
        headers = {
            "Content-Type": obj.content_type,
            "ETag": obj.etag,
            "X-Object-Version": str(obj.version),
            "X-Object-Hash": obj.etag,
            "X-Object-Modified-By": self.user,
        }
        if obj.public_id:
            headers["X-Object-Public"] = f"{self.url}/public/{obj.public_id}"
        return headers

    def _object(self, req: Request, account: str, container: str, obj: str) -> Reply:
        flags = self._flags(req)
        with self._state:
            _, cont = self._container_of(req, account, container)
            self._length(req)
            if cont is None:
                raise _text(404, "Container does not exist")
            name = urllib.parse.unquote(obj)
            found = cont.objects.get(name)
            if req.method == "PUT":
                return self._put(req, cont, name, found, flags)
            if req.method == "DELETE":
                doomed = [name] if found else []
                if flags.get("delimiter"):
                    doomed += [n for n in cont.objects if n.startswith(name + flags["delimiter"])]
                if not doomed:
                    raise _text(404, "Object does not exist")
                for n in doomed:
                    del cont.objects[n]
                return Reply(204)
            if found is None:
                raise _text(404, "Object does not exist")
            if req.method == "POST":
                public = req.headers.get("X-Object-Public")
                if public is not None:
                    if public.lower() == "true":
                        found.public_id = found.public_id or uuid.uuid4().hex
                    else:
                        found.public_id = None
                return Reply(202)
            headers = self._obj_headers(found)
            if req.method == "HEAD":
                return Reply(200, None, headers | {"Content-Length": str(found.size)})
            if "hashmap" in flags:
                hashmap = {"block_hash": self.block_hash, "block_size": self.block_size}
                return Reply(200, hashmap | {"bytes": found.size, "hashes": found.hashes}, headers)
            return Reply(200, self.data(found), headers)

    def _put(self, req: Request, cont: Container, name: str, old: Obj | None, flags: dict[str, str]) -> Reply:
        content_type = req.headers.get("Content-Type")
        if not content_type:
            raise _text(411, "Missing Content-Type header")
        if "hashmap" in flags:
            if flags.get("format") != "json":
                raise _text(400, "Invalid hashmap format (the double models format=json)")
            try:
                hashmap = json.loads(req.raw)
                hashes, size = [str(h) for h in hashmap["hashes"]], int(hashmap["bytes"])
            except (ValueError, KeyError, TypeError):
                raise _text(400, "Invalid data formatting") from None
            if not (len(hashes) - 1) * self.block_size < size <= len(hashes) * self.block_size:
                raise _text(400, f"{size} bytes do not fit {len(hashes)} blocks of {self.block_size}")
            missing = [h for h in hashes if h not in self.blocks]
            self.events.append(("hashmap", f"{name}: {len(missing)} missing"))
            if missing:
                return Reply(409, json.dumps(missing).encode())
        else:
            hashes, size = self._store(req.raw), len(req.raw)
            self.events.append(("data", name))
        self._check_quota(cont.project, size - (old.size if old else 0))
        obj = Obj(hashes, size, content_type, "")
        obj.etag = hashlib.md5(self.data(obj)).hexdigest()
        obj.version = old.version + 1 if old else 1
        public = req.headers.get("X-Object-Public")
        obj.public_id = uuid.uuid4().hex if public and public.lower() == "true" else None
        cont.objects[name] = obj
        return Reply(201, None, {"ETag": obj.etag, "X-Object-Version": str(obj.version)})

    def _public(self, req: Request, pid: str) -> Reply:
        with self._state:
            for cont in self.containers.values():
                for obj in cont.objects.values():
                    if obj.public_id == pid:
                        return Reply(200, self.data(obj), {"Content-Type": obj.content_type})
        raise _text(404, "Not Found")
