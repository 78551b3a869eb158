#include "reports/junit.h"

#include <fmt/format.h>

namespace faultline {

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab, newline and carriage return.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string junit_xml(const std::string& suite, const std::vector<JUnitCase>& failures, uint64_t passed,
                      uint64_t first_seed, uint64_t last_seed, double seconds) {
  const size_t tests = failures.size() + (passed > 0 ? 1 : 0);
  std::string out = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"faultline\" tests=\"{}\" failures=\"{}\" "
      "time=\"{:.3f}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3f}\">\n",
      tests, failures.size(), seconds, xml_escape(suite), tests, failures.size(), seconds);
  if (passed > 0) {
    out += fmt::format("    <testcase classname=\"{}\" name=\"seeds {}..{}: {} passed\" time=\"0\"/>\n",
                       xml_escape(suite), first_seed, last_seed, passed);
  }
  for (const JUnitCase& f : failures) {
    out += fmt::format(
        "    <testcase classname=\"{}\" name=\"seed {}\" time=\"{:.3f}\">\n"
        "      <failure type=\"{}\" message=\"{}: {}\">{}\nreplay: {}</failure>\n    </testcase>\n",
        xml_escape(suite), f.seed, f.seconds, xml_escape(to_string(f.verdict)), xml_escape(f.invariant),
        xml_escape(f.message.substr(0, 2000)), xml_escape(f.message), xml_escape(f.replay));
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace faultline
