// models/kafka/broker_set.h
// Small helpers for the sorted broker lists of partition state (ISR, ELR, replicas), shared
// by the controller's source files.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "models/kafka/types.h"

namespace faultline::kafka::broker_set {

inline bool contains(const std::vector<BrokerId>& set, BrokerId b) { return std::find(set.begin(), set.end(), b) != set.end(); }

inline std::vector<BrokerId> without(std::vector<BrokerId> set, BrokerId b) {
  set.erase(std::remove(set.begin(), set.end(), b), set.end());
  return set;
}

inline bool sorted_unique(const std::vector<BrokerId>& set) {
  return std::adjacent_find(set.begin(), set.end(), [](BrokerId a, BrokerId b) { return a >= b; }) == set.end();
}

// "[1,2,3]": broker lists in traces and assertion messages.
inline std::string text(const std::vector<BrokerId>& set) {
  std::string out = "[";
  for (size_t i = 0; i < set.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(set[i]);
  }
  return out + "]";
}

}  // namespace faultline::kafka::broker_set
