"""The error vocabulary: what a log line means, in one place.

Ingest, the schemas and the timeline all name errors; they take the names from here:

- **Postgres**: the severities that are errors, the message templates that give a SQLSTATE
  when an export carries none, and the objects (constraint, column, relation) a message names.
- **Realtime**: the families of Realtime log lines, each with the message patterns that
  recognise it, and which families are telemetry (samples, not errors). A line is recognised
  as Realtime's from its text alone when an export carries no metadata.
- **PostgREST**: the SQLSTATE -> HTTP status map (package data ``postgrest_status.json``).
- **Class keys**: how an error becomes the class the statistics test (``23505:<constraint>``,
  ``42703``, ``realtime:<family>``, ``http:<status>:<endpoint>`` or ``http:<status>:rest/*``
  for error responses no database error explains) and the filter text that selects its rows.

A new Realtime family is one :class:`RealtimeFamily` entry in :data:`REALTIME_FAMILY_RULES`
(docs/extending.md, "A new error family"). The rules are read when called, never copied at
import, so every consumer sees the same list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

# --------------------------------------------------------------------------------------------
# Postgres
# --------------------------------------------------------------------------------------------

#: Postgres severities kept in ``db_errors``.
ERROR_SEVERITIES = ("ERROR", "FATAL", "PANIC")
#: SQLSTATE classes that are not errors (successful completion, warning, no data).
NON_ERROR_CLASSES = ("00", "01", "02")
#: SQLSTATEs Postgres reports at FATAL: the session cannot start or is ended (connection
#: limits, authentication, a missing database, an administrator's or crash shutdown).
FATAL_SQLSTATES = ("53300", "57P01", "57P02", "57P03", "3D000", "28000", "28P01")

#: Postgres message templates -> SQLSTATE, for exports without ``parsed.sql_state_code``
#: (the Postgres page CSV, the unified export). The texts are Postgres's own server strings.
MESSAGE_SQLSTATE = (
    (r"^duplicate key value violates unique constraint", "23505"),
    (r"violates foreign key constraint", "23503"),
    (r"violates not-null constraint", "23502"),
    (r"violates check constraint", "23514"),
    (r"^column .* does not exist", "42703"),
    (r"^relation .* does not exist", "42P01"),
    (r"^function .* does not exist", "42883"),
    (r"^permission denied", "42501"),
    (r"^invalid input syntax for type", "22P02"),
    (r"^sorry, too many clients already", "53300"),
    (r"^remaining connection slots are reserved", "53300"),
    (r"^canceling statement due to statement timeout", "57014"),
    (r"^deadlock detected", "40P01"),
)
_CONSTRAINT_RE = re.compile(r'constraint "([^"]+)"')
_COLUMN_RES = (
    re.compile(r'^column "([^"]+)" of relation "([^"]+)" does not exist'),
    re.compile(r'^column (?:"?([\w]+)"?)\.(?:"?([\w]+)"?) does not exist'),
    re.compile(r'^column "([^"]+)" does not exist'),
)
_RELATION_RES = (re.compile(r'on table "([^"]+)"'), re.compile(r'^relation "([^"]+)"'))


def sqlstate_from_message(message: str | None) -> str | None:
    """Return the SQLSTATE a Postgres message template implies, or None."""
    if not message:
        return None
    for pattern, code in MESSAGE_SQLSTATE:
        if re.search(pattern, message):
            return code
    return None


def is_error_sqlstate(sql_state: str | None) -> bool:
    """Return whether a SQLSTATE is an error (not classes 00, 01 or 02); False when missing."""
    return bool(sql_state) and str(sql_state)[:2] not in NON_ERROR_CLASSES


def severity_of_error(sql_state: str | None) -> str:
    """Severity Postgres logs an error SQLSTATE at when an export omits it: FATAL or ERROR."""
    return "FATAL" if sql_state in FATAL_SQLSTATES else "ERROR"


def severity_from_level(level: str | None, sql_state: str | None) -> str | None:
    """Postgres severity of a unified-export row, which carries only ``level`` and SQLSTATE.

    Studio's unified query maps ERROR and FATAL to level ``error``, WARNING to ``warning``,
    LOG to ``success``, and leaves every other severity (PANIC, NOTICE, INFO, DEBUG) without a
    level. So ``error`` is FATAL for the SQLSTATEs Postgres raises at FATAL and ERROR
    otherwise, and a row without a level whose SQLSTATE is an error can only be PANIC.
    None when the row does not say (no level and no error SQLSTATE).
    """
    level = (level or "").strip().lower()
    if level == "error":
        return severity_of_error(sql_state)
    if level == "warning":
        return "WARNING"
    if level in ("success", "info", "log"):
        return "LOG"
    if not level and is_error_sqlstate(sql_state):
        return "PANIC"
    return None


def name_message_objects(message: str | None) -> tuple[str, str, str]:
    """Return (constraint, column, relation) named in a Postgres message ('' when absent)."""
    message = message or ""
    m = _CONSTRAINT_RE.search(message)
    constraint = m.group(1) if m else ""
    column = relation = ""
    for regex in _COLUMN_RES:
        m = regex.search(message)
        if m:
            groups = m.groups()
            if regex is _COLUMN_RES[1]:
                relation, column = groups[0], groups[1]
            else:
                column = groups[0]
                relation = groups[1] if len(groups) > 1 else ""
            break
    if not relation:
        for regex in _RELATION_RES:
            m = regex.search(message)
            if m:
                relation = m.group(1)
                break
    return constraint, column, relation


# --------------------------------------------------------------------------------------------
# Realtime
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RealtimeFamily:
    """A family of Realtime log lines.

    Attributes
    ----------
    name
        The ``family`` value in ``realtime_events`` and the ``realtime:<name>`` class key.
    pattern
        Regular expression searched in the event message; the first family that matches wins.
    telemetry
        True for samples (e.g. the billing metrics), which are never an error class.
    """

    name: str
    pattern: str
    telemetry: bool = False


#: Realtime's operational error codes, as its own code logs them: every error or warning it
#: raises through its logging helpers reads ``<Code>: <message>`` (the list Realtime publishes
#: in its ERROR_CODES.md, plus the codes its source logs that the list omits).
REALTIME_ERROR_CODES = (
    "TopicNameRequired InvalidJoinPayload RealtimeDisabledForConfiguration TenantNotFound "
    "MissingAPIKey ErrorConnectingToWebsocket UnableToDeleteTenant UnableToSetPolicies "
    "UnableCheckoutConnection UnableToSubscribeToPostgres ReconnectSubscribeToPostgres "
    "ChannelRateLimitReached ConnectionRateLimitReached ClientJoinRateLimitReached "
    "DatabaseConnectionRateLimitReached MessagePerSecondRateLimitReached "
    "RealtimeDisabledForTenant UnableToConnectToTenantDatabase DatabaseLackOfConnections "
    "DatabaseIpVersionIsIpv4 DatabaseConnectionDown DatabaseConnectionRecoveryWindowExceeded "
    "RealtimeNodeDisconnected MigrationsFailedToRun StartReplicationFailed "
    "ReplicationConnectionTimeout ReplicationConnectionDown ReplicationConnectionRecoveryFailed "
    "ReplicationConnectionWatchdogTimeout ReplicationMaxWalSendersReached "
    "PartitionCreationFailed MissingPartition ErrorStartingPostgresCDC ReplicationSlotBeingUsed "
    "ReplicationSlotNotAlive ReplicationSlotCheckSkipped PoolingReplicationPreparationError "
    "PoolingReplicationError CheckOidsError SubscriptionCleanupFailed SubscriptionDeletionFailed "
    "ReplicationPollerConnectionFailed ReplicationPollerMaxRetriesReached "
    "DropReplicationSlotFailed SubscriptionManagerConnectionFailed PgStatActivityQueryFailed "
    "RateCounterError UnableToCheckProcessesOnRemoteNode UnhandledProcessMessage "
    "UnableToTrackPresence UnknownPresenceEvent IncreaseConnectionPool "
    "IncreaseSubscriptionConnectionPool RlsPolicyError UnableToConnectToProject "
    "JwtSignatureError MalformedJWT Unauthorized RealtimeRestarting InvalidPresencePayload "
    "UnprocessableEntity InitializingProjectConnection TimeoutOnRpcCall ErrorOnRpcCall RpcError "
    "ErrorExecutingTransaction SynInitializationError JanitorFailedToDeleteOldMessages "
    "UnableToEncodeJson UnableToBroadcastChanges WarnSendingBroadcastMessage "
    "UnexpectedMessageReceived ErrorRunningQuery QueryCanceled UnknownError "
    "UnknownErrorOnController UnknownErrorOnChannel UnknownErrorOnCounter MusterJoinError "
    "PresenceRateLimitReached ClientPresenceRateLimitReached UnableToReplayMessages "
    "JwtSignerError MalformedWebSocketMessage UnknownErrorOnWebSocketMessage "
    "ReplicationSlotLagTooHigh ReplicationSlotLagCheckSkipped HttpServerError HttpClientError "
    "JoinsRateLimitReached InvalidJWTToken PrivateOnly UnableToHandleBroadcast "
    "UnableToHandlePresence ChannelShutdown ReplicationRecoveryWindowExceeded "
    "MigrationCountMismatch MigrationCountMismatchReconcileFailed MetricsPusherTimeout "
    "MetricsPusherTaskExited MetricsPusherFailed MetricsPusherException "
    "TenantMigrationsConnectFailed TenantMigrationsApplyFailed EncryptionReconcileFailed"
).split()


def _codes(*names: str) -> str:
    """Return a pattern matching a line that starts with one of Realtime's error codes."""
    return r"^(?:" + "|".join(names) + r"):"


