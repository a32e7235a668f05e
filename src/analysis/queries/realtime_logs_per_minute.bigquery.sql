-- realtime_logs, lines per minute by family. BigQuery flavour (legacy Logs Explorer,
-- `logs.all`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families are the analysis's own (src/analysis/vocabulary.py, REALTIME_FAMILY_RULES):
-- the same patterns in the same order, a line counted in the first family it matches, so
-- these counts are the ones the report's Realtime classes start from.
select
  timestamp_trunc(t.timestamp, minute) as minute,
  count(*) as lines,
  countif(m.level = 'error') as level_error,
  countif(m.level in ('warning', 'warn')) as level_warning,
  countif(regexp_contains(t.event_message, '^Billing metrics')) as billing_metrics,
  countif(regexp_contains(t.event_message, '^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections') and not regexp_contains(t.event_message, '(?:^Billing metrics)')) as too_many_connections,
  countif(regexp_contains(t.event_message, '^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool') and not regexp_contains(t.event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)')) as pool_exhausted,
  countif(regexp_contains(t.event_message, 'RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit') and not regexp_contains(t.event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)')) as rate_limit,
  countif(regexp_contains(t.event_message, '^(?:UnableToConnectToTenantDatabase|UnableToConnectToProject|SubscriptionManagerConnectionFailed|ReplicationPollerConnectionFailed|ReplicationConnectionTimeout|TenantMigrationsConnectFailed):|failed to connect|UnableToConnect|tcp connect|ConnectionInitializing|InitializingProjectConnection') and not regexp_contains(t.event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)|(?:RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit)')) as connect_failed,
  countif(regexp_contains(t.event_message, '^(?:DatabaseConnectionDown|ReplicationConnectionDown|RealtimeNodeDisconnected):|disconnected|ConnectionError|closed|exited') and not regexp_contains(t.event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)|(?:RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit)|(?:^(?:UnableToConnectToTenantDatabase|UnableToConnectToProject|SubscriptionManagerConnectionFailed|ReplicationPollerConnectionFailed|ReplicationConnectionTimeout|TenantMigrationsConnectFailed):|failed to connect|UnableToConnect|tcp connect|ConnectionInitializing|InitializingProjectConnection)')) as disconnect
from realtime_logs as t
  cross join unnest(t.metadata) as m
group by minute
order by minute
limit 1000
