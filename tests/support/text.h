// Small text helpers for asserting on command output.
#pragma once

#include <string>

namespace rstmesh::testing {

// How many times `needle` occurs in `text` (overlaps counted).
inline size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace rstmesh::testing
