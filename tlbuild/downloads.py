"""Checks for downloaded media (`HttpClient.download`'s `signature` and `validate`):
the first bytes say what came (an HTML page instead of video is common), and the
whole file must read as what it claims; a failed check is worth asking again."""

from __future__ import annotations

from pathlib import Path

from .errors import MediaError
from .http import Retryable
from .probe import VideoInfo, jpeg_size, probe


def jpeg_signature(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return None
    return "not a JPEG (an HTML page?)" if head.lstrip()[:1] == b"<" else "not a JPEG"


def whole_jpeg(path: Path) -> bytes:
    """The file's bytes when it is a complete JPEG (a header with a size, and the
    end-of-image marker); a cut one is worth asking again."""
    data = path.read_bytes()
    if jpeg_size(data) is None or not data.rstrip(b"\0").endswith(b"\xff\xd9"):
        raise Retryable("truncated JPEG")
    return data


def mp4_signature(head: bytes) -> str | None:
    if head.lstrip()[:1] == b"<":
        return "the answer is an HTML page, not video"
    if len(head) >= 8 and head[4:8] != b"ftyp":
        return "the answer is not an MP4 (no ftyp box)"
    return None


def probe_video(path: Path) -> VideoInfo:
    try:
        return probe(path)
    except MediaError as exc:
        raise Retryable(f"not valid video: {exc}") from None
