"""Errors that end a build, each carrying the exit code `tlbuild` reports for it."""


class TlbuildError(Exception):
    """A failure with a message meant for the user (never a secret in it)."""

    exit_code = 5


class UsageError(TlbuildError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class ExtraMissing(UsageError):
    """An optional part (a pip extra) that this use needs is not installed."""


class AuthError(TlbuildError):
    exit_code = 3


class CameraNotFound(TlbuildError):
    exit_code = 4


class RemoteError(TlbuildError):
    """The remote system failed: unreachable after retries, TLS rejected, bad answers."""

    exit_code = 5


class MediaError(TlbuildError):
    """ffmpeg failed, or a file is not the video it should be."""

    exit_code = 5


class StorageError(TlbuildError):
    """Writing a file failed: disk full, permissions, a vanished folder."""

    exit_code = 5


class NothingBuilt(TlbuildError):
    """Every item of the day failed: there is no timelapse at all."""

    exit_code = 6


class Busy(TlbuildError):
    """Another run is building the same camera-day."""

    exit_code = 7


def storage_error(error: OSError) -> StorageError:
    """One line for a file the run could not write: the path and the reason."""
    where = f" {error.filename}" if error.filename else ""
    return StorageError(f"cannot write{where}: {error.strerror or error}")
