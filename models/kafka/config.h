// models/kafka/config.h
// Configuration with Kafka's names and defaults where they exist (semantics.md: defaults
// are the safest current behaviour; older behaviour is a switch). Scenarios set them with
// --set using the dotted Kafka names; see scenarios/kafka_params.h.
#pragma once

#include <cstdint>

#include "sim/time.h"

namespace faultline::kafka {

struct ReplicationConfig {
  // min.insync.replicas (B3, B4, D4).
  int32_t min_insync_replicas = 2;
  // replica.lag.time.max.ms (D1): Kafka's default is 30 s.
  Duration replica_lag_time_max = Duration::seconds(30);
  // unclean.leader.election.enable (E1).
  bool unclean_leader_election = false;
  // KIP-966 eligible leader replicas (D4). Off only under the last-replica-standing bug.
  bool elr = true;
  // B4 (Kafka 3.7+): the HW never advances while |ISR| < min ISR.
  bool hw_requires_min_isr = true;
  // segment.bytes, scaled to this model's record size (each record counts as 1 KiB).
  uint64_t segment_bytes = 64 * 1024;
  // segment.ms: roll the active segment after this long even if it is small.
  Duration segment_ms = Duration::seconds(30);
  // log.flush.interval.messages: Kafka's default is "never": nothing is fsynced on append
  // (F1); rolled segments are flushed asynchronously.
  bool flush_on_append = false;
  // replica.high.watermark.checkpoint.interval.ms
  Duration hw_checkpoint_interval = Duration::seconds(5);
  // log.flush.offset.checkpoint.interval.ms (recovery point checkpoint)
  Duration recovery_point_checkpoint_interval = Duration::seconds(60);
  // replica.fetch.wait.max.ms (a follower's long poll) and replica.fetch.backoff.ms
  Duration replica_fetch_wait_max = Duration::millis(500);
  Duration replica_fetch_backoff = Duration::seconds(1);
  // broker.heartbeat.interval.ms and broker.session.timeout.ms (KRaft defaults).
  Duration broker_heartbeat_interval = Duration::seconds(2);
  Duration broker_session_timeout = Duration::seconds(9);
  // How often brokers and clients poll the controller for metadata (KRaft brokers follow
  // the metadata log continuously; a poll interval lets a broker see changes late).
  Duration metadata_poll_interval = Duration::millis(500);
  // retention.bytes (-1: unlimited, Kafka's default), each record counted as 1 KiB like
  // segment.bytes; checked every log.retention.check.interval.ms on every replica. A follower
  // also deletes what lies below its leader's log start offset (Kafka's follower
  // maybeIncrementLogStartOffset), at segment boundaries.
  int64_t retention_bytes = -1;
  Duration retention_check_interval = Duration::seconds(5);
  // Tiered storage (H1-H7): the leader of every partition archives its rolled, committed and
  // fsynced segments to the object store, one upload at a time, looking every
  // archive_interval; PUT retries back off exponentially up to tier_put_backoff_max.
  bool tiered = false;
  Duration archive_interval = Duration::seconds(1);
  Duration tier_put_backoff_max = Duration::seconds(5);
  // GC of fenced and failed uploads (H2, H3): a segment in DeleteInitiate has its objects
  // deleted once it has been seen there for tier_gc_grace, longer than a PUT can stay in
  // flight (the client timeout plus the latest an ambiguous write can land), so that no late
  // PUT recreates what GC deleted.
  Duration tier_gc_grace = Duration::seconds(35);
  Duration tier_gc_interval = Duration::seconds(5);
  // Hotset (H4): with tiering, local segments are deleted, oldest first, once they are
  // archived (below the first untiered offset) and the local log is above hotset_bytes (1 KiB
  // a record), checked every retention_check_interval.
  int64_t hotset_bytes = 64 * 1024;
  // How long a controlled shutdown waits for the controller to move leaderships away before
  // it shuts down anyway (flushing and writing the clean-shutdown marker all the same), as
  // Kafka does once controlled.shutdown.max.retries are used up.
  Duration controlled_shutdown_timeout = Duration::seconds(30);
  // request.timeout.ms of inter-broker and controller RPCs.
  Duration rpc_timeout = Duration::seconds(30);
};

struct ProducerConfig {
  int acks = -1;                                         // acks: 0, 1 or -1 (all)
  Duration request_timeout = Duration::seconds(30);      // request.timeout.ms
  Duration delivery_timeout = Duration::seconds(120);    // delivery.timeout.ms
  Duration retry_backoff = Duration::millis(100);        // retry.backoff.ms
  Duration interval = Duration::millis(50);              // between batches of a partition (the rate)
  uint32_t max_in_flight = 5;                            // max.in.flight.requests.per.connection, per partition
  uint32_t max_batch = 4;                                // records per request: 1..max_batch
  // enable.idempotence (B6): on by default since Kafka 3.0, and then only with acks=all and at
  // most 5 requests in flight per partition (Kafka refuses the combination otherwise; the
  // model falls back to a plain producer, as Kafka does when idempotence was not set).
  bool idempotence = true;
};

}  // namespace faultline::kafka
