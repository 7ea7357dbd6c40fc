"""Files and directories only their owner may read: the audit database holds claims (names, member
ids, birth dates), so it, its WAL and shared-memory files, the lock files beside it and the
reference database are created mode 0600 in a data directory created 0700, whatever the umask.

SQLite creates a database's -wal, -shm and -journal files with the mode of the database file
itself, so creating that file first, owner-only, is enough for them."""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("scrubber.files")

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: str | Path) -> None:
    """Create the directory (and its parents) if it is missing; the directory itself owner-only.
    An existing directory is left as it is: its permissions are the administrator's choice."""
    path = Path(path)
    if not path.exists():
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIRECTORY_MODE)  # mkdir's mode is filtered by the umask


def private_file(path: str | Path) -> None:
    """Create the file, empty and owner-only, if it is missing; take the group's and others'
    permissions away from an existing one (a database made by an earlier version)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), FILE_MODE)
    except FileExistsError:
        current = stat.S_IMODE(path.stat().st_mode)
        if current & 0o077:
            try:
                os.chmod(path, current & 0o700)
                log.warning(f"{path.name} was readable by other users: made owner-only")
            except PermissionError:
                log.warning(f"{path.name} is readable by other users and not ours to change: make it owner-only")
        return
    try:
        os.fchmod(fd, FILE_MODE)  # open's mode is filtered by the umask
    finally:
        os.close(fd)
