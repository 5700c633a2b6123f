"""Peak memory of publishing a large video to an indi-allsky SyncAPI endpoint.

    python bench/bench_publish.py [--mib 512]

Each measurement runs in a fresh child process and reports its peak RSS: a baseline
that only imports tlbuild, tlbuild's streamed multipart upload, and the reference
client's way (requests' `files=`, which builds the whole body in memory). The
receiving server on 127.0.0.1 counts the bytes and discards them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHILD = r"""
import io, json, resource, sys
from pathlib import Path
mode, url, video = sys.argv[1], sys.argv[2], Path(sys.argv[3])
from tlbuild.config import AllskySink, Secret, SecretSource
from tlbuild.publish.indi_allsky import SyncApiClient
if mode == "tlbuild":
    sink = AllskySink(name="bench", url=url, username="u", apikey=SecretSource(env="X"))
    SyncApiClient(sink, Secret("key")).send(
        "video", {"type": 3, "file_size": video.stat().st_size}, video, video.name, "PUT")
elif mode == "files":
    import requests
    with open(video, "rb") as handle:
        requests.put(url + "/sync/v1/video", files=[
            ("metadata", ("metadata.json", io.StringIO("{}"), "application/json")),
            ("media", (video.name, handle, "application/octet-stream"))]).raise_for_status()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
"""


class Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_PUT(self) -> None:
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        body = json.dumps({"id": 1, "url": "/v/1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def peak_mib(mode: str, url: str, video: Path) -> float:
    result = subprocess.run([sys.executable, "-c", CHILD, mode, url, str(video)],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512, help="video size in MiB")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/indi-allsky"
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "big_timelapse.mp4"
        with open(video, "wb") as handle:
            chunk = os.urandom(1 << 20)
            for _ in range(args.mib):
                handle.write(chunk)
        baseline = peak_mib("baseline", url, video)
        ours = peak_mib("tlbuild", url, video)
        whole = peak_mib("files", url, video)
    server.shutdown()
    print(f"video: {args.mib} MiB")
    print(f"peak RSS, imports only (baseline):   {baseline:7.1f} MiB")
    print(f"peak RSS, tlbuild streamed upload:   {ours:7.1f} MiB "
          f"(+{ours - baseline:.1f} MiB over the baseline, "
          f"{(ours - baseline) / args.mib:.3f}x the video)")
    print(f"peak RSS, requests files= (in memory): {whole:7.1f} MiB "
          f"(+{whole - baseline:.1f} MiB, {(whole - baseline) / args.mib:.2f}x the video)")


if __name__ == "__main__":
    main()
