-- realtime_logs, lines per minute by family. ClickHouse flavour (current Logs Explorer,
-- `logs`). One row per minute with any line, so one run covers up to 1000 minutes.
-- The families are the analysis's own (src/analysis/vocabulary.py, REALTIME_FAMILY_RULES):
-- the same patterns in the same order, a line counted in the first family it matches, so
-- these counts are the ones the report's Realtime classes start from.
select
  toStartOfMinute(timestamp) as minute,
  count() as lines,
  countIf(lower(log_attributes['level']) = 'error' or severity_text = 'ERROR') as level_error,
  countIf(lower(log_attributes['level']) in ('warning', 'warn') or severity_text in ('WARNING', 'WARN')) as level_warning,
  countIf(match(event_message, '^Billing metrics')) as billing_metrics,
  countIf(match(event_message, '^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections') and not match(event_message, '(?:^Billing metrics)')) as too_many_connections,
  countIf(match(event_message, '^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool') and not match(event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)')) as pool_exhausted,
  countIf(match(event_message, 'RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit') and not match(event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)')) as rate_limit,
  countIf(match(event_message, '^(?:UnableToConnectToTenantDatabase|UnableToConnectToProject|SubscriptionManagerConnectionFailed|ReplicationPollerConnectionFailed|ReplicationConnectionTimeout|TenantMigrationsConnectFailed):|failed to connect|UnableToConnect|tcp connect|ConnectionInitializing|InitializingProjectConnection') and not match(event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)|(?:RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit)')) as connect_failed,
  countIf(match(event_message, '^(?:DatabaseConnectionDown|ReplicationConnectionDown|RealtimeNodeDisconnected):|disconnected|ConnectionError|closed|exited') and not match(event_message, '(?:^Billing metrics)|(?:^(?:DatabaseLackOfConnections|ReplicationMaxWalSendersReached):|53300|too_many_connections|too many clients|remaining connection slots|LackOfConnections)|(?:^(?:IncreaseConnectionPool|IncreaseSubscriptionConnectionPool):|connection not available and request was dropped|UnableCheckoutConnection|IncreaseConnectionPool|IncreaseSubscriptionConnectionPool)|(?:RateLimitReached|too_many_joins|TooManyConnectAttempts|tenant_events|rate limit)|(?:^(?:UnableToConnectToTenantDatabase|UnableToConnectToProject|SubscriptionManagerConnectionFailed|ReplicationPollerConnectionFailed|ReplicationConnectionTimeout|TenantMigrationsConnectFailed):|failed to connect|UnableToConnect|tcp connect|ConnectionInitializing|InitializingProjectConnection)')) as disconnect
from logs
where source = 'realtime_logs'
group by minute
order by minute
limit 1000
