"""`tlbuild s3`: what a bucket of FixedIT Data Agent frames holds."""

from __future__ import annotations

import argparse
from typing import Any

from ..s3_client import S3Client


def add(commands: Any) -> None:
    s3 = commands.add_parser("s3", help="list what a FixedIT Data Agent bucket holds",
                             description="List devices, or a device's dates, in a bucket "
                                         "of FixedIT Data Agent frames (AWS credentials "
                                         "the boto3 way: environment, profile, role).")
    actions = s3.add_subparsers(dest="s3_command", metavar="WHAT", required=True)
    devices = actions.add_parser("devices", help="device serials in the bucket")
    dates = actions.add_parser("dates", help="dates stored for one device")
    dates.add_argument("--device", required=True, help="the camera's serial number")
    for sub in (devices, dates):
        sub.add_argument("--bucket", required=True)
        sub.add_argument("--region")
        sub.add_argument("--endpoint-url", help="S3-compatible store, e.g. MinIO")
        sub.add_argument("--profile", help="AWS profile")



def run(args: argparse.Namespace) -> int:
    client = S3Client(args.bucket, region=args.region, endpoint_url=args.endpoint_url,
                      profile=args.profile)
    prefix = f"{args.device}/" if args.s3_command == "dates" else ""
    for name in client.prefixes(prefix):
        print(name)
    return 0


