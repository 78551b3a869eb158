#include "runner/results_db.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "reports/json.h"

#ifndef FAULTLINE_GIT_COMMIT
#define FAULTLINE_GIT_COMMIT "unknown"
#endif
#ifndef FAULTLINE_BUILD_TYPE
#define FAULTLINE_BUILD_TYPE "unknown"
#endif
#ifndef FAULTLINE_VERSION
#define FAULTLINE_VERSION "0"
#endif

namespace faultline {

namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS sweeps(
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, scenario TEXT NOT NULL, params TEXT NOT NULL,
  bugs TEXT NOT NULL, plan TEXT NOT NULL, first_seed INTEGER NOT NULL, last_seed INTEGER NOT NULL,
  shard TEXT NOT NULL, command TEXT NOT NULL, binary TEXT NOT NULL, git_commit TEXT NOT NULL,
  build_type TEXT NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT);
CREATE INDEX IF NOT EXISTS sweeps_by_key ON sweeps(key, ended_at);
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY, sweep_id INTEGER NOT NULL REFERENCES sweeps(id), seed INTEGER NOT NULL,
  scenario TEXT NOT NULL, params TEXT NOT NULL, bugs TEXT NOT NULL, verdict TEXT NOT NULL,
  first_invariant TEXT NOT NULL, message TEXT NOT NULL, trace_hash TEXT NOT NULL, events INTEGER NOT NULL,
  sim_time_ns INTEGER NOT NULL, wall_ms INTEGER NOT NULL, fault_plan TEXT NOT NULL, replay TEXT NOT NULL,
  metrics TEXT NOT NULL, marks TEXT NOT NULL, UNIQUE(sweep_id, seed));
CREATE TABLE IF NOT EXISTS violations(
  run_id INTEGER NOT NULL REFERENCES runs(id), invariant TEXT NOT NULL, kind TEXT NOT NULL, at_ns INTEGER NOT NULL,
  message TEXT NOT NULL, excused INTEGER NOT NULL, excuse TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS violations_by_run ON violations(run_id);
)sql";

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string params_text(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params) out += fmt::format("{}={}\n", k, v);
  return out;
}

std::map<std::string, std::string> params_from(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    const std::string line = text.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    const size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  size_t at = 0;
  while (!text.empty()) {
    const size_t c = text.find(',', at);
    out.push_back(text.substr(at, c == std::string::npos ? std::string::npos : c - at));
    if (c == std::string::npos) break;
    at = c + 1;
  }
  return out;
}

std::optional<Verdict> verdict_from(const std::string& s) {
  for (Verdict v : {Verdict::kPass, Verdict::kFail, Verdict::kLiveness, Verdict::kCrash}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

// RAII for a prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(fmt::format("results database: {}", sqlite3_errmsg(db)));
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(fmt::format("results database: {}", sqlite3_errmsg(db_)));
  }
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)));
  }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace

std::string SweepRecord::key() const {
  return fmt::format("{}|{}|{}|{}|{}..{}|{}|{}", kind, scenario, params_text(params), fmt::join(bugs, ","), plan,
                     first_seed, last_seed, shard, ResultsDb::binary_identity());
}

namespace {
// FNV-1a of this executable's bytes: the git commit is captured when CMake configures and
// says nothing of uncommitted changes, so two different builds could otherwise share an
// identity, and a sweep resumed by the second would mix their results (found measuring
// catch figures across model changes). 0 if the file cannot be read.
uint64_t executable_hash() {
  std::FILE* f = std::fopen("/proc/self/exe", "rb");
  if (f == nullptr) return 0;
  uint64_t h = 0xcbf29ce484222325ULL;
  unsigned char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      h ^= buf[i];
      h *= 0x100000001b3ULL;
    }
  }
  std::fclose(f);
  return h;
}
}  // namespace

std::string ResultsDb::binary_identity() {
  static const std::string identity = fmt::format("faultline {} ({} {}, exe {:016x})", FAULTLINE_VERSION,
                                                  FAULTLINE_GIT_COMMIT, FAULTLINE_BUILD_TYPE, executable_hash());
  return identity;
}

