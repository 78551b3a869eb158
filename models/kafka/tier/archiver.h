// models/kafka/tier/archiver.h
// The tiered-storage archiver of one partition's leader (semantics.md H1, H2): it opens its
// tier epoch (InitLeader, H3), then, segment after segment, uploads what is tierable: a
// rolled segment lying entirely below min(HW, recovery point) (committed and fsynced), from
// the tier end offset on. Each upload is UploadInitiate in the tier-state log, a PUT of the
// data object and of the epoch-cache slice (tier_object.h), then UploadComplete; only that
// moves the tier end offset (H2). PUTs that fail with 503/500 are retried with exponential
// backoff; a timeout is ambiguous (the object may exist or not) and is retried the same way,
// which is safe because a segment id names one upload and its bytes never change. When
// leadership moves the archiver stops where it is: its upload stays in Initiate until the
// next leader's InitLeader fences it (GC deletes its objects). A new leader starts from the
// tier state the controller holds, never from memory.
#pragma once

#include <functional>
#include <map>

#include "models/bugs.h"
#include "models/kafka/config.h"
#include "models/kafka/controller_channel.h"
#include "models/kafka/log.h"
#include "models/kafka/tier/tier_rpc.h"
#include "sim/node_context.h"

namespace faultline::kafka {

class Archiver {
 public:
  Archiver(NodeContext& ctx, ControllerIds controller, const ReplicationConfig& config, const BugSet& bugs)
      : ctx_(ctx), controller_(ctx, std::move(controller)), config_(config), bugs_(bugs) {}

  // The log start offset of a tiered log (A2): the base of the oldest Complete segment if the
  // archive reaches the local log, else the local log start.
  static int64_t log_start_offset(const TierState& tier, int64_t local_log_start);

  // H6, Kafka's RemoteLogManager.isRemoteSegmentWithinLeaderEpochs: the segment lies within
  // the lineage of a leader with this epoch cache and log end offset: it ends at or below the
  // LEO, every epoch of its slice is in the cache, the first one starting no earlier than the
  // leader's, each later one exactly where the leader's does, and each run ending no later
  // than the leader's next epoch begins.
  static bool within_lineage(const TierSegment& s, const std::vector<EpochStart>& cache, int64_t leo);
  // Where the archive stops being this leader's history: the base of the lowest Complete
  // segment outside its lineage, if any (after an unclean election, say).
  static std::optional<int64_t> lineage_cut(const TierState& tier, const std::vector<EpochStart>& cache, int64_t leo);

  // GC and remote retention of partition `p` (H3, H6), every tier_gc_interval while
  // `leads()` holds: a task of its own, beside the uploads, as Kafka's expiration task runs
  // beside its copy task. Blocking: run it in a fiber.
  void maintain(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
                const std::function<bool()>& leads);

  // Archives partition `p` as the leader of `epoch` while `leads()` holds; returns when it
  // no longer does (or the controller fences this epoch). Blocking: run it in a fiber.
  void run(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
           const std::function<bool()>& leads);

 private:
  std::optional<TierAppendResponse> append(PartitionId p, int64_t broker_epoch, const TierEvent& e,
                                           const std::function<bool()>& leads);
  bool put(const std::string& key, const std::string& bytes, const std::function<bool()>& leads);
  bool del(const std::string& key, const std::function<bool()>& leads);
  // Runs `op` until it answers kOk, backing off exponentially up to tier_put_backoff_max and
  // marking each failure with `failed(status)`; false once `leads()` no longer holds.
  bool retry(const std::function<ObjectStatus()>& op, const std::function<void(ObjectStatus)>& failed,
             const std::function<bool()>& leads);
  std::optional<TierState> describe(PartitionId p);
  // GC: deletes the objects of uploads in DeleteInitiate that have been seen there for the
  // grace period, then completes their deletion. `seen` remembers when this leader first
  // saw each one (a new leader waits the grace again: nothing is lost but time).
  void collect(PartitionId p, Epoch epoch, int64_t broker_epoch, std::map<std::string, Instant>& seen,
               const std::function<bool()>& leads);
  // H6: retention.bytes over the whole log. While the log would still hold retention.bytes
  // without its oldest Complete segment (one lying entirely below the local log start), that
  // segment goes: DeleteInitiate, which takes it out of what readers see (the log start offset
  // rises past it); GC deletes its objects after the grace and completes the deletion.
  void retain(PartitionId p, Epoch epoch, int64_t broker_epoch, const PartitionLog& log,
              const std::function<bool()>& leads);

  NodeContext& ctx_;
  ControllerChannel controller_;  // to the active controller (A4)
  const ReplicationConfig& config_;
  const BugSet& bugs_;
};

}  // namespace faultline::kafka
