// models/kafka/tier/tier_object.h
// What an archived segment looks like on the object store (H2): a data object holding the
// segment's entries and an epoch object holding its slice of the leader-epoch cache, under
// keys derived from the partition and the segment id. The format is this model's own (one
// line per entry or epoch); checkers decode it to compare with the committed log (S15).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/kafka/log.h"

namespace faultline::kafka::tier_object {

std::string data_key(PartitionId p, const std::string& segment_id);    // "tier/p3/<id>.data"
std::string epochs_key(PartitionId p, const std::string& segment_id);  // "tier/p3/<id>.epochs"
std::string prefix(PartitionId p);                                     // "tier/p3/"

std::string encode_entries(const std::vector<LogEntry>& entries);
// nullopt if the bytes are not a whole encoding (a torn or foreign object).
std::optional<std::vector<LogEntry>> decode_entries(const std::string& bytes);
std::string encode_epochs(const std::vector<EpochStart>& epochs);
std::optional<std::vector<EpochStart>> decode_epochs(const std::string& bytes);

}  // namespace faultline::kafka::tier_object
