"""Filesystems for table locations and file sources: local paths, or object stores.

Settings use pyiceberg's FileIO property names (`s3.endpoint`, `s3.region`, `s3.access-key-id`,
`s3.secret-access-key`, `s3.session-token`, `s3.path-style-access`, `gcs.*`, `adls.*`): the
catalog's for the warehouse, so the files Dativo writes and the metadata pyiceberg writes go to
the same store with the same credentials; a job's `source.storage` for its source files. Values
may be secret references; they are resolved on the worker, at the moment of use. A key left out
falls back to the cloud SDK's default chain (environment, profile, instance or pod identity).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import pyarrow.fs as pafs

from dativo_workers.config.runner import CatalogConfig
from dativo_workers.errors import SourceError
from dativo_workers.secrets import resolve

StorageProperties = Mapping[str, str]

S3_SCHEMES = ("s3", "s3a", "s3n")
GCS_SCHEMES = ("gs", "gcs")
AZURE_SCHEMES = ("abfs", "abfss")
SOURCE_SCHEMES = (*S3_SCHEMES, *GCS_SCHEMES, *AZURE_SCHEMES, "file")
# The keys `source.storage` accepts: pyiceberg FileIO's names for the stores above.
STORAGE_KEYS = frozenset(
    {
        "s3.endpoint",
        "s3.region",
        "client.region",
        "s3.access-key-id",
        "s3.secret-access-key",
        "s3.session-token",
        "s3.path-style-access",
        "s3.connect-timeout",
        "s3.request-timeout",
        "s3.role-arn",
        "s3.role-session-name",
        "gcs.project-id",
        "gcs.oauth2.token",
        "gcs.oauth2.token-expires-at",
        "gcs.service.host",
        "gcs.default-bucket-location",
        "adls.account-name",
        "adls.account-key",
        "adls.sas-token",
        "adls.tenant-id",
        "adls.client-id",
        "adls.client-secret",
        "adls.blob-storage-authority",
        "adls.dfs-storage-authority",
        "adls.blob-storage-scheme",
        "adls.dfs-storage-scheme",
    }
)
_GLOB_MAGIC = re.compile(r"[*?[]")


def catalog_properties(config: CatalogConfig, tenant: str) -> dict[str, str]:
    """The catalog's pyiceberg properties with secret references resolved for ``tenant``."""
    return resolve(config.pyiceberg_properties(), tenant)


def scheme_of(uri: str) -> str:
    """`s3`, `gs`, `abfs`, ... for a URI; "" for a plain local path."""
    return urlparse(uri).scheme.lower() if "://" in uri else ""


def unsupported_scheme(uri: str) -> str | None:
    """Why a source path cannot be read (None when it can): an unknown URI scheme."""
    scheme = scheme_of(uri)
    if scheme and scheme not in SOURCE_SCHEMES:
        return f"{uri}: unknown scheme {scheme + '://'!r}; use a local path or one of " + ", ".join(
            s + "://" for s in SOURCE_SCHEMES
        )
    return None


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def _s3(props: StorageProperties) -> pafs.FileSystem:
    endpoint = props.get("s3.endpoint")
    options: dict[str, object] = {
        # A custom endpoint (MinIO, Ceph, moto) has no region to discover: us-east-1 signs for it.
        "region": props.get("s3.region") or props.get("client.region") or ("us-east-1" if endpoint else None),
        "access_key": props.get("s3.access-key-id"),
        "secret_key": props.get("s3.secret-access-key"),
        "session_token": props.get("s3.session-token"),
        "role_arn": props.get("s3.role-arn"),
        "session_name": props.get("s3.role-session-name"),
        "connect_timeout": float(props["s3.connect-timeout"]) if props.get("s3.connect-timeout") else None,
        "request_timeout": float(props["s3.request-timeout"]) if props.get("s3.request-timeout") else None,
    }
    if endpoint:
        endpoint_url = urlparse(endpoint)
        options["endpoint_override"] = endpoint_url.netloc or endpoint
        options["scheme"] = endpoint_url.scheme or "https"
    if "s3.path-style-access" in props:
        # pyarrow addresses buckets by path on a custom endpoint, by host name on AWS
        options["force_virtual_addressing"] = not _flag(props["s3.path-style-access"])
    return pafs.S3FileSystem(**{k: v for k, v in options.items() if v is not None})


def _gcs(props: StorageProperties) -> pafs.FileSystem:
    options: dict[str, object] = {"project_id": props.get("gcs.project-id")}
    if token := props.get("gcs.oauth2.token"):
        options["access_token"] = token
        expires = props.get("gcs.oauth2.token-expires-at")  # milliseconds since the epoch, as pyiceberg
        options["credential_token_expiration"] = (
            datetime.fromtimestamp(int(expires) / 1000, UTC) if expires else datetime.now(UTC).replace(year=9999)
        )
    if location := props.get("gcs.default-bucket-location"):
        options["default_bucket_location"] = location
    if host := props.get("gcs.service.host"):
        url = urlparse(host)
        options["scheme"] = url.scheme or "https"
        options["endpoint_override"] = url.netloc or host
    return pafs.GcsFileSystem(**{k: v for k, v in options.items() if v is not None})


def _azure(account: str, props: StorageProperties) -> pafs.FileSystem:
    keys = {
        "account_key": "adls.account-key",
        "sas_token": "adls.sas-token",
        "tenant_id": "adls.tenant-id",
        "client_id": "adls.client-id",
        "client_secret": "adls.client-secret",
        "blob_storage_authority": "adls.blob-storage-authority",
        "dfs_storage_authority": "adls.dfs-storage-authority",
        "blob_storage_scheme": "adls.blob-storage-scheme",
        "dfs_storage_scheme": "adls.dfs-storage-scheme",
    }
    options = {arg: props[key] for arg, key in keys.items() if props.get(key)}
    return pafs.AzureFileSystem(account, **options)