std::unique_ptr<ResultsDb> ResultsDb::open(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    *error = fmt::format("cannot open results database '{}': {}", path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 10'000);
  if (sqlite3_db_readonly(db, "main") == 1) {
    *error = fmt::format("results database '{}' is read-only", path);
    sqlite3_close(db);
    return nullptr;
  }
  std::unique_ptr<ResultsDb> out(new ResultsDb(db));
  try {
    int64_t v = 0, objects = 0;
    {
      Stmt version(db, "PRAGMA user_version");
      version.step();
      v = version.i64(0);
      Stmt tables(db, "SELECT count(*) FROM sqlite_master");
      tables.step();
      objects = tables.i64(0);
    }  // statements finished: no read transaction stays open
    if (v > kSchemaVersion) {
      *error = fmt::format("results database '{}' has schema version {}, newer than this binary's {}", path, v,
                           kSchemaVersion);
      return nullptr;
    }
    // A non-empty file that is not ours (no sweeps table, user_version 0): refuse to touch it.
    if (v == 0 && objects > 0) {
      *error = fmt::format("'{}' is an SQLite database but not a faultline results database", path);
      return nullptr;
    }
    out->exec("PRAGMA journal_mode=WAL");
    out->exec("PRAGMA synchronous=NORMAL");
    if (v < 1) {  // the migration path: one step per version
      out->exec("BEGIN");
      out->exec(kSchema);
      out->exec("PRAGMA user_version=1");
      out->exec("COMMIT");
    }
  } catch (const std::exception& e) {
    *error = fmt::format("cannot use results database '{}': {}", path, e.what());
    return nullptr;
  }
  return out;
}

ResultsDb::~ResultsDb() {
  try {
    flush();
  } catch (const std::exception&) {  // nothing to do: the next run resumes what is missing
  }
  sqlite3_close(db_);
}

void ResultsDb::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string message = err ? err : "error";
    sqlite3_free(err);
    throw std::runtime_error(fmt::format("results database: {}", message));
  }
}

int64_t ResultsDb::begin(const SweepRecord& sweep, bool resume, bool* resumed, std::set<uint64_t>* done) {
  const std::string key = sweep.key();
  *resumed = false;
  if (resume) {
    Stmt find(db_, "SELECT id FROM sweeps WHERE key = ?1 AND ended_at IS NULL ORDER BY id DESC LIMIT 1");
    find.bind(1, key);
    if (find.step()) {
      const int64_t id = find.i64(0);
      *resumed = true;
      Stmt seeds(db_, "SELECT seed FROM runs WHERE sweep_id = ?1");
      seeds.bind(1, id);
      while (seeds.step()) done->insert(static_cast<uint64_t>(seeds.i64(0)));
      return id;
    }
  }
  Stmt ins(db_,
           "INSERT INTO sweeps(kind, key, scenario, params, bugs, plan, first_seed, last_seed, shard, command, binary, "
           "git_commit, build_type, host, started_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
           "?14, ?15)");
  ins.bind(1, sweep.kind).bind(2, key).bind(3, sweep.scenario).bind(4, params_text(sweep.params));
  ins.bind(5, fmt::format("{}", fmt::join(sweep.bugs, ","))).bind(6, sweep.plan);
  ins.bind(7, static_cast<int64_t>(sweep.first_seed)).bind(8, static_cast<int64_t>(sweep.last_seed));
  ins.bind(9, sweep.shard).bind(10, sweep.command).bind(11, binary_identity()).bind(12, FAULTLINE_GIT_COMMIT);
  ins.bind(13, FAULTLINE_BUILD_TYPE).bind(14, host_name()).bind(15, utc_now());
  ins.run();
  return sqlite3_last_insert_rowid(db_);
}

void ResultsDb::add(int64_t sweep_id, const RunResult& r, int64_t wall_ms, const std::string& replay) {
  pending_.push_back({sweep_id, r, wall_ms, replay});
  if (pending_.size() >= 256 || std::chrono::steady_clock::now() - last_commit_ > std::chrono::seconds(1)) flush();
}

