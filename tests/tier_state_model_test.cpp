// A stateful model-based test (rapidcheck/state.h) of the tier-state machine (H3, H6;
// models/kafka/tier/tier_state.h) against a plain reference model written from the rules
// alone: random sequences of InitLeader, UploadInitiate, UploadComplete, DeleteInitiate,
// DeleteComplete and FenceLineage, with current, stale and future epochs and known and
// unknown segments. After every command the outcome and the whole state must agree.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <map>
#include <optional>
#include <string>

#include "models/kafka/tier/tier_state.h"

namespace faultline::kafka {
namespace {

using Kind = TierEvent::Kind;
using Outcome = TierState::Outcome;
using S = TierSegmentState;

// The reference: just the rules of H3 and H6, no cleverness.
struct Model {
  struct Seg {
    int32_t epoch = 0;
    int64_t base = 0;
    int64_t end = 0;
    S state = S::kUploadInitiate;
    bool completed = false;
    std::vector<EpochStart> epochs;
  };
  int32_t epoch = 0;
  bool opened = false;  // an InitLeader was applied
  int64_t tier_end = 0;
  int64_t retention_start = 0;
  std::map<std::string, Seg> segs;

  Outcome apply(const TierEvent& e) {
    if (e.kind == Kind::kInitLeader) {
      if (e.tier_epoch < epoch) return Outcome::kFenced;
      if (e.tier_epoch == epoch && opened) return Outcome::kRepeated;
      epoch = e.tier_epoch;
      opened = true;
      for (auto& [id, s] : segs) {
        if (s.state == S::kUploadInitiate) s.state = S::kDeleteInitiate;
      }
      return Outcome::kApplied;
    }
    if (e.tier_epoch < epoch) return Outcome::kFenced;
    if (e.tier_epoch > epoch || !opened) return Outcome::kRejected;
    if (e.kind == Kind::kFenceLineage) {
      const int64_t cut = e.base_offset;
      if (cut == tier_end) return Outcome::kRepeated;
      if (cut > tier_end || cut < retention_start) return Outcome::kRejected;
      for (const auto& [id, s] : segs) {
        if (s.state == S::kUploadComplete && s.base < cut && s.end > cut) return Outcome::kRejected;
      }
      for (auto& [id, s] : segs) {
        if (s.state == S::kUploadComplete && s.base >= cut) s.state = S::kDeleteInitiate;
      }
      tier_end = cut;
      return Outcome::kApplied;
    }
    auto it = segs.find(e.segment_id);
    Seg* s = it == segs.end() ? nullptr : &it->second;
    switch (e.kind) {
      case Kind::kUploadInitiate: {
        if (s != nullptr) {
          const bool same = s->base == e.base_offset && s->end == e.end_offset && s->epochs == e.epochs;
          return same ? Outcome::kRepeated : Outcome::kRejected;  // an id names one upload
        }
        for (const auto& [id, x] : segs) {
          if (x.state == S::kUploadInitiate) return Outcome::kRejected;
        }
        if (e.end_offset <= e.base_offset || e.base_offset < tier_end) return Outcome::kRejected;
        segs[e.segment_id] = Seg{e.tier_epoch, e.base_offset, e.end_offset, S::kUploadInitiate, false, e.epochs};
        return Outcome::kApplied;
      }
      case Kind::kUploadComplete:
        if (s == nullptr) return Outcome::kRejected;
        if (s->completed) return Outcome::kRepeated;
        if (s->state != S::kUploadInitiate) return Outcome::kRejected;
        s->state = S::kUploadComplete;
        s->completed = true;
        tier_end = std::max(tier_end, s->end);
        return Outcome::kApplied;
      case Kind::kDeleteInitiate:
        if (s == nullptr) return Outcome::kRejected;
        if (s->state == S::kDeleteInitiate || s->state == S::kDeleteComplete) return Outcome::kRepeated;
        if (s->state == S::kUploadComplete) retention_start = std::max(retention_start, s->end);
        s->state = S::kDeleteInitiate;
        return Outcome::kApplied;
      case Kind::kDeleteComplete:
        if (s == nullptr) return Outcome::kRejected;
        if (s->state == S::kDeleteComplete) return Outcome::kRepeated;
        if (s->state != S::kDeleteInitiate) return Outcome::kRejected;
        s->state = S::kDeleteComplete;
        return Outcome::kApplied;
      default:
        return Outcome::kRejected;
    }
  }
};

struct Sut {
  TierState state;
};

using Cmd = rc::state::Command<Model, Sut>;

// Epochs around the current one (stale, current, next); ids from a small pool so that
// repeats and known segments come up often; offsets on a coarse grid so that ranges touch.
struct Event : Cmd {
  TierEvent e;
  explicit Event(const Model& m) {
    e.kind = *rc::gen::element(Kind::kInitLeader, Kind::kUploadInitiate, Kind::kUploadInitiate, Kind::kUploadComplete,
                               Kind::kUploadComplete, Kind::kDeleteInitiate, Kind::kDeleteComplete, Kind::kFenceLineage);
    e.tier_epoch = std::max(0, m.epoch + *rc::gen::inRange(-1, 2));
    e.segment_id = "s" + std::to_string(*rc::gen::inRange(0, 6));
    e.base_offset = 10 * *rc::gen::inRange<int64_t>(0, 8);
    e.end_offset = e.base_offset + 10 * *rc::gen::inRange<int64_t>(0, 3);
    if (e.kind == Kind::kUploadInitiate) e.epochs = {{e.tier_epoch, e.base_offset}};
    if (e.kind != Kind::kUploadInitiate && e.kind != Kind::kFenceLineage) e.base_offset = e.end_offset = 0;
    if (e.kind == Kind::kInitLeader) e.segment_id.clear();
  }
  void apply(Model& m) const override { m.apply(e); }
  void run(const Model& m, Sut& sut) const override {
    Model expected = m;
    const Outcome want = expected.apply(e);
    const TierState::Result got = sut.state.apply(e);
    RC_ASSERT(got.outcome == want);
    RC_ASSERT(sut.state.tier_epoch() == expected.epoch);
    RC_ASSERT(sut.state.tier_end_offset() == expected.tier_end);
    RC_ASSERT(sut.state.retention_start() == expected.retention_start);
    RC_ASSERT(sut.state.segments().size() == expected.segs.size());
    for (const auto& [id, s] : expected.segs) {
      const TierSegment* t = sut.state.find(id);
      RC_ASSERT(t != nullptr);
      RC_ASSERT(t->state == s.state);
      RC_ASSERT(t->base_offset == s.base);
      RC_ASSERT(t->end_offset == s.end);
    }
  }
  void show(std::ostream& os) const override { os << e.to_text(); }
};

RC_GTEST_PROP(TierStateModel, AgreesWithTheReferenceOnEverySequence, ()) {
  Sut sut;
  rc::state::check(Model{}, sut, rc::state::gen::execOneOfWithArgs<Event>());
  // The event log replayed from scratch materialises the same state (followers, restarts).
  TierState replayed;
  for (const TierEvent& e : sut.state.log()) RC_ASSERT(replayed.apply(e).outcome == Outcome::kApplied);
  RC_ASSERT(replayed.segments() == sut.state.segments());
  RC_ASSERT(replayed.tier_end_offset() == sut.state.tier_end_offset());
}

}  // namespace
}  // namespace faultline::kafka
