// reports/junit.h
// JUnit XML for CI systems (Jenkins, GitLab, GitHub Actions reporters): one <testsuite> per
// sweep, one <testcase> per failing seed (its <failure> carries the first invariant, the
// message and the replay command) and one for the seeds that passed, named by their range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenarios/scenario.h"

namespace faultline {

struct JUnitCase {
  uint64_t seed = 0;
  Verdict verdict = Verdict::kPass;
  std::string invariant;  // the first unexcused one, or "crash"
  std::string message;
  std::string replay;
  double seconds = 0;
};

std::string junit_xml(const std::string& suite, const std::vector<JUnitCase>& failures, uint64_t passed,
                      uint64_t first_seed, uint64_t last_seed, double seconds);
std::string xml_escape(const std::string& s);

}  // namespace faultline
