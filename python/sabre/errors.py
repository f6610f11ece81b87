"""Exceptions: one class per sabre status code.

Every failing sabre call raises a subclass of :class:`SabreError` whose
``status`` is the C status code (negative), ``name`` its C name
(``"SABRE_ECORRUPT"``) and whose message is ``sabre_last_error()`` taken
right after the failing call, on the same thread.  Catch the base class, or
the specific one (``except sabre.CorruptError``).
"""
from __future__ import annotations

from typing import Dict, NoReturn, Type

from ._ffi import ffi, lib


class SabreError(Exception):
    """A sabre call failed; ``status`` is the C status, ``name`` its name."""

    status: int = 0
    name: str = "SABRE_E?"

    def __init__(self, message: str, status: int = 0, name: str = "") -> None:
        super().__init__(message)
        if status:
            self.status = status
        if name:
            self.name = name
        self.message = message

    def __str__(self) -> str:
        return "%s: %s" % (self.name, self.message)


def _cls(cname: str, pyname: str, doc: str) -> Type[SabreError]:
    value = getattr(lib, cname, None)
    return type(pyname, (SabreError,), {"status": value if value is not None else 0, "name": cname, "__doc__": doc})


InvalidError = _cls("SABRE_EINVAL", "InvalidError", "Invalid argument or descriptor (SABRE_EINVAL).")
NoMemoryError = _cls("SABRE_ENOMEM", "NoMemoryError", "Out of process memory (SABRE_ENOMEM).")
NoSpaceError = _cls("SABRE_ENOSPC", "NoSpaceError", "No space: /dev/shm, disk, region or ring full (SABRE_ENOSPC).")
SystemCallError = _cls("SABRE_EIO", "SystemCallError", "A system call failed (SABRE_EIO).")
NotFoundError = _cls("SABRE_ENOENT", "NotFoundError", "No such region, object, field, ... (SABRE_ENOENT).")
ExistsError = _cls("SABRE_EEXIST", "ExistsError", "Already exists (SABRE_EEXIST).")
CorruptError = _cls("SABRE_ECORRUPT", "CorruptError", "Shared data fails validation (SABRE_ECORRUPT).")
VersionError = _cls("SABRE_EVERSION", "VersionError", "ABI major version mismatch (SABRE_EVERSION).")
LayoutError = _cls("SABRE_ELAYOUT", "LayoutError", "Layout hash or shape mismatch (SABRE_ELAYOUT).")
SchemaError = _cls("SABRE_ESCHEMA", "SchemaError", "Schema text does not compile (SABRE_ESCHEMA).")
AgainError = _cls("SABRE_EAGAIN", "AgainError", "Nothing available now (SABRE_EAGAIN).")
TimedOutError = _cls("SABRE_ETIMEDOUT", "TimedOutError", "A bounded wait expired (SABRE_ETIMEDOUT).")
BusyError = _cls("SABRE_EBUSY", "BusyError", "Resource in use (SABRE_EBUSY).")
StaleError = _cls("SABRE_ESTALE", "StaleError", "Stale handle or entity id (SABRE_ESTALE).")
DetachedError = _cls("SABRE_EDETACHED", "DetachedError", "Handle is detached (SABRE_EDETACHED).")
PeerError = _cls("SABRE_EPEER", "PeerError", "A peer died or stopped responding (SABRE_EPEER).")
NotSupportedError = _cls("SABRE_ENOTSUP", "NotSupportedError", "Not supported here (SABRE_ENOTSUP).")
PermissionDeniedError = _cls("SABRE_EPERM", "PermissionDeniedError", "Permission denied (SABRE_EPERM).")
FullError = _cls("SABRE_EFULL", "FullError", "A bounded structure is full (SABRE_EFULL).")
CycleError = _cls("SABRE_ECYCLE", "CycleError", "Dependency cycle (SABRE_ECYCLE).")
JobError = _cls("SABRE_EJOB", "JobError", "A user job or system failed (SABRE_EJOB).")
StateError = _cls("SABRE_ESTATE", "StateError", "Call not valid in the current state (SABRE_ESTATE).")
RangeError = _cls("SABRE_ERANGE", "RangeError", "Value out of range (SABRE_ERANGE).")
ClosedError = _cls("SABRE_ECLOSED", "ClosedError", "The other side closed the object (SABRE_ECLOSED).")

_BY_STATUS: Dict[int, Type[SabreError]] = {}
for _c in list(globals().values()):
    if isinstance(_c, type) and issubclass(_c, SabreError) and _c is not SabreError and _c.status:
        _BY_STATUS[_c.status] = _c


def error_class(status: int) -> Type[SabreError]:
    """The exception class of a status code (SabreError for an unknown one)."""
    return _BY_STATUS.get(status, SabreError)


def raise_status(status: int, what: str = "") -> NoReturn:
    """Raise the exception for `status` with the thread's last sabre error."""
    detail = ffi.string(lib.sabre_last_error()).decode("utf-8", "replace")
    name = ffi.string(lib.sabre_status_name(status)).decode()
    if not detail:
        detail = ffi.string(lib.sabre_strerror(status)).decode()
        if what:
            detail = "%s: %s" % (what, detail)
    raise error_class(status)(detail, status, name)


def check(status: int, what: str = "") -> int:
    """Return status if it is SABRE_OK (0) or positive, else raise."""
    if status < 0:
        raise_status(status, what)
    return status

