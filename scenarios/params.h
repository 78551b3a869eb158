// scenarios/params.h
// Scenario parameters: declared with a type, a default and a description; overridden with
// `--set key=value`. Every override is validated against its declaration: an unknown key or
// a value of the wrong form is an error with a one-line message, never a silent default.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/time.h"

namespace faultline {

enum class ParamType { kInt, kDuration, kBool, kChoice };

// The longest duration parameter: one simulated day. A run's memory grows with its simulated
// time (acknowledged records, traces), so a larger value is refused as bad input.
inline constexpr int64_t kMaxDurationParam = 86'400'000'000'000;

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  std::string default_value;
  std::string description;
  int64_t min = 0;                   // kInt, kDuration (ns): inclusive bounds
  int64_t max = INT64_MAX;
  std::vector<std::string> choices;  // kChoice
};

class Params {
 public:
  // Resolves `overrides` against `specs`; on error returns nullopt and sets *error.
  static std::optional<Params> resolve(const std::vector<ParamSpec>& specs,
                                       const std::map<std::string, std::string>& overrides,
                                       std::string* error);

  int64_t integer(const std::string& name) const;
  Duration duration(const std::string& name) const;
  bool flag(const std::string& name) const;
  const std::string& choice(const std::string& name) const;

  // Every parameter with its resolved text, in name order (for reports and replay).
  const std::map<std::string, std::string>& resolved() const { return text_; }

 private:
  std::map<std::string, std::string> text_;
  std::map<std::string, int64_t> numbers_;  // kInt, kDuration (ns), kBool (0/1)
};

// Checks one value against its spec; returns an error message or empty.
std::string check_param_value(const ParamSpec& spec, const std::string& value, int64_t* number);

}  // namespace faultline
