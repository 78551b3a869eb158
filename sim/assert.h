// sim/assert.h
// Assertions that stay on in every build type (style.md, example 4).
//
// FL_ASSERT(cond, values...) checks `cond`; on failure it throws AssertionFailure carrying
// the expression, file:line and the printed values. The scheduler adds the simulated time
// and node, the runner adds the seed, and the run ends with the verdict `crash`.
// AssertionFailure deliberately does not derive from std::exception, so a model's
// `catch (const std::exception&)` cannot swallow it. Never compiled out by NDEBUG.
#pragma once

#include <fmt/format.h>

#include <string>

namespace faultline {

struct AssertionFailure {
  std::string message;  // "file:line: assertion `expr` failed (a=1, b=2)"
};

namespace detail {
[[noreturn]] void assertion_failed(const char* file, int line, const char* expr, std::string values);

inline std::string format_values(const char*) { return {}; }
template <typename... Ts>
std::string format_values(const char* names, const Ts&... values) {
  // `names` is the stringified argument list, e.g. "a, b"; print it beside the values.
  std::string out = fmt::format("{} = ", names);
  bool first = true;
  ((out += fmt::format("{}{}", first ? "" : ", ", values), first = false), ...);
  return out;
}
}  // namespace detail

}  // namespace faultline

#define FL_ASSERT(cond, ...)                                                           \
  do {                                                                                 \
    if (!(cond)) [[unlikely]] {                                                        \
      ::faultline::detail::assertion_failed(                                           \
          __FILE__, __LINE__, #cond,                                                   \
          ::faultline::detail::format_values(#__VA_ARGS__ __VA_OPT__(, ) __VA_ARGS__)); \
    }                                                                                  \
  } while (0)

// Something that must never happen, with an explanation.
#define FL_UNREACHABLE(why) ::faultline::detail::assertion_failed(__FILE__, __LINE__, "unreachable", (why))
