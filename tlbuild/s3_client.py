"""S3 (or an S3-compatible store) through boto3: a client with bounded timeouts and
boto3's standard retry mode, paginated listings, object reads and managed uploads,
and boto3's errors mapped to tlbuild's (each with its exit code, never a secret).
Credentials come the boto3 way (environment, profile, instance role), never from
tlbuild's config. Used by the S3 frames source, the S3 sink and `tlbuild s3`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import AuthError, CameraNotFound, RemoteError, TlbuildError

log = logging.getLogger("tlbuild.s3")
MAX_KEYS = 500_000  # one listing; a prefix holding more is an error, not a memory fill
DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
          "InvalidToken", "403")


class S3Client:
    def __init__(self, bucket: str, *, region: str | None = None,
                 endpoint_url: str | None = None, profile: str | None = None,
                 tls_insecure: bool = False, retries: int = 3, pool: int = 10):
        import boto3
        from botocore.config import Config as BotoConfig
        self.bucket = bucket
        if tls_insecure:
            log.warning("TLS verification is OFF for %s (tls_insecure): the connection "
                        "can be intercepted", endpoint_url or "S3")
        with self.errors():
            session = boto3.session.Session(profile_name=profile, region_name=region)
            self.client = session.client(
                "s3", endpoint_url=endpoint_url, verify=not tls_insecure,
                config=BotoConfig(retries={"mode": "standard", "max_attempts": retries},
                                  max_pool_connections=max(pool, 10), connect_timeout=5,
                                  read_timeout=60))

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """boto3's errors as tlbuild's."""
        try:
            yield
        except Exception as error:
            mapped = self.map_error(error)
            if mapped is error:
                raise
            raise mapped from None

    def map_error(self, error: Exception) -> Exception:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            ProfileNotFound,
        )
        bucket = self.bucket
        if isinstance(error, NoCredentialsError):
            return AuthError("no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role")
        if isinstance(error, ProfileNotFound):
            return AuthError(f"AWS profile not found: {error}")
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            if code in DENIED:
                return AuthError(f"access to S3 bucket {bucket!r} denied ({code}): check "
                                 "the credentials and that they may list and read the "
                                 "bucket")
            if code in ("NoSuchBucket", "404") and "Key" not in str(error):
                return CameraNotFound(f"S3 bucket {bucket!r} does not exist")
            return RemoteError(f"S3 error {code or 'unknown'} on bucket {bucket!r}")
        if isinstance(error, EndpointConnectionError):
            return RemoteError(f"cannot reach the S3 endpoint for bucket {bucket!r}")
        if isinstance(error, BotoCoreError):
            return RemoteError(f"S3 failure on bucket {bucket!r}: "
                               f"{error.__class__.__name__}")
        return error

    def keys(self, prefix: str) -> list[dict[str, Any]]:
        """Every object under `prefix`: key, ETag and size (paginated, bounded)."""
        objects: list[dict[str, Any]] = []
        with self.errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                objects += [{"key": item["Key"], "etag": item["ETag"].strip('"'),
                             "size": item["Size"]} for item in page.get("Contents", [])]
                if len(objects) > MAX_KEYS:
                    raise RemoteError(f"S3 bucket {self.bucket!r} lists more than "
                                      f"{MAX_KEYS} objects under {prefix!r}")
        return objects

    def prefixes(self, prefix: str = "") -> list[str]:
        """The 'folders' directly under `prefix` (device serials, or a device's dates)."""
        found: list[str] = []
        with self.errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            for page in pages:
                found += [p["Prefix"][len(prefix):].rstrip("/")
                          for p in page.get("CommonPrefixes", [])]
        return found

    def read(self, key: str) -> bytes:
        with self.errors():
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict[str, Any] | None:
        """An object's size and metadata, or None when there is none."""
        from botocore.exceptions import ClientError
        with self.errors():
            try:
                return self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey",
                                                                    "NotFound"):
                    return None
                raise

    def upload(self, path: Path, key: str, content_type: str,
               metadata: dict[str, str]) -> None:
        """boto3's managed transfer: multipart above 64 MiB, streamed from disk."""
        from boto3.s3.transfer import TransferConfig
        with self.errors():
            self.client.upload_file(
                str(path), self.bucket, key,
                ExtraArgs={"ContentType": content_type, "Metadata": metadata},
                Config=TransferConfig(multipart_threshold=64 << 20,
                                      multipart_chunksize=64 << 20))

    def check_write(self, prefix: str) -> str:
        """The bucket answers and a probe object can be written under `prefix` (then
        deleted): what publishing needs, proved without publishing."""
        key = "/".join(part for part in (prefix.strip("/"), ".tlbuild-doctor-probe")
                       if part)
        with self.errors():
            self.client.head_bucket(Bucket=self.bucket)
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"")
        try:
            with self.errors():
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except TlbuildError as error:  # write-only credentials: the probe stays
            return f"writable, but the probe s3://{self.bucket}/{key} stays ({error})"
        return "writable"
