// The audit report as one self-contained HTML page: findings first, then the zone x zone
// roll-up and the source x destination matrix coloured by verdict, with every cell's details
// (counts per scenario and observed class, time-to-observe p50/p99, diagnosis) on hover and
// on click. No scripts or styles are fetched; it stays readable at 50+ agents (small cells,
// vertical column heads, the matrix scrolls).
#pragma once

#include <string>

#include "rstmesh/v1/control.pb.h"

namespace rstmesh {

std::string RenderHtmlReport(const v1::Report& report);

}  // namespace rstmesh
