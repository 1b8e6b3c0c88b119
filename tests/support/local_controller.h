// LocalController: a real controller in this process (gRPC on a free loopback port, its
// SQLite store in a temporary directory that goes with it), for tests that drive its
// services or its run manager directly.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "controller/controller.h"

namespace rstmesh::testing {

class LocalController {
 public:
  LocalController() {
    char tmpl[] = "/tmp/rstmesh-controller-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~LocalController() {
    controller_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  LocalController(const LocalController&) = delete;
  LocalController& operator=(const LocalController&) = delete;

  ::testing::AssertionResult Start() {
    ControllerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir_;
    controller_ = std::make_unique<Controller>(options);
    if (absl::Status started = controller_->Start(); !started.ok()) {
      return ::testing::AssertionFailure() << "controller: " << started;
    }
    return ::testing::AssertionSuccess();
  }
  Controller* operator->() { return controller_.get(); }
  Controller& operator*() { return *controller_; }
  // The controller goes (its processes' files stay until this object does).
  void Stop() { controller_.reset(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(controller_->port()); }

 private:
  std::string dir_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace rstmesh::testing
