// models/kafka/tier/tier_state.h
// The tier-state machine of one partition (semantics.md H2, H3): which segments of its log
// are on the object store, in which state, uploaded by which leader's tier epoch. A pure
// value: every change is an event applied in order (the tier-state log), and the same events
// applied from scratch give the same state (followers and restarted brokers materialise it
// that way).
//
// Rules (H3):
// - InitLeader(e) with e above the current tier epoch makes e current and fences the upload
//   in progress, if any (Initiate -> DeleteInitiate: its object is garbage). A repeat of the
//   current epoch's InitLeader is an idempotent no-op; an older one is fenced.
// - Every other event carries the tier epoch of the leader that wrote it: an older epoch is
//   fenced and changes nothing (S20); a newer one than InitLeader established is rejected.
// - UploadInitiate(id, [base, end)) needs no upload in progress, base >= the tier end offset
//   (nothing archived twice) and end > base. UploadComplete(id) moves that upload to
//   Complete and the tier end offset to its end (H2: never before). Complete ->
//   DeleteInitiate -> DeleteComplete, and Initiate -> DeleteInitiate (fenced or failed). The
//   same event applied twice is a no-op (idempotent repeats), also once the segment has moved
//   on (an UploadComplete retried after retention took the segment); any other transition
//   is rejected (S19).
// - FenceLineage(cut) (H6, after an unclean election): the new leader's log does not hold
//   what the Complete segments above `cut` hold, so they leave the lineage: Complete ->
//   DeleteInitiate (garbage, not retention: the retention start stays) and the tier end
//   offset goes back to `cut`, from where the new leader archives its own records. `cut`
//   lies in [retention start, tier end] on a segment boundary; a repeat is a no-op.
// Invariants (asserted after every applied event): at most one Initiate; Complete segments
// do not overlap; the tier end offset is at most the largest end of any segment ever Complete.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/kafka/log.h"

namespace faultline::kafka {

enum class TierSegmentState : uint8_t { kUploadInitiate, kUploadComplete, kDeleteInitiate, kDeleteComplete };
const char* to_string(TierSegmentState s);

struct TierSegment {
  std::string id;          // also the object key prefix
  int32_t tier_epoch = 0;  // of the leader that initiated the upload
  int64_t base_offset = 0;
  int64_t end_offset = 0;  // exclusive
  std::vector<EpochStart> epochs;  // the leader-epoch cache slice for [base, end)
  TierSegmentState state = TierSegmentState::kUploadInitiate;
  bool completed = false;  // it reached UploadComplete once (whatever happened since)
  bool operator==(const TierSegment&) const = default;
};

struct TierEvent {
  enum class Kind : uint8_t {
    kInitLeader,
    kUploadInitiate,
    kUploadComplete,
    kDeleteInitiate,
    kDeleteComplete,
    kFenceLineage,  // H6: Complete segments ending above base_offset leave the lineage
  };
  Kind kind = Kind::kInitLeader;
  int32_t tier_epoch = 0;
  std::string segment_id;          // all but InitLeader
  int64_t base_offset = 0;         // UploadInitiate; FenceLineage: where the lineage ends
  int64_t end_offset = 0;          // UploadInitiate
  std::vector<EpochStart> epochs;  // UploadInitiate
  std::string to_text() const;
  bool operator==(const TierEvent&) const = default;
};
const char* to_string(TierEvent::Kind k);

class TierState {
 public:
  enum class Outcome : uint8_t { kApplied, kRepeated, kFenced, kRejected };
  struct Result {
    Outcome outcome = Outcome::kApplied;
    const char* reason = "";
    bool changed() const { return outcome == Outcome::kApplied; }
  };

  Result apply(const TierEvent& e);

  int32_t tier_epoch() const { return tier_epoch_; }
  // The first offset not archived: the largest end of any segment ever Complete (0 if none).
  int64_t tier_end_offset() const { return tier_end_; }
  // H6: the end of the highest segment retention took out (Complete -> DeleteInitiate): the
  // log start offset can never again be below it, whoever leads.
  int64_t retention_start() const { return retention_start_; }
  const std::map<std::string, TierSegment>& segments() const { return segments_; }
  const TierSegment* find(const std::string& id) const;
  const TierSegment* in_progress() const;
  // Complete segments by base offset.
  std::vector<const TierSegment*> complete() const;
  // Every event applied (not the repeats, fenced or rejected ones), in order.
  const std::vector<TierEvent>& log() const { return log_; }
  // The state without its event log: what readers need (the hotset, remote reads, GC), at a
  // fraction of the copy.
  TierState without_log() const;

 private:
  Result fence_lineage(const TierEvent& e);
  void check_invariants() const;

  int32_t tier_epoch_ = 0;
  int64_t tier_end_ = 0;
  int64_t retention_start_ = 0;
  bool opened_ = false;  // an InitLeader was applied: events of tier_epoch_ may follow
  std::map<std::string, TierSegment> segments_;
  std::vector<TierEvent> log_;
};
const char* to_string(TierState::Outcome o);

}  // namespace faultline::kafka