#: Families in match order (first match wins). A line matching none is ``other``. Patterns
#: hold no backslash: they are also sent inside SQL string literals
#: (``scripts/realtime_per_minute_sql.py``), where a backslash is an escape. Each family
#: takes Realtime's own error codes for its condition, then the words of the libraries under
#: Realtime (Postgrex, DBConnection) and of Postgres itself. Each name means one condition:
#:
#: - ``database_lacks_connections``: the project's Postgres has no free connection slot for
#:   Realtime (``DatabaseLackOfConnections``, max_wal_senders, SQLSTATE 53300, whose condition
#:   name ``too_many_connections`` Postgrex prints: so this rule comes before the next);
#: - ``too_many_connections``: Realtime refuses clients at its own concurrent-user limit
#:   (``ConnectionRateLimitReached: Too many connected users``, Realtime's
#:   ``:too_many_connections``), a plan limit, not a database one;
#: - ``db_connect_throttled``: Realtime stopped trying to connect to the project database
#:   after repeated failed attempts (``DatabaseConnectionRateLimitReached: Too many
#:   connection attempts against the tenant database``); before ``too_many_connections``,
#:   whose code is the end of this one's;
#: - ``rate_limit``: a client exceeded a per-second limit on messages, joins, channels or
#:   presence events;
#: - ``replication``: Realtime's replication connection to the database (the stream behind
#:   Postgres Changes) failed or lags: subscribers miss changes, connected clients stay
#:   connected (``ReplicationMaxWalSendersReached`` is the database's slots, above).
REALTIME_FAMILY_RULES: tuple[RealtimeFamily, ...] = (
    RealtimeFamily("billing_metrics", r"^Billing metrics", telemetry=True),
    RealtimeFamily(
        "database_lacks_connections",
        _codes("DatabaseLackOfConnections", "ReplicationMaxWalSendersReached")
        + r"|53300|[(]too_many_connections[)]|too many clients|remaining connection slots"
        r"|LackOfConnections",
    ),
    RealtimeFamily(
        "db_connect_throttled",
        _codes("DatabaseConnectionRateLimitReached")
        + r"|DatabaseConnectionRateLimitReached|TooManyConnectAttempts"
        r"|connection attempts against the tenant database",
    ),
    RealtimeFamily(
        "too_many_connections",
        _codes("ConnectionRateLimitReached") + r"|Too many connected users|:too_many_connections",
    ),
    RealtimeFamily(
        "pool_exhausted",
        _codes("IncreaseConnectionPool", "IncreaseSubscriptionConnectionPool")
        + r"|connection not available and request was dropped"
        r"|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool",
    ),
    RealtimeFamily(
        "rate_limit",
        r"RateLimitReached|too_many_joins|Too many joins|tenant_events|rate limit",
    ),
    RealtimeFamily(
        "replication",
        _codes(
            "StartReplicationFailed",
            "ReplicationConnectionTimeout",
            "ReplicationConnectionDown",
            "ReplicationConnectionRecoveryFailed",
            "ReplicationConnectionWatchdogTimeout",
            "ReplicationRecoveryWindowExceeded",
            "ReplicationPollerConnectionFailed",
            "ReplicationPollerMaxRetriesReached",
            "ReplicationSlotBeingUsed",
            "ReplicationSlotNotAlive",
            "ReplicationSlotLagTooHigh",
            "DropReplicationSlotFailed",
            "PoolingReplicationPreparationError",
            "PoolingReplicationError",
            "ErrorStartingPostgresCDC",
            "UnableToSubscribeToPostgres",
        ),
    ),
    RealtimeFamily(
        "connect_failed",
        _codes(
            "UnableToConnectToTenantDatabase",
            "UnableToConnectToProject",
            "SubscriptionManagerConnectionFailed",
            "TenantMigrationsConnectFailed",
        )
        + r"|failed to connect|UnableToConnect|tcp connect"
        r"|ConnectionInitializing|InitializingProjectConnection",
    ),
    RealtimeFamily(
        "disconnect",
        _codes("DatabaseConnectionDown", "RealtimeNodeDisconnected")
        + r"|disconnected|ConnectionError|closed|exited",
    ),
)
#: The family of a Realtime line that matches no rule (noise, never an error class).
OTHER_FAMILY = "other"
#: What marks a log line as Realtime's when an export carries no metadata: one of its error
#: codes at the start, its routine tenant lifecycle lines, or the libraries it logs through.
REALTIME_MARKERS = (
    _codes(*REALTIME_ERROR_CODES)
    + r"|^Stop tenant \S+ because of no connected users|^Tenant has no connected users"
    r"|Postgrex|DBConnection|Billing metrics|RateLimitReached|UnableToConnect|LackOfConnections"
    r"|Realtime|PostgreSQL|Tenant|ConnectionError|MigrationsFailedToRun"
)


