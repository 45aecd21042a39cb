"""A small in-memory S3-compatible server on loopback, for Tansu's `s3://` storage.

    python -m tests.chaos.s3server --port 9000

Why not `moto_server` (which also works, `--s3 moto`): Tansu lists a partition's record
objects (ListObjectsV2 with a prefix) on its fetch path, and moto scans and sorts every key
of the bucket for each list call and each page of it. With the tens of thousands of objects
a 500-execution run writes, moto saturates a core and a step hop takes seconds to minutes.
Here the keys are kept sorted, so a prefix list costs O(log n + page).

Supports what Tansu (Rust `object_store`, path-style, unsigned checks) uses: bucket PUT/HEAD,
object PUT/GET/HEAD/DELETE with ETags, `If-Match`/`If-None-Match` on PUT and GET (412/304),
`Range` on GET, ListObjectsV2 (prefix, delimiter, start-after, continuation-token, max-keys)
and multi-object delete. Signatures are not checked. State lives as long as the process.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

import uvicorn

__all__ = ["app"]

Send = Callable[[dict[str, Any]], Awaitable[None]]
NS = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass
class Obj:
    body: bytes
    etag: str  # quoted
    modified: float


@dataclass
class Bucket:
    objects: dict[str, Obj] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # sorted

    def put(self, key: str, body: bytes) -> Obj:
        if key not in self.objects:
            bisect.insort(self.names, key)
        obj = Obj(body, f'"{hashlib.md5(body).hexdigest()}"', time.time())
        self.objects[key] = obj
        return obj

    def delete(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            del self.names[bisect.bisect_left(self.names, key)]


BUCKETS: dict[str, Bucket] = {}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(moment))


def _http_date(moment: float) -> str:
    return formatdate(moment, usegmt=True)


def _matches(condition: str, etag: str) -> bool:
    wanted = {c.strip() for c in condition.split(",")}
    return "*" in wanted or etag in wanted or etag.strip('"') in wanted


async def _respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    head: bool = False,
) -> None:
    out = {"content-length": str(len(body)), **(headers or {})}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode()) for k, v in out.items()],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _error(send: Send, status: int, code: str, message: str, head: bool = False) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    await _respond(send, status, body.encode(), {"content-type": "application/xml"}, head)


async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    method = scope["method"]
    query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    name, _, key = unquote(scope["path"]).lstrip("/").partition("/")
    if not key:
        await _bucket_request(send, method, name, query, body)
        return
    bucket = BUCKETS.get(name)
    if bucket is None:
        await _error(send, 404, "NoSuchBucket", name, method == "HEAD")
        return
    await _object_request(send, method, bucket, key, headers, body)


async def _bucket_request(
    send: Send, method: str, name: str, query: dict[str, list[str]], body: bytes
) -> None:
    if method == "PUT":
        BUCKETS.setdefault(name, Bucket())
        await _respond(send, 200, headers={"location": f"/{name}"})
        return
    bucket = BUCKETS.get(name)
    if bucket is None:
        await _error(send, 404, "NoSuchBucket", name, method == "HEAD")
    elif method == "HEAD":
        await _respond(send, 200)
    elif method == "GET":
        await _list(send, name, bucket, query)
    elif method == "POST" and "delete" in query:
        keys = [unescape_xml(k) for k in re.findall(r"<Key>(.*?)</Key>", body.decode())]
        for key in keys:
            bucket.delete(key)
        deleted = "".join(f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in keys)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<DeleteResult xmlns="{NS}">{deleted}</DeleteResult>'
        )
        await _respond(send, 200, xml.encode(), {"content-type": "application/xml"})
    else:
        await _error(send, 501, "NotImplemented", f"{method} on a bucket")


def unescape_xml(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


async def _list(send: Send, name: str, bucket: Bucket, query: dict[str, list[str]]) -> None:
    def arg(key: str, default: str = "") -> str:
        return query.get(key, [default])[0]

    prefix, delimiter = arg("prefix"), arg("delimiter")
    after = arg("continuation-token") or arg("start-after") or arg("marker")
    max_keys = int(arg("max-keys", "1000") or 1000)
    names = bucket.names
    index = bisect.bisect_left(names, prefix)
    if after:
        index = max(index, bisect.bisect_right(names, after))
    contents: list[str] = []
    prefixes: list[str] = []
    last = ""
    truncated = False
    while index < len(names) and names[index].startswith(prefix):
        key = names[index]
        if len(contents) + len(prefixes) >= max_keys:
            truncated = True
            break
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest.split(delimiter, 1)[0] + delimiter
            prefixes.append(common)
            last = common
            # skip every key under this common prefix
            index = bisect.bisect_left(names, common[:-1] + chr(ord(common[-1]) + 1))
            continue
        obj = bucket.objects[key]
        contents.append(
            f"<Contents><Key>{escape(key)}</Key><LastModified>{_iso(obj.modified)}</LastModified>"
            f"<ETag>{escape(obj.etag)}</ETag><Size>{len(obj.body)}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
        last = key
        index += 1
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NS}">',
        f"<Name>{escape(name)}</Name><Prefix>{escape(prefix)}</Prefix>",
        f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
    ]
    if delimiter:
        parts.append(f"<Delimiter>{escape(delimiter)}</Delimiter>")
    if truncated:
        parts.append(f"<NextContinuationToken>{escape(last)}</NextContinuationToken>")
    parts += contents
    parts += [f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes]
    parts.append("</ListBucketResult>")
    await _respond(send, 200, "".join(parts).encode(), {"content-type": "application/xml"})


async def _object_request(
    send: Send, method: str, bucket: Bucket, key: str, headers: dict[str, str], body: bytes
) -> None:
    current = bucket.objects.get(key)
    head = method == "HEAD"
    if method == "PUT":
        if (
            "if-none-match" in headers
            and current is not None
            and _matches(headers["if-none-match"], current.etag)
        ):
            await _error(send, 412, "PreconditionFailed", "If-None-Match")
            return
        if "if-match" in headers and (
            current is None or not _matches(headers["if-match"], current.etag)
        ):
            status, code = (404, "NoSuchKey") if current is None else (412, "PreconditionFailed")
            await _error(send, status, code, "If-Match")
            return
        obj = bucket.put(key, body)
        await _respond(send, 200, headers={"etag": obj.etag})
        return
    if method == "DELETE":
        bucket.delete(key)
        await _respond(send, 204)
        return
    if method not in ("GET", "HEAD"):
        await _error(send, 501, "NotImplemented", method)
        return
    if current is None:
        await _error(send, 404, "NoSuchKey", key, head)
        return
    meta = {
        "etag": current.etag,
        "last-modified": _http_date(current.modified),
        "content-type": "application/octet-stream",
        "accept-ranges": "bytes",
    }
    if "if-match" in headers and not _matches(headers["if-match"], current.etag):
        await _error(send, 412, "PreconditionFailed", "If-Match", head)
        return
    if "if-none-match" in headers and _matches(headers["if-none-match"], current.etag):
        await _respond(send, 304, headers={"etag": current.etag}, head=True)
        return
    data = current.body
    wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", headers.get("range", ""))
    if wanted and (wanted.group(1) or wanted.group(2)):
        size = len(data)
        if wanted.group(1):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)), size - 1) if wanted.group(2) else size - 1
        else:
            start, end = max(size - int(wanted.group(2)), 0), size - 1
        if start >= size or start > end:
            await _error(send, 416, "InvalidRange", headers["range"], head)
            return
        meta["content-range"] = f"bytes {start}-{end}/{size}"
        await _respond(send, 206, data[start : end + 1], meta, head)
        return
    await _respond(send, 200, data, meta, head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
