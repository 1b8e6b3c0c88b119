#include "tests/fleet/netns_fleet.h"

#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/text.h"
#include "tests/support/wait_for.h"

namespace rstmesh::testing {
namespace {

constexpr const char* kPrefix = "rsmf";

// iproute2's binary, wherever this distribution puts it (exec does not search PATH).
std::string IpBinary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "ip";
}

int System(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

}  // namespace

absl::Status NetnsFleet::Available() {
  if (geteuid() != 0) return absl::FailedPreconditionError("not root: cannot create namespaces");
  std::string probe = absl::StrCat(kPrefix, "-probe-", getpid());
  if (System("ip netns add " + probe) != 0) {
    return absl::FailedPreconditionError("'ip netns add' failed (no CAP_SYS_ADMIN or no iproute2)");
  }
  System("ip netns del " + probe);
  if (System("nft --version") != 0) return absl::FailedPreconditionError("nft is missing");
  return absl::OkStatus();
}

NetnsFleet::NetnsFleet(std::vector<int> hosts_per_zone, std::string controller_bin,
                       std::string agent_bin, Family family)
    : zones_(std::move(hosts_per_zone)),
      family_(family),
      controller_bin_(std::move(controller_bin)),
      agent_bin_(std::move(agent_bin)) {
  tag_ = absl::StrCat(kPrefix, getpid() % 100000);
  router_ = tag_ + "-r";
  controller_ns_ = tag_ + "-c";
  for (size_t z = 0; z < zones_.size(); ++z) {
    for (int h = 1; h <= zones_[z]; ++h) {
      Host host;
      host.zone = absl::StrCat("z", z + 1);
      host.id = absl::StrCat(host.zone, "-h", h);
      host.netns = absl::StrCat(tag_, "-", host.id);
      host.number = h;
      host.address = family == Family::kIPv6 ? absl::StrCat("fd52:7374:", z + 1, "::", 10 + h)
                                             : absl::StrCat("198.18.", z + 1, ".", 10 + h);
      hosts_.push_back(host);
    }
  }
}

NetnsFleet::~NetnsFleet() {
  middleboxes_.clear();
  agents_.clear();  // SIGKILL and reap
  controller_.reset();
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it)
    System("ip netns del " + *it);
  if (!data_dir_.empty()) std::filesystem::remove_all(data_dir_);
}

absl::Status NetnsFleet::Sh(const std::string& command) {
  if (System(command) != 0) return absl::InternalError(absl::StrCat("failed: ", command));
  return absl::OkStatus();
}

absl::Status NetnsFleet::InRouter(const std::string& command) {
  return Sh(absl::StrCat("ip netns exec ", router_, " ", command));
}

absl::Status NetnsFleet::InHost(size_t index, const std::string& command) {
  return Sh(absl::StrCat("ip netns exec ", hosts_[index].netns, " ", command));
}

void NetnsFleet::SignalAgent(size_t index, int signal) { agents_[index]->Signal(signal); }

size_t NetnsFleet::HostIndex(const std::string& id) const {
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (hosts_[i].id == id) return i;
  }
  return hosts_.size();
}

absl::Status NetnsFleet::StartInRouter(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {IpBinary(), "netns", "exec", router_});
  middleboxes_.push_back(std::make_unique<Subprocess>(argv));
  if (!middleboxes_.back()->ReadLine(std::chrono::seconds(10))) {
    return absl::InternalError("middlebox did not start: " + middleboxes_.back()->err());
  }
  return absl::OkStatus();
}

absl::Status NetnsFleet::AddNamespace(const std::string& name) {
  if (absl::Status s = Sh("ip netns add " + name); !s.ok()) return s;
  if (std::find(namespaces_.begin(), namespaces_.end(), name) == namespaces_.end()) {
    namespaces_.push_back(name);
  }
  return Sh(absl::StrCat("ip -n ", name, " link set lo up"));
}

