// scenarios/kafka/tier_checker.h
// The tiered-storage checker: judges every event of every tier-state log as the controller
// applies it, and the objects the archivers wrote, against the object store's ground truth
// (I3) and the replication checker's committed log.
//   S14 safe local deletion: a range the hotset deletes from a replica is covered by Complete
//       segments whose data objects exist and hold the committed records there;
//   S15 archived content is committed content: when an upload reaches UploadComplete its
//       data object exists and holds exactly the committed records of [base, end), in order,
//       and its epoch object the epochs those records carry;
//   S17 no premature remote delete: retention takes an archived segment out (DeleteInitiate
//       of a Complete one) only while the log keeps retention.bytes without it;
//   S19 tier-state transitions follow H3 only: every applied event moves a segment along
//       Initiate -> Complete -> DeleteInitiate -> DeleteComplete or Initiate ->
//       DeleteInitiate, judged on this checker's own copy of each segment's state;
//   S20 tier fencing: an applied event carries the current tier epoch (InitLeader a newer
//       one), and a fenced upload never completes.
// At quiescence (the store healthy, every write landed, GC's grace run out):
//   S18 no leaks: every object under tier/ belongs to a Complete segment;
//   S16 coverage: every Complete segment's objects exist;
//   L4  the archive lag returns to zero: every rolled segment that lay below min(HW,
//       recovery point) on its leader when quiescence began is archived by its end.
// (The upload in progress of the current tier epoch is not a leak: it is on its way.)
// Run metrics: tier_uploads_complete, tier_bytes_archived (data objects of Complete
// segments, from the store), tier_put_retries (tier PUTs answered 503/500/timeout),
// tier_objects, tier_archive_lag (the largest committed-but-unarchived range at the end).
#pragma once

#include <map>
#include <string>

#include "models/kafka/controller.h"
#include "scenarios/kafka/controllers.h"
#include "scenarios/kafka/checker.h"
#include "scenarios/scenario.h"

namespace faultline::kafka {

class TierChecker {
 public:
  TierChecker(RunContext& rc, const ReplicationChecker& base, const ReplicationConfig& config, ControllerIds controller)
      : rc_(rc), base_(base), config_(config), controller_(controller) {}

  void on_tier_event(PartitionId p, const TierEvent& e, const TierState::Result& r, const TierState& after);
  void on_local_deletion(const Controller* controller, NodeId broker, PartitionId p, int64_t from, int64_t to);
  // The late reader (a consumer started from offset 0 after the hotset deleted the oldest
  // segments) read `e`: it must read every offset in order (S16: no gap between what is
  // archived and what is local).
  void on_reader_read(PartitionId p, const LogEntry& e);
  // The late reader went back to offset 0 of `p`: from now on it must read it all again.
  void on_reader_rewound(PartitionId p) { reader_next_[p] = 0; }
  // The scenario runs the late reader: quiescence then requires it to have caught up (L4).
  void expect_reader() { reader_ = true; }
  void report_metrics(const Controller* controller) const;
  // Quiescence, after the heal and convergence: begins it, runs until every object-store
  // write in flight has landed and then until S16, S18 and L4 hold or quiescence() has
  // passed, judges them and reports the metrics. False if the run ended meanwhile.
  bool await_quiescence();
  // How long after `settled` (the heal, and every object-store write in flight landed)
  // S18 and L4 are judged: a GC describe or tier append sent into a partition just before
  // the heal waits out its rpc_timeout, then a leader that had not seen the segment in
  // DeleteInitiate yet waits the whole grace from its next pass; plus slack for the deletes.
  static Duration quiescence(const ReplicationConfig& cfg) {
    return cfg.rpc_timeout + cfg.tier_gc_grace + cfg.tier_gc_interval * 2 + Duration::seconds(10);
  }
  // ... and how long it lasts at least: the archive's cycle runs again on a healed cluster
  // (uploads, local deletion, a retention pass every tier_gc_interval over what the producer
  // adds; about ten seconds of records exceed these scenarios' retention.bytes), and the
  // rewound late reader reads back from the object store, even in runs whose faults left
  // little data behind.
  static Duration min_quiescence(const ReplicationConfig& cfg) { return cfg.tier_gc_interval * 6; }
  // Notes, per partition, the end of the leader's tierable segments now (L4's target).
  void begin_quiescence(const Controller* controller);
  // S16, S18 and L4 at quiescence: the first that does not hold yet, if any.
  struct Problem {
    const char* invariant;
    InvariantKind kind;
    std::string message;
  };
  std::optional<Problem> quiescence_problem(const Controller* controller) const;
  void check_quiescence(const Controller* controller);
  // H4, H7: the largest local log of any replica now, in bytes (1 KiB a record); the peak
  // goes into the run metrics, and at quiescence every local log must be back within the
  // hotset (L4), give or take what arrives between hotset checks and what awaits upload
  // (four times the hotset plus eight segments).
  void sample_local_bytes();
  // The last object-store outage of the plan ends at `at`: from then on the samples look for
  // the moment the archive has caught up with what was tierable when it ended
  // (tier_outage_to_zero_lag_ns, -1 if never).
  void outage_ends(Instant at) { outage_end_ = at; }

 private:
  struct Ghost {
    int32_t tier_epoch = -1;
    std::map<std::string, TierSegmentState> segments;
  };
  void check_content(PartitionId p, const TierSegment& s);
  // The entries of a data object as the store holds it now, decoded once per version.
  const std::optional<std::vector<LogEntry>>& entries_of(const std::string& key, const StoredObject& o);
  void violation(const std::string& invariant, PartitionId p, const std::string& message);

  // The partition's log start offset now: the oldest Complete segment reaching the leader's
  // local log, else the leader's local log start (A2, H6).
  int64_t log_start(PartitionId p) const;

  RunContext& rc_;
  const ReplicationChecker& base_;
  ReplicationConfig config_;
  ControllerIds controller_;
  std::map<PartitionId, Ghost> ghosts_;
  uint64_t uploads_complete_ = 0;
  std::map<PartitionId, int64_t> tierable_at_start_;
  std::map<PartitionId, int64_t> reader_next_;   // the offset the late reader must read next
  std::map<PartitionId, int64_t> hw_at_start_;   // the true HW when quiescence began
  uint64_t reader_records_ = 0;
  int64_t peak_local_bytes_ = 0;
  bool reader_ = false;
  std::optional<Instant> outage_end_;
  std::optional<Instant> zero_lag_at_;
  std::map<PartitionId, int64_t> backlog_;  // tierable at the outage's end, per partition
  int64_t max_local_bytes() const;
  std::map<std::pair<PartitionId, std::string>, Instant> delete_initiated_at_;
  Instant quiescence_began_ = Instant::max();
  std::map<std::string, std::pair<uint64_t, std::optional<std::vector<LogEntry>>>> decoded_;  // key -> (version, entries)
};

}  // namespace faultline::kafka
