// sim/ucontext_activation.cpp
// Sanitizer builds only (FAULTLINE_SANITIZE). Debian's libboost_context is built with the
// fcontext backend, so the ucontext backend's per-thread "current activation record" is not
// in the library; this defines it. Each thread starts with a record for its own (main)
// context, which the first switch saves into. See ../shared/docs/toolchain.md.
#include <boost/context/fiber.hpp>

namespace boost::context::detail {

fiber_activation_record*& fiber_activation_record::current() noexcept {
  // determinism-lint: allow(thread_local) Boost's context bookkeeping, not simulation state.
  thread_local fiber_activation_record main_record;
  // determinism-lint: allow(thread_local) the pointer that goes with it.
  thread_local fiber_activation_record* current_record = &main_record;
  return current_record;
}

}  // namespace boost::context::detail
