#include "sim/time.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace faultline {

std::string format_duration(Duration d) {
  // The largest unit not above the magnitude, with the exact fraction and no trailing
  // zeros: "1.5s", "416.680719ms", "12us", "7ns".
  const int64_t ns = d.ns();
  if (ns == 0) return "0s";
  const uint64_t mag = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  struct Unit {
    uint64_t scale;
    int digits;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{1'000'000'000, 9, "s"}, {1'000'000, 6, "ms"}, {1'000, 3, "us"}, {1, 0, "ns"}};
  for (const Unit& u : kUnits) {
    if (mag < u.scale) continue;
    std::string out = fmt::format("{}{}", ns < 0 ? "-" : "", mag / u.scale);
    if (u.digits > 0 && mag % u.scale != 0) {
      std::string frac = fmt::format("{:0{}d}", mag % u.scale, u.digits);
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    return out + u.name;
  }
  return "0s";
}

std::string format_instant(Instant t) {
  const int64_t ns = t.ns();
  return fmt::format("{:>5d}.{:09d}", ns / 1'000'000'000, ns % 1'000'000'000);
}

bool parse_duration(const std::string& text, Duration* out) {
  // <digits>[.<digits>]<unit>, exactly representable in nanoseconds: "1.5s", "416.680719ms".
  size_t pos = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) ++pos;
  if (pos == 0) return false;
  const std::string whole = text.substr(0, pos);
  std::string frac;
  if (pos < text.size() && text[pos] == '.') {
    const size_t start = ++pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) ++pos;
    frac = text.substr(start, pos - start);
    if (frac.empty()) return false;
  }
  const std::string unit = text.substr(pos);
  int64_t scale = 0;
  size_t digits = 0;  // fraction digits the unit can carry exactly
  if (unit.empty() || unit == "ns") scale = 1, digits = 0;
  else if (unit == "us") scale = 1'000, digits = 3;
  else if (unit == "ms") scale = 1'000'000, digits = 6;
  else if (unit == "s") scale = 1'000'000'000, digits = 9;
  else if (unit == "m" || unit == "min") scale = 60'000'000'000, digits = 0;
  else return false;
  if (frac.size() > digits) return false;
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), value);
  if (ec != std::errc() || value > INT64_MAX / scale) return false;
  int64_t fraction_ns = 0;
  if (!frac.empty()) {
    std::from_chars(frac.data(), frac.data() + frac.size(), fraction_ns);
    for (size_t i = frac.size(); i < digits; ++i) fraction_ns *= 10;
  }
  if (value * scale > INT64_MAX - fraction_ns) return false;
  *out = Duration::nanos(value * scale + fraction_ns);
  return true;
}

}  // namespace faultline
