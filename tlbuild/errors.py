"""Errors that end a build, each carrying the exit code `tlbuild` reports for it."""


class TlbuildError(Exception):
    """A failure with a message meant for the user (never a secret in it)."""

    exit_code = 5


class UsageError(TlbuildError):
    exit_code = 2


class ConfigError(UsageError):
    pass


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


class Interrupted(TlbuildError):
    exit_code = 130
