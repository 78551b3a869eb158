#include "scenarios/kafka/controllers.h"

namespace faultline::kafka {

std::shared_ptr<Controller> freshest_controller(Simulation& sim, const ControllerIds& controllers) {
  std::shared_ptr<Controller> best;
  for (NodeId id : controllers.ids) {
    auto c = sim.process<Controller>(id);
    if (c && (!best || c->metadata_version() > best->metadata_version())) best = std::move(c);
  }
  return best;
}

std::shared_ptr<Controller> active_controller(Simulation& sim, const ControllerIds& controllers) {
  std::shared_ptr<Controller> best;
  for (NodeId id : controllers.ids) {
    auto c = sim.process<Controller>(id);
    if (c && c->active() && (!best || c->quorum().epoch() > best->quorum().epoch())) best = std::move(c);
  }
  return best;
}

}  // namespace faultline::kafka
