"""One fetch run: every source's pieces paged and checked, hybrid aggregates, manifest."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from analysis._util import epoch_us, format_checksums, format_utc, from_epoch_us, sha256_bytes
from analysis.config import DEFAULT_DISPLAY_TZ
from analysis.exceptions import FetchError
from analysis.fetch.client import ApiClient
from analysis.fetch.pages import (
    ANNOTATIONS_HEADER,
    CHECKSUM_FILE,
    MANIFEST_FILE,
    STATE_FILE,
    TRAFFIC_DIR,
    _aggregate_piece_state,
    _is_count,
    _load_json,
    _new_aggregate_state,
    _new_source_state,
    _piece_state,
    _remove_partial_writes,
    _write_atomic,
    encode_page,
    read_page,
)
from analysis.fetch.queries import (
    AGGREGATES,
    FLAVOURS,
    MODES,
    RAW_KINDS,
    ROW_CAP,
    SOURCES,
    count_sql,
    load_query,
    load_sql,
    minute_count_sql,
    page_sql,
    strip_sql_comments,
)
from analysis.fetch.window import (
    DIAGNOSIS_PIECE,
    EPOCH,
    MINUTE,
    _minute_of,
    api_bounds,
    row_timestamp,
    split_window,
)

# Above this many raw rows in one window, raw mode says how long it will take and offers hybrid.
HYBRID_HINT_ROWS = 100_000


_REF_RE = re.compile(r"^[a-z0-9]{1,40}$")


@dataclass(frozen=True)
class FetchPlan:
    """What to download and where to write it."""

    project_ref: str
    start: datetime
    end: datetime
    out_dir: Path
    flavour: str = "bigquery"
    sources: tuple[str, ...] = SOURCES
    name: str = ""
    display_tz: str = DEFAULT_DISPLAY_TZ
    mode: str = "raw"


@dataclass(frozen=True)
class FetchResult:
    """What a fetch wrote: rows and pages per source, calls made, whether it resumed."""

    out_dir: Path
    rows: dict[str, int]
    pages: dict[str, int]
    duplicates_dropped: dict[str, int]
    requests: int
    resumed: bool
    already_complete: bool = False


def _plan_key(plan: FetchPlan, queries: dict[str, str], aggregates: dict[str, str]) -> dict:
    """Return the parameters a resumed fetch must share with the interrupted one."""
    return {
        "project_ref": plan.project_ref,
        "window_start": format_utc(plan.start),
        "window_end": format_utc(plan.end),
        "flavour": plan.flavour,
        "mode": plan.mode,
        "sources": list(plan.sources),
        "queries": {s: sha256_bytes(q.encode()) for s, q in {**queries, **aggregates}.items()},
    }


class _Fetcher:
    """One fetch run: state, pages and progress for every source of a plan.

    Each source's window is cut into pieces of at most :data:`MAX_PIECE`. A piece is asked
    with API bounds widened to whole minutes around it (the API rounds its bounds to the
    minute) while the SQL's own predicate selects exactly ``[left, right)``; rows are paged by
    the key ``(timestamp, id)``, so no row is asked twice and a page shorter than the cap says
    nothing about the end. A count of the piece's rows taken before and after the paging is
    the only evidence of completeness: a mismatch discards the piece's pages and stops with
    what is missing.
    """

    def __init__(self, plan: FetchPlan, client: ApiClient, progress: bool) -> None:
        self.plan, self.client, self.progress = plan, client, progress
        self.pieces = split_window(plan.start, plan.end)
        kinds = RAW_KINDS[plan.mode]
        self.queries = {
            s: strip_sql_comments(load_query(s, plan.flavour, kinds[s])) for s in plan.sources
        }
        self.aggregates = {
            name: strip_sql_comments(load_sql(stem, plan.flavour))
            for name, (source, stem, _) in AGGREGATES.items()
            if plan.mode == "hybrid" and source in plan.sources
        }
        self.key = _plan_key(plan, self.queries, self.aggregates)
        self.state_path = plan.out_dir / STATE_FILE
        self.state: dict = {"plan": self.key, "sources": {}, "traffic": {}}

    def run(self) -> FetchResult:
        out = self.plan.out_dir
        manifest_path = out / MANIFEST_FILE
        if out.exists():
            _remove_partial_writes(out)
        resumed = self.state_path.exists()
        if not resumed and manifest_path.exists():
            return self._already_complete(manifest_path)
        if resumed:
            self.state = _load_json(self.state_path)
            if self.state.get("plan") != self.key:
                raise FetchError(
                    f"{self.state_path}: holds an interrupted fetch with other parameters "
                    f"({self.state.get('plan')}); expected {self.key}; choose another OUT"
                )
        elif out.exists() and any(out.iterdir()):
            raise FetchError(
                f"{out}: directory exists and holds no fetch in progress; "
                "expected a new or empty directory"
            )
        out.mkdir(parents=True, exist_ok=True)
        self._save_state()
        for source in self.plan.sources:
            self._fetch_source(source)
        for name in self.aggregates:
            self._fetch_aggregate(name)
        # The state file goes last: until then a rerun resumes and rewrites every final file.
        self._finish()
        os.remove(self.state_path)
        return self._result(resumed)

    def _progress_bar(self, label: str) -> tqdm:
        """Return the window's progress bar (minutes done) for one source or aggregate."""
        total_minutes = int((self.plan.end - self.plan.start).total_seconds() // 60)
        return tqdm(
            total=total_minutes,
            desc=f"{label:14}",
            unit="min",
            disable=not self.progress,
            file=sys.stderr,
            leave=True,
        )

    def _fetch_source(self, source: str) -> None:
        st = self.state["sources"].setdefault(source, _new_source_state())
        seen = self._seen_ids(source, st)
        bar = self._progress_bar(source)
        try:
            bar.update(self._minutes_done(st))
            bar.set_postfix(rows=sum(p["rows"] for p in st["pages"]))
            while not st["done"]:
                before = self._minutes_done(st)
                self._step(source, st, seen)
                bar.set_postfix(rows=sum(p["rows"] for p in st["pages"]), refresh=False)
                bar.update(self._minutes_done(st) - before)
        finally:
            bar.close()

    def _fetch_aggregate(self, name: str) -> None:
        st = self.state["traffic"].setdefault(name, _new_aggregate_state())
        for page in st["pages"]:
            self._verify_page(page)
        bar = self._progress_bar(name)
        try:
            done = self._aggregate_minutes_done(st)
            bar.update(done)
            while not st["done"]:
                self._aggregate_step(name, st)
                now = self._aggregate_minutes_done(st)
                bar.update(now - done)
                done = now
        finally:
            bar.close()

    def _aggregate_minutes_done(self, st: dict) -> int:
        if st["done"]:
            return int((self.plan.end - self.plan.start).total_seconds() // 60)
        reached = self.pieces[st["piece"]][0]
        if st["phase"] == "rows" and st["cursor"] is not None:
            reached = from_epoch_us(st["cursor"])
        return max(0, int((reached - self.plan.start).total_seconds() // 60))

    def _aggregate_step(self, name: str, st: dict) -> None:
        """One API call for an aggregate: its total, its per-minute counts, or a page of rows.

        The per-minute counts of the rows the aggregate reads (checked against the total) say
        how many rows each minute holds; a minute's aggregate rows are kept only when their
        counts add up to it, so a cut or short page costs a repeat, never a silent gap.
        """
        sql, flavour = self.aggregates[name], self.plan.flavour
        left, right = self.pieces[st["piece"]]
        label = f"{TRAFFIC_DIR}/{name} [{format_utc(left)}, {format_utc(right)})"
        bounds = api_bounds(left, right)
        if st["total"] is None:
            rows = self.client.query_logs(count_sql(sql, flavour, left, right), *bounds, label)
            if len(rows) != 1 or not _is_count(rows[0].get("n")):
                raise FetchError(f"{label} count: expected one row with an integer 'n'")
            st.update(total=int(rows[0]["n"]), phase="minutes", basis={}, cursor=epoch_us(left))
        elif st["phase"] == "minutes":
            counted = sum(st["basis"].values())
            if counted == st["total"]:
                st.update(phase="rows", cursor=epoch_us(left))
            else:
                start = from_epoch_us(st["cursor"])
                what = f"{label} per-minute count from {format_utc(start)}"
                found = self.client.query_logs(
                    minute_count_sql(sql, flavour, start, right), *bounds, what
                )
                if not found:
                    raise FetchError(
                        f"{what}: the log store counts {st['total']} rows but its per-minute "
                        f"counts stop at {counted}; run the same command again"
                    )
                for minute, n in self._minute_rows(found, start, right, what, "n"):
                    st["basis"][str(epoch_us(minute))] = int(n)
                st["cursor"] = epoch_us(minute) + epoch_us(EPOCH + MINUTE)
        else:
            self._aggregate_page(name, st, label, left, right)
        if st["phase"] == "rows" and not self._remaining_minutes(st):
            st.update(piece=st["piece"] + 1, **_aggregate_piece_state())
            if st["piece"] == len(self.pieces):
                st["done"] = True
                if not st["pages"]:
                    self._write_page(
                        f"{TRAFFIC_DIR}/{name}", st, [], self.plan.start, self.plan.end
                    )
        self._save_state()

    def _remaining_minutes(self, st: dict) -> list[int]:
        return sorted(int(m) for m, n in st["basis"].items() if n > 0 and int(m) >= st["cursor"])

    def _aggregate_page(
        self, name: str, st: dict, label: str, left: datetime, right: datetime
    ) -> None:
        _, _, column = AGGREGATES[name]
        start = from_epoch_us(st["cursor"])
        what = f"{label} rows from {format_utc(start)}"
        sql = page_sql(self.aggregates[name], self.plan.flavour, start, right)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        sums: dict[int, int] = {}
        for minute, n in self._minute_rows(rows, start, right, what, column):
            sums[epoch_us(minute)] = sums.get(epoch_us(minute), 0) + int(n)
        complete: list[int] = []
        for minute in self._remaining_minutes(st):
            if sums.get(minute) != st["basis"][str(minute)]:
                break
            complete.append(minute)
        if not complete:
            first = self._remaining_minutes(st)[0]
            held = st["basis"][str(first)]
            raise FetchError(
                f"{what}: minute {format_utc(from_epoch_us(first))} holds {held} "
                f"rows in the log store but its aggregate rows count {sums.get(first, 0)} "
                f"(more than {ROW_CAP} groups in one minute, or rows the API did not return); "
                "stopped (the pages so far are kept; run the same command again)"
            )
        last = complete[-1]
        kept = [r for r in rows if epoch_us(_minute_of(r)) <= last]
        for chunk in range(0, len(kept), ROW_CAP):
            self._write_page(
                f"{TRAFFIC_DIR}/{name}", st, kept[chunk : chunk + ROW_CAP], left, right
            )
        st["cursor"] = last + epoch_us(EPOCH + MINUTE)

    def _minute_rows(
        self, rows: list[dict], start: datetime, right: datetime, what: str, column: str
    ) -> list[tuple[datetime, object]]:
        """Each row's whole minute in ``[start, right)``, ascending, and its count ``column``."""
        out: list[tuple[datetime, object]] = []
        for index, row in enumerate(rows):
            try:
                minute = _minute_of(row)
            except (KeyError, ValueError, OverflowError):
                raise FetchError(
                    f"{what}, row {index}, field 'minute': expected a whole minute, found "
                    f"{str(row.get('minute'))[:40]!r}"
                ) from None
            if not start <= minute < right or (out and minute < out[-1][0]):
                raise FetchError(
                    f"{what}, row {index}, field 'minute': expected ascending minutes in "
                    f"[{format_utc(start)}, {format_utc(right)}), found {format_utc(minute)}"
                )
            if not _is_count(row.get(column)):
                raise FetchError(
                    f"{what}, row {index}, field {column!r}: expected a count, found "
                    f"{str(row.get(column))[:40]!r}"
                )
            out.append((minute, row[column]))
        return out

    def _window_text(self, source: str, left: datetime, right: datetime) -> str:
        return f"{source} [{format_utc(left)}, {format_utc(right)})"

    def _count(self, source: str, left: datetime, right: datetime) -> int:
        what = f"{self._window_text(source, left, right)} count"
        sql = count_sql(self.queries[source], self.plan.flavour, left, right)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        if len(rows) != 1 or not _is_count(rows[0].get("n")):
            raise FetchError(
                f"{what}: expected one row with an integer 'n', found {str(rows)[:80]}"
            )
        return int(rows[0]["n"])

    def _step(self, source: str, st: dict, seen: set[str]) -> None:
        """One API call for ``source``: a count, or a page of rows written to disk."""
        left, right = self.pieces[st["piece"]]
        if st["expected"] is None:
            st["expected"] = self._count(source, left, right)
            self._save_state()
            if self.plan.mode == "raw" and st["expected"] > HYBRID_HINT_ROWS:
                calls = -(-st["expected"] // ROW_CAP)
                tqdm.write(
                    f"note: {self._window_text(source, left, right)} holds {st['expected']:,} "
                    f"rows: about {calls:,} calls ({calls / 60:.0f} min at 60 calls a minute); "
                    "MODE=hybrid fetches only the errors raw and the traffic per minute",
                    file=sys.stderr,
                )
            return
        if st["received"] < st["expected"] and not st["exhausted"]:
            self._page(source, st, seen, left, right)
            return
        # Paging reached the count (or an empty page): count again to know nothing was missed.
        recount = self._count(source, left, right)
        if recount == st["received"]:
            self._next_piece(source, st)
        elif recount > st["received"] and not st["exhausted"] and st["recounts"] < 3:
            # Rows logged late, after the first count: keep paging from the cursor.
            st["expected"], st["recounts"] = recount, st["recounts"] + 1
        else:
            self._mismatch(source, st, left, right, recount)
        self._save_state()

    def _page(self, source: str, st: dict, seen: set[str], left: datetime, right: datetime) -> None:
        after = None if st["cursor"] is None else (st["cursor"][0], st["cursor"][1])
        what = self._window_text(source, left, right)
        if after is not None:
            what += f" after {format_utc(from_epoch_us(after[0]))}"
        sql = page_sql(self.queries[source], self.plan.flavour, left, right, after)
        rows = self.client.query_logs(sql, *api_bounds(left, right), what)
        keys = self._check_rows(rows, left, right, after, what)
        if not rows:
            st["exhausted"] = True
            self._save_state()
            return
        fresh = []
        for row in rows:
            if row["id"] in seen:
                st["duplicates"] += 1  # the same id logged twice: kept once
                continue
            seen.add(row["id"])
            fresh.append(row)
        if fresh:
            self._write_page(source, st, fresh, left, right)
        st["received"] += len(rows)
        st["cursor"] = list(keys[-1])
        self._save_state()

    def _next_piece(self, source: str, st: dict) -> None:
        st.update(piece=st["piece"] + 1, **_piece_state())
        if st["piece"] == len(self.pieces):
            st["done"] = True
            if not st["pages"]:
                # An empty page says "fetched, nothing there", unlike a missing directory.
                self._write_page(source, st, [], self.plan.start, self.plan.end)

    def _mismatch(
        self, source: str, st: dict, left: datetime, right: datetime, recount: int
    ) -> None:
        """Discard the piece's pages and stop, naming the minutes whose rows are missing."""
        mine = [p for p in st["pages"] if p.get("piece") == st["piece"]]
        have: dict[datetime, int] = {}
        for page in mine:
            for row in read_page(self.plan.out_dir / page["file"]):
                minute = row_timestamp(row["timestamp"]).replace(second=0, microsecond=0)
                have[minute] = have.get(minute, 0) + 1
        detail = self._minute_differences(source, left, right, have)
        for page in mine:
            (self.plan.out_dir / page["file"]).unlink(missing_ok=True)
        received = st["received"]
        st["pages"] = [p for p in st["pages"] if p.get("piece") != st["piece"]]
        st.update(_piece_state())
        self._save_state()
        raise FetchError(
            f"{self._window_text(source, left, right)}: the log store counts {recount} rows, "
            f"the API returned {received}"
            f" ({abs(recount - received)} {'missing' if recount > received else 'extra'})"
            f"{detail}; the pages of this window were discarded; run the same command again "
            "to fetch it again"
        )

    def _minute_differences(
        self, source: str, left: datetime, right: datetime, have: dict[datetime, int]
    ) -> str:
        """``; minutes: 05:03 (700 in the store, 388 fetched), ...`` from per-minute counts."""
        store: dict[datetime, int] = {}
        try:
            for a, b in split_window(left, right, DIAGNOSIS_PIECE):
                sql = minute_count_sql(self.queries[source], self.plan.flavour, a, b)
                what = f"{self._window_text(source, a, b)} per-minute count"
                for row in self.client.query_logs(sql, *api_bounds(a, b), what):
                    minute = row_timestamp(row["minute"]).replace(second=0, microsecond=0)
                    store[minute] = int(row["n"])
        except (FetchError, KeyError, TypeError, ValueError):
            return ""  # the totals above still say what is wrong
        wrong = sorted(m for m in set(store) | set(have) if store.get(m, 0) != have.get(m, 0))
        if not wrong:
            return ""
        shown = ", ".join(
            f"{format_utc(m)} ({store.get(m, 0)} in the store, {have.get(m, 0)} fetched)"
            for m in wrong[:5]
        )
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        return f"; minutes: {shown}{more}"

    def _check_rows(
        self,
        rows: list[dict],
        left: datetime,
        right: datetime,
        after: tuple[int, str] | None,
        what: str,
    ) -> list[tuple[int, str]]:
        """Each row has an id and a timestamp in ``[left, right)``, after the cursor, in order."""
        keys: list[tuple[int, str]] = []
        previous = after
        for index, row in enumerate(rows):
            where = f"{what}, row {index}"
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise FetchError(
                    f"{where}, field 'id': expected a non-empty string, found {row.get('id')!r}"
                )
            try:
                stamp = row_timestamp(row.get("timestamp"))
            except (ValueError, OverflowError):
                raise FetchError(
                    f"{where}, field 'timestamp': expected integer microseconds or an ISO time, "
                    f"found {str(row.get('timestamp'))[:40]!r}"
                ) from None
            if not left <= stamp < right:
                raise FetchError(
                    f"{where}, field 'timestamp': expected a time in [{format_utc(left)}, "
                    f"{format_utc(right)}) (the query's own predicate), found {format_utc(stamp)}"
                )
            key = (epoch_us(stamp), row["id"])
            if index == 0 and after is not None and key <= after:
                # The query asks for rows after the cursor; a server that ignores it answers
                # a page already written (the one before, again).
                raise FetchError(
                    f"{where}: the API returned rows already fetched (the page before again?); "
                    f"expected rows after ({format_utc(from_epoch_us(after[0]))}, {after[1]}), "
                    f"found ({format_utc(stamp)}, {row['id']}); run the same command again to "
                    "resume"
                )
            if previous is not None and key <= previous:
                raise FetchError(
                    f"{where}: expected rows after ({format_utc(from_epoch_us(previous[0]))}, "
                    f"{previous[1]}) in (timestamp, id) order (the query must end with order by "
                    f"timestamp, id), found ({format_utc(stamp)}, {row['id']})"
                )
            keys.append(key)
            previous = key
        return keys

    def _write_page(
        self, directory: str, st: dict, rows: list[dict], start: datetime, end: datetime
    ) -> None:
        number = len(st["pages"]) + 1
        relative = f"{directory}/page-{number:04d}.json.gz"
        data = encode_page(rows)
        _write_atomic(self.plan.out_dir / relative, data)
        stamps = [row_timestamp(r["timestamp"] if "timestamp" in r else r["minute"]) for r in rows]
        st["pages"].append(
            {
                "file": relative,
                "rows": len(rows),
                "sha256": sha256_bytes(data),
                "piece": st["piece"],
                "window_start": format_utc(start),
                "window_end": format_utc(end),
                "first_timestamp": format_utc(stamps[0]) if stamps else None,
                "last_timestamp": format_utc(stamps[-1]) if stamps else None,
            }
        )

    def _seen_ids(self, source: str, st: dict) -> set[str]:
        """Ids of the pages already written, each page checked against its recorded sha256."""
        seen: set[str] = set()
        for page in st["pages"]:
            seen.update(row["id"] for row in read_page(self._verify_page(page)))
        return seen

    def _verify_page(self, page: dict) -> Path:
        path = self.plan.out_dir / page["file"]
        if not path.exists() or sha256_bytes(path.read_bytes()) != page["sha256"]:
            raise FetchError(
                f"{path}: changed or missing since it was fetched; expected sha256 "
                f"{page['sha256'][:12]}...; delete the directory and fetch again"
            )
        return path

    def _minutes_done(self, st: dict) -> int:
        if st["done"]:
            return int((self.plan.end - self.plan.start).total_seconds() // 60)
        reached = self.pieces[st["piece"]][0]
        if st["cursor"] is not None:
            reached = from_epoch_us(st["cursor"][0])
        return max(0, int((reached - self.plan.start).total_seconds() // 60))

    def _save_state(self) -> None:
        # Written after every page: compact, so json's C encoder writes it (with an indent,
        # json encodes in Python, and the state grows with the pages).
        _write_atomic(self.state_path, json.dumps(self.state, separators=(",", ":")).encode())

    def _finish(self) -> None:
        """Write incident.json, annotations.csv, the fetch manifest and SHA256SUMS."""
        out, plan = self.plan.out_dir, self.plan
        incident = {
            "name": plan.name or out.name,
            "project_ref": plan.project_ref,
            "window_start": format_utc(plan.start),
            "window_end": format_utc(plan.end),
            "display_tz": plan.display_tz,
            "flavour": plan.flavour,
            # The fetch manifest is provenance, not an export: tell ingest to skip it.
            "files": {MANIFEST_FILE: {"kind": "ignore"}},
        }
        if plan.mode == "hybrid":
            # Raw rows are the errors only; the traffic around them is in traffic/.
            incident["fetch_mode"] = "hybrid"
            for name in self.aggregates:
                incident["files"][f"{TRAFFIC_DIR}/{name}/*"] = {"kind": name}
        _write_atomic(out / "incident.json", (json.dumps(incident, indent=2) + "\n").encode())
        if not (out / "annotations.csv").exists():
            _write_atomic(out / "annotations.csv", ANNOTATIONS_HEADER.encode())
        manifest = {
            "tool": "analysis.fetch",
            "project_ref": plan.project_ref,
            "api": {
                "base_url": self.client.base_url,
                "endpoint": self.client.endpoint_path,
                "flavour": plan.flavour,
            },
            "window": {
                "start": format_utc(plan.start),
                "end": format_utc(plan.end),
                "semantics": (
                    "[start, end): each piece's rows are selected by the query's own timestamp "
                    "predicate; the API bounds are whole minutes one minute wider each side, "
                    "because the API rounds them to the minute and its start is exclusive"
                ),
                "pieces": [[format_utc(a), format_utc(b)] for a, b in self.pieces],
            },
            "row_cap": ROW_CAP,
            "mode": plan.mode,
            "traffic": {
                name: {"query": self.aggregates[name], "pages": st["pages"]}
                for name, st in self.state["traffic"].items()
            },
            "sources": {
                source: {
                    "query": self.queries[source],
                    "rows": sum(p["rows"] for p in st["pages"]),
                    "duplicates_dropped": st["duplicates"],
                    "pages": st["pages"],
                }
                for source, st in self.state["sources"].items()
            },
        }
        _write_atomic(out / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode())
        self._write_checksums()

    def _write_checksums(self) -> None:
        """SHA256SUMS of what was downloaded.

        Only that: incident.json and annotations.csv are the analyst's to edit (overrides,
        display zone, known moments), and a listed file may not change.
        """
        out = self.plan.out_dir
        files = [MANIFEST_FILE]
        for group in ("sources", "traffic"):
            files += [p["file"] for st in self.state[group].values() for p in st["pages"]]
        sums = format_checksums({f: sha256_bytes((out / f).read_bytes()) for f in files})
        _write_atomic(out / CHECKSUM_FILE, sums.encode())

    def _already_complete(self, manifest_path: Path) -> FetchResult:
        """Verify the pages of a finished fetch with the same parameters; download nothing."""
        manifest = _load_json(manifest_path)
        found = {
            "project_ref": manifest.get("project_ref"),
            "window_start": manifest.get("window", {}).get("start"),
            "window_end": manifest.get("window", {}).get("end"),
            "flavour": manifest.get("api", {}).get("flavour"),
            "mode": manifest.get("mode", "raw"),
            "sources": list(manifest.get("sources", {})),
            "queries": {
                s: sha256_bytes(v.get("query", "").encode())
                for group in ("sources", "traffic")
                for s, v in manifest.get(group, {}).items()
            },
        }
        if found != self.key:
            raise FetchError(
                f"{manifest_path}: a finished fetch with other parameters; expected "
                f"{self.key['window_start']} .. {self.key['window_end']} "
                f"{self.key['flavour']} {self.key['mode']} {self.key['sources']}; "
                "choose another OUT"
            )
        for source, entry in manifest["sources"].items():
            self.state["sources"][source] = {
                "pages": entry["pages"],
                "duplicates": entry["duplicates_dropped"],
            }
            self._seen_ids(source, self.state["sources"][source])
        for name, entry in manifest.get("traffic", {}).items():
            self.state["traffic"][name] = {"pages": entry["pages"]}
            for page in entry["pages"]:
                self._verify_page(page)
        if not (self.plan.out_dir / CHECKSUM_FILE).exists():
            # Only a directory written by an older version can lack it (the state file, removed
            # after SHA256SUMS, makes a killed run resume instead); the pages were just verified.
            self._write_checksums()
        return self._result(resumed=False, already_complete=True)

    def _result(self, resumed: bool, already_complete: bool = False) -> FetchResult:
        sources = self.state["sources"]
        traffic = {f"{TRAFFIC_DIR}/{n}": st for n, st in self.state["traffic"].items()}
        return FetchResult(
            out_dir=self.plan.out_dir,
            rows={
                s: sum(p["rows"] for p in st["pages"]) for s, st in {**sources, **traffic}.items()
            },
            pages={s: len(st["pages"]) for s, st in {**sources, **traffic}.items()},
            duplicates_dropped={s: st["duplicates"] for s, st in sources.items()},
            requests=self.client.requests,
            resumed=resumed,
            already_complete=already_complete,
        )


def fetch_incident(plan: FetchPlan, client: ApiClient, *, progress: bool = True) -> FetchResult:
    """Download every source of ``plan`` into ``plan.out_dir`` (resuming if interrupted).

    Raises
    ------
    FetchError
        On a refused or failed call (after retries), a malformed response, or an output
        directory that holds something else.
    """
    if plan.flavour not in FLAVOURS:
        raise FetchError(f"flavour {plan.flavour!r}: expected one of {', '.join(FLAVOURS)}")
    if plan.mode not in MODES:
        raise FetchError(f"MODE {plan.mode!r}: expected one of {', '.join(MODES)}")
    if client.flavour != plan.flavour:
        raise FetchError(
            f"flavour: the client queries {client.flavour!r} but the plan asks {plan.flavour!r}"
        )
    if not _REF_RE.match(plan.project_ref):
        raise FetchError(
            f"PROJECT_REF {plan.project_ref!r}: expected the project ref (lower-case letters and "
            "digits, e.g. the subdomain of <ref>.supabase.co)"
        )
    unknown = [s for s in plan.sources if s not in SOURCES]
    if unknown or not plan.sources:
        raise FetchError(
            f"sources {list(plan.sources)}: expected one or more of {', '.join(SOURCES)}"
        )
    return _Fetcher(plan, client, progress).run()
