#include "models/kafka/tier/tier_state.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/assert.h"

namespace faultline::kafka {

const char* to_string(TierSegmentState s) {
  switch (s) {
    case TierSegmentState::kUploadInitiate: return "upload-initiate";
    case TierSegmentState::kUploadComplete: return "upload-complete";
    case TierSegmentState::kDeleteInitiate: return "delete-initiate";
    case TierSegmentState::kDeleteComplete: return "delete-complete";
  }
  return "?";
}

const char* to_string(TierEvent::Kind k) {
  switch (k) {
    case TierEvent::Kind::kInitLeader: return "init-leader";
    case TierEvent::Kind::kUploadInitiate: return "upload-initiate";
    case TierEvent::Kind::kUploadComplete: return "upload-complete";
    case TierEvent::Kind::kDeleteInitiate: return "delete-initiate";
    case TierEvent::Kind::kDeleteComplete: return "delete-complete";
    case TierEvent::Kind::kFenceLineage: return "fence-lineage";
  }
  return "?";
}

const char* to_string(TierState::Outcome o) {
  switch (o) {
    case TierState::Outcome::kApplied: return "applied";
    case TierState::Outcome::kRepeated: return "repeated";
    case TierState::Outcome::kFenced: return "fenced";
    case TierState::Outcome::kRejected: return "rejected";
  }
  return "?";
}

std::string TierEvent::to_text() const {
  if (kind == Kind::kInitLeader) return fmt::format("init-leader epoch={}", tier_epoch);
  if (kind == Kind::kUploadInitiate) {
    return fmt::format("upload-initiate epoch={} id={} [{}, {})", tier_epoch, segment_id, base_offset, end_offset);
  }
  if (kind == Kind::kFenceLineage) return fmt::format("fence-lineage epoch={} above={}", tier_epoch, base_offset);
  return fmt::format("{} epoch={} id={}", to_string(kind), tier_epoch, segment_id);
}

TierState TierState::without_log() const {
  TierState out;
  out.tier_epoch_ = tier_epoch_;
  out.tier_end_ = tier_end_;
  out.retention_start_ = retention_start_;
  out.opened_ = opened_;
  out.segments_ = segments_;
  return out;
}

const TierSegment* TierState::find(const std::string& id) const {
  auto it = segments_.find(id);
  return it == segments_.end() ? nullptr : &it->second;
}

const TierSegment* TierState::in_progress() const {
  for (const auto& [id, s] : segments_) {
    if (s.state == TierSegmentState::kUploadInitiate) return &s;
  }
  return nullptr;
}

std::vector<const TierSegment*> TierState::complete() const {
  std::vector<const TierSegment*> out;
  for (const auto& [id, s] : segments_) {
    if (s.state == TierSegmentState::kUploadComplete) out.push_back(&s);
  }
  std::sort(out.begin(), out.end(), [](const TierSegment* a, const TierSegment* b) { return a->base_offset < b->base_offset; });
  return out;
}

TierState::Result TierState::apply(const TierEvent& e) {
  using Kind = TierEvent::Kind;
  using S = TierSegmentState;
  if (e.kind == Kind::kInitLeader) {
    if (e.tier_epoch < tier_epoch_) return {Outcome::kFenced, "older-tier-epoch"};
    if (e.tier_epoch == tier_epoch_ && opened_) return {Outcome::kRepeated, "same-tier-epoch"};
    tier_epoch_ = e.tier_epoch;
    opened_ = true;
    // H3: the new epoch fences the upload in progress; its object is garbage.
    for (auto& [id, s] : segments_) {
      if (s.state == S::kUploadInitiate) s.state = S::kDeleteInitiate;
    }
    log_.push_back(e);
    check_invariants();
    return {};
  }
  if (e.tier_epoch < tier_epoch_) return {Outcome::kFenced, "older-tier-epoch"};
  // Found by the model-based test: before any InitLeader the epoch-0 state took events.
  if (e.tier_epoch > tier_epoch_ || !opened_) return {Outcome::kRejected, "tier-epoch-not-initialised"};
  if (e.kind == Kind::kFenceLineage) return fence_lineage(e);
  auto it = segments_.find(e.segment_id);
  TierSegment* s = it == segments_.end() ? nullptr : &it->second;
  switch (e.kind) {
    case Kind::kUploadInitiate: {
      if (s != nullptr) {
        const bool same = s->base_offset == e.base_offset && s->end_offset == e.end_offset && s->epochs == e.epochs;
        return same ? Result{Outcome::kRepeated, "same-upload"} : Result{Outcome::kRejected, "segment-id-reused"};
      }
      if (in_progress() != nullptr) return {Outcome::kRejected, "upload-in-progress"};
      if (e.end_offset <= e.base_offset) return {Outcome::kRejected, "empty-range"};
      if (e.base_offset < tier_end_) return {Outcome::kRejected, "overlaps-archived"};
      segments_[e.segment_id] = TierSegment{e.segment_id, e.tier_epoch, e.base_offset, e.end_offset, e.epochs,
                                            S::kUploadInitiate};
      break;
    }
    case Kind::kUploadComplete:
      if (s == nullptr) return {Outcome::kRejected, "unknown-segment"};
      // A repeat, also after the segment moved on (retention took it while the archiver
      // retried a reply it lost): the transition was applied once.
      if (s->completed) return {Outcome::kRepeated, "already-complete"};
      if (s->state != S::kUploadInitiate) return {Outcome::kRejected, "not-in-progress"};
      s->state = S::kUploadComplete;
      s->completed = true;
      tier_end_ = std::max(tier_end_, s->end_offset);
      break;
    case Kind::kDeleteInitiate:
      if (s == nullptr) return {Outcome::kRejected, "unknown-segment"};
      // DeleteComplete comes only after DeleteInitiate: a repeat either way.
      if (s->state == S::kDeleteInitiate || s->state == S::kDeleteComplete) return {Outcome::kRepeated, "already-deleting"};
      if (s->state == S::kUploadComplete) retention_start_ = std::max(retention_start_, s->end_offset);
      s->state = S::kDeleteInitiate;
      break;
    case Kind::kDeleteComplete:
      if (s == nullptr) return {Outcome::kRejected, "unknown-segment"};
      if (s->state == S::kDeleteComplete) return {Outcome::kRepeated, "already-deleted"};
      if (s->state != S::kDeleteInitiate) return {Outcome::kRejected, "not-deleting"};
      s->state = S::kDeleteComplete;
      break;
    case Kind::kInitLeader:
    case Kind::kFenceLineage:
      FL_UNREACHABLE("handled above");
  }
  log_.push_back(e);
  check_invariants();
  return {};
}

TierState::Result TierState::fence_lineage(const TierEvent& e) {
  using S = TierSegmentState;
  const int64_t cut = e.base_offset;
  if (cut == tier_end_) return {Outcome::kRepeated, "lineage-already-ends-there"};
  if (cut > tier_end_ || cut < retention_start_) return {Outcome::kRejected, "cut-outside-the-archive"};
  for (const auto& [id, s] : segments_) {
    if (s.state == S::kUploadComplete && s.base_offset < cut && s.end_offset > cut) {
      return {Outcome::kRejected, "cut-inside-a-segment"};
    }
  }
  for (auto& [id, s] : segments_) {
    if (s.state == S::kUploadComplete && s.base_offset >= cut) s.state = S::kDeleteInitiate;
  }
  tier_end_ = cut;
  log_.push_back(e);
  check_invariants();
  return {};
}

void TierState::check_invariants() const {
  int in_flight = 0;
  int64_t ends = 0;
  const TierSegment* prev = nullptr;
  for (const TierSegment* s : complete()) {
    FL_ASSERT((prev == nullptr || prev->end_offset <= s->base_offset) && "Complete segments never overlap",
              prev == nullptr ? std::string() : prev->id, s->id);
    prev = s;
  }
  for (const auto& [id, s] : segments_) {
    in_flight += s.state == TierSegmentState::kUploadInitiate;
    if (s.state != TierSegmentState::kUploadInitiate) ends = std::max(ends, s.end_offset);
  }
  FL_ASSERT(in_flight <= 1 && "at most one upload in progress", in_flight);
  FL_ASSERT(tier_end_ <= ends || tier_end_ == 0, tier_end_, ends);
}

}  // namespace faultline::kafka
