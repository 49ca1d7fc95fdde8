# Copyright (c) mmgcp contributors. All rights reserved.
"""One benchmark invocation per work dir at a time.

Two invocations on one work dir (two terminals, a resubmitted job) would train the same run in
the same folder at the same time. :class:`WorkDirLock` holds ``<work_dir>/benchmark.lock``: a file
created exclusively (``O_CREAT | O_EXCL``, which also works on shared file systems that have no
``flock``) that records who holds it (host, pid, the process's start time, the command, since
when) and is touched every ``heartbeat_s`` seconds while held. A lock is stale -- left by a
killed invocation -- when its process is gone from this host (or its pid now belongs to another
process), or, from another host, when its heartbeat is older than ``stale_after_s``. A stale lock
is taken over; a live one stops the new invocation at once with who holds it and since when.
"""
import json
import os
import os.path as osp
import socket
import sys
import threading
import time
from typing import Optional

LOCK_FILE = 'benchmark.lock'


class WorkDirBusyError(RuntimeError):
    """Another live invocation holds the work dir."""


def _process_start(pid: int) -> Optional[str]:
    """The start time of a process on this host (field 22 of /proc/<pid>/stat), or None."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive_here(holder: dict) -> bool:
    pid = int(holder.get('pid', -1))
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = holder.get('process_start')
    return start is None or _process_start(pid) == start


class WorkDirLock:
    """Hold a benchmark work dir for the lifetime of a ``with`` block.

    Args:
        work_dir (str): The benchmark's work dir (created if needed).
        heartbeat_s (float): How often the lock file is touched while held. Defaults to 30.
        stale_after_s (float): Age of the heartbeat after which a lock of another host counts as
            left behind. Defaults to 180.
    """

    def __init__(self, work_dir: str, heartbeat_s: float = 30.0, stale_after_s: float = 180.0):
        self.path = osp.join(work_dir, LOCK_FILE)
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.took_over: Optional[dict] = None

    def _record(self) -> dict:
        return dict(host=socket.gethostname(), pid=os.getpid(),
                    process_start=_process_start(os.getpid()),
                    command=' '.join(sys.argv), since=time.strftime('%Y-%m-%d %H:%M:%S'),
                    since_epoch=time.time(), slurm_job=os.environ.get('SLURM_JOB_ID'))

    def _holder(self) -> Optional[dict]:
        try:
            with open(self.path) as f:
                holder = json.load(f)
            holder['heartbeat_age_s'] = time.time() - os.stat(self.path).st_mtime
            return holder
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # half-written by a process killed while taking it
            return dict(unreadable=True, heartbeat_age_s=time.time() - os.stat(self.path).st_mtime)

    def _stale(self, holder: dict) -> bool:
        if holder.get('unreadable'):
            return holder['heartbeat_age_s'] > 10
        if holder.get('host') == socket.gethostname():
            return not _alive_here(holder)
        return holder['heartbeat_age_s'] > self.stale_after_s

    def acquire(self) -> None:
        """Take the lock, taking over a stale one.

        Raises:
            WorkDirBusyError: A live invocation holds it.
        """
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None:
                    continue  # released in between
                if not self._stale(holder):
                    raise WorkDirBusyError(self._busy_message(holder)) from None
                self.took_over = holder
                # Rename first: of two invocations taking over at once, one wins the rename.
                try:
                    os.replace(self.path, f'{self.path}.stale.{os.getpid()}')
                    os.remove(f'{self.path}.stale.{os.getpid()}')
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, 'w') as f:
                json.dump(self._record(), f, indent=2)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
            return
        raise WorkDirBusyError(f'could not take {self.path}: other invocations keep taking it.')

    def _busy_message(self, holder: dict) -> str:
        where = f"pid {holder.get('pid')} on {holder.get('host')}" + (
            f" (Slurm job {holder['slurm_job']})" if holder.get('slurm_job') else '')
        return (f'{osp.dirname(self.path)} is in use by another benchmark invocation: {where}, '
                f"since {holder.get('since')} (`{holder.get('command', '?')}`; its heartbeat is "
                f"{holder['heartbeat_age_s']:.0f} s old). Wait for it to end, or use another "
                '--work-dir. If that process is gone and the lock stays, it is released '
                f'automatically ({self.stale_after_s:.0f} s after its last heartbeat for another '
                f'host), or remove {self.path}.')

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Give the lock back (only if this process holds it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        holder = self._holder()
        if holder and holder.get('pid') == os.getpid() and \
                holder.get('host') == socket.gethostname():
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
