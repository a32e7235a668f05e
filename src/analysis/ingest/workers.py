"""Forked page workers: large exports' log pages read and canonicalised on every usable core.

The stage of ingest that grows with the rows (gunzip, JSON parsing, canonical columns, then
pseudonyms and redaction) runs on every usable core: the parent process reads one contiguous
share of the pages and each forked worker another. A worker keeps the canonical batches it
made until every user id of their log source is known, then redacts them and hands them back;
the parent puts the shares back in page order and does what needs all rows at once
(duplicates, order, validation). The workers run the
same functions the parent runs on a small export, so the tables are the same whatever the
number of workers (tests/test_ingest_workers.py compares them).

Any failure inside a worker, a bad file included, is reported to the parent as
:class:`WorkerFailure` and the parent reads the whole export again in its own process, so a
user's error is worded and ordered exactly as without workers.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
from collections.abc import Callable
from multiprocessing.connection import Connection, wait

from analysis._pool import _die_with_parent

#: mallopt(3) parameters (glibc).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


class WorkerFailure(Exception):
    """A worker failed or ended: the caller redoes the work in its own process."""


def _send_frame(conn: Connection, frame: object) -> None:
    """Send a frame with its column buffers out of band (pickle protocol 5).

    The buffers go down the pipe straight from the arrays, and the parent's arrays are made
    on the bytes it receives: one copy of the data instead of three (an ordinary pickle is
    assembled, sent, received and unpickled into new arrays), and a third of the page faults.
    """
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(frame, protocol=5, buffer_callback=buffers.append)
    views = [buffer.raw() for buffer in buffers]
    conn.send(("chunk", head, [view.nbytes for view in views]))
    for view in views:
        conn.send_bytes(view)


def _receive_frame(conn: Connection, head: bytes, sizes: list[int]) -> object:
    """Receive what :func:`_send_frame` sent (after its first message, ``head`` and ``sizes``).

    Into writable buffers: the frame's arrays are as writable as the worker's were.
    """
    buffers = []
    for size in sizes:
        buffer = bytearray(size)
        conn.recv_bytes_into(buffer)
        buffers.append(buffer)
    return pickle.loads(head, buffers=buffers)


def _keep_freed_memory() -> None:
    """Let this short-lived worker reuse the memory it frees instead of handing it back.

    glibc returns large blocks (a page's text, its columns) to the system when they are
    freed and faults them in afresh for the next page; a worker lives for one export, so it
    keeps them (``mallopt``; elsewhere nothing changes).
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


def _serve(conn: Connection, parent: int, read: Callable, finish: Callable) -> None:
    """Serve the parent: read a share of the pages, then finish their chunks kind by kind."""
    _die_with_parent(parent)
    _keep_freed_memory()
    state = None
    try:
        while True:
            message = conn.recv()
            if message[0] == "read":
                state, summary = read(message[1])
                conn.send(("read", summary))
            elif message[0] == "finish":
                for frame in finish(state, *message[1:]):
                    _send_frame(conn, frame)
                conn.send(("done", None, None))
            else:
                return
    except Exception as exc:  # reported, and the parent redoes the work in its own process
        try:
            conn.send(("fail", f"{type(exc).__name__}: {exc}"))
        except (OSError, ValueError):
            pass


class PageWorkers:
    """Forked workers, each reading one share of the pages and keeping what it made.

    Parameters
    ----------
    count
        Worker processes.
    read
        ``read(share) -> (state, summary)``, run in a worker; the summary (picklable) goes to
        the parent, the state stays in the worker.
    finish
        ``finish(state, *args)``, run in a worker: an iterable of frames sent to the parent
        one by one, so the parent unpickles one while the worker makes the next.
    """

    def __init__(self, count: int, read: Callable, finish: Callable) -> None:
        context = mp.get_context("fork")
        self._conns: list[Connection] = []
        self._procs = []
        parent = os.getpid()
        try:
            for _ in range(count):
                here, there = context.Pipe()
                proc = context.Process(
                    target=_serve, args=(there, parent, read, finish), daemon=True
                )
                proc.start()
                there.close()
                self._conns.append(here)
                self._procs.append(proc)
        except BaseException:
            self.close(kill=True)
            raise

    def __enter__(self) -> PageWorkers:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(kill=kind is not None)

    def _receive(self, conn: Connection) -> tuple:
        try:
            message = conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerFailure("a page worker ended") from exc
        if message[0] == "fail":
            raise WorkerFailure(message[1])
        return message

    def start_read(self, shares: list) -> None:
        """Send each worker its share (as many shares as workers)."""
        for conn, share in zip(self._conns, shares, strict=True):
            conn.send(("read", share))

    def collect_read(self) -> list:
        """Return the workers' summaries of :meth:`start_read`, in worker order."""
        return [self._receive(conn)[1] for conn in self._conns]

    def start_finish(self, *args) -> None:
        """Ask every worker to run ``finish(state, *args)`` (collect with :meth:`collect`)."""
        for conn in self._conns:
            conn.send(("finish", *args))

    def collect(self) -> list:
        """Return the frames of the last :meth:`start_finish`: worker by worker, in order."""
        out: dict[int, list] = {id(conn): [] for conn in self._conns}
        waiting = list(self._conns)
        while waiting:
            for conn in wait(waiting):
                tag, head, sizes = self._receive(conn)
                if tag == "done":
                    waiting.remove(conn)
                else:
                    out[id(conn)].append(_receive_frame(conn, head, sizes))
        return [frame for conn in self._conns for frame in out[id(conn)]]

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers and wait for them (their CPU time is then the parent's children's).

        ``kill`` ends them at once: after a failure, a worker may be blocked sending a result
        nobody will read.
        """
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            if kill:
                proc.kill()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []
