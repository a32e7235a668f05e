"""Cost of redaction's long-token and disguises steps, and the planted values it misses.

On generated columns shaped like ingest's free text (query strings carrying uuids, paths,
user agents, Postgres messages and details; a few distinct values repeated, as in real
exports; some percent-encoded, some Korean), ``privacy.redact_series`` is timed in this
process: as it is, with its long-token step (cards, resident registration numbers, bare hex
and base64 secrets, :func:`analysis.privacy.redact_long_tokens` and its RE2 gates) switched
off, with its disguises step (percent-encoded parts, Unicode look-alikes, base64 or hex
parameter values: :mod:`analysis.disguises`) switched off, and with only the joining of base64
split by its own ``/`` switched off. The ratios are what each costs.
Then every planted value of tests/_private_kinds.py is redacted and the misses are counted
per kind, and every look-alike is checked to stay as it is; last, the distinct runs of 16+
base64 characters in the installed packages and the shipped raw data that redaction changes
are counted, with a digest to compare two trees by.

Usage: ``python benchmarks/bench_privacy.py [--rows N] [--distinct N] [--repeat K]
[--writers DIR]`` (``--writers``: the test writers' incidents ingested, their text digested).
Run it against another checkout's package (``PYTHONPATH=<checkout>/src``) for an A/B in one
shell; without the step (an older package) only the timing as it is is printed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from analysis import privacy

ROOT = Path(__file__).resolve().parents[1]


def make_columns(
    rows: int, distinct: int, seed: int = 0
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Return text columns of ``rows`` rows drawn from ``distinct`` values each, and users.

    The users (raw id -> pseudonym, 5,000 of them) are what ingest passes: their ids stand
    in the user filters and key details, other uuids (webinars, rows) beside them.
    """
    rng = random.Random(seed)

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    people = [uid() for _ in range(5000)]
    users = {u: privacy.pseudonymise(u, b"bench") for u in people}

    def user() -> str:
        return rng.choice(people)

    makers = {
        "search": lambda: rng.choice(
            [
                f"?select=*&webinar_id=eq.{uid()}&order=created_at.desc",
                f"?select=id,nickname&user_id=eq.{user()}",
                f"?on_conflict=webinar_id,user_id&columns=webinar_id,user_id&id=eq.{uid()}",
                f"?apikey=sb_publishable_{rng.getrandbits(64):016x}&vsn=1.0.0",
                f"?limit={rng.randint(1, 500)}&offset={rng.randint(0, 9999)}",
                f"?created_at=gte.2026-02-06T05%3A{rng.randint(0, 59):02d}%3A00%2B00%3A00",
                f"?or=%28status.eq.live%2Cid.eq.{rng.randint(1, 99999)}%29&select=%2A",
            ]
        ),
        "path": lambda: rng.choice(
            [
                f"/rest/v1/registrations?id=eq.{uid()}",
                f"/rest/v1/profiles/{uid()}",
                "/realtime/v1/websocket",
                f"/storage/v1/object/public/avatars/{uid()}.png",
                "/rest/v1/rpc/get_webinar_questions_with_votes_v2",
                # Capitals in a Storage path: segments the slashed-base64 view tries to join.
                f"/storage/v1/object/public/Slides/Deck{rng.randint(1, 999)}/SpeakerNotesFinal.pdf",
            ]
        ),
        "client": lambda: rng.choice(
            [
                f"supabase-js-web/2.{rng.randint(30, 50)}.{rng.randint(0, 9)}",
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/{rng.randint(100, 130)}.0",
                f"Dalvik/2.1.0 (Linux; U; Android 14; SM-S918N Build/UP1A.{rng.randint(1, 9)})",
            ]
        ),
        "message": lambda: rng.choice(
            [
                'duplicate key value violates unique constraint "registrations_pkey"',
                f"Key (webinar_id, user_id)=({uid()}, {user()}) already exists.",
                f"sorry, too many clients already ({rng.randint(1, 99999)})",
                f"remaining connection slots are reserved, pid {rng.randint(1000, 99999)}",
                f"session {rng.getrandbits(32):08x}.{rng.getrandbits(20):05x} at 05:40:12 UTC",
                f'relation "질문_{rng.randint(1, 9999)}" does not exist',
            ]
        ),
    }
    out = {}
    for name, make in makers.items():
        values = [make() for _ in range(distinct)]
        out[name] = pd.Series([rng.choice(values) for _ in range(rows)], dtype="string")
    return out, users


@contextmanager
def long_step_off():
    """Switch the long-token step off (a no-op on a package without it)."""
    saved = {
        name: getattr(privacy, name)
        for name in ("redact_long_tokens", "_LONG_HINT_RE", "_gate_long_tokens", "_TRIGGER_RE")
        if hasattr(privacy, name)
    }
    if "redact_long_tokens" in saved:
        privacy.redact_long_tokens = lambda text, **_: text
        privacy._LONG_HINT_RE = re.compile(r"(?!)")
        privacy._gate_long_tokens = lambda values, idx: []
    try:
        yield "redact_long_tokens" in saved
    finally:
        for name, value in saved.items():
            setattr(privacy, name, value)


@contextmanager
def disguises_off():
    """Switch the disguises step off (a no-op on a package without it)."""
    names = [n for n in ("may_disguise", "may_hold_run") if hasattr(privacy, n)]
    saved = {name: getattr(privacy, name) for name in names}
    for name in names:
        setattr(privacy, name, lambda text, **_: False)
    try:
        yield "may_disguise" in saved
    finally:
        for name, value in saved.items():
            setattr(privacy, name, value)


@contextmanager
def slashed_off():
    """Switch the joining of base64 split by its own ``/`` off (a no-op on a package without)."""
    from analysis import disguises

    saved = getattr(disguises, "_slashed_spans", None)
    if saved is not None:
        disguises._slashed_spans = lambda text: []
    try:
        yield saved is not None
    finally:
        if saved is not None:
            disguises._slashed_spans = saved


