// Runs a real binary as a child process with its stdout and stderr captured.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rstmesh::testing {

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();  // SIGKILLs the child if it still runs
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The next line of stdout, or nullopt at EOF or timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void Signal(int signal_number);
  // Waits for exit, collecting the rest of stdout/stderr. The exit code, or -1 on timeout
  // (the child is then killed), or 128+N when killed by signal N.
  int Wait(std::chrono::milliseconds timeout);
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  bool Pump(std::chrono::milliseconds timeout);  // one round of reading; false at timeout
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  size_t line_pos_ = 0;
  int status_ = -1;
};

// Runs argv to completion (with a timeout) and returns {exit code, stdout, stderr}.
struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};
RunResult RunProcess(std::vector<std::string> argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace rstmesh::testing
