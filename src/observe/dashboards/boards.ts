/**
 * The dashboards: an overview with a traffic light per component, one per server
 * (PostgreSQL/TimescaleDB, Redis, NATS/JetStream) and one for the client library
 * as the applications see it. Every expression must return series on a running
 * stack after a short load (test/integration/dashboards.test.ts runs them all).
 */
import { Board, fallingLight, risingLight, UP_STEPS } from './panels.js';

const R = '$__rate_interval';

export function overview(): Board {
  return new Board('dataplane-overview', 'dataplane / Overview', 'Is every component up, and is anything about to break?')
    .row('Components')
    .stat({ title: 'PostgreSQL', queries: [{ expr: 'min(pg_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'Redis', queries: [{ expr: 'min(redis_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'NATS', queries: [{ expr: 'min(nats_server_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'Supervised processes', description: 'Each process the supervisor runs', queries: [{ expr: 'dataplane_server_up', legend: '{{service}}' }], upDown: true, steps: UP_STEPS, width: 12 })
    .stat({ title: 'Scrape targets', queries: [{ expr: 'up', legend: '{{job}}' }], upDown: true, steps: UP_STEPS, width: 12 })
    .stat({ title: 'Alerts firing', queries: [{ expr: 'count(ALERTS{alertstate="firing"}) or vector(0)' }], steps: risingLight(1, 1), width: 4 })
    .stat({ title: 'Restarts (1h)', queries: [{ expr: 'sum(delta(dataplane_server_restarts[1h]))' }], steps: risingLight(1, 3), width: 4 })
    .stat({
      title: 'Least free disk',
      description: 'The data area whose filesystem has the least free space',
      queries: [{ expr: 'min(dataplane_filesystem_avail_bytes / dataplane_filesystem_size_bytes)' }],
      unit: 'percentunit',
      steps: fallingLight(0.1, 0.2),
    })
    .stat({ title: 'Host memory available', queries: [{ expr: 'min(node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)' }], unit: 'percentunit', steps: fallingLight(0.1, 0.2) })
    .stat({ title: 'Oldest unpublished outbox event', queries: [{ expr: 'max(dataplane_outbox_oldest_age_seconds)' }], unit: 's', steps: risingLight(30, 120) })
    .stat({ title: 'Certificate expiry', queries: [{ expr: 'min(dataplane_tls_certificate_expiry_timestamp_seconds - time())' }], unit: 's', steps: fallingLight(3 * 86400, 14 * 86400) })
    .row('Saturation')
    .timeseries({
      title: 'Connections used',
      unit: 'percentunit',
      width: 8,
      queries: [
        { expr: 'sum(pg_stat_activity_count) / max(pg_settings_max_connections)', legend: 'postgres' },
        { expr: 'max(redis_connected_clients / redis_config_maxclients)', legend: 'redis' },
        { expr: 'max(nats_server_connections / nats_server_max_connections)', legend: 'nats' },
      ],
    })
    .timeseries({
      title: 'Memory and storage used',
      unit: 'percentunit',
      width: 8,
      queries: [
        { expr: 'max(redis_memory_used_bytes / redis_memory_max_bytes)', legend: 'redis maxmemory' },
        { expr: 'max(nats_jetstream_storage_bytes / nats_jetstream_max_storage_bytes)', legend: 'jetstream file store' },
        { expr: '1 - min(node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)', legend: 'host memory' },
      ],
    })
    .timeseries({
      title: 'Disk free by data area',
      unit: 'percentunit',
      width: 8,
      queries: [{ expr: 'dataplane_filesystem_avail_bytes / dataplane_filesystem_size_bytes', legend: '{{area}}' }],
    });
}

export function postgres(): Board {
  return new Board('dataplane-postgres', 'dataplane / PostgreSQL', 'PostgreSQL 16 (TimescaleDB where installed): connections, throughput, cache, size, replication, WAL')
    .row('Load')
    .stat({ title: 'Up', queries: [{ expr: 'min(pg_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'Connections used', queries: [{ expr: 'sum(pg_stat_activity_count) / max(pg_settings_max_connections)' }], unit: 'percentunit', steps: risingLight(0.7, 0.85) })
    .stat({ title: 'Replication lag', queries: [{ expr: 'max(dataplane_replication_lag_seconds)' }], unit: 's', steps: risingLight(10, 30) })
    .stat({ title: 'Replicas', queries: [{ expr: 'max(dataplane_replication_replicas)' }] })
    .stat({ title: 'Database size', queries: [{ expr: 'sum(pg_database_size_bytes)' }], unit: 'bytes', width: 8 })
    .timeseries({ title: 'Connections by state', queries: [{ expr: 'sum by (state) (pg_stat_activity_count)', legend: '{{state}}' }, { expr: 'max(pg_settings_max_connections)', legend: 'max_connections' }] })
    .timeseries({
      title: 'Transactions per second',
      unit: 'ops',
      queries: [
        { expr: `sum(rate(pg_stat_database_xact_commit{datname!~"template.*"}[${R}]))`, legend: 'commit' },
        { expr: `sum(rate(pg_stat_database_xact_rollback{datname!~"template.*"}[${R}]))`, legend: 'rollback' },
      ],
    })
    .timeseries({
      title: 'Rows written per second',
      unit: 'rowsps',
      queries: [
        { expr: `sum(rate(pg_stat_database_tup_inserted[${R}]))`, legend: 'inserted' },
        { expr: `sum(rate(pg_stat_database_tup_updated[${R}]))`, legend: 'updated' },
        { expr: `sum(rate(pg_stat_database_tup_deleted[${R}]))`, legend: 'deleted' },
      ],
    })
    .timeseries({
      title: 'Buffer cache hit ratio',
      unit: 'percentunit',
      queries: [
        {
          expr: `sum(rate(pg_stat_database_blks_hit[${R}])) / clamp_min(sum(rate(pg_stat_database_blks_hit[${R}])) + sum(rate(pg_stat_database_blks_read[${R}])), 1e-9)`,
          legend: 'hit ratio',
        },
      ],
    })
    .row('Storage and replication')
    .timeseries({ title: 'Disk used: data, WAL, archive', unit: 'bytes', queries: [{ expr: 'dataplane_disk_used_bytes{service="postgres"}', legend: '{{area}}' }] })
    .timeseries({ title: 'Database size', unit: 'bytes', queries: [{ expr: 'pg_database_size_bytes', legend: '{{datname}}' }] })
    .timeseries({
      title: 'Replication',
      unit: 's',
      queries: [
        { expr: 'dataplane_replication_lag_seconds', legend: 'lag (on a replica)' },
        { expr: 'dataplane_replication_max_replica_replay_lag_seconds', legend: 'largest replica replay lag (on the primary)' },
      ],
    })
    .row('Time series (TimescaleDB hypertables or native partitions)')
    .timeseries({ title: 'Chunks or partitions per table', queries: [{ expr: 'dataplane_timeseries_partitions', legend: '{{ts_table}} ({{engine}})' }] })
    .timeseries({ title: 'Size per time-series table', unit: 'bytes', queries: [{ expr: 'dataplane_timeseries_bytes', legend: '{{ts_table}} ({{engine}})' }] })
    .timeseries({
      title: 'Deadlocks and conflicts',
      queries: [
        { expr: `sum(increase(pg_stat_database_deadlocks[${R}]))`, legend: 'deadlocks' },
        { expr: `sum(increase(pg_stat_database_conflicts[${R}]))`, legend: 'recovery conflicts' },
      ],
    });
}

export function redis(): Board {
  return new Board('dataplane-redis', 'dataplane / Redis', 'Redis 7: memory against maxmemory, commands, hit ratio, evictions, clients, persistence')
    .row('Health')
    .stat({ title: 'Up', queries: [{ expr: 'min(redis_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'Memory used', queries: [{ expr: 'max(redis_memory_used_bytes / redis_memory_max_bytes)' }], unit: 'percentunit', steps: risingLight(0.8, 0.9) })
    .stat({ title: 'Clients used', queries: [{ expr: 'max(redis_connected_clients / redis_config_maxclients)' }], unit: 'percentunit', steps: risingLight(0.7, 0.85) })
    .stat({ title: 'Evictions/s', queries: [{ expr: `sum(rate(redis_evicted_keys_total[${R}]))` }], steps: risingLight(0.1, 1) })
    .stat({ title: 'Writes since last save', queries: [{ expr: 'max(redis_rdb_changes_since_last_save)' }], width: 8 })
    .timeseries({ title: 'Memory', unit: 'bytes', queries: [{ expr: 'redis_memory_used_bytes', legend: 'used' }, { expr: 'redis_memory_max_bytes', legend: 'maxmemory' }] })
    .timeseries({ title: 'Commands per second', unit: 'ops', queries: [{ expr: `sum(rate(redis_commands_processed_total[${R}]))`, legend: 'commands' }] })
    .timeseries({
      title: 'Hit ratio',
      unit: 'percentunit',
      queries: [
        {
          expr: `sum(rate(redis_keyspace_hits_total[${R}])) / clamp_min(sum(rate(redis_keyspace_hits_total[${R}])) + sum(rate(redis_keyspace_misses_total[${R}])), 1e-9)`,
          legend: 'hits / lookups',
        },
      ],
    })
    .timeseries({
      title: 'Expired and evicted keys per second',
      queries: [
        { expr: `sum(rate(redis_expired_keys_total[${R}]))`, legend: 'expired (TTL)' },
        { expr: `sum(rate(redis_evicted_keys_total[${R}]))`, legend: 'evicted (memory)' },
      ],
    })
    .timeseries({ title: 'Keys', queries: [{ expr: 'redis_db_keys', legend: '{{db}}' }, { expr: 'redis_db_keys_expiring', legend: '{{db}} with TTL' }] })
    .timeseries({ title: 'Clients', queries: [{ expr: 'redis_connected_clients', legend: 'connected' }, { expr: 'redis_blocked_clients', legend: 'blocked' }] });
}

export function nats(): Board {
  return new Board('dataplane-nats', 'dataplane / NATS JetStream', 'nats-server and JetStream: connections, traffic, storage against limits, streams, consumer lag')
    .row('Health')
    .stat({ title: 'Up', queries: [{ expr: 'min(nats_server_up)' }], upDown: true, steps: UP_STEPS })
    .stat({ title: 'File store used', queries: [{ expr: 'max(nats_jetstream_storage_bytes / nats_jetstream_max_storage_bytes)' }], unit: 'percentunit', steps: risingLight(0.7, 0.85) })
    .stat({ title: 'Connections used', queries: [{ expr: 'max(nats_server_connections / nats_server_max_connections)' }], unit: 'percentunit', steps: risingLight(0.7, 0.85) })
    .stat({ title: 'Dead letters', queries: [{ expr: 'sum(nats_stream_messages{stream="DLQ"})' }], steps: risingLight(1, 100) })
    .stat({ title: 'Largest consumer backlog', queries: [{ expr: 'max(nats_consumer_num_pending)' }], steps: risingLight(100, 1000), width: 8 })
    .timeseries({
      title: 'Messages per second',
      unit: 'ops',
      queries: [
        { expr: `sum(rate(nats_server_in_msgs[${R}]))`, legend: 'in' },
        { expr: `sum(rate(nats_server_out_msgs[${R}]))`, legend: 'out' },
      ],
    })
    .timeseries({
      title: 'JetStream storage',
      unit: 'bytes',
      queries: [
        { expr: 'nats_jetstream_storage_bytes', legend: 'file used' },
        { expr: 'nats_jetstream_max_storage_bytes', legend: 'file limit' },
        { expr: 'nats_jetstream_memory_bytes', legend: 'memory used' },
      ],
    })
    .timeseries({ title: 'Messages per stream', queries: [{ expr: 'nats_stream_messages', legend: '{{stream}}' }] })
    .timeseries({
      title: 'Consumer backlog',
      queries: [
        { expr: 'nats_consumer_num_pending', legend: '{{stream}}/{{consumer}} pending' },
        { expr: 'nats_consumer_num_ack_pending', legend: '{{stream}}/{{consumer}} unacked' },
      ],
    })
    .timeseries({ title: 'Redelivered, unacknowledged', queries: [{ expr: 'nats_consumer_num_redelivered', legend: '{{stream}}/{{consumer}}' }] })
    .timeseries({
      title: 'Connections and JetStream API errors',
      queries: [
        { expr: 'nats_server_connections', legend: 'connections' },
        { expr: `sum(rate(nats_jetstream_api_errors[${R}]))`, legend: 'API errors/s' },
      ],
    });
}

export function clients(): Board {
  const p99 = (metric: string, by: string) => `histogram_quantile(0.99, sum by (${by}, le) (rate(${metric}_bucket[${R}])))`;
  return new Board('dataplane-clients', 'dataplane / Application clients', 'The client library inside each service: PostgreSQL pools and ingest, cache keyspaces, JetStream publishers and consumers, the outbox')
    .row('PostgreSQL')
    .timeseries({ title: 'Statements per second', unit: 'ops', width: 8, queries: [{ expr: `sum by (pool, outcome) (rate(dataplane_pg_queries_total[${R}]))`, legend: '{{pool}} {{outcome}}' }] })
    .timeseries({ title: 'Statement latency p99', unit: 's', width: 8, queries: [{ expr: p99('dataplane_pg_query_duration_seconds', 'pool'), legend: '{{pool}}' }] })
    .timeseries({
      title: 'Pool',
      width: 8,
      queries: [
        { expr: 'sum by (pool, state) (dataplane_pg_pool_connections)', legend: '{{pool}} {{state}}' },
        { expr: p99('dataplane_pg_pool_acquire_seconds', 'pool'), legend: '{{pool}} acquire p99 (s)' },
      ],
    })
    .timeseries({ title: 'Ingest rows per second', unit: 'rowsps', width: 8, queries: [{ expr: `sum by (table) (rate(dataplane_ingest_rows_total[${R}]))`, legend: '{{table}}' }] })
    .timeseries({ title: 'Ingest batch time p99', unit: 's', width: 8, queries: [{ expr: p99('dataplane_ingest_batch_duration_seconds', 'table'), legend: '{{table}}' }] })
    .timeseries({ title: 'Retries per second', width: 8, queries: [{ expr: `sum by (reason) (rate(dataplane_pg_retries_total[${R}])) or vector(0)`, legend: '{{reason}}' }] })
    .row('Cache')
    .timeseries({ title: 'Keyspace operations', unit: 'ops', width: 8, queries: [{ expr: `sum by (keyspace, op, result) (rate(dataplane_cache_requests_total[${R}]))`, legend: '{{keyspace}} {{op}} {{result}}' }] })
    .timeseries({
      title: 'Hit ratio per keyspace',
      unit: 'percentunit',
      width: 8,
      queries: [
        {
          // A keyspace without any hit yet shows 0, not nothing.
          expr: `(sum by (keyspace) (rate(dataplane_cache_requests_total{result="hit"}[${R}])) or 0 * sum by (keyspace) (rate(dataplane_cache_requests_total[${R}]))) / clamp_min(sum by (keyspace) (rate(dataplane_cache_requests_total{result=~"hit|miss|stale|invalid"}[${R}])), 1e-9)`,
          legend: '{{keyspace}}',
        },
      ],
    })
    .timeseries({
      title: 'Latency p99 per keyspace',
      unit: 's',
      width: 8,
      queries: [
        { expr: p99('dataplane_cache_op_duration_seconds', 'keyspace, op'), legend: '{{keyspace}} {{op}}' },
        { expr: p99('dataplane_cache_load_duration_seconds', 'keyspace'), legend: '{{keyspace}} loader' },
      ],
    })
    .row('Messaging')
    .timeseries({ title: 'Publishes per second', unit: 'ops', width: 8, queries: [{ expr: `sum by (outcome) (rate(dataplane_nats_published_total[${R}]))`, legend: '{{outcome}}' }] })
    .timeseries({ title: 'Publish ack p99', unit: 's', width: 8, queries: [{ expr: `histogram_quantile(0.99, sum by (le) (rate(dataplane_nats_publish_ack_seconds_bucket[${R}])))`, legend: 'ack' }] })
    .timeseries({ title: 'Consumed per second', unit: 'ops', width: 8, queries: [{ expr: `sum by (consumer, outcome) (rate(dataplane_nats_consumed_total[${R}]))`, legend: '{{consumer}} {{outcome}}' }] })
    .timeseries({ title: 'Handler time p99', unit: 's', width: 8, queries: [{ expr: p99('dataplane_nats_handler_duration_seconds', 'consumer'), legend: '{{consumer}}' }] })
    .timeseries({ title: 'Redeliveries per second', width: 8, queries: [{ expr: `sum by (consumer) (rate(dataplane_nats_redeliveries_total[${R}])) or vector(0)`, legend: '{{consumer}}' }] })
    .row('Outbox')
    .timeseries({ title: 'Outbox published per second', unit: 'ops', width: 8, queries: [{ expr: `sum by (outcome) (rate(dataplane_outbox_published_total[${R}]))`, legend: '{{outcome}}' }] })
    .timeseries({ title: 'Insert to ack p99', unit: 's', width: 8, queries: [{ expr: `histogram_quantile(0.99, sum by (le) (rate(dataplane_outbox_lag_seconds_bucket[${R}])))`, legend: 'p99' }] })
    .timeseries({
      title: 'Backlog',
      width: 8,
      queries: [
        { expr: 'dataplane_outbox_backlog', legend: 'unpublished rows' },
        { expr: 'dataplane_outbox_oldest_age_seconds', legend: 'oldest (s)' },
      ],
    })
    .row('Processes')
    .timeseries({ title: 'Event-loop lag p99', unit: 's', queries: [{ expr: 'nodejs_eventloop_lag_p99_seconds', legend: '{{job}} {{instance}}' }] })
    .timeseries({ title: 'Resident memory', unit: 'bytes', queries: [{ expr: 'process_resident_memory_bytes', legend: '{{job}} {{instance}}' }] });
}

export const BOARDS = { overview, postgres, redis, nats, clients } as const;
