#include "reports/report_html.h"

#include <fmt/format.h>

#include <algorithm>

#include "reports/json.h"
#include "reports/junit.h"
#include "reports/vendor.h"

namespace faultline {

std::string html_escape(std::string_view s) { return xml_escape(std::string(s)); }

namespace {

constexpr size_t kMaxFailureRows = 1000;
constexpr const char* kSchema = R"("$schema":"https://vega.github.io/schema/vega-lite/v6.json")";
constexpr const char* kVerdictColors =
    R"("scale":{"domain":["pass","fail","liveness","crash"],"range":["#4caf50","#d32f2f","#f9a825","#7b1fa2"]})";

std::string num(double v) { return fmt::format("{:.6g}", v); }

// JSON inside <script>: no "<" at all (as \u003c, the same string to JSON.parse), so neither
// "</script" nor "<!--" can change how the HTML parser reads the element. "<" occurs in JSON
// only inside strings.
std::string script_safe(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

std::string comment_safe(std::string_view s) {
  std::string out(s);
  for (size_t pos = out.find("*/"); pos != std::string::npos; pos = out.find("*/", pos)) out.replace(pos, 2, "* /");
  return out;
}

std::string verdicts_spec(const Report& r) {
  std::string values = "[";
  std::string order = "[";
  for (size_t i = 0; i < r.groups.size(); ++i) {
    const ReportGroup& g = r.groups[i];
    order += (i ? "," : "") + json_escape(g.label);
    for (Verdict v : {Verdict::kPass, Verdict::kFail, Verdict::kLiveness, Verdict::kCrash}) {
      if (g.summary.count(v) == 0) continue;
      values += fmt::format(R"({}{{"group":{},"verdict":"{}","runs":{}}})", values.size() > 1 ? "," : "",
                            json_escape(g.label), to_string(v), g.summary.count(v));
    }
  }
  return fmt::format(
      R"({{{},"title":"verdicts per group","width":760,"height":{{"step":22}},"data":{{"values":{}]}},"mark":"bar",)"
      R"("encoding":{{"y":{{"field":"group","type":"nominal","sort":{}],"title":null,"axis":{{"labelLimit":360}}}},)"
      R"("x":{{"field":"runs","type":"quantitative","stack":"zero","title":"runs"}},)"
      R"("color":{{"field":"verdict","type":"nominal",{},"legend":{{"orient":"top","title":null}}}},)"
      R"("order":{{"field":"verdict"}},"tooltip":[{{"field":"group"}},{{"field":"verdict"}},{{"field":"runs"}}]}}}})",
      kSchema, values, order, kVerdictColors);
}

// A histogram with its p50, p99 and max as labelled rules.
std::string histogram_spec(const std::string& title, const std::string& x_title, const Histogram& h) {
  std::string bins = "[";
  for (size_t i = 0; i < h.bins.size(); ++i) {
    bins += fmt::format(R"({}{{"lo":{},"hi":{},"base":0,"runs":{}}})", i ? "," : "", num(h.bins[i].lo), num(h.bins[i].hi),
                        h.bins[i].count);
  }
  bins += "]";
  std::string stats = "[";
  auto stat = [&](const char* name, const std::optional<double>& v) {
    if (!v) return;
    stats += fmt::format(R"({}{{"stat":"{}","s":{},"label":"{} {}s"}})", stats.size() > 1 ? "," : "", name, num(*v), name,
                         fmt::format("{:.3f}", *v));
  };
  stat("p50", h.p50);
  stat("p99", h.p99);
  stat("max", h.max);
  stats += "]";
  auto text = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f}s", *v) : std::string("never"); };
  const std::string subtitle =
      fmt::format("{} runs{}: p50 {}, p99 {}, max {}", h.runs, h.never > 0 ? fmt::format(" ({} never)", h.never) : "",
                  text(h.p50), text(h.p99), text(h.max));
  return fmt::format(
      R"({{{},"title":{{"text":{},"subtitle":{}}},"width":340,"height":150,"layer":[)"
      R"({{"data":{{"values":{}}},"mark":{{"type":"rect","color":"#5b8db8","stroke":"#fff","strokeWidth":0.5}},"encoding":{{)"
      R"("x":{{"field":"lo","type":"quantitative","title":{}}},"x2":{{"field":"hi"}},)"
      R"("y":{{"field":"runs","type":"quantitative","title":"runs"}},"y2":{{"field":"base"}},)"
      R"("tooltip":[{{"field":"lo","title":"from"}},{{"field":"hi","title":"to"}},{{"field":"runs"}}]}}}},)"
      R"({{"data":{{"values":{}}},"layer":[{{"mark":{{"type":"rule","strokeWidth":2}},"encoding":{{"x":{{"field":"s","type":"quantitative"}},)"
      R"("color":{{"field":"stat","type":"nominal","scale":{{"domain":["p50","p99","max"],"range":["#2e7d32","#ef6c00","#c62828"]}},"legend":{{"orient":"top","title":null}}}},)"
      R"("tooltip":[{{"field":"label"}}]}}}}]}}]}})",
      kSchema, json_escape(title), json_escape(subtitle), bins, json_escape(x_title), stats);
}

std::string coverage_spec(const ReportGroup& g) {
  const auto reach = g.summary.mark_reach();
  const std::vector<std::string> never = g.summary.never_reached();
  const std::vector<std::string> guards = g.summary.guards_not_tripped();
  std::string values = "[";
  for (const auto& [name, rd] : reach) {
    const char* state = rd.first > 0 ? "reached"
                        : std::find(guards.begin(), guards.end(), name) != guards.end() ? "guard, not tripped"
                                                                                          : "never reached";
    values += fmt::format(R"({}{{"mark":{},"percent":{},"full":100,"reached":{},"runs":{},"state":"{}"}})", values.size() > 1 ? "," : "",
                          json_escape(name), num(100.0 * static_cast<double>(rd.first) / static_cast<double>(std::max<uint64_t>(rd.second, 1))),
                          rd.first, rd.second, state);
  }
  values += "]";
  return fmt::format(
      R"({{{},"title":{{"text":"coverage: share of runs that reached each mark","subtitle":"{} marks, {} never reached"}},)"
      R"("width":300,"height":{{"step":10}},"data":{{"values":{}}},)"
      R"("encoding":{{"y":{{"field":"mark","type":"nominal","sort":null,"title":null,"axis":{{"labelLimit":230,"labelFontSize":9}}}},)"
      R"("tooltip":[{{"field":"mark"}},{{"field":"reached"}},{{"field":"runs"}},{{"field":"state"}}]}},"layer":[)"
      // A pale full-width band per mark says its state (a never-reached mark has no bar of
      // its own to colour), the dark bar its share.
      R"({{"mark":"bar","encoding":{{"x":{{"field":"full","type":"quantitative","scale":{{"domain":[0,100]}},"title":"% of runs"}},)"
      R"("color":{{"field":"state","type":"nominal","scale":{{"domain":["reached","never reached","guard, not tripped"],"range":["#dbe7f3","#f4c7c3","#eeeeee"]}},"legend":{{"orient":"top","title":null}}}}}}}},)"
      R"({{"mark":{{"type":"bar","color":"#3f76aa"}},"encoding":{{"x":{{"field":"percent","type":"quantitative"}}}}}}]}})",
      kSchema, reach.size(), never.size(), values);
}

std::string wall_text(int64_t s) {
  if (s <= 0) return "<1 s";
  if (s < 120) return fmt::format("{} s", s);
  return fmt::format("{}m{:02}s", s / 60, s % 60);
}

const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#eceff1;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b0bec5}header a{color:#80cbc4}
main,#timeline-page{padding:8px 24px 40px}section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:12px 16px;margin:16px 0}
h2{font-size:17px;margin:4px 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.v-pass{color:#2e7d32}.v-fail{color:#c62828;font-weight:600}.v-liveness{color:#ef6c00;font-weight:600}.v-crash{color:#6a1b9a;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}code,pre{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
code.cmd{background:#f5f5f5;padding:1px 4px;border-radius:3px;word-break:break-all}
pre{background:#f5f5f5;padding:8px;border-radius:4px;overflow-x:auto;max-height:320px}
td.what{max-width:520px;word-break:break-word}.muted{color:#757575}
.group-body{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.group-main{flex:1 1 720px;min-width:0}.group-side{flex:0 1 560px}
dl.totals{columns:3 200px;font-size:12px;margin:0}dl.totals div{break-inside:avoid;display:flex;justify-content:space-between;border-bottom:1px solid #f0f0f0;padding:1px 4px}
dl.totals dt{color:#555}dl.totals dd{margin:0 0 0 8px;font-variant-numeric:tabular-nums}
)css";

const char* kApp = R"js(
(function () {
  const state = window.__faultline = { errors: [], rendered: [], done: false, view: 0 };
  window.addEventListener('error', (e) => state.errors.push(String(e.message)));
  window.addEventListener('unhandledrejection', (e) => state.errors.push(String(e.reason)));
  const data = JSON.parse(document.getElementById('faultline-data').textContent);
  const options = { renderer: 'svg', actions: false };
  function draw(el, spec, name) {
    el.dataset.drawn = 'yes';
    return vegaEmbed(el, spec, options)
      .then(() => state.rendered.push(name))
      .catch((err) => { state.errors.push(name + ': ' + err); console.error(name, err); });
  }
  function show() {
    state.done = false;
    const view = ++state.view;
    const m = /^#timeline-(\d+)$/.exec(location.hash);
    document.getElementById('summary-page').hidden = !!m;
    document.getElementById('timeline-page').hidden = !m;
    const jobs = [];
    for (const a of document.querySelectorAll('article.timeline')) a.hidden = !m || a.id !== 'timeline-' + m[1];
    if (m) {
      const el = document.querySelector('#timeline-' + m[1] + ' .chart');
      if (el && !el.dataset.drawn) jobs.push(draw(el, data.timelines[Number(m[1])], 'timeline-' + m[1]));
      window.scrollTo(0, 0);
    } else {
      for (const el of document.querySelectorAll('#summary-page .chart')) {
        if (!el.dataset.drawn) jobs.push(draw(el, data.charts[el.dataset.chart], el.dataset.chart));
      }
    }
    Promise.all(jobs).then(() => { if (state.view === view) state.done = true; });
  }
  window.addEventListener('hashchange', show);
  show();
})();
)js";

}  // namespace

std::string report_html(const Report& r) {
  std::string charts = "{";
  auto chart = [&](const std::string& id, const std::string& spec) {
    charts += fmt::format("{}{}:{}", charts.size() > 1 ? "," : "", json_escape(id), spec);
    return fmt::format(R"(<div class="chart" data-chart="{}"></div>)", html_escape(id));
  };
  std::string body;
  body += fmt::format(
      "<header><h1>Faultline report</h1><p>{} &middot; {} sweeps, {} runs{} &middot; report by {}</p></header>\n"
      "<main id=\"summary-page\">\n",
      html_escape(r.db_path), r.sweeps, r.runs,
      r.first_started.empty() ? std::string()
                              : fmt::format(" &middot; {} to {}", html_escape(r.first_started),
                                            html_escape(r.last_ended.empty() ? std::string("(unfinished)") : r.last_ended)),
      html_escape(r.binary));
  // The overview.
  body += "<section><h2>Verdicts</h2>\n";
  if (!r.groups.empty()) body += chart("verdicts", verdicts_spec(r));
  body +=
      "<table class=\"groups\"><tr><th>group</th><th>runs</th><th>pass</th><th>fail</th><th>liveness</th>"
      "<th>crash</th><th>invariants violated</th><th>wall</th><th>seeds/s</th><th>M events/s</th>"
      "<th>sim s / wall s</th></tr>\n";
  for (size_t i = 0; i < r.groups.size(); ++i) {
    const ReportGroup& g = r.groups[i];
    std::vector<std::string> inv;
    for (const auto& [name, n] : g.summary.by_invariant()) inv.push_back(fmt::format("{}&times;{}", html_escape(name), n));
    const double wall = static_cast<double>(std::max<int64_t>(g.sweep_wall_s, 1));
    const bool timed = g.sweep_wall_s > 0;
    body += fmt::format(
        "<tr><td><a href=\"#g{}\">{}</a></td><td class=n>{}</td><td class=\"n v-pass\">{}</td><td class=\"n{}\">{}</td>"
        "<td class=\"n{}\">{}</td><td class=\"n{}\">{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td>"
        "<td class=n>{}</td><td class=n>{}</td></tr>\n",
        i, html_escape(g.label), g.summary.runs(), g.summary.count(Verdict::kPass),
        g.summary.count(Verdict::kFail) ? " v-fail" : "", g.summary.count(Verdict::kFail),
        g.summary.count(Verdict::kLiveness) ? " v-liveness" : "", g.summary.count(Verdict::kLiveness),
        g.summary.count(Verdict::kCrash) ? " v-crash" : "", g.summary.count(Verdict::kCrash),
        inv.empty() ? std::string("&mdash;") : fmt::format("{}", fmt::join(inv, " ")), wall_text(g.sweep_wall_s),
        timed ? fmt::format("{:.1f}", static_cast<double>(g.timed_runs) / wall) : "&mdash;",
        timed ? fmt::format("{:.2f}", static_cast<double>(g.timed_events) / wall / 1e6) : "&mdash;",
        timed ? fmt::format("{:.0f}", static_cast<double>(g.timed_sim_ns) / 1e9 / wall) : "&mdash;");
  }
  body += "</table>\n<p class=muted>wall: the finished sweeps' own wall time (start to end, whole seconds, summed; shards run side by side count each), all jobs together; throughput counts their runs only.</p></section>\n";
  // A section per group.
  for (size_t i = 0; i < r.groups.size(); ++i) {
    const ReportGroup& g = r.groups[i];
    body += fmt::format("<section id=\"g{}\"><h2>{}</h2>\n<p class=muted>{} runs in {} sweep(s), {} to {}</p>\n", i,
                        html_escape(g.label), g.summary.runs(), g.sweep_ids.size(), html_escape(g.first_started),
                        html_escape(g.last_ended.empty() ? std::string("(unfinished)") : g.last_ended));
    body += "<div class=group-body><div class=group-main><div class=charts>\n";
    size_t k = 0;
    for (const auto& [name, values] : g.summary.durations()) {
      const Histogram h = histogram_of(values);
      if (h.bins.empty()) {
        body += fmt::format("<p><b>{}</b>: never, in all {} runs</p>\n", html_escape(name), h.runs);
        continue;
      }
      body += chart(fmt::format("g{}m{}", i, k++), histogram_spec(name, "simulated seconds", h));
    }
    body += chart(fmt::format("g{}wall", i), histogram_spec("wall time per run", "wall seconds", histogram_of(g.run_wall_ns)));
    body += "</div>\n";
    if (!g.summary.totals().empty()) {
      body += "<h3>totals over the runs</h3><dl class=totals>\n";
      for (const auto& [name, total] : g.summary.totals()) {
        body += fmt::format("<div><dt>{}</dt><dd>{}</dd></div>\n", html_escape(name), total);
      }
      body += "</dl>\n";
    }
    body += "</div><div class=group-side>\n";
    if (!g.summary.mark_reach().empty()) {
      body += chart(fmt::format("g{}cov", i), coverage_spec(g));
      const std::vector<std::string> never = g.summary.never_reached();
      body += never.empty() ? std::string("<p>every mark reached</p>\n")
                            : fmt::format("<p>never reached: <code>{}</code></p>\n", html_escape(fmt::format("{}", fmt::join(never, ", "))));
    } else {
      body += "<p class=muted>no coverage marks recorded for these runs</p>\n";
    }
    body += "</div></div></section>\n";
  }
  // Failures.
  body += fmt::format("<section id=\"failures\"><h2>Failures ({})</h2>\n", r.failures.size());
  if (r.failures.empty()) {
    body += "<p>none: every run passed</p>\n";
  } else {
    body +=
        "<table class=\"failures\"><tr><th>group</th><th>seed</th><th>verdict</th><th>what</th><th>replay</th>"
        "<th>timeline</th></tr>\n";
    size_t shown = 0;
    for (size_t i = 0; i < r.failures.size(); ++i) {
      const ReportFailure& f = r.failures[i];
      // Past the cap only the rows with a timeline, so that every timeline page has its link.
      if (shown >= kMaxFailureRows && f.timeline < 0) continue;
      ++shown;
      body += fmt::format(
          "<tr><td>{}</td><td class=n>{}</td><td class=\"v-{}\">{}</td><td class=what>{}</td><td><code class=cmd>{}</code></td><td>{}</td></tr>\n",
          html_escape(r.groups[f.group].label), f.seed, to_string(f.verdict), html_escape(f.invariant),
          html_escape(f.what), html_escape(f.replay),
          f.timeline >= 0 ? fmt::format("<a class=\"timeline-link\" href=\"#timeline-{}\">timeline</a>", f.timeline)
                          : std::string("<span class=muted>&mdash;</span>"));
    }
    body += "</table>\n";
    if (r.failures.size() > shown) {
      body += fmt::format("<p>... and {} more: <code class=cmd>sqlite3 {} \"select id, seed, first_invariant, replay from runs where verdict != 'pass'\"</code></p>\n",
                          r.failures.size() - shown, html_escape(r.db_path));
    }
    body += fmt::format("<p class=muted>{} failure(s) have an embedded timeline (the first of each group and invariant); for any "
                        "other, <code class=cmd>faultline replay --db {} RUN_ID --timeline t.json</code> makes one for "
                        "the Perfetto UI.</p>\n",
                        r.timelines.size(), html_escape(r.db_path));
  }
  body += "</section>\n</main>\n<div id=\"timeline-page\" hidden>\n";
  std::string timelines = "[";
  for (size_t i = 0; i < r.timelines.size(); ++i) {
    const ReportTimeline& t = r.timelines[i];
    const ReportFailure& f = r.failures[t.failure];
    timelines += (i ? "," : "") + swimlane_spec(t.swimlane);
    body += fmt::format(
        "<article class=\"timeline\" id=\"timeline-{}\" hidden><section><p><a href=\"#failures\">&larr; back to the report</a></p>"
        "<h2>{} seed {}: {}</h2>\n<p class=what>{}</p>\n<p class=muted>{}</p>\n"
        "<div class=\"chart\" data-timeline=\"{}\"></div>\n"
        "<h3>fault plan</h3><pre>{}</pre>\n<h3>replay</h3><p><code class=cmd>{}</code></p>\n"
        "<h3>the whole run in the Perfetto UI</h3><p><code class=cmd>{}</code></p></section></article>\n",
        i, html_escape(r.groups[f.group].label), f.seed, html_escape(f.invariant), html_escape(f.what), html_escape(t.note), i,
        html_escape(f.fault_plan.empty() ? std::string("(no faults)") : f.fault_plan), html_escape(f.replay),
        html_escape(t.command));
  }
  timelines += "]";
  body += "</div>\n";
  charts += "}";

  std::string out =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Faultline report</title>\n<style>";
  out += kStyle;
  out += "</style>\n";
  const std::pair<std::string_view, std::string_view> libraries[] = {{vendor::vega_js(), vendor::license_vega()},
                                                                     {vendor::vega_lite_js(), vendor::license_vega_lite()},
                                                                     {vendor::vega_embed_js(), vendor::license_vega_embed()}};
  out += "<script>/*\n" + comment_safe(vendor::readme()) + "*/</script>\n";
  for (const auto& [code, license] : libraries) {
    out += "<script>/*\n" + comment_safe(license) + "*/\n";
    out += code;
    out += "</script>\n";
  }
  out += "<script type=\"application/json\" id=\"faultline-data\">";
  out += script_safe(fmt::format("{{\"charts\":{},\"timelines\":{}}}", charts, timelines));
  out += "</script>\n</head><body>\n";
  out += body;
  out += "<script>";
  out += kApp;
  out += "</script>\n</body></html>\n";
  return out;
}

}  // namespace faultline
