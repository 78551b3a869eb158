// reports/timeline.h
// One run as Chrome trace-event JSON (the Trace Event Format that chrome://tracing and the
// Perfetto UI open), written by an observer of the run (RunRequest::observer), so the run
// itself, and its trace hash, are exactly those of `faultline run`.
//
// Layout: one process per node (pid = node id + 1; pid 0 is the world: plan, violations,
// faults that hit no node), sorted brokers first as the simulation numbers them. Tracks
// (threads) per node:
//   tid 0 "process"     down (crash to restart) as slices; crashes, starts, registrations
//   tid 1 "quorum"      a controller's metadata-quorum role: candidate, leader, follower
//   tid 2 "active"      the terms in which a controller was the active one
//   tid 3 "faults"      faults and heals as async slices (they may overlap) on the nodes hit
//   tid 4 "rpc"         RPCs other than the periodic ones, as flow arrows caller -> server
//   tid 10 + p "pN"     partition N's replica: leadership terms and follower states as
//                       slices; on a controller, its partition changes as instant events
// Counters ("C") per node and partition: LEO, HW and ISR size, sampled from the scenario's
// counter probe at most every 50 ms of simulated time and written only when they change.
// Violations are global instant events carrying their message. Simulated nanoseconds map to
// trace microseconds exactly: ts is printed with three decimals.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

class TimelineWriter final : public RunObserver, public NetworkObserver {
 public:
  // Writes to `path` when the run finishes (finish()).
  TimelineWriter(Simulation& sim, const RunContext& rc, std::string path);

  void on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) override;
  void finish(RunResult& result) override;
  NetworkObserver* network_observer() override { return this; }
  // RPCs other than the periodic ones (fetches, produces, heartbeats, metadata polls, quorum
  // fetches) as flow arrows from the caller's "rpc" track to the server's, once delivered.
  void on_request_sent(NodeId from, NodeId to, const std::string& method, uint64_t call_id, Instant at) override;
  void on_request_served(NodeId server, NodeId from, const std::string& method, uint64_t call_id, Instant at) override;
  static constexpr int kRpcTrack = 4;
  // Checker events (acknowledgements with their record's story) on tracks from tid 5 on.
  void on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& args) override;

  // The JSON document as it stands (finish() closes open slices first).
  std::string json() const;

  static constexpr int kProcessTrack = 0;
  static constexpr int kQuorumTrack = 1;
  static constexpr int kActiveTrack = 2;
  static constexpr int kFaultTrack = 3;
  static constexpr int kPartitionTrackBase = 10;

 private:
  struct Event {
    int64_t ts_ns;
    uint64_t order;     // file order among equal timestamps: the order they were made
    std::string json;   // the whole object
  };
  struct Slice {
    std::string name;
    int64_t start_ns;
    std::string args;  // a JSON object, or empty
  };
  using Track = std::pair<uint32_t, int>;  // (pid, tid)

  uint32_t pid(NodeId node) const { return node == kWorld ? 0 : node + 1; }
  void open(Track t, std::string name, int64_t at_ns, std::string args = {});
  void close(Track t, int64_t at_ns);
  void close_node(uint32_t pid, int64_t at_ns);
  void instant(Track t, const std::string& name, int64_t at_ns, const std::string& args, bool global = false);
  void name_track(Track t, const std::string& name);
  void emit(int64_t ts_ns, std::string json);
  void fault(int64_t at_ns, int64_t serial, const std::string& event);
  void heal(int64_t at_ns, int64_t serial);
  void sample(int64_t at_ns);

  Simulation& sim_;
  const RunContext& rc_;
  std::string path_;
  std::vector<Event> events_;
  uint64_t next_order_ = 0;
  std::map<Track, Slice> open_;
  std::set<Track> named_;
  // Open fault slices by serial: the tracks they were drawn on.
  std::map<int64_t, std::pair<std::string, std::vector<Track>>> faults_;
  // Counters: the last value written per (pid, track name, series).
  std::map<std::tuple<uint32_t, std::string, std::string>, int64_t> counters_;
  int64_t last_sample_ns_ = -1;
  std::map<uint64_t, int64_t> rpc_sent_;
  std::map<std::string, int> checker_tracks_;  // track name -> tid  // call id -> sent at (ns), for the flows still in flight
  bool finished_ = false;
};

// A RunRequest::observer that writes the run's timeline to `path`.
std::function<std::unique_ptr<RunObserver>(Simulation&, const RunContext&)> timeline_to(std::string path);

}  // namespace faultline
