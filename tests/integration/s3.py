"""moto's S3 server over real HTTP on loopback, with request signing enforced (the `s3_server`
fixture in conftest.py): what the object-store tests run against."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore.config import Config

from .services import free_port


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, secret_key: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(max_pool_connections=32),
        )

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def new_bucket(self, prefix: str = "src") -> str:
        bucket = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def put(self, bucket: str, objects: Iterable[tuple[str, bytes]], threads: int = 16) -> None:
        """Upload many objects at once (one client shared by a thread pool)."""
        client = self.client()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda item: client.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects))

    def put_many(self, bucket: str, objects: Iterable[tuple[str, bytes]]) -> None:
        """Create many objects fast: straight into the server's store (it runs in this process),
        instead of one signed HTTP request each. Listings and reads still go over HTTP."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
        for key, body in objects:
            backend.put_object(bucket, key, body)

    def storage(self, secret_key: str | None = None) -> dict[str, str]:
        """`source.storage` / catalog properties with the credentials as plain values."""
        return {
            "s3.endpoint": self.endpoint,
            "s3.region": "us-east-1",
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": secret_key or self.secret_key,
        }


@contextmanager
def moto_s3() -> Iterator[S3Server]:
    """moto accepts any credentials unless authentication is switched on: an IAM user with an
    access key is created while it is off, then it is switched on, so a wrong secret key fails
    the signature check exactly as AWS, MinIO or Ceph would."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous_auth = None
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        user = f"dativo-{uuid.uuid4().hex[:8]}"  # moto's accounts outlive a server: each server its own user
        iam.create_user(UserName=user)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        reply = requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10)
        reply.raise_for_status()
        previous_auth = reply.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        if previous_auth is not None:  # moto's auth switch is process-wide: leave it as we found it
            requests.post(f"{endpoint}/moto-api/reset-auth", data=previous_auth.encode(), timeout=10)
        server.stop()
