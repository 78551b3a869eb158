// reports/report_html.h
// The report (reports/report_data.h) as one self-contained HTML file: it opens from disk with
// no network. The vendored Vega, Vega-Lite and vega-embed (reports/vendor/) are inlined with
// their license notices; the page's data and the Vega-Lite specs are one JSON document in a
// <script type="application/json">; a small script draws the charts as SVG.
//
// Pages: the summary (verdicts per group, a table per group with throughput, histograms of
// every *_ns metric and of wall time per run with p50/p99/max marked, coverage, then the
// failures with their replay commands), and one timeline page per embedded re-run, reached
// by the failure table's links (#timeline-N). Each navigation is a new `window.__faultline
// .view` (a count); when the page has drawn it, `window.__faultline.done` is true, and
// `window.__faultline.errors` lists what failed: the browser test
// (tests/browser/check_report.mjs) reads them.
#pragma once

#include <string>

#include "reports/report_data.h"

namespace faultline {

std::string report_html(const Report& report);

// `s` with &, <, >, " and ' escaped for HTML text and attribute values (the XML escape of
// reports/junit.h: HTML5 knows &apos;).
std::string html_escape(std::string_view s);

}  // namespace faultline
