"""Benchmark listing and downloading FixedIT frames from a local S3 (moto server).

    python bench/bench_s3.py [--frames 2000] [--workers 8] [--latency-ms 20]

Baseline, the vendor viewer's way: list, then get each object one at a time.
tlbuild: `tlbuild fetch` with its concurrency (doit threads, one task per frame).
Both read the same bucket from a moto server in its own process on 127.0.0.1; the
figure is frames per second for each and their ratio. On loopback the moto process
itself is the limit (one core); --latency-ms puts a proxy in front of it that delays
each connection like a real S3 round trip, which is where concurrency pays.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests

from tlbuild.ffmpeg import ffmpeg_exe

DEVICE, BUCKET, DATE = "ACCC8E000001", "bench-frames", "2024-01-15"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url, timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    sys.exit("moto server did not start")


def delay_proxy(listen_port: int, target_port: int, latency: float) -> None:
    """Forward 127.0.0.1:listen_port to target_port, delaying each new connection."""
    import asyncio

    async def pipe(reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(client_reader, client_writer) -> None:
        await asyncio.sleep(latency)
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1",
                                                                         target_port)
        await asyncio.gather(pipe(client_reader, upstream_writer),
                             pipe(upstream_reader, client_writer),
                             return_exceptions=True)

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def fill(client, frames: int, image: bytes) -> None:
    def put(n: int) -> None:
        stamp = 1705305600 + n * 30
        clock = time.gmtime(stamp)
        stem = f"{DEVICE}/{DATE}/timelapse-{clock.tm_hour:02d}-{clock.tm_min:02d}-" \
               f"{clock.tm_sec:02d}"
        if n % 2:
            client.put_object(Bucket=BUCKET, Key=stem + ".jpg", Body=image)
            client.put_object(Bucket=BUCKET, Key=stem + ".json",
                              Body=json.dumps({"timestamp": stamp}).encode())
        else:
            text = base64.b64encode(image).decode()
            client.put_object(Bucket=BUCKET, Key=stem + ".json", Body=json.dumps(
                {"fields": {"image_base64": text}, "timestamp": stamp}).encode())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(frames)))


def vendor_way(client) -> int:
    """List, then download every object one after the other."""
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{DEVICE}/{DATE}/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if item["Key"].endswith(".json"):
                document = json.loads(body)
                if "fields" in document:
                    base64.b64decode(document["fields"]["image_base64"])
                    count += 1
            else:
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay added to each S3 connection (0: plain loopback)")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    work = Path(tempfile.mkdtemp(prefix="tlbuild-bench-s3-"))
    image = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                            "testsrc2=size=640x360", "-frames:v", "1", "-f", "mjpeg", "-"],
                           capture_output=True, check=True).stdout
    moto, url = start_moto()
    proxy = None
    try:
        client = boto3.client("s3", endpoint_url=url)
        client.create_bucket(Bucket=BUCKET)
        fill(client, args.frames, image)
        if args.latency_ms:
            import multiprocessing
            port = free_port()
            proxy = multiprocessing.Process(target=delay_proxy, daemon=True, args=(
                port, int(url.rsplit(":", 1)[1]), args.latency_ms / 1000))
            proxy.start()
            time.sleep(0.5)
            url = f"http://127.0.0.1:{port}"
            client = boto3.client("s3", endpoint_url=url)

        start = time.perf_counter()
        count = vendor_way(client)
        baseline = time.perf_counter() - start

        config = work / "bench.toml"
        config.write_text(f'out = "{work / "out"}"\n[cameras.site]\nsource = "s3-frames"\n'
                          f'bucket = "{BUCKET}"\ndevice = "{DEVICE}"\n'
                          f'endpoint_url = "{url}"\nregion = "us-east-1"\n'
                          f'workers = {args.workers}\n')
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tlbuild.cli", "--config", str(config),
                        "--camera", "site", "--quiet", "fetch", "--date", DATE],
                       check=True)
        ours = time.perf_counter() - start
        fetched = len(list((work / "out").rglob("*.jpg")))
    finally:
        moto.terminate()
        if proxy is not None:
            proxy.terminate()
    print(f"frames: {args.frames} ({len(image) / 1024:.0f} KiB JPEGs, old and new formats), "
          f"added latency {args.latency_ms:g} ms per connection")
    print(f"one at a time (vendor viewer's way): {count} frames in {baseline:.1f} s = "
          f"{count / baseline:.0f} frames/s")
    print(f"tlbuild fetch, {args.workers} workers:        {fetched} frames in {ours:.1f} s = "
          f"{fetched / ours:.0f} frames/s")
    print(f"ratio tlbuild / one at a time: {baseline / ours:.2f}x")


if __name__ == "__main__":
    main()