def time_redaction(columns: dict[str, pd.Series], users: dict[str, str], repeat: int) -> float:
    """Return the best CPU seconds of redacting every column (no cache between repeats)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for series in columns.values():
            privacy.redact_series(series, users)
        best = min(best, time.process_time() - start)
    return best


def count_misses() -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Return kind -> (missed, planted) and the look-alikes that were changed."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _private_kinds import KEEP, PRIVATE

    misses = {}
    for kind, pairs in PRIVATE.items():
        missed = 0
        for text, secret in pairs:
            outs = (privacy.redact_text(text), privacy.redact_values([text] * 70)[0])
            missed += any(secret in out for out in outs)
        misses[kind] = (missed, len(pairs))
    changed = [text for text in KEEP if privacy.redact_text(text) != text]
    return misses, changed


def simulate_runs(seed: int = 1) -> tuple[int, int, list[str], int]:
    """Count random base64 tokens the redaction misses, and names it takes for secrets.

    Tokens: 5,000 each of 32, 40, 43, 44, 64, 86 and 88 characters, half base64url. Names:
    every distinct 32+ character run of base64 characters in the ``.py`` files of the
    installed packages (the venv's site-packages), a corpus of real identifiers and paths
    (with some real base64 data among them, which counts as found).
    """
    import base64
    import sysconfig

    rng = random.Random(seed)
    tokens = []
    for length in (32, 40, 43, 44, 64, 86, 88):
        for _ in range(5000):
            token = base64.b64encode(rng.randbytes(length)).decode()[:length]
            if rng.random() < 0.5:
                token = token.replace("+", "-").replace("/", "_")
            tokens.append(token)
    missed = sum("[secret]" not in privacy.redact_text(f"t {t} e") for t in tokens)
    run = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}(?![A-Za-z0-9+/_-])")
    names = set()
    for path in Path(sysconfig.get_paths()["purelib"]).rglob("*.py"):
        names.update(run.findall(path.read_text(encoding="utf-8", errors="ignore")))
    # Identifier-like: a run of five small letters (base64 data rarely has one).
    taken = sorted(n for n in names if "[secret]" in privacy.redact_text(f"in {n}: x"))
    # Hex digests (git commits in links) are secrets by the hex rule's definition: not counted.
    wordy = [
        n for n in taken if re.search("[a-z]{5}", n) and not re.search(r"AAA|\+|[0-9a-fA-F]{32}", n)
    ]
    return missed, len(tokens), wordy, len(names)


def count_slashed_leaks(seed: int = 5, draws: int = 20_000) -> tuple[int, int]:
    """Count base64 e-mails split by their own ``/`` that can still be decoded once redacted.

    Each draw is an e-mail beside one to three random Hangul syllables (a name), encoded in
    standard base64; those whose encoding holds a ``/`` are placed in a path or a message
    word and redacted. A leak is any run of the result (at any alignment) that decodes to
    bytes holding the e-mail's local part or ``@`` and domain. Returned: leaks, placed.
    """
    import base64

    rng = random.Random(seed)

    def decodable(out: str, secret: bytes) -> bool:
        for match in re.finditer(r"[A-Za-z0-9+/=]{6,}", out):
            run = match.group(0)
            for i in range(len(run)):
                for j in range(len(run), i + 5, -1):
                    part = run[i:j].rstrip("=")
                    if len(part) % 4 == 1:
                        continue
                    try:
                        data = base64.b64decode(part + "=" * (-len(part) % 4))
                    except ValueError:
                        continue
                    if secret in data:
                        return True
        return False

    placed = leaks = 0
    for _ in range(draws):
        name = "".join(chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(rng.randint(1, 3)))
        local = rng.choice(["mj.kim", "sj.lee", "jh.park", "yn.choi", "kim", "lee77"])
        domain = rng.choice(["ex.com", "mail.kr", "naver.com", "gmail.com"])
        text = rng.choice(["{n} {l}@{d}", "{l}@{d} {n}", "{n}:{l}@{d}"])
        encoded = base64.b64encode(text.format(n=name, l=local, d=domain).encode()).decode()
        if "/" not in encoded:
            continue
        placed += 1
        out = privacy.redact_text(
            rng.choice(["/verify/{}", "/v/{}/ok", "code {} sent"]).format(encoded)
        )
        leaks += decodable(out, f"@{domain}".encode()) or decodable(out, local.encode())
    return leaks, placed


def count_changed_runs() -> list[tuple[str, int, int, str]]:
    """Return, per corpus, the distinct 16+ base64-character runs redaction changes.

    Corpora: the ``.py`` files of the installed packages and the shipped incident's raw files
    (data/raw). Each run is redacted as ``in <run>: x``; returned are the corpus's name, how
    many runs change, of how many, and a digest of the changed runs with what they become.
    The same digest from two trees (``PYTHONPATH=<checkout>/src``) means a new rule changed
    no run the old one kept: its false positives on real identifiers, paths and data.
    """
    import gzip
    import hashlib
    import sysconfig

    run = re.compile(r"[A-Za-z0-9+/_=-]{16,}")
    corpora: dict[str, set[str]] = {"installed sources": set(), "shipped raw data": set()}
    for path in Path(sysconfig.get_paths()["purelib"]).rglob("*.py"):
        corpora["installed sources"].update(
            run.findall(path.read_text(encoding="utf-8", errors="ignore"))
        )
    for path in sorted((ROOT / "data" / "raw").rglob("*")):
        if path.is_file() and path.suffix in (".json", ".csv", ".gz"):
            data = path.read_bytes()
            data = gzip.decompress(data) if path.suffix == ".gz" else data
            corpora["shipped raw data"].update(run.findall(data.decode("utf-8", "ignore")))
    out = []
    for name, runs in corpora.items():
        changed = []
        for text in sorted(runs):
            shown = privacy.redact_text(f"in {text}: x")
            if shown != f"in {text}: x":
                changed.append(f"{text} -> {shown}")
        digest = hashlib.sha256("\n".join(changed).encode()).hexdigest()[:16]
        out.append((name, len(changed), len(runs), digest))
    return out


def digest_writers(root: Path) -> list[tuple[str, int, str]]:
    """Ingest incidents of the test writers and digest what redaction left in their text.

    The writers (tests/_unseen_*.py, no import from the package) carry people's data, hostile
    text and ordinary values in every field; each incident is written under ``root`` and
    ingested without a cache, and the distinct values of every text column are digested.
    Two trees (``PYTHONPATH=<checkout>/src``) giving the same digest redacted those values
    alike: a new rule took nothing there that the old kept. The values are written to
    ``root/<writer>/<incident>.values`` (``diff`` two roots to see what changed). Returned:
    the incident, its distinct text values, the digest.
    """
    import contextlib
    import dataclasses
    import hashlib
    import io

    from analysis.ingest import load_incident

    sys.path.insert(0, str(ROOT / "tests"))
    import _unseen_mech as mech
    import _unseen_qa as qa
    import _unseen_rooms as rooms
    import _unseen_stack as stack

    writers = [("mech", mech, [*mech.FIELD, *list(mech.CASES)[:4]]), ("qa", qa, list(qa.CASES)),
               ("stack", stack, list(stack.FAST)), ("rooms", rooms, list(rooms.FAST))]  # fmt: skip
    out = []
    for label, writer, names in writers:
        for name in names:
            directory = writer.write_incident(root / label / name, name)
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    incident = load_incident(directory, use_cache=False, progress=False)
            except Exception as exc:  # noqa: BLE001 - a case made to be refused
                out.append((f"{label}/{name}", 0, f"refused ({type(exc).__name__})"))
                continue
            values = set()
            for field in dataclasses.fields(incident):
                table = getattr(incident, field.name)
                if isinstance(table, pd.DataFrame):
                    for col in table.columns:
                        if str(table[col].dtype) == "string":
                            values.update(f"{field.name}.{col}={v}" for v in table[col].dropna())
            text = "\n".join(sorted(values)).encode()
            # Kept beside the incident: two trees' lists show which values a rule changed.
            (root / label / f"{name}.values").write_bytes(text)
            out.append((f"{label}/{name}", len(values), hashlib.sha256(text).hexdigest()[:16]))
    return out


def main() -> int:
    """Print the timings and the misses; exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--distinct", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--writers",
        metavar="DIR",
        help="also digest the test writers' ingested text (DIR: scratch)",
    )
    args = parser.parse_args()
    columns, users = make_columns(args.rows, args.distinct)
    print(f"package: {privacy.__file__}")
    print(f"{args.rows} rows x {len(columns)} columns, {args.distinct} distinct values each")
    with_step = time_redaction(columns, users, args.repeat)
    print(f"redact_series as it is:      {with_step:.3f} CPU s (best of {args.repeat})")
    with long_step_off() as present:
        if present:
            without = time_redaction(columns, users, args.repeat)
            print(f"without the long-token step: {without:.3f} CPU s")
            print(f"ratio as it is / without:    {with_step / without:.2f}")
    with disguises_off() as present:
        if present:
            without = time_redaction(columns, users, args.repeat)
            print(f"without the disguises step:  {without:.3f} CPU s")
            print(f"ratio as it is / without:    {with_step / without:.2f}")
    with slashed_off() as present:
        if present:
            without = time_redaction(columns, users, args.repeat)
            print(f"without joining slashed base64: {without:.3f} CPU s")
            print(f"ratio as it is / without:    {with_step / without:.2f}")
    misses, changed = count_misses()
    total = sum(m for m, _ in misses.values())
    planted = sum(n for _, n in misses.values())
    print(f"planted private values missed: {total}/{planted}")
    for kind, (missed, n) in misses.items():
        if missed:
            print(f"  {kind}: {missed}/{n}")
    print(f"look-alikes changed: {len(changed)}")
    for text in changed:
        print(f"  {text!r}")
    leaks, placed = count_slashed_leaks()
    print(f"base64 e-mails split by their own '/', still decodable once redacted: {leaks}/{placed}")
    missed, tokens, wordy, names = simulate_runs()
    print(f"random base64 tokens missed: {missed}/{tokens} ({missed / tokens:.2%})")
    print(f"runs of installed sources taken for secrets, identifier-like: {len(wordy)}/{names}")
    for name in wordy:
        print(f"  {name[:80]}")
    for corpus, changed, runs, digest in count_changed_runs():
        print(f"16+ runs of the {corpus} changed by redaction: {changed}/{runs} ({digest})")
    if args.writers:
        for name, values, digest in digest_writers(Path(args.writers)):
            print(f"writer incident {name}: {values} distinct text values ({digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
