// sim/bare_loop.h
// The floor for the scheduler benchmark: the least a discrete-event loop with fibers can do
// per event, namely pop a priority queue, switch into a fiber and back, push the next event.
// `faultline bench` times this beside the real scheduler, so we always know our distance
// from the floor. No clock here: the caller times it.
#pragma once

#include <cstdint>

namespace faultline {

// Runs `events` events over `fibers` fibers; returns a checksum so the work is not elided.
uint64_t run_bare_loop(uint64_t events, uint32_t fibers);

}  // namespace faultline
