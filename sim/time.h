// sim/time.h
// Simulated time: integer nanoseconds, never double (style.md, example 2).
//
// `Instant` is a point on the simulated clock, which starts at zero for every run.
// `Duration` is a signed span between two instants. Both wrap an int64 so the type system
// keeps points and spans apart: Instant + Duration is an Instant, Instant - Instant is a
// Duration, Instant + Instant does not compile.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace faultline {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration nanos(int64_t n) { return Duration(n); }
  static constexpr Duration micros(int64_t n) { return Duration(n * 1'000); }
  static constexpr Duration millis(int64_t n) { return Duration(n * 1'000'000); }
  static constexpr Duration seconds(int64_t n) { return Duration(n * 1'000'000'000); }
  static constexpr Duration minutes(int64_t n) { return seconds(n * 60); }
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration max() { return Duration(INT64_MAX); }

  constexpr int64_t ns() const { return ns_; }
  constexpr int64_t us() const { return ns_ / 1'000; }
  constexpr int64_t ms() const { return ns_ / 1'000'000; }

  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
  constexpr int64_t operator/(Duration o) const { return ns_ / o.ns_; }
  constexpr Duration& operator+=(Duration o) { ns_ += o.ns_; return *this; }
  constexpr Duration& operator-=(Duration o) { ns_ -= o.ns_; return *this; }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_nanos(int64_t ns) { return Instant(ns); }
  static constexpr Instant zero() { return Instant(0); }
  static constexpr Instant max() { return Instant(INT64_MAX); }

  constexpr int64_t ns() const { return ns_; }
  constexpr Duration since_start() const { return Duration::nanos(ns_); }

  constexpr Instant operator+(Duration d) const { return Instant(ns_ + d.ns()); }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.ns()); }
  constexpr Duration operator-(Instant o) const { return Duration::nanos(ns_ - o.ns_); }
  constexpr Instant& operator+=(Duration d) { ns_ += d.ns(); return *this; }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

// Saturating add, for deadlines built from "now + timeout" where timeout may be max().
constexpr Instant saturating_add(Instant t, Duration d) {
  if (d.ns() > 0 && t.ns() > INT64_MAX - d.ns()) return Instant::max();
  return t + d;
}

// "1.5s", "250ms", "12us", "7ns", "0s": the shortest exact unit, for traces and reports.
std::string format_duration(Duration d);
// Seconds with nanosecond precision and fixed width, for trace lines: "   12.000345678".
std::string format_instant(Instant t);
// Parses "250ms", "30s", "2m", "1500us", "10ns", a bare integer of nanoseconds, or an exact
// decimal such as "1.5s" (what format_duration prints). Returns false on anything else,
// including fractions finer than a nanosecond (no silent rounding, no silent defaults).
bool parse_duration(const std::string& text, Duration* out);

namespace literals {
constexpr Duration operator""_ns(unsigned long long n) { return Duration::nanos(static_cast<int64_t>(n)); }
constexpr Duration operator""_us(unsigned long long n) { return Duration::micros(static_cast<int64_t>(n)); }
constexpr Duration operator""_ms(unsigned long long n) { return Duration::millis(static_cast<int64_t>(n)); }
constexpr Duration operator""_s(unsigned long long n) { return Duration::seconds(static_cast<int64_t>(n)); }
constexpr Duration operator""_min(unsigned long long n) { return Duration::minutes(static_cast<int64_t>(n)); }
}  // namespace literals

}  // namespace faultline
