"""Publish a timelapse to S3 (or an S3-compatible store) with boto3's managed,
multipart transfer. An object that already has the same size and SHA-256 is kept."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..config import S3Sink

log = logging.getLogger("tlbuild.publish")


def s3_sink_client(sink: S3Sink) -> Any:
    import boto3
    from botocore.config import Config as BotoConfig
    session = boto3.session.Session(profile_name=sink.profile, region_name=sink.region)
    if sink.tls_insecure:
        log.warning("TLS verification is OFF for %s (sink %s, tls_insecure): the "
                    "connection can be intercepted", sink.endpoint_url or "S3", sink.name)
    return session.client("s3", endpoint_url=sink.endpoint_url,
                          verify=not sink.tls_insecure,
                          config=BotoConfig(connect_timeout=5, read_timeout=60,
                                            retries={"mode": "standard"}))


def object_key(sink: S3Sink, camera: str, date: str, filename: str) -> str:
    return "/".join(part for part in (sink.prefix, camera, date, filename) if part)


def upload(sink: S3Sink, path: Path, key: str, size: int, sha256: str) -> dict[str, Any]:
    """Upload unless the object there already matches; return what the receipt needs."""
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError

    from ..sources.s3_frames import s3_error
    client = s3_sink_client(sink)
    try:
        try:
            head = client.head_object(Bucket=sink.bucket, Key=key)
            same = (head["ContentLength"] == size
                    and head.get("Metadata", {}).get("sha256") == sha256)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey",
                                                                    "NotFound"):
                raise
            same = False
        if same:
            log.info("%s: s3://%s/%s is already up to date", sink.name, sink.bucket, key)
        else:
            client.upload_file(
                str(path), sink.bucket, key,
                ExtraArgs={"ContentType": "video/mp4", "Metadata": {"sha256": sha256}},
                Config=TransferConfig(multipart_threshold=64 << 20,
                                      multipart_chunksize=64 << 20))
            log.info("%s: uploaded s3://%s/%s (%d bytes)", sink.name, sink.bucket, key,
                     size)
    except Exception as error:  # noqa: BLE001 - boto3's errors, mapped to ours
        raise s3_error(error, sink.bucket) from None
    return {"remote_id": key, "url": f"s3://{sink.bucket}/{key}", "skipped": same}
