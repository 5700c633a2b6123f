"""Publish a timelapse to S3 (or an S3-compatible store) with boto3's managed,
multipart transfer. An object that already has the same size and SHA-256 is kept."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import S3Sink
from ..s3_client import S3Client

log = logging.getLogger("tlbuild.publish")


def object_key(sink: S3Sink, camera: str, date: str, filename: str) -> str:
    return "/".join(part for part in (sink.prefix, camera, date, filename) if part)


def client_for(sink: S3Sink) -> S3Client:
    return S3Client(sink.bucket, region=sink.region, endpoint_url=sink.endpoint_url,
                    profile=sink.profile, tls_insecure=sink.tls_insecure)


def check(sink: S3Sink) -> str:
    """What `doctor` says of the sink: its bucket answers and takes an object under
    the prefix (a probe, written and deleted)."""
    where = f"s3://{sink.bucket}/{sink.prefix}".rstrip("/")
    return f"{where}: {client_for(sink).check_write(sink.prefix)}"


def upload(sink: S3Sink, path: Path, key: str, size: int, sha256: str) -> dict[str, Any]:
    """Upload unless the object there already matches; return what the receipt needs."""
    client = client_for(sink)
    head = client.head(key)
    same = head is not None and head["ContentLength"] == size and \
        head.get("Metadata", {}).get("sha256") == sha256
    if same:
        log.info("%s: s3://%s/%s is already up to date", sink.name, sink.bucket, key)
    else:
        client.upload(path, key, "video/mp4", {"sha256": sha256})
        log.info("%s: uploaded s3://%s/%s (%d bytes)", sink.name, sink.bucket, key, size)
    return {"remote_id": key, "url": f"s3://{sink.bucket}/{key}", "skipped": same}