def realtime_families() -> tuple[str, ...]:
    """Every family name a ``realtime_events`` row may carry (the rules' names, then other)."""
    return (*(rule.name for rule in REALTIME_FAMILY_RULES), OTHER_FAMILY)


def non_error_families() -> tuple[str, ...]:
    """Families that are telemetry or noise, not errors (never an error class)."""
    return (*(rule.name for rule in REALTIME_FAMILY_RULES if rule.telemetry), OTHER_FAMILY)


@cache
def _compiled(rules: tuple[RealtimeFamily, ...]) -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((rule.name, re.compile(rule.pattern)) for rule in rules)


def family_of(message: str | None) -> str:
    """Return the family of a Realtime log line (first matching rule, else ``other``)."""
    if message:
        for name, regex in _compiled(REALTIME_FAMILY_RULES):
            if regex.search(message):
                return name
    return OTHER_FAMILY


def is_realtime_message(message: str) -> bool:
    """Return whether a log line, alone, reads as Realtime's (no metadata needed)."""
    return re.search(REALTIME_MARKERS, message) is not None


# --------------------------------------------------------------------------------------------
# PostgREST: SQLSTATE -> HTTP status
# --------------------------------------------------------------------------------------------


@cache
def _status_map() -> tuple[dict, tuple[dict, ...]]:
    text = resources.files("analysis").joinpath("postgrest_status.json").read_text("utf-8")
    data = json.loads(text)
    return {k: v for k, v in data.items() if k != "rows"}, tuple(data["rows"])


