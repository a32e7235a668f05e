"""Key moments of the incident hour, each with the evidence a reader can re-count.

Concurrency spikes, drops and recoveries of each webinar, its peak, the first and last error
and the error surges of each class, Realtime limit changes and the human annotations, in one
chronological table with ``source``, ``filter`` and ``count`` for every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.concurrency import dedupe_samples, find_peak
from analysis.error_classes import (
    ErrorClass,
    count_class_per_minute,
    define_error_classes,
    select_class_rows,
)
from analysis.vocabulary import quote_literal
from analysis.window import display_tz_of, resolve_window


def find_limit_changes(realtime_events: pd.DataFrame) -> pd.DataFrame:
    """Find changes of the Realtime connection limit reported in ``Billing metrics`` rows.

    The change happened between ``last_old_ts`` (last row at the old limit) and ``ts`` (first
    row at the new one); a Realtime outage between them widens that interval.

    Returns
    -------
    DataFrame: ts, last_old_ts, from_limit, to_limit, rows_at_new (rows until the next change).
    """
    cols = ["ts", "last_old_ts", "from_limit", "to_limit", "rows_at_new"]
    if realtime_events.empty or "limit" not in realtime_events:
        return pd.DataFrame(columns=cols)
    rows = realtime_events[
        (realtime_events["family"] == "billing_metrics") & realtime_events["limit"].notna()
    ].sort_values("ts", kind="stable")
    if rows.empty:
        return pd.DataFrame(columns=cols)
    limit = rows["limit"].astype("int64").to_numpy()
    ts = rows["ts"].reset_index(drop=True)
    change = np.flatnonzero(limit[1:] != limit[:-1]) + 1
    bounds = [*change.tolist(), len(limit)]
    out = [
        {
            "ts": ts[k], "last_old_ts": ts[k - 1], "from_limit": int(limit[k - 1]),
            "to_limit": int(limit[k]), "rows_at_new": int(bounds[n + 1] - k),
        }
        for n, k in enumerate(change)
    ]  # fmt: skip
    return pd.DataFrame(out, columns=cols)


MOMENT_COLUMNS = [
    "ts",
    "ts_local",
    "kind",
    "subject",
    "description",
    "value",
    "source",
    "filter",
    "count",
]


def _moment(ts, kind, subject, description, value, source, filt, count) -> dict:
    return {
        "ts": ts,
        "kind": kind,
        "subject": subject,
        "description": description,
        "value": value,
        "source": source,
        "filter": filt,
        "count": int(count),
    }


def detect_level_shifts(
    samples: pd.DataFrame, *, rel_change: float = 0.4, abs_share: float = 0.2
) -> pd.DataFrame:
    """Spikes and drops between consecutive concurrency samples, merged into runs.

    A step is a spike (drop) when the value rises (falls) by at least ``rel_change`` of the
    previous value and by at least ``abs_share`` of the series' peak; consecutive steps in the
    same direction form one shift.

    Returns
    -------
    DataFrame: kind (spike|drop), start_ts (last sample before), end_ts (sample reached),
    from_value, to_value, samples (in the run, both ends included).
    """
    cols = ["kind", "start_ts", "end_ts", "from_value", "to_value", "samples"]
    s = dedupe_samples(samples)
    if len(s) < 2:
        return pd.DataFrame(columns=cols)
    v = s["viewers"].to_numpy(dtype="float64")
    ts = s["ts"].reset_index(drop=True)
    floor = abs_share * np.nanmax(v)
    d = np.diff(v)
    prev = v[:-1]
    up = (d >= rel_change * np.maximum(prev, 1)) & (d >= floor)
    down = (-d >= rel_change * prev) & (-d >= floor)
    kind = np.where(up, 1, np.where(down, -1, 0))
    rows, i = [], 0
    while i < len(kind):
        if kind[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(kind) and kind[j + 1] == kind[i]:
            j += 1
        rows.append(
            {
                "kind": "spike" if kind[i] > 0 else "drop",
                "start_ts": ts[i],
                "end_ts": ts[j + 1],
                "from_value": int(v[i]),
                "to_value": int(v[j + 1]),
                "samples": j - i + 2,
            }
        )
        i = j + 1
    return pd.DataFrame(rows, columns=cols)


def find_recoveries(
    samples: pd.DataFrame, shifts: pd.DataFrame, *, recover_share: float = 0.8
) -> pd.DataFrame:
    """After each drop, the first sample back at ``recover_share`` of the pre-drop level."""
    cols = ["drop_end_ts", "ts", "level_before", "value", "samples_between"]
    s = dedupe_samples(samples)
    rows = []
    for drop in shifts[shifts["kind"] == "drop"].itertuples():
        later = s[s["ts"] > drop.end_ts]
        back = later[later["viewers"] >= recover_share * drop.from_value]
        if back.empty:
            continue
        first = back.iloc[0]
        rows.append(
            {
                "drop_end_ts": drop.end_ts,
                "ts": first["ts"],
                "level_before": drop.from_value,
                "value": int(first["viewers"]),
                "samples_between": int((later["ts"] < first["ts"]).sum()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def detect_surges(
    errors: np.ndarray, *, factor: float = 2.0, min_count: int = 3, merge_gap: int = 1
) -> list[tuple[int, int, int, float]]:
    """Find error surges: runs of minutes whose count reaches ``max(min_count, factor * mean)``.

    Runs separated by at most ``merge_gap`` quieter minutes form one surge (clustered errors
    rarely hit the threshold in every single minute). A surge is the timeline's plain-count
    rule; the figure's *bursts* are a different detector (``stats.detect_bursts``, Kleinberg's
    model of errors out of requests), so the two are named apart.

    Returns
    -------
    list of (first minute index, last minute index, errors in the run, threshold).
    """
    errors = np.asarray(errors)
    if errors.size == 0:
        return []
    threshold = max(float(min_count), factor * float(errors.mean()))
    hot = np.flatnonzero(errors >= threshold)
    runs: list[list[int]] = []
    for k in hot:
        if runs and k - runs[-1][1] <= merge_gap + 1:
            runs[-1][1] = int(k)
        else:
            runs.append([int(k), int(k)])
    return [(i, j, int(errors[i : j + 1].sum()), threshold) for i, j in runs]


def build_key_moments(
    incident: object,
    webinar_id: str | None = None,
    *,
    start: object = None,
    end: object = None,
    display_tz: str | None = None,
    classes: tuple[ErrorClass, ...] | None = None,
    rel_change: float = 0.4,
    abs_share: float = 0.2,
    surge_factor: float = 2.0,
    surge_min: int = 3,
) -> pd.DataFrame:
    """One chronological table of the key moments, each with its evidence.

    Rows: first and last error of each class, each webinar's peak, concurrency spikes, drops and
    recoveries, error surges (:func:`detect_surges`) and the minute each ended, and the human
    annotations
    (``time unknown`` ones last). ``source``/``filter``/``count`` let a reader re-count a row.

    Returns
    -------
    DataFrame with columns ts, ts_local, kind, subject, description, value, source, filter, count.
    """
    start, end = resolve_window(incident, start, end)
    tz = display_tz_of(incident, display_tz)
    classes = define_error_classes(incident) if classes is None else classes
    rows: list[dict] = []
    win = f"ts in [{start.isoformat()}, {end.isoformat()})"
    for cls in classes:
        sel = select_class_rows(incident, cls)
        sel = sel[(sel["ts"] >= start) & (sel["ts"] < end)].sort_values("ts", kind="stable")
        if sel.empty:
            continue
        filt = f"{cls.filter} and {win}"
        n = len(sel)
        rows.append(
            _moment(
                sel["ts"].iloc[0],
                "first_error",
                cls.key,
                f"first {cls.key} error",
                1,
                cls.source,
                filt,
                n,
            )
        )
        rows.append(
            _moment(
                sel["ts"].iloc[-1],
                "last_error",
                cls.key,
                f"last {cls.key} error",
                1,
                cls.source,
                filt,
                n,
            )
        )
        errors, _ = count_class_per_minute(incident, cls, start, end)
        for i, j, total, threshold in detect_surges(
            errors, factor=surge_factor, min_count=surge_min
        ):
            b0 = start + pd.Timedelta(minutes=i)
            b1 = start + pd.Timedelta(minutes=j + 1)
            bfilt = f"{cls.filter} and ts in [{b0.isoformat()}, {b1.isoformat()})"
            rows.append(
                _moment(
                    b0,
                    "error_surge",
                    cls.key,
                    f"{cls.key} surge: {total} errors in {j - i + 1} min "
                    f"(>= {threshold:.1f} per minute)",
                    total,
                    cls.source,
                    bfilt,
                    total,
                )
            )
            if j + 1 < len(errors):
                rows.append(
                    _moment(
                        b1,
                        "error_surge_end",
                        cls.key,
                        f"{cls.key} back below {threshold:.1f} per minute "
                        f"({int(errors[j + 1])} in the minute)",
                        int(errors[j + 1]),
                        cls.source,
                        f"{cls.filter} and ts in [{b1.isoformat()}, "
                        f"{(b1 + pd.Timedelta(minutes=1)).isoformat()})",
                        int(errors[j + 1]),
                    )
                )
    conc = incident.concurrency
    webinar_ids = [webinar_id] if webinar_id else sorted(set(conc["webinar_id"].dropna()))
    for wid in webinar_ids:
        samples = conc[(conc["webinar_id"] == wid) & (conc["ts"] >= start) & (conc["ts"] < end)]
        if samples.empty:
            continue
        base = f"webinar_id == {quote_literal(wid)}"
        peak, peak_ts = find_peak(samples)
        rows.append(
            _moment(
                peak_ts,
                "peak",
                wid,
                f"peak of {peak} concurrent viewers",
                peak,
                "concurrency",
                f"{base} and {win}",
                len(samples),
            )
        )
        shifts = detect_level_shifts(samples, rel_change=rel_change, abs_share=abs_share)
        for sh in shifts.itertuples():
            rows.append(
                _moment(
                    sh.start_ts,
                    f"concurrency_{sh.kind}",
                    wid,
                    f"viewers {'rose' if sh.kind == 'spike' else 'fell'} from {sh.from_value} to "
                    f"{sh.to_value} by {sh.end_ts.isoformat()}",
                    sh.to_value,
                    "concurrency",
                    f"{base} and ts in [{sh.start_ts.isoformat()}, {sh.end_ts.isoformat()}]",
                    sh.samples,
                )
            )
        for rec in find_recoveries(samples, shifts).itertuples():
            rows.append(
                _moment(
                    rec.ts,
                    "concurrency_recovery",
                    wid,
                    f"viewers back to {rec.value} (pre-drop level {rec.level_before})",
                    rec.value,
                    "concurrency",
                    f"{base} and ts == {rec.ts.isoformat()}",
                    1,
                )
            )
    for ch in find_limit_changes(incident.realtime_events).itertuples():
        in_win = start <= ch.ts < end
        if not in_win:
            continue
        rows.append(
            _moment(
                ch.ts,
                "limit_change",
                "realtime:limit",
                f"Realtime connection limit {ch.from_limit} -> {ch.to_limit}, first reported "
                f"here; last reported at {ch.from_limit} at {ch.last_old_ts.isoformat()}",
                ch.to_limit,
                "realtime_events",
                f"family == 'billing_metrics' and limit == {ch.to_limit} and ts in "
                f"[{ch.ts.isoformat()}, next change)",
                ch.rows_at_new,
            )
        )
    notes = getattr(incident, "annotations", None)
    if notes is not None:
        for note in notes.itertuples():
            text = str(note.label) + (f": {note.note}" if pd.notna(note.note) and note.note else "")
            ts = note.ts if pd.notna(note.ts) else pd.NaT
            rows.append(
                _moment(
                    ts,
                    "annotation",
                    # The label itself: the description adds the note after a colon, and a
                    # label may hold colons of its own.
                    str(note.label),
                    # An untimed note's time reads "time unknown" in the report's own language
                    # (the timeline's time column); the description is the note alone.
                    text,
                    None,
                    "annotations",
                    f"label == {quote_literal(note.label)}",
                    1,
                )
            )
    out = pd.DataFrame(rows, columns=[c for c in MOMENT_COLUMNS if c != "ts_local"])
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    out["ts_local"] = out["ts"].dt.tz_convert(tz)
    order = {
        k: i
        for i, k in enumerate(
            [
                "annotation",
                "limit_change",
                "concurrency_drop",
                "concurrency_spike",
                "peak",
                "concurrency_recovery",
                "first_error",
                "error_surge",
                "error_surge_end",
                "last_error",
            ]
        )
    }
    out["_order"] = out["kind"].map(order)
    out = out.sort_values(["ts", "_order", "subject"], kind="stable", na_position="last")
    return out[MOMENT_COLUMNS].reset_index(drop=True)
