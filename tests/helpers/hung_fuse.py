#!/usr/bin/python3
# A FUSE filesystem that never answers: the root's attributes are served
# (so the mount comes up and path lookups reach it), every other request
# (statfs, create, open, readdir, ...) blocks for ever. Killing this process
# aborts the connection, and the blocked callers get ENOTCONN.
# Usage: hung_fuse.py MOUNTPOINT   (Debian: python3-fusepy, fuse3)
import errno
import stat
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations

NEVER = threading.Event()


class Hung(Operations):
    def getattr(self, path, fh=None):
        if path == "/":
            now = time.time()
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, st_size=0,
                        st_ctime=now, st_mtime=now, st_atime=now, st_uid=0, st_gid=0)
        NEVER.wait()
        raise FuseOSError(errno.EIO)

    def __call__(self, op, *args):
        if op in ("init", "destroy", "getattr"):
            return super().__call__(op, *args)
        NEVER.wait()
        raise FuseOSError(errno.EIO)


if __name__ == "__main__":
    FUSE(Hung(), sys.argv[1], foreground=True, nothreads=False)
