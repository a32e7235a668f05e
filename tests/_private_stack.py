"""A hostile client's values in what the sixth writer's exports carry beyond the gateway's text.

No import from ``analysis``: :func:`plant` rewrites an incident of tests/_unseen_stack.py in
place, as a client (or an app that logs what clients send) could fill it:

- client addresses: every gateway row keeps its ``cf_connecting_ip`` and gains ``x_real_ip`` and
  an ``x_forwarded_for`` list (the client first, then proxies); one row in 40 has a forwarded
  list whose first hop is no address but an e-mail (a header is whatever the client sent);
- Storage object paths: every upload is written under the uploader's raw user id with a file
  name holding an e-mail (``worksheets/<user id>/<e-mail>_homework.pdf``), the public slide
  under a person's name and phone;
- Edge Functions' own logs (``function_logs``: the function's ``console`` output, with an
  e-mail, a phone, a bearer token and the request's headers; ``function_edge_logs``: each
  invocation's URL with an ``email`` parameter and its headers, authorization and address
  included);
- Supavisor's lines (``supavisor_logs``): a client's database user written ``user@db`` with
  an e-mail as its user, its peer address;
- Realtime presence payloads (``realtime_logs``): a presence ``track`` whose payload carries
  the user's id, e-mail, phone and address;
- a card number alone in the ray id of one gateway row in 50 (Cloudflare's id may be 16
  decimal digits: ingest keeps it as an id, and it must reach no output).

:func:`plant` returns kind -> the secret strings no output may hold; the client addresses
include every address the writer gave a viewer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

from _private_attack import luhn_complete

#: The sources the writer adds (read or counted by the package under their names).
ADDED = ("function_logs", "function_edge_logs", "supavisor_logs", "realtime_logs")
_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdGFjay1hdHRhY2siLCJyb2xlIjoiYXV0aGVu"
    "dGljYXRlZCJ9.c3RhY2stYXR0YWNrLXNpZ25hdHVyZS1xOQ"
)


def _pages(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json.gz"))


def _read(page: Path) -> dict:
    return json.loads(gzip.decompress(page.read_bytes()))


def _write(page: Path, body: dict) -> None:
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_bytes(gzip.compress(json.dumps(body).encode(), mtime=0))


def _row(source: str, n: int, timestamp: int, message: str, meta: dict) -> dict:
    digest = hashlib.sha256(f"{source}{n}".encode()).hexdigest()
    rid = f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    return {"id": rid, "timestamp": timestamp, "event_message": message, "metadata": [meta]}


def plant(directory: Path) -> dict[str, list[str]]:
    """Plant the values above in the incident at ``directory``; return kind -> secrets."""
    secrets: dict[str, set[str]] = {k: set() for k in (
        "address", "storage", "function", "supavisor", "presence", "ray_card")}  # fmt: skip
    stamps: list[int] = []
    users: list[str] = []
    edge = directory / "edge_logs"
    n = 0
    for page in _pages(edge):
        body = _read(page)
        for row in body["result"]:
            n += 1
            stamps.append(row["timestamp"])
            request = row["metadata"][0]["request"][0]
            headers = request["headers"][0]
            ip = headers["cf_connecting_ip"]
            secrets["address"].add(ip)
            headers["x_real_ip"] = ip
            if n % 40 == 0:
                junk = f"hop{n}.kim@private-mail.example"
                headers["x_forwarded_for"] = f"{junk}, 10.0.{n % 250}.1"
                secrets["address"].add(junk)
            else:
                headers["x_forwarded_for"] = f"{ip}, 10.0.{n % 250}.1, 172.16.0.9"
            if n % 50 == 0:
                # A card number alone where Cloudflare's ray id stands: kept there (a ray id
                # of 16 decimal digits passes as one), and no stage after ingest shows it.
                card = luhn_complete(f"4{n:014d}")
                row["event_message"] = row["event_message"].replace(headers["cf_ray"], card)
                headers["cf_ray"] = card
                secrets["ray_card"].add(card)
            user = (request.get("sb") or [{}])[0].get("auth_user")
            if user:
                users.append(user)
            path = request["path"]
            if path.startswith("/storage/v1/object/worksheets/") and user:
                email = f"st{n}.lee@private-mail.example"
                request["path"] = f"/storage/v1/object/worksheets/{user}/{email}_homework.pdf"
                secrets["storage"].update({user, f"st{n}.lee@"})
            elif path.startswith("/storage/v1/object/public/slides/"):
                # A name and phone as typed, and an e-mail percent-encoded whole (as a browser
                # may send a file name): an endpoint decoded for display must not show it.
                encoded = "%70%63%74%2E%6B%69%6D%40private-mail.example"
                request["path"] = (
                    f"/storage/v1/object/public/slides/Kim Minji 010-3456-7812 {encoded}.pdf"
                )
                secrets["storage"].update({"3456-7812", encoded[:21], "pct.kim"})
            row["event_message"] = row["event_message"].replace(path, request["path"])
        _write(page, body)
    start, end = min(stamps), max(stamps)
    step = max((end - start) // 30, 1)
    times = [start + k * step for k in range(30)]
    function, invocation, supavisor, presence = [], [], [], []
    for k, t in enumerate(times):
        ip = f"203.0.113.{10 + k}"
        email = f"fn{k}.park@private-mail.example"
        headers = {"authorization": f"Bearer {_JWT}", "x_forwarded_for": ip,
                   "cf_connecting_ip": ip, "cookie": f"sb-access-token={_JWT}"}  # fmt: skip
        function.append(
            _row(
                "function_logs",
                k,
                t,
                f"console.log: sending reminder to {email} (tel 010-4{k:03d}-9{k:03d}) "
                f"with {json.dumps(headers)}",
                {"level": "info", "event_type": "Log", "function_id": "fn-reminder"},
            )  # fmt: skip
        )
        invocation.append(
            _row(
                "function_edge_logs",
                k,
                t,
                f"POST | 200 | https://x.supabase.co/functions/v1/reminder?email={email}",
                {
                    "function_id": "fn-reminder",
                    "request": [
                        {
                            "method": "POST",
                            "url": f"/functions/v1/reminder?email={email}",
                            "headers": [headers],
                        }
                    ],
                    "response": [{"status_code": 200}],
                },
            )  # fmt: skip
        )
        db_user = f"sv{k}.choi@private-mail.example"
        supavisor.append(
            _row(
                "supavisor_logs",
                k,
                t,
                f"ClientHandler: authentication failed for {db_user}@postgres from {ip}",
                {
                    "level": "error",
                    "user": db_user,
                    "db_name": "postgres",
                    "peer_ip": ip,
                    "app_name": "Supavisor",
                },
            )  # fmt: skip
        )
        user = users[k % len(users)] if users else f"user-{k}"
        payload = {"type": "presence", "event": "track", "payload": {
            "user_id": user, "email": f"pr{k}.jung@private-mail.example",
            "phone": f"010-5{k:03d}-6{k:03d}", "ip": ip}}  # fmt: skip
        presence.append(
            _row(
                "realtime_logs",
                k,
                t,
                f"Presence track {json.dumps(payload)}",
                {"level": "info", "payload": [payload]},
            )  # fmt: skip
        )
        secrets["function"].update({f"fn{k}.park@", f"4{k:03d}-9{k:03d}", ip, _JWT[40:80]})
        secrets["supavisor"].update({f"sv{k}.choi@", ip})
        secrets["presence"].update({f"pr{k}.jung@", f"5{k:03d}-6{k:03d}", user})
    for source, rows in zip(ADDED, (function, invocation, supavisor, presence), strict=True):
        folder = directory / source
        numbers = [int(m.group(1)) for p in _pages(folder) if (m := re.search(r"(\d+)", p.name))]
        _write(folder / f"page-{max(numbers, default=0) + 1:04d}.json.gz",
               {"result": rows, "error": None})  # fmt: skip
    _rewrite_checksums(directory)
    return {kind: sorted(values) for kind, values in secrets.items()}


def _rewrite_checksums(directory: Path) -> None:
    """SHA256SUMS again (the writer's own format), when the incident has one."""
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(directory).as_posix()}"
        for p in sorted(directory.rglob("*"), key=lambda p: p.relative_to(directory).as_posix())
        if p.is_file() and p.name != "SHA256SUMS"
    ]
    sums.write_text("\n".join(lines) + "\n")