absl::Status NetnsFleet::Attach(const std::string& ns, size_t zone, int host, int index) {
  std::string outside = absl::StrCat("v", index);
  for (const std::string& cmd : {
           absl::StrCat("ip -n ", router_, " link add ", outside,
                        " type veth peer name eth0 netns ", ns),
           absl::StrCat("ip -n ", router_, " link set ", outside, " master br", zone, " up"),
           absl::StrCat("ip -n ", ns, " addr add 198.18.", zone, ".", 10 + host, "/24 dev eth0"),
           // nodad: usable at once, not after duplicate address detection.
           absl::StrCat("ip -n ", ns, " addr add fd52:7374:", zone, "::", 10 + host,
                        "/64 dev eth0 nodad"),
           absl::StrCat("ip -n ", ns, " link set eth0 up"),
           absl::StrCat("ip -n ", ns, " route add default via 198.18.", zone, ".1"),
           absl::StrCat("ip -n ", ns, " -6 route add default via fd52:7374:", zone, "::1"),
       }) {
    if (absl::Status s = Sh(cmd); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status NetnsFleet::StartAgent(size_t i) {
  const Host& h = hosts_[i];
  agents_[i] = std::make_unique<Subprocess>(std::vector<std::string>{
      IpBinary(), "netns", "exec", h.netns, agent_bin_, "run", "--insecure", "--controller",
      "198.18.0.10:7400", "--id", h.id, "--labels", "zone=" + h.zone, "--listen", h.address});
  if (!agents_[i]->ReadLine(std::chrono::seconds(10))) {
    return absl::InternalError(h.id + " did not start: " + agents_[i]->err());
  }
  return absl::OkStatus();
}

absl::Status NetnsFleet::RebootHost(size_t i) {
  const Host& h = hosts_[i];
  // A reboot is silent: cut the host off first, so that the FINs its dying processes'
  // kernel sends never leave.
  if (absl::Status s = Sh(absl::StrCat("ip -n ", router_, " link set v", i + 1, " down"));
      !s.ok()) {
    return s;
  }
  agents_[i]->Signal(SIGKILL);
  agents_[i]->Wait(std::chrono::seconds(10));
  // Orphaned sockets of the dead agent keep the old namespace alive for a while; deleting
  // the router's end of the veth takes both ends with it, so the new host can be wired now.
  if (absl::Status s = Sh(absl::StrCat("ip -n ", router_, " link del v", i + 1)); !s.ok()) {
    return s;
  }
  if (absl::Status s = Sh("ip netns del " + h.netns); !s.ok()) return s;
  if (absl::Status s = AddNamespace(h.netns); !s.ok()) return s;
  size_t zone = std::stoul(h.zone.substr(1));
  if (absl::Status s = Attach(h.netns, zone, h.number, static_cast<int>(i) + 1); !s.ok()) {
    return s;
  }
  return StartAgent(i);
}

absl::Status NetnsFleet::Start() {
  // Namespaces of an earlier run that was killed before it could clean up.
  System(absl::StrCat("for n in $(ip netns list | awk '{print $1}' | grep '^", kPrefix,
                      "'); do ip netns del $n; done"));
  if (absl::Status s = AddNamespace(router_); !s.ok()) return s;
  if (absl::Status s =
          Sh(absl::StrCat("ip netns exec ", router_,
                          " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"));
      !s.ok()) {
    return s;
  }
  // Zone 0 holds the controller; zones 1..N the hosts.
  auto add_zone = [&](size_t z) -> absl::Status {
    std::string br = absl::StrCat("br", z);
    if (absl::Status s = Sh(absl::StrCat("ip -n ", router_, " link add ", br, " type bridge"));
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            Sh(absl::StrCat("ip -n ", router_, " addr add 198.18.", z, ".1/24 dev ", br));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Sh(absl::StrCat("ip -n ", router_, " addr add fd52:7374:", z,
                                         "::1/64 dev ", br, " nodad"));
        !s.ok()) {
      return s;
    }
    return Sh(absl::StrCat("ip -n ", router_, " link set ", br, " up"));
  };
  for (size_t z = 0; z <= zones_.size(); ++z) {
    if (absl::Status s = add_zone(z); !s.ok()) return s;
  }
  if (absl::Status s = AddNamespace(controller_ns_); !s.ok()) return s;
  if (absl::Status s = Attach(controller_ns_, 0, 0, 0); !s.ok()) return s;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    const Host& h = hosts_[i];
    if (absl::Status s = AddNamespace(h.netns); !s.ok()) return s;
    size_t zone = std::stoul(h.zone.substr(1));
    if (absl::Status s = Attach(h.netns, zone, h.number, static_cast<int>(i) + 1); !s.ok()) {
      return s;
    }
  }

  char tmpl[] = "/tmp/rstmesh-fleet-XXXXXX";
  data_dir_ = mkdtemp(tmpl);
  if (absl::Status s = StartController(); !s.ok()) return s;
  agents_.resize(hosts_.size());
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (absl::Status s = StartAgent(i); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status NetnsFleet::StartController() {
  controller_ = std::make_unique<Subprocess>(std::vector<std::string>{
      IpBinary(), "netns", "exec", controller_ns_, controller_bin_, "--listen", "198.18.0.10:7400",
      "--data-dir", data_dir_, "--metrics-listen", "198.18.0.10:7401", "--insecure"});
  if (!controller_->ReadLine(std::chrono::seconds(10))) {
    return absl::InternalError("controller did not start: " + controller_->err());
  }
  return absl::OkStatus();
}

absl::Status NetnsFleet::KillAndRestartController() {
  controller_->Signal(SIGKILL);
  if (controller_->Wait(std::chrono::seconds(10)) != 128 + SIGKILL) {
    return absl::InternalError("controller did not die of SIGKILL");
  }
  return StartController();
}

RunResult NetnsFleet::Ctl(const std::string& ctl_bin, std::vector<std::string> args,
                          std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {IpBinary(), "netns",      "exec",         controller_ns_,
                                   ctl_bin,    "--insecure", "--controller", "198.18.0.10:7400"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout);
}

}  // namespace rstmesh::testing