void ResultsDb::flush() {
  if (!pending_.empty()) write_batch();
  last_commit_ = std::chrono::steady_clock::now();
}

void ResultsDb::write_batch() {
  exec("BEGIN IMMEDIATE");
  try {
    Stmt run(db_,
             "INSERT OR IGNORE INTO runs(sweep_id, seed, scenario, params, bugs, verdict, first_invariant, message, "
             "trace_hash, events, sim_time_ns, wall_ms, fault_plan, replay, metrics, marks) VALUES(?1, ?2, ?3, ?4, ?5, "
             "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    Stmt violation(db_,
                   "INSERT INTO violations(run_id, invariant, kind, at_ns, message, excused, excuse) "
                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    for (const Pending& p : pending_) {
      const RunResult& r = p.result;
      const Violation* first = nullptr;
      for (const Violation& v : r.violations) {
        if (!v.excused) {
          first = &v;
          break;
        }
      }
      run.bind(1, p.sweep_id).bind(2, static_cast<int64_t>(r.seed)).bind(3, r.scenario).bind(4, params_text(r.params));
      run.bind(5, fmt::format("{}", fmt::join(r.bugs, ","))).bind(6, std::string(to_string(r.verdict)));
      run.bind(7, first ? first->invariant : std::string()).bind(8, first ? first->message : r.crash);
      run.bind(9, hex64(r.trace_hash)).bind(10, static_cast<int64_t>(r.events)).bind(11, r.sim_time_ns);
      run.bind(12, p.wall_ms).bind(13, r.fault_plan).bind(14, p.replay);
      std::string metrics, marks;
      for (const auto& [name, value] : r.metrics) metrics += fmt::format("{}={}\n", name, value);
      for (const auto& [name, count] : r.marks) marks += fmt::format("{}={}\n", name, count);
      run.bind(15, metrics).bind(16, marks);
      run.run();
      if (sqlite3_changes(db_) == 0) continue;  // already recorded: a result is committed once
      const int64_t id = sqlite3_last_insert_rowid(db_);
      for (const Violation& v : r.violations) {
        violation.bind(1, id).bind(2, v.invariant).bind(3, std::string(v.kind == InvariantKind::kSafety ? "safety" : "liveness"));
        violation.bind(4, v.at.ns()).bind(5, v.message).bind(6, int64_t{v.excused ? 1 : 0}).bind(7, v.excuse);
        violation.run();
      }
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  pending_.clear();
}

void ResultsDb::finish(int64_t sweep_id) {
  flush();
  Stmt end(db_, "UPDATE sweeps SET ended_at = ?1 WHERE id = ?2");
  end.bind(1, utc_now()).bind(2, sweep_id);
  end.run();
}

std::vector<StoredRun> ResultsDb::query_runs(const char* where, int64_t arg) {
  flush();
  const std::string sql = fmt::format(
      "SELECT r.id, r.sweep_id, r.seed, r.scenario, r.params, r.bugs, r.verdict, r.trace_hash, r.events, "
      "r.sim_time_ns, r.wall_ms, r.fault_plan, r.replay, r.message, s.binary, r.metrics, r.marks, s.kind FROM runs r JOIN "
      "sweeps s ON s.id = r.sweep_id WHERE {}",
      where);
  Stmt q(db_, sql.c_str());
  q.bind(1, arg);
  std::vector<StoredRun> out;
  while (q.step()) {
    StoredRun s;
    s.id = q.i64(0);
    s.sweep_id = q.i64(1);
    RunResult& r = s.result;
    r.seed = static_cast<uint64_t>(q.i64(2));
    r.scenario = q.text(3);
    r.params = params_from(q.text(4));
    r.bugs = split_commas(q.text(5));
    r.verdict = verdict_from(q.text(6)).value_or(Verdict::kCrash);
    r.trace_hash = std::stoull(q.text(7).empty() ? std::string("0") : q.text(7), nullptr, 16);
    r.events = static_cast<uint64_t>(q.i64(8));
    r.sim_time_ns = q.i64(9);
    s.wall_ms = q.i64(10);
    r.fault_plan = q.text(11);
    s.replay = q.text(12);
    if (r.verdict == Verdict::kCrash) r.crash = q.text(13);
    s.binary = q.text(14);
    s.kind = q.text(17);
    for (const auto& [name, value] : params_from(q.text(15))) r.metrics[name] = std::stoll(value);
    for (const auto& [name, value] : params_from(q.text(16))) r.marks[name] = std::stoull(value);
    out.push_back(std::move(s));
  }
  Stmt vq(db_, "SELECT invariant, kind, at_ns, message, excused, excuse FROM violations WHERE run_id = ?1");
  for (StoredRun& s : out) {
    vq.bind(1, s.id);
    while (vq.step()) {
      s.result.violations.push_back(Violation{vq.text(0), vq.text(1) == "safety" ? InvariantKind::kSafety : InvariantKind::kLiveness,
                                              vq.text(3), Instant::zero() + Duration::nanos(vq.i64(2)), vq.i64(4) != 0,
                                              vq.text(5)});
    }
    vq.reset();
  }
  return out;
}

bool ResultsDb::merge_from(const std::string& path, std::string* error) {
  flush();
  {
    std::string open_error;
    sqlite3* probe = nullptr;
    if (sqlite3_open_v2(path.c_str(), &probe, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      *error = fmt::format("cannot open '{}' to merge", path);
      sqlite3_close(probe);
      return false;
    }
    int64_t version = -1;
    try {
      Stmt v(probe, "PRAGMA user_version");
      if (v.step()) version = v.i64(0);
    } catch (const std::exception&) {
      version = -1;
    }
    sqlite3_close(probe);
    if (version != kSchemaVersion) {
      *error = fmt::format("'{}' is not a faultline results database of schema version {}", path, kSchemaVersion);
      return false;
    }
  }
  Stmt attach(db_, "ATTACH DATABASE ?1 AS src");
  attach.bind(1, path);
  attach.run();
  struct Detach {
    ResultsDb* self;
    ~Detach() { sqlite3_exec(self->db_, "DETACH DATABASE src", nullptr, nullptr, nullptr); }
  } detach{this};
  // What must agree: everything of the sweep's identity but its shard.
  const char* identity = "binary || '|' || scenario || '|' || params || '|' || bugs || '|' || plan || '|' || "
                         "first_seed || '..' || last_seed";
  std::set<std::string> ids;
  for (const char* table : {"main.sweeps", "src.sweeps"}) {
    Stmt q(db_, fmt::format("SELECT DISTINCT {} FROM {} WHERE kind = 'sweep'", identity, table).c_str());
    while (q.step()) ids.insert(q.text(0));
  }
  if (ids.size() > 1) {
    *error = fmt::format("'{}' holds sweeps of another binary, scenario, parameters, bugs, plan or seed range than "
                         "the others; not merged",
                         path);
    return false;
  }
  exec("BEGIN IMMEDIATE");
  try {
    std::vector<int64_t> sweeps;
    {
      Stmt q(db_, "SELECT id FROM src.sweeps ORDER BY id");
      while (q.step()) sweeps.push_back(q.i64(0));
    }
    for (int64_t old_id : sweeps) {
      Stmt copy(db_,
                "INSERT INTO main.sweeps(kind, key, scenario, params, bugs, plan, first_seed, last_seed, shard, command, "
                "binary, git_commit, build_type, host, started_at, ended_at) SELECT kind, key, scenario, params, bugs, "
                "plan, first_seed, last_seed, shard, command, binary, git_commit, build_type, host, started_at, "
                "ended_at FROM src.sweeps WHERE id = ?1");
      copy.bind(1, old_id);
      copy.run();
      const int64_t new_id = sqlite3_last_insert_rowid(db_);
      Stmt runs(db_,
                "INSERT INTO main.runs(sweep_id, seed, scenario, params, bugs, verdict, first_invariant, message, "
                "trace_hash, events, sim_time_ns, wall_ms, fault_plan, replay, metrics, marks) SELECT ?1, seed, "
                "scenario, params, bugs, verdict, first_invariant, message, trace_hash, events, sim_time_ns, wall_ms, "
                "fault_plan, replay, metrics, marks FROM src.runs WHERE sweep_id = ?2 ORDER BY seed");
      runs.bind(1, new_id).bind(2, old_id);
      runs.run();
      for (const char* child : {"violations(run_id, invariant, kind, at_ns, message, excused, excuse) SELECT n.id, "
                                "c.invariant, c.kind, c.at_ns, c.message, c.excused, c.excuse FROM src.violations c"}) {
        Stmt rows(db_, fmt::format("INSERT INTO main.{} JOIN src.runs o ON o.id = c.run_id JOIN main.runs n ON "
                                   "n.sweep_id = ?1 AND n.seed = o.seed WHERE o.sweep_id = ?2",
                                   child)
                           .c_str());
        rows.bind(1, new_id).bind(2, old_id);
        rows.run();
      }
    }
    exec("COMMIT");
  } catch (const std::exception& e) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    *error = fmt::format("merging '{}': {}", path, e.what());
    return false;
  }
  return true;
}

std::set<std::string> ResultsDb::marks_reached(const std::string& scenario, const std::string& kind,
                                              uint64_t* runs) {
  flush();
  std::set<std::string> out;
  *runs = 0;
  Stmt q(db_, "SELECT r.marks FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE r.scenario = ?1 AND s.kind = ?2");
  q.bind(1, scenario).bind(2, kind);
  while (q.step()) {
    ++*runs;
    for (const auto& [name, count] : params_from(q.text(0))) {
      if (count != "0") out.insert(name);
    }
  }
  return out;
}

std::string ResultsDb::sweep_plan(int64_t sweep_id) {
  Stmt q(db_, "SELECT plan FROM sweeps WHERE id = ?1");
  q.bind(1, sweep_id);
  return q.step() ? q.text(0) : std::string();
}

std::vector<StoredRun> ResultsDb::runs(int64_t sweep_id) {
  return query_runs("r.sweep_id = ?1 ORDER BY r.seed", sweep_id);
}

std::string ResultsDb::plan_of(const StoredRun& run) {
  if (run.kind == "fuzz") return run.result.fault_plan;
  return sweep_plan(run.sweep_id);
}

RunRequest ResultsDb::rerun_request(const StoredRun& run) {
  RunRequest req;
  req.scenario = run.result.scenario;
  req.seed = run.result.seed;
  req.sets = run.result.params;
  for (const std::string& b : run.result.bugs) {
    if (!b.empty()) req.bugs.push_back(b);
  }
  if (std::string plan = plan_of(run); !plan.empty()) req.plan_text = std::move(plan);
  return req;
}

std::vector<StoredRun> ResultsDb::all_runs() { return query_runs("?1 = ?1 ORDER BY r.sweep_id, r.seed", 0); }

std::vector<StoredSweep> ResultsDb::sweeps() {
  flush();
  Stmt q(db_, "SELECT id, kind, scenario, params, bugs, command, binary, started_at, ended_at FROM sweeps ORDER BY id");
  std::vector<StoredSweep> out;
  while (q.step()) {
    out.push_back(StoredSweep{q.i64(0), q.text(1), q.text(2), params_from(q.text(3)), q.text(4), q.text(5), q.text(6), q.text(7),
                              q.text(8)});
  }
  return out;
}

std::optional<StoredRun> ResultsDb::run(int64_t run_id) {
  auto found = query_runs("r.id = ?1", run_id);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::optional<StoredRun> ResultsDb::last_failure() {
  auto found = query_runs("r.verdict != 'pass' AND ?1 = ?1 ORDER BY r.id DESC LIMIT 1", 0);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

}  // namespace faultline