def _azure_location(parsed: object, props: StorageProperties) -> tuple[str, str]:
    """The account and the `container/path` of `abfs[s]://container@account.dfs.core.windows.net/path`
    (the account may also come from `adls.account-name`, e.g. for an emulator's host name)."""
    container, _, host = parsed.netloc.rpartition("@")  # type: ignore[attr-defined]
    account = props.get("adls.account-name") or host.split(".", 1)[0]
    if not container or not account:
        raise SourceError(
            f"{parsed.geturl()}: expected abfs://<container>@<account>.dfs.core.windows.net/<path>"  # type: ignore[attr-defined]
        )
    return account, f"{container}{parsed.path}".rstrip("/")  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=64)
def _cached(kind: str, account: str, props: tuple[tuple[str, str], ...]) -> pafs.FileSystem:
    settings = dict(props)
    if kind == "s3":
        return _s3(settings)
    if kind == "gcs":
        return _gcs(settings)
    return _azure(account, settings)


def filesystem(uri: str, props: StorageProperties | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``uri`` and the path inside it (`bucket/key` on object stores).

    Object-store filesystems are cached per process and settings: each holds a connection pool."""
    props = props or {}
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    frozen = tuple(sorted((k, v) for k, v in props.items() if isinstance(v, str)))
    if scheme in S3_SCHEMES:
        return _cached("s3", "", frozen), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if scheme in GCS_SCHEMES:
        return _cached("gcs", "", frozen), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if scheme in AZURE_SCHEMES:
        account, path = _azure_location(parsed, props)
        return _cached("azure", account, frozen), path
    return pafs.FileSystem.from_uri(uri)


OBJECT_STORES = ("s3", "gcs", "abfs")


def make_parent_dir(fs: pafs.FileSystem, path: str) -> None:
    """Create the directory a file is about to be written into, where directories exist.

    Object stores have none: pyarrow would look the bucket up (HeadBucket, which needs
    s3:ListBucket and turns a bad credential into a bodiless ACCESS_DENIED) and leave empty
    `dir/` marker objects behind, for every file written.
    """
    if fs.type_name not in OBJECT_STORES:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)


def scheme_prefix(uri: str) -> str:
    """`file://` or `s3://`: what turns a filesystem path back into a URI."""
    return uri[: uri.index("://") + 3] if "://" in uri else ""


# -- file sources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """One file of a source, as the listing saw it."""

    uri: str  # a local absolute path, or scheme://bucket/key
    size: int
    mtime_ns: int | None = None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A `/`-separated glob as a regex: `*`, `?` and `[...]` stay inside one path segment,
    `**` spans any number of segments (none included)."""
    segments = pattern.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (close := segment.find("]", i + 2)) > 0:
            body = segment[i + 1 : close]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _store_error(uri: str, bucket: str, exc: OSError) -> SourceError:
    """A listing or read failure, said in words: the URI and bucket, never a key or secret."""
    text = str(exc)
    lowered = text.lower()
    squeezed = lowered.replace("_", "").replace(" ", "")  # ACCESS_DENIED, AccessDenied, access denied
    if (
        "nosuchbucket" in squeezed
        or "bucketdoesnotexist" in squeezed
        or ("notfound" in squeezed and "bucket" in lowered)
    ):
        return SourceError(f"{uri}: bucket {bucket!r} does not exist (or is not visible with these credentials)")
    denied = ("accessdenied", "forbidden", "403", "signature", "invalidaccesskeyid", "expiredtoken", "invalidtoken")
    if any(word in squeezed for word in denied):
        return SourceError(
            f"{uri}: access to bucket {bucket!r} denied: check the credentials in source.storage "
            f"(or the SDK's default chain) and that they may list and read it ({text})"
        )
    return SourceError(f"{uri}: cannot list bucket {bucket!r}: {text}")


def list_files(pattern: str, props: StorageProperties | None = None) -> list[StoredFile]:
    """The objects an object-store URI names: one object, or every object a glob matches.

    A glob is listed once from its fixed prefix (recursively, so one paginated listing covers
    `**`), then filtered: the listing never reads an object. Errors name the URI and bucket."""
    if problem := unsupported_scheme(pattern):
        raise SourceError(problem)
    fs, path = filesystem(pattern, props)
    scheme = pattern[: pattern.index("://") + 3]
    bucket = path.split("/", 1)[0]
    segments = path.split("/")
    fixed = next((i for i, s in enumerate(segments) if _GLOB_MAGIC.search(s)), None)
    try:
        if fixed is None:
            info = fs.get_file_info(path)
            if info.type != pafs.FileType.File:
                # a bucket that does not exist reads as a missing object: ask the bucket itself
                if fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                    raise SourceError(f"{pattern}: bucket {bucket!r} does not exist")
                return []
            infos = [info]
        else:
            if fixed == 0:
                raise SourceError(f"{pattern}: the bucket name cannot hold a wildcard")
            prefix = "/".join(segments[:fixed])
            infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
            if not infos and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise SourceError(f"{pattern}: bucket {bucket!r} does not exist")
            match = glob_regex(path).match
            infos = [i for i in infos if i.type == pafs.FileType.File and match(i.path)]
    except OSError as exc:
        raise _store_error(pattern, bucket, exc) from None
    return [StoredFile(scheme + i.path, i.size, i.mtime_ns) for i in infos]
