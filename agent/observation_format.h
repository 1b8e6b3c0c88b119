// Human and machine renderings of observations, shared by `probe` and `serve`.
#pragma once

#include <string>

#include "rstmesh/v1/closure.pb.h"

namespace rstmesh {

// One JSON object on one line, field names as in the proto, every field present.
std::string ObservationJson(const v1::Observation& obs);

// Fixed-width table rows.
std::string ObservationTableHeader();
std::string ObservationTableRow(const v1::Observation& obs);

}  // namespace rstmesh
