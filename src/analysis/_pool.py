"""Forked worker pools that end with the process that made them.

The statistics (classes) and the figures both fan out over forked processes from inside a
Jupyter kernel; a report killed with SIGKILL must not leave those workers behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
from concurrent.futures import ProcessPoolExecutor

#: prctl(2) option: the signal a process gets when the thread that forked it ends (Linux).
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Make this forked worker end when its parent ends (Linux; elsewhere nothing changes).

    A report killed with SIGKILL takes its Jupyter kernel down (the kernel polls its parent),
    but the kernel's forked workers would stay, blocked on the pool's queue, each holding a
    copy of the kernel's memory. With the parent-death signal they end with it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # no prctl here: the workers end with the pool, as before
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def start_fork_pool(workers: int) -> ProcessPoolExecutor:
    """Return a pool of ``workers`` forked processes that end when the process making them ends."""
    return ProcessPoolExecutor(
        workers,
        mp_context=mp.get_context("fork"),
        initializer=_die_with_parent,
        initargs=(os.getpid(),),
    )
