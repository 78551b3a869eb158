#include "scenarios/kafka/metadata_checker.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <variant>

namespace faultline::kafka {

std::string describe(const QuorumEntry& entry) {
  return std::visit(
      [&](const auto& r) -> std::string {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, LeaderChangeRecord>) {
          return fmt::format("epoch {} leader-change to controller {}", entry.epoch, r.leader);
        } else if constexpr (std::is_same_v<T, PartitionRecord>) {
          const PartitionState& s = r.state;
          return fmt::format("epoch {} partition {} leader {} leader_epoch {} partition_epoch {} isr [{}] elr [{}] ({})",
                             entry.epoch, s.partition, s.leader == kNoBroker ? -1 : static_cast<int64_t>(s.leader),
                             s.leader_epoch, s.partition_epoch, fmt::join(s.isr, ","), fmt::join(s.elr, ","), r.why);
        } else if constexpr (std::is_same_v<T, BrokerRecord>) {
          return fmt::format("epoch {} broker {} broker_epoch {} registered {} fenced {} ({})", entry.epoch,
                             r.info.broker, r.info.epoch, r.info.registered, r.info.fenced, r.why);
        } else {
          return fmt::format("epoch {} tier partition {} {}{}", entry.epoch, r.partition, r.event.to_text(),
                             r.not_leader ? " (not the leader)" : "");
        }
      },
      entry.record);
}

bool MetadataChecker::on_committed(NodeId controller, int64_t offset, const QuorumEntry& entry) {
  ++checks_;
  const auto at = static_cast<size_t>(offset);
  if (at < ledger_.size()) {
    const Committed& was = ledger_[at];
    if (was.epoch != entry.epoch || was.text != describe(entry)) {
      if (!reported_) {
        reported_ = true;
        report_(-1, fmt::format("controller {} committed at metadata offset {} \"{}\", but \"{}\" had been "
                                "committed there: a committed change was lost across a controller failover",
                                controller, offset, describe(entry), was.text));
      }
    }
    return false;
  }
  if (at > ledger_.size()) return false;  // cannot happen: records commit in order from 0
  ledger_.push_back({entry.epoch, describe(entry)});
  if (const auto* pr = std::get_if<PartitionRecord>(&entry.record)) {
    history_[pr->state.partition].emplace_back(offset + 1, pr->state);
  }
  return true;
}

void MetadataChecker::on_metadata_applied(NodeId broker, const MetadataResponse& md) {
  ++checks_;
  const auto version = static_cast<int64_t>(md.version);
  if (version > committed_records()) {
    if (!reported_) {
      reported_ = true;
      report_(-1, fmt::format("broker {} applied metadata version {}, but only {} metadata records were committed",
                              broker, version, committed_records()));
    }
    return;
  }
  for (const PartitionState& st : md.partitions) {
    auto it = history_.find(st.partition);
    if (it == history_.end()) continue;  // never changed since the initial placement
    const PartitionState* expected = nullptr;
    for (const auto& [from, state] : it->second) {
      if (from > version) break;
      expected = &state;
    }
    if (expected == nullptr || *expected == st || reported_) continue;
    reported_ = true;
    report_(st.partition,
            fmt::format("broker {} applied metadata version {} with leader {} leader_epoch {} partition_epoch {}, "
                        "but the committed metadata log says leader {} leader_epoch {} partition_epoch {} there",
                        broker, version, st.leader == kNoBroker ? -1 : static_cast<int64_t>(st.leader), st.leader_epoch,
                        st.partition_epoch, expected->leader == kNoBroker ? -1 : static_cast<int64_t>(expected->leader),
                        expected->leader_epoch, expected->partition_epoch));
  }
}

}  // namespace faultline::kafka
