// scenarios/kafka/controllers.h
// Which controller process the checkers and scenarios read (A4): with a quorum, the
// committed metadata is whatever the live controller that has applied the most committed
// records knows, and only the active one can be asked to act.
#pragma once

#include <memory>

#include "models/kafka/controller.h"
#include "sim/simulation.h"

namespace faultline::kafka {

// The live controller whose committed image is the newest (the highest metadata version;
// the lowest id among equals); null when every controller is down.
std::shared_ptr<Controller> freshest_controller(Simulation& sim, const ControllerIds& controllers);
// The live controller that is active in the highest quorum epoch; null if none is.
std::shared_ptr<Controller> active_controller(Simulation& sim, const ControllerIds& controllers);

}  // namespace faultline::kafka
