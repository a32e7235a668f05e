"""Causal model of a webinar-platform incident on Supabase, and the writer of its raw exports.

The model, one second at a time over the incident window (``data/README.md`` tells it in prose):

1. **Audience.** Each webinar has a true audience ``A(t)`` (open tabs, ``audience`` knots) and a
   presence shape (``shape`` knots): what Realtime presence sees. They differ only while
   Realtime is down, when tabs keep watching and polling but drop out of presence.
2. **Monitor samples.** The app's concurrency monitor writes a sample on Realtime presence
   syncs, so it samples every ``sample_every_s`` while Realtime is up and almost never while it
   is down. For the shipped incident the published 5-minute rows (max, min, samples) are
   inputs: each bucket gets exactly its number of samples and its values are the shape plus
   noise, rescaled so the bucket's extremes are exactly the published max and min.
3. **Sessions.** Presence sessions (one per tab, device or reconnect) are born and die so that
   the number of open sessions equals the sampled value at every sample time, with turnover
   (tabs reloaded, sockets re-opened) on top; a user re-opening gets a new session, so there
   are more sessions than people. Realtime connections ``C(t)`` are the open sessions plus the
   monitor's sockets, reported every 5 s in ``Billing metrics`` rows while Realtime is up.
4. **Capacity.** Realtime disconnects (``Postgrex.Protocol ... disconnected``) occur with an
   intensity proportional to ``C(t - lag) - limit`` when positive (limit = the plan's
   concurrent connections); pool errors (``connection not available ... dropped from queue``)
   in proportion to the Postgres connections in use, ``db_base + A(t) / tabs_per_db_conn``,
   above the compute size's maximum. A plan change (limits raised, compute upgraded) at
   ``upgrade_at_s`` lifts both ceilings. While Realtime is down it logs
   ``DatabaseLackOfConnections`` on every reconnect attempt.
5. **Client bugs.** Each session start (page load, reconnect) runs client code with bugs: a
   registration insert for a user already registered (409, 23505 ``registrations_pkey``), a
   registrations query for a column the table lacks (400, 42703), a marketing-statistics insert
   racing on the daily row (409, 23505 ``uq_marketing_stats_daily_key``) and a presence insert
   before auth is restored (400, 22P02 on ``"null"``). Each failure is one edge_logs row and one
   postgres_logs row at the same moment. With ``link="none"`` the same errors occur at uniform
   random times instead (no relation to load: a null incident).
6. **Traffic.** REST polling (profiles, questions, webinars, presence heartbeats, auth checks)
   is Poisson in ``A(t)`` with per-tab rates; every session start adds its own requests.

An error class is drawn either with an exact ``count`` (its times drawn from the driver's
intensity, as for the shipped incident, whose counts are the report's words made numbers) or,
with ``count=None``, as a Poisson process with the given ``rate``. Ground truth is the
parameters; nothing of it is written into the incident directory.

Modules: ``parameters`` (what an incident is made of, a synthetic draw), ``shipped`` (the shipped
incident's parameters, recommendations and claims), ``model`` (the simulation), ``writer`` (raw
exports, tables, manifest) and ``verify`` (``python -m analysis data``).
"""

from analysis.simulate.incident.model import ErrorEvent, Session, SimulatedIncident, simulate
from analysis.simulate.incident.parameters import (
    DRIVERS,
    ERROR_KINDS,
    BucketTarget,
    ErrorProcess,
    IncidentParams,
    WebinarSpec,
    synthetic_params,
)
from analysis.simulate.incident.shipped import (
    SHIPPED_RECOMMENDATIONS,
    shipped_claims,
    shipped_params,
)
from analysis.simulate.incident.verify import (
    DataIntegrityError,
    main,
    read_checksums,
    verify_directory,
)
from analysis.simulate.incident.writer import WrittenIncident, truth_of, write_incident

__all__ = [
    "BucketTarget",
    "WebinarSpec",
    "ErrorProcess",
    "IncidentParams",
    "ERROR_KINDS",
    "DRIVERS",
    "synthetic_params",
    "shipped_params",
    "SHIPPED_RECOMMENDATIONS",
    "shipped_claims",
    "Session",
    "ErrorEvent",
    "SimulatedIncident",
    "simulate",
    "WrittenIncident",
    "write_incident",
    "truth_of",
    "DataIntegrityError",
    "read_checksums",
    "verify_directory",
    "main",
]
