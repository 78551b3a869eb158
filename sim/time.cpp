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
  if (text.empty()) return false;
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin || value < 0) return false;
  const std::string unit(ptr, end);
  int64_t scale = 0;
  if (unit.empty() || unit == "ns") scale = 1;
  else if (unit == "us") scale = 1'000;
  else if (unit == "ms") scale = 1'000'000;
  else if (unit == "s") scale = 1'000'000'000;
  else if (unit == "m" || unit == "min") scale = 60'000'000'000;
  else return false;
  if (value > INT64_MAX / scale) return false;
  *out = Duration::nanos(value * scale);
  return true;
}

}  // namespace faultline