def postgrest_status_table() -> pd.DataFrame:
    """PostgREST's SQLSTATE -> HTTP status table (code or class wildcard, status, description).

    The table is package data (``postgrest_status.json``) with its source in ``attrs``.
    """
    meta, rows = _status_map()
    table = pd.DataFrame(list(rows))
    table.attrs.update(meta)
    return table


def http_status_for_sqlstate(sql_state: str | None) -> int | None:
    """HTTP status PostgREST answers for a SQLSTATE (exact code, then class, then default).

    None for a missing or unknown SQLSTATE: its status cannot be inferred.
    """
    if sql_state is None or pd.isna(sql_state) or str(sql_state) == UNKNOWN_SQLSTATE:
        return None
    meta, rows = _status_map()
    code = str(sql_state).upper()
    # An application's own SQLSTATE 'PTxyz' is answered with HTTP xyz (PostgREST's custom errors).
    if re.fullmatch(r"PT[1-5]\d\d", code):
        return int(code[2:])
    for row in rows:
        if row["code"] == code:
            return int(row["status"])
    for row in rows:
        if row["code"].endswith("*") and code.startswith(row["code"][:-1]):
            return int(row["status"])
    return int(meta["default_status"])


def sqlstates_for_status(status: int) -> str:
    """Text listing the SQLSTATEs PostgREST maps to ``status`` (``other`` for the default)."""
    meta, rows = _status_map()
    parts = [f"{r['code']} {r['description']}" for r in rows if int(r["status"]) == int(status)]
    if int(status) == int(meta["default_status"]):
        parts.append("any other SQLSTATE (e.g. 42703, 22P02, 23502)")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Class keys
