"""Domain errors. Every failure a user can cause or meet is one of these.

Entry points turn them into one clear line (CLI) or an HTTP response (web); services
raise them and never print.
"""

from __future__ import annotations


class DataTracError(Exception):
    """Base of every error DataTrac reports to a user as one line."""

    exit_code = 1


class InvalidHash(DataTracError):
    """A hash argument that is not 6-64 lowercase hex characters."""


class UnknownDataset(DataTracError):
    """No dataset has that hash (or hash prefix)."""


class AmbiguousHash(DataTracError):
    """A hash prefix that matches more than one dataset."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.prefix = prefix
        self.candidates = candidates
        shown = ", ".join(candidates[:10]) + (" ..." if len(candidates) > 10 else "")
        super().__init__(
            f"hash prefix {prefix!r} is ambiguous: it matches {len(candidates)} datasets "
            f"({shown}); give more characters"
        )


class BadPath(DataTracError):
    """A local path that cannot be read from or written to as asked."""


class StoreError(DataTracError):
    """The object store failed (unreachable, refused, full, ...)."""


class ObjectMissing(StoreError):
    """The store has no object for a hash that the registry says it has."""

    def __init__(self, sha256: str, where: str = "the store") -> None:
        self.sha256 = sha256
        super().__init__(f"object {sha256} is missing from {where}")


class IntegrityFailure(DataTracError):
    """Bytes whose SHA-256 is not the one they are stored or fetched under."""


class PermissionDenied(DataTracError):
    """The acting user lacks the permission an action needs."""

    exit_code = 3


class AuthenticationFailed(DataTracError):
    """A user name and password that do not match a Django user."""

    exit_code = 3


class LineageError(DataTracError):
    """A lineage link that would break the graph (self link, cycle)."""


class ConfirmationRequired(DataTracError):
    """A destructive action needs a yes/--force it did not get."""


class NotMigrated(DataTracError):
    """The registry database has no tables yet."""


class DeleteRefused(DataTracError):
    """A dataset row deleted other than by the purge service (bytes and rows in step)."""


class UploadError(DataTracError):
    """An upload through the API that cannot go on as sent (bad part, wrong hash...)."""

    #: The API's error code and HTTP status (datatrac_site.api reads them).
    code = "invalid_upload"
    status = 422


class LengthRequired(UploadError):
    code = "length_required"
    status = 411


class UploadTooLarge(UploadError):
    code = "too_large"
    status = 413


class DigestRequired(UploadError):
    code = "digest_required"
    status = 400


class DigestMismatch(UploadError):
    code = "digest_mismatch"
    status = 422


class BadPart(UploadError):
    """A part out of range, shorter or longer than its place in the upload."""

    code = "bad_part"
    status = 422


class UnknownUpload(UploadError):
    """No such upload, not the caller's, or expired."""

    code = "unknown_upload"
    status = 404


class UploadIncomplete(UploadError):
    """Complete asked before every part arrived, or while another complete runs."""

    code = "upload_incomplete"
    status = 409


class DatasetDeleted(DataTracError):
    """The dataset is a tombstone: its bytes are gone."""


class RangeNotSatisfiable(DataTracError):
    """A Range that selects no byte of the object."""

    def __init__(self, message: str, size: int) -> None:
        self.size = size
        super().__init__(message)
