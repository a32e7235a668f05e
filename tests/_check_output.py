"""What `analysis check` prints, read back by the tests that run it on a written incident."""

from __future__ import annotations


def read_check_output(out: str) -> tuple[int, int, int, str]:
    """Return the TOTAL line's rows read, accepted and rejected, and the ``tables:`` line."""
    lines = out.splitlines()
    total = next(line for line in lines if line.startswith("TOTAL"))
    read, accepted, rejected = (int(v) for v in total.split()[1:4])
    return read, accepted, rejected, next(line for line in lines if line.startswith("tables:"))
