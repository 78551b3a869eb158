#include "models/bugs.h"

namespace faultline {

namespace {
constexpr BugInfo kCatalogue[] = {
    {Bug::kPingUnorderedSend, "ping-unordered-send",
     "the ping sample sends through a pool of fibers, so one connection's pings leave out of order",
     "synthetic (harness self-test)"},
};
static_assert(std::size(kCatalogue) == static_cast<size_t>(Bug::kCount), "every Bug needs a catalogue entry");
}  // namespace

std::span<const BugInfo> bug_catalogue() { return kCatalogue; }

std::optional<Bug> bug_by_name(std::string_view name) {
  for (const auto& b : kCatalogue) {
    if (name == b.name) return b.bug;
  }
  return std::nullopt;
}

const char* bug_name(Bug b) { return kCatalogue[static_cast<size_t>(b)].name; }

std::vector<std::string> BugSet::names() const {
  std::vector<std::string> out;
  for (const auto& b : kCatalogue) {
    if (on(b.bug)) out.emplace_back(b.name);
  }
  return out;
}

}  // namespace faultline
