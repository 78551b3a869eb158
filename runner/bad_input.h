// runner/bad_input.h
// Bad input on the command line: the runner prints one line and exits 2, having run nothing.
#pragma once

#include <string>

namespace faultline {

struct BadInput {
  std::string message;
};

}  // namespace faultline
