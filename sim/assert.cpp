#include "sim/assert.h"

#include <cstring>

namespace faultline::detail {

void assertion_failed(const char* file, int line, const char* expr, std::string values) {
  // Print paths relative to the source tree: the same binary built elsewhere gives the same
  // message, and reports stay short.
  const char* shown = file;
  for (const char* dir : {"/sim/", "/models/", "/scenarios/", "/runner/", "/reports/", "/tests/"}) {
    if (const char* at = std::strstr(file, dir)) {
      shown = at + 1;
      break;
    }
  }
  std::string message = fmt::format("{}:{}: assertion `{}` failed", shown, line, expr);
  if (!values.empty()) message += fmt::format(" ({})", values);
  throw AssertionFailure{std::move(message)};
}

}  // namespace faultline::detail
