// Node.js tools the tests run (the manifest validator, the gRPC reflection client): the
// `node` binary and whether a tool's npm packages are installed (scripts/install-deps.sh
// installs both).
#pragma once

#include <filesystem>
#include <string>

#include "tests/support/subprocess.h"

namespace rstmesh::testing {

// node's path, or "" when it is not installed (RunProcess does not search PATH).
inline std::string NodeBinary() {
  RunResult found = RunProcess({"/bin/sh", "-c", "command -v node"});
  return found.exit_code == 0 ? found.out.substr(0, found.out.find('\n')) : "";
}

// Whether the npm package `package` is installed for the tool in `dir`.
inline bool NodePackageInstalled(const std::string& dir, const std::string& package) {
  return std::filesystem::exists(dir + "/node_modules/" + package);
}

}  // namespace rstmesh::testing
