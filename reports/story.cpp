#include "reports/story.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace faultline {

namespace {

// Records about the whole cluster worth a line in any story.
bool cluster_kind(std::string_view kind) {
  static constexpr std::string_view kKinds[] = {
      "crash",           "start",          "registered",       "fault",          "heal",
      "heal-all",        "fault-skipped",  "fault-expired",    "controller-active", "controller-inactive",
      "broker-fence",    "broker-unfence", "quorum-leader",    "quorum-resign",  "dc-lost",
      "violation",       "violation-excused"};
  return std::find(std::begin(kKinds), std::end(kKinds), kind) != std::end(kKinds);
}

// Records about one partition that are noise in a story: periodic disk and fetch work.
bool periodic_kind(std::string_view kind) {
  return kind == "fsync" || kind == "log-roll" || kind == "log-flushed" || kind == "log-retention" ||
         kind == "fetch-failed";
}

std::string seconds(int64_t ns) { return fmt::format("{:>6}.{:06}", ns / 1'000'000'000, (ns / 1'000) % 1'000'000); }

// "partition 3: ..." names the partition a violation is about; -1 if it names none.
int64_t partition_named(const std::string& message) {
  const std::string prefix = "partition ";
  if (message.rfind(prefix, 0) != 0) return -1;
  int64_t p = 0;
  size_t i = prefix.size();
  if (i >= message.size() || !std::isdigit(static_cast<unsigned char>(message[i]))) return -1;
  while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i]))) p = p * 10 + (message[i++] - '0');
  return p;
}

}  // namespace

void StoryWriter::on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) {
  int64_t partition = -1;
  for (const TraceField& f : fields) {
    if (f.key == "partition" && !f.is_text) partition = f.num;
  }
  if (partition < 0 ? !cluster_kind(kind) : periodic_kind(kind)) return;
  std::string text = fmt::format("{:<10} {}", sim_.trace().node_name(node), kind);
  for (const TraceField& f : fields) {
    if (f.is_text) {
      text += fmt::format(" {}={}", f.key, f.text);
    } else if (f.is_duration) {
      text += fmt::format(" {}={}", f.key, format_duration(Duration::nanos(f.num)));
    } else {
      text += fmt::format(" {}={}", f.key, f.num);
    }
  }
  constexpr size_t kMaxLine = 200;  // a violation's whole message is printed above the story
  if (text.size() > kMaxLine) text = text.substr(0, kMaxLine - 3) + "...";
  lines_.push_back({at.ns(), partition, std::move(text)});
}

void StoryWriter::on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                                   const std::vector<std::pair<std::string, std::string>>& args) {
  if (track != "acks") return;
  for (const auto& [key, value] : args) {
    if (key == "record") acks_[value] = Ack{at.ns(), node, name};
  }
}

void StoryWriter::finish(RunResult& result) {
  if (result.verdict == Verdict::kPass) return;
  const Violation* first = nullptr;
  for (const Violation& v : result.violations) {
    if (!v.excused) {
      first = &v;
      break;
    }
  }
  const int64_t partition = first != nullptr ? partition_named(first->message) : -1;
  const int64_t until = first != nullptr ? first->at.since_start().ns() : result.sim_time_ns;
  std::vector<Line> story;
  for (const Line& l : lines_) {
    if (l.at_ns <= until && (l.partition < 0 || l.partition == partition)) story.push_back(l);
  }
  // The acknowledgements of the records the message names.
  if (first != nullptr) {
    const std::string& m = first->message;
    std::set<std::string> named;
    for (size_t pos = m.find("0x"); pos != std::string::npos; pos = m.find("0x", pos + 2)) {
      size_t end = pos + 2;
      while (end < m.size() && std::isxdigit(static_cast<unsigned char>(m[end]))) ++end;
      if (end > pos + 2) named.insert(m.substr(pos, end - pos));
    }
    for (const std::string& id : named) {
      auto it = acks_.find(id);
      if (it == acks_.end()) continue;
      story.push_back({it->second.at_ns, partition,
                       fmt::format("{:<10} {} (record {}, acks=all)", sim_.trace().node_name(it->second.producer),
                                   it->second.what, id)});
    }
  }
  std::stable_sort(story.begin(), story.end(), [](const Line& a, const Line& b) { return a.at_ns < b.at_ns; });
  const size_t from = story.size() > kMaxLines ? story.size() - kMaxLines : 0;
  std::string out;
  if (from > 0) out += fmt::format("  ... {} earlier line(s)\n", from);
  for (size_t i = from; i < story.size(); ++i) out += fmt::format("  {} {}\n", seconds(story[i].at_ns), story[i].text);
  result.story = fmt::format("{}\n{}", partition >= 0 ? fmt::format("partition {} and the cluster", partition)
                                                     : std::string("the cluster"),
                             out);
}

namespace {

// Both observers see everything; the RPCs go to the one that watches them.
class Both final : public RunObserver {
 public:
  Both(std::unique_ptr<RunObserver> a, std::unique_ptr<RunObserver> b) : a_(std::move(a)), b_(std::move(b)) {}
  void on_record(Instant at, NodeId node, std::string_view kind, std::initializer_list<TraceField> fields) override {
    a_->on_record(at, node, kind, fields);
    b_->on_record(at, node, kind, fields);
  }
  void on_checker_event(Instant at, NodeId node, const std::string& track, const std::string& name,
                        const std::vector<std::pair<std::string, std::string>>& args) override {
    a_->on_checker_event(at, node, track, name, args);
    b_->on_checker_event(at, node, track, name, args);
  }
  void finish(RunResult& result) override {
    a_->finish(result);
    b_->finish(result);
  }
  NetworkObserver* network_observer() override {
    NetworkObserver* n = a_->network_observer();
    return n != nullptr ? n : b_->network_observer();
  }

 private:
  std::unique_ptr<RunObserver> a_, b_;
};

}  // namespace

ObserverFactory with_story(ObserverFactory inner) {
  return [inner = std::move(inner)](Simulation& sim, const RunContext& rc) -> std::unique_ptr<RunObserver> {
    auto story = std::make_unique<StoryWriter>(sim);
    if (!inner) return story;
    return std::make_unique<Both>(inner(sim, rc), std::move(story));
  };
}

std::string failure_story_text(const RunResult& r) {
  if (r.verdict == Verdict::kPass) return {};
  std::string out;
  std::vector<std::string> plan;
  size_t pos = 0;
  while (pos < r.fault_plan.size()) {
    size_t end = r.fault_plan.find('\n', pos);
    if (end == std::string::npos) end = r.fault_plan.size();
    const std::string line = r.fault_plan.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line[0] != '#') plan.push_back(line);
  }
  out += plan.empty() ? std::string("  fault plan: no faults\n") : fmt::format("  fault plan ({} faults):\n", plan.size());
  constexpr size_t kMaxPlanLines = 30;
  for (size_t i = 0; i < plan.size() && i < kMaxPlanLines; ++i) out += fmt::format("    {}\n", plan[i]);
  if (plan.size() > kMaxPlanLines) {
    out += fmt::format("    ... and {} more (faultline plan prints them all)\n", plan.size() - kMaxPlanLines);
  }
  if (!r.story.empty()) {
    const size_t nl = r.story.find('\n');
    out += fmt::format("  story of {} up to the violation (simulated seconds):\n", r.story.substr(0, nl));
    out += r.story.substr(nl + 1);
  }
  return out;
}

}  // namespace faultline
