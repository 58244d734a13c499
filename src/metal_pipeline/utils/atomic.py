"""Atomic file writes: a crash or a bad input never leaves a half-written output.

A write that fails for a reason the user can fix (no write permission, a
read-only file system, a full disk, a file where a folder should be) raises
:class:`~metal_pipeline.errors.OutputWriteError`: one paragraph naming the
*final* path (never the temporary file) and the fix. Other errors propagate
unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from metal_pipeline.errors import OutputWriteError

#: errno values of failed writes that the user can fix (anything else is left as it is).
USER_FIXABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EISDIR,
                 errno.ENOTDIR, errno.EEXIST}


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only on success.

    The temporary file lives in the same folder so the final ``os.replace`` is
    atomic on POSIX. On any exception the temporary file is removed and the
    previous ``target`` (if any) is left untouched.

    Raises:
        OutputWriteError: the folder cannot be created or written, the file system is
            read-only or full (the message names ``target``).
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        if exc.errno in USER_FIXABLE_ERRNOS:
            raise write_error(target, exc) from exc
        raise
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the mode a plain open() would
        # (0666 minus the umask) so other users and services can read outputs.
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if _is_this_write(exc, tmp_path, target):
            raise write_error(target, exc) from exc
        raise


def _is_this_write(exc: BaseException, tmp: Path, target: Path) -> bool:
    """An ``OSError`` of writing ``tmp`` or moving it to ``target`` (not, say, of reading an input)."""
    if not isinstance(exc, OSError) or isinstance(exc, OutputWriteError) or exc.errno not in USER_FIXABLE_ERRNOS:
        return False
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True  # whatever file it names, the output could not be written
    names = {str(tmp), str(target), os.fspath(tmp.resolve()), os.fspath(target.resolve())}
    return str(exc.filename) in names or str(getattr(exc, "filename2", None)) in names


def write_error(target: str | os.PathLike, exc: OSError, action: str = "write") -> OutputWriteError:
    """The one-paragraph error for a failed write (or ``action="remove"``) of ``target``.

    ``exc`` is the ``OSError`` of the failure; the message names ``target``, the
    cause and the fix.
    """
    target = Path(target)
    folder = target.parent
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        blocked = _first_existing(Path(exc.filename).parent if exc.filename else folder, folder)
        what = (f"permission denied: this user may not write in the folder '{blocked}'" if blocked == folder
                else f"permission denied: this user may not create folders in '{blocked}'")
        fix = (f"make '{blocked}' writable for this user (e.g. chmod u+rwx '{blocked}', or chown it), or run "
               "as a user who may write there")
    elif code == errno.EROFS:
        what = f"the file system holding '{folder}' is read-only"
        fix = ("remount it read-write, or run the project from a writable copy (the data/ paths are set in "
               "conf/base/catalog.yml)")
    elif code in (errno.ENOSPC, errno.EDQUOT):
        what = ("no space left on the device" if code == errno.ENOSPC else "the disk quota is exceeded") + \
               f" holding '{folder}'"
        fix = "free some space (e.g. delete old runs under data/06_models or data/07_model_output) and rerun"
    elif code == errno.EISDIR:
        what = "a folder of that name is in the way"
        fix = f"move or delete the folder '{target}'"
    else:  # ENOTDIR, EEXIST: a file where a folder should be
        in_way = Path(exc.filename) if exc.filename else folder
        what = f"'{in_way}' is a file, not a folder"
        fix = f"move or delete the file '{in_way}'"
    error = OutputWriteError(f"Cannot {action} '{target}': {what}. Nothing was replaced: the previous file, if any, "
                             f"is unchanged. Fix: {fix}.")
    error.errno = code
    return error


def _first_existing(path: Path, fallback: Path) -> Path:
    """``path`` or its nearest existing parent (the folder whose permission stopped the write)."""
    for candidate in (path, *path.parents):
        if os.path.exists(candidate):  # False, not an error, for a folder this user may not search
            return candidate
    return fallback


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
