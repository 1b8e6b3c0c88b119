// A plain HTTP/1.1 GET on 127.0.0.1: the whole response (status line, headers, body), or ""
// when nothing listens.
#pragma once

#include <string>

namespace rstmesh::testing {

std::string HttpGet(int port, const std::string& path);

}  // namespace rstmesh::testing
