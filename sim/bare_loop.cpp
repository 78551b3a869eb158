#include "sim/bare_loop.h"

#include <boost/context/fiber.hpp>
#include <queue>
#include <vector>

namespace faultline {

namespace bctx = boost::context;

uint64_t run_bare_loop(uint64_t events, uint32_t fibers) {
  struct Item {
    int64_t at;
    uint64_t seq;
    uint32_t fiber;
    bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue;
  std::vector<bctx::fiber> conts(fibers);
  bctx::fiber main_cont;
  uint64_t checksum = 0;
  bool stopping = false;
  for (uint32_t i = 0; i < fibers; ++i) {
    conts[i] = bctx::fiber([&main_cont, &checksum, &stopping, i](bctx::fiber&& from) {
      main_cont = std::move(from);
      while (!stopping) {
        checksum += i;
        main_cont = std::move(main_cont).resume();
      }
      return std::move(main_cont);
    });
    queue.push({0, i, i});
  }
  uint64_t seq = fibers;
  for (uint64_t n = 0; n < events; ++n) {
    const Item item = queue.top();
    queue.pop();
    conts[item.fiber] = std::move(conts[item.fiber]).resume();
    queue.push({item.at + 1 + static_cast<int64_t>(item.fiber), seq++, item.fiber});
  }
  stopping = true;
  for (auto& c : conts) {
    if (c) c = std::move(c).resume();
  }
  return checksum;
}

}  // namespace faultline
