"""Filesystems for table locations: local paths, or S3-compatible object stores.

S3 settings come from the catalog's pyiceberg properties (`s3.endpoint`, `s3.region`,
`s3.access-key-id`, `s3.secret-access-key`, `s3.session-token`), so the files Dativo writes
and the metadata pyiceberg writes go to the same store with the same credentials. Values may
be secret references; they are resolved here, on the worker, at the moment of use.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

import pyarrow.fs as pafs

from dativo_workers.config.runner import CatalogConfig
from dativo_workers.secrets import resolve

StorageProperties = Mapping[str, str]


def catalog_properties(config: CatalogConfig, tenant: str) -> dict[str, str]:
    """The catalog's pyiceberg properties with secret references resolved for ``tenant``."""
    return resolve(config.pyiceberg_properties(), tenant)


def filesystem(uri: str, props: StorageProperties | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``uri`` and the path inside it."""
    props = props or {}
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a", "s3n"):
        endpoint = props.get("s3.endpoint")
        options: dict[str, object] = {
            "region": props.get("s3.region") or props.get("client.region") or "us-east-1",
            "access_key": props.get("s3.access-key-id"),
            "secret_key": props.get("s3.secret-access-key"),
            "session_token": props.get("s3.session-token"),
        }
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options["endpoint_override"] = endpoint_url.netloc or endpoint
            options["scheme"] = endpoint_url.scheme or "https"
        fs = pafs.S3FileSystem(**{k: v for k, v in options.items() if v is not None})
        return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
    return pafs.FileSystem.from_uri(uri)


OBJECT_STORES = ("s3", "gcs")


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
