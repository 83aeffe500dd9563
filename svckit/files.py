"""Files a service reads again when they are replaced under it: keys, certificates and tokens being rotated."""

from __future__ import annotations

import os

FileVersion = tuple[int, int, int]


def file_version(path: str) -> FileVersion:
    """What tells one version of a file from the next: its inode (a file replaced by a rename has a new one, even
    within one tick of a coarse file system clock, where the modification time stays the same), its modification
    time and its size."""
    status = os.stat(path)
    return status.st_ino, status.st_mtime_ns, status.st_size
