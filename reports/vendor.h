// reports/vendor.h
// The chart libraries inlined into `faultline report`'s HTML (reports/vendor/README.md says
// which, from where and under which licenses), embedded in the binary at build time by
// cmake/embed_vendor.cmake so that a report needs no file beside the binary and no network.
#pragma once

#include <string_view>

namespace faultline::vendor {

std::string_view vega_js();
std::string_view vega_lite_js();
std::string_view vega_embed_js();
std::string_view license_vega();
std::string_view license_vega_lite();
std::string_view license_vega_embed();
std::string_view readme();  // reports/vendor/README.md: versions, integrity hashes, bundled dependencies

}  // namespace faultline::vendor