# --------------------------------------------------------------------------------------------

#: Class key of database errors logged without a SQLSTATE.
UNKNOWN_SQLSTATE = "unknown"
#: Prefix of Realtime class keys.
REALTIME_CLASS_PREFIX = "realtime:"


def classify_db_errors(db_errors: pd.DataFrame) -> pd.Series:
    """Return each database error's class: ``sqlstate:constraint``, else the SQLSTATE."""
    # A row without SQLSTATE still counts: it gets its own class rather than vanishing.
    state = db_errors["sql_state"].astype("string").fillna(UNKNOWN_SQLSTATE)
    constraint = db_errors["constraint"].astype("string")
    keyed = state + ":" + constraint
    return keyed.where(constraint.notna(), state).astype("string")


#: Log levels of a Realtime line that is an error (Elixir's Logger levels above warning).
ERROR_LEVELS = ("error", "critical", "alert", "emergency")


def classify_realtime(realtime_events: pd.DataFrame) -> pd.Series:
    """Error class of each Realtime event (``realtime:<family>``); NA for telemetry and noise.

    Lines logged as errors whose family no rule knows are one class, ``realtime:other``: an
    error code Realtime added after the rules were written still counts, and is analysed.
    """
    family = realtime_events["family"].astype("string")
    key = REALTIME_CLASS_PREFIX + family
    keep = ~family.isin(non_error_families()).fillna(False)
    if "level" in realtime_events.columns:
        level = realtime_events["level"].astype("string").str.lower()
        keep |= (family == OTHER_FAMILY).fillna(False) & level.isin(ERROR_LEVELS).fillna(False)
    return key.where(keep).astype("string")


def quote_literal(value: object) -> str:
    r"""Return ``value`` as a text literal of a filter: single quotes, ``\`` and ``'`` escaped.

    Every value a filter names (a constraint, an endpoint, a file, a label, a reason) comes
    from the data; quoted this one way, the literal reads back as exactly that value.
    """
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_list(values) -> str:
    """Return ``values`` as a list of text literals of a filter (:func:`quote_literal`)."""
    return "[" + ", ".join(quote_literal(v) for v in values) + "]"


def db_class_filter(sql_state: str, constraint: str | None) -> str:
    """Return the selection on ``db_errors`` of one database class, as re-runnable text."""
    state = (
        "sql_state is null"
        if sql_state == UNKNOWN_SQLSTATE
        else f"sql_state == {quote_literal(sql_state)}"
    )
    return state + (
        f" and constraint == {quote_literal(constraint)}"
        if constraint
        else " and constraint is null"
    )


HTTP_CLASS_PREFIX = "http:"


def http_class_key(status: int, scope: str) -> str:
    """Key of a class of unexplained error responses: its status and endpoint (or product)."""
    return f"{HTTP_CLASS_PREFIX}{int(status)}:{scope}"


def http_class_filter(status: int, endpoints: tuple[str, ...] | list[str]) -> str:
    """Return the selection on ``requests`` of one HTTP class, as re-runnable text."""
    if len(endpoints) == 1:
        return f"status == {int(status)} and endpoint == {quote_literal(endpoints[0])}"
    return f"status == {int(status)} and endpoint in {quote_list(endpoints)}"


def realtime_class_filter(family: str) -> str:
    """Return the selection on ``realtime_events`` of one Realtime class."""
    if family == OTHER_FAMILY:
        return f"family == {quote_literal(family)} and level in {quote_list(ERROR_LEVELS)}"
    return f"family == {quote_literal(family)}"
