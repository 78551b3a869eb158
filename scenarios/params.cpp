#include "scenarios/params.h"

#include <fmt/format.h>

#include <charconv>

#include "sim/assert.h"

namespace faultline {

std::string check_param_value(const ParamSpec& spec, const std::string& value, int64_t* number) {
  switch (spec.type) {
    case ParamType::kInt: {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec != std::errc() || ptr != value.data() + value.size() || value.empty()) {
        return fmt::format("parameter '{}' wants an integer, got '{}'", spec.name, value);
      }
      if (v < spec.min || v > spec.max) {
        return fmt::format("parameter '{}' must be in [{}, {}], got {}", spec.name, spec.min, spec.max, v);
      }
      *number = v;
      return {};
    }
    case ParamType::kDuration: {
      Duration d;
      if (!parse_duration(value, &d)) {
        return fmt::format("parameter '{}' wants a duration such as 250ms or 30s, got '{}'", spec.name, value);
      }
      if (d.ns() < spec.min || d.ns() > spec.max) {
        return fmt::format("parameter '{}' must be in [{}, {}], got {}", spec.name,
                           format_duration(Duration::nanos(spec.min)), format_duration(Duration::nanos(spec.max)), value);
      }
      *number = d.ns();
      return {};
    }
    case ParamType::kBool: {
      if (value == "true" || value == "1" || value == "on") { *number = 1; return {}; }
      if (value == "false" || value == "0" || value == "off") { *number = 0; return {}; }
      return fmt::format("parameter '{}' wants true or false, got '{}'", spec.name, value);
    }
    case ParamType::kChoice: {
      for (const auto& c : spec.choices) {
        if (c == value) return {};
      }
      return fmt::format("parameter '{}' must be one of {}, got '{}'", spec.name, fmt::join(spec.choices, "|"), value);
    }
  }
  return "unknown parameter type";
}

std::optional<Params> Params::resolve(const std::vector<ParamSpec>& specs,
                                      const std::map<std::string, std::string>& overrides,
                                      std::string* error) {
  for (const auto& [key, value] : overrides) {
    bool known = false;
    for (const auto& s : specs) known = known || s.name == key;
    if (!known) {
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      *error = fmt::format("unknown parameter '{}' (known: {})", key, names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", ")));
      return std::nullopt;
    }
  }
  Params p;
  for (const auto& spec : specs) {
    auto it = overrides.find(spec.name);
    const std::string& value = it != overrides.end() ? it->second : spec.default_value;
    int64_t number = 0;
    std::string err = check_param_value(spec, value, &number);
    if (!err.empty()) {
      *error = it != overrides.end() ? err : "default of " + err;
      return std::nullopt;
    }
    p.text_[spec.name] = value;
    if (spec.type != ParamType::kChoice) p.numbers_[spec.name] = number;
  }
  return p;
}

int64_t Params::integer(const std::string& name) const {
  auto it = numbers_.find(name);
  FL_ASSERT(it != numbers_.end() && "undeclared parameter", name);
  return it->second;
}

Duration Params::duration(const std::string& name) const { return Duration::nanos(integer(name)); }

bool Params::flag(const std::string& name) const { return integer(name) != 0; }

const std::string& Params::choice(const std::string& name) const {
  auto it = text_.find(name);
  FL_ASSERT(it != text_.end() && "undeclared parameter", name);
  return it->second;
}

}  // namespace faultline
