#include "controller/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace rstmesh {
namespace {

std::string Holder() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  char when[64] = {};
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return absl::StrCat("pid ", getpid(), " on ", host, " since ", when, "\n");
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/controller.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("--data-dir: cannot create ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder(256, '\0');
    const ssize_t n = pread(fd, holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
    close(fd);
    if (error != EWOULDBLOCK) {
      return absl::UnavailableError(
          absl::StrCat("--data-dir: cannot lock ", path, ": ", std::strerror(error)));
    }
    const std::string who(absl::StripTrailingAsciiWhitespace(holder));
    return absl::FailedPreconditionError(absl::StrCat(
        "--data-dir ", dir, " is in use by another rstmesh-controller (",
        who.empty() ? "holder unknown" : who,
        "): one controller per store; stop that one or give this one another --data-dir"));
  }
  const std::string holder = Holder();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, holder.data(), holder.size(), 0) < 0) {
    // The lock holds without the note; only a refused second controller's message is poorer.
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd));
}

DataDirLock::~DataDirLock() { close(fd_); }

}  // namespace rstmesh
