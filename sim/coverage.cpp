#include "sim/coverage.h"

#include "sim/assert.h"

namespace faultline {

void Coverage::declare(const MarkCatalogue& c) {
  if (c.id >= counts_.size()) {
    counts_.resize(c.id + 1);
    catalogues_.resize(c.id + 1);
  }
  FL_ASSERT((catalogues_[c.id].empty() || catalogues_[c.id].data() == c.marks.data()) &&
                "two catalogues share one id",
            c.id);
  catalogues_[c.id] = c.marks;
  counts_[c.id].resize(c.marks.size(), 0);
}

std::map<std::string, uint64_t> Coverage::counts() const {
  std::map<std::string, uint64_t> out;
  for (size_t c = 0; c < catalogues_.size(); ++c) {
    for (size_t m = 0; m < catalogues_[c].size(); ++m) out[catalogues_[c][m].name] += counts_[c][m];
  }
  return out;
}

}  // namespace faultline
