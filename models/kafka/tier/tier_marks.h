// models/kafka/tier/tier_marks.h
// Coverage marks of tiered storage (sim/coverage.h), a catalogue of its own so that only
// scenarios that tier declare it. Named "<rule>.<what>" after semantics.md section H.
#pragma once

#include <cstdint>

#include "sim/coverage.h"
#include "sim/node_context.h"

namespace faultline::kafka {

enum class TierMark : uint32_t {
  kInitLeader,            // H3
  kUploadComplete,        // H2
  kUploadFenced,          // H3: a new leader fenced the upload in progress
  kRepeat,                // H3: an idempotent repeat
  kStaleEpochFenced,      // H3 / S20: an event from an older tier epoch
  kRejected,              // H3: a transition the machine refused
  kPutRetried,            // H2: a PUT retried after 503/500
  kAmbiguousPut,          // H2: a PUT timed out, its outcome unknown
  kUploadAbandoned,       // H2: leadership lost mid-upload
  kResumedFromTierState,  // H2: a new leader continued from a tier end offset it did not write
  kGcDeleted,             // H2/H3: GC deleted a fenced or failed upload's objects
  kDeleteRetried,         // H2: a GC DELETE was retried
  kRemoteRead,            // H5: a consumer was served from the object store
  kRemoteReadFailed,      // H5: a remote read met an object-store error
  kFollowerMovedToTier,   // H5: a follower restarted at its leader's local log start
  kRemoteRetention,       // H6: retention deleted an archived segment
  kLineageFenced,         // H6: segments outside a new leader's lineage left the archive
  kCount,
};

inline constexpr uint32_t kTierMarkCatalogue = 2;
MarkCatalogue tier_mark_catalogue();

inline void cover(NodeContext& ctx, TierMark m) { ctx.cover(kTierMarkCatalogue, static_cast<uint32_t>(m)); }

}  // namespace faultline::kafka
