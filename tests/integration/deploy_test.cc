// The Kubernetes manifests against the binaries: every overlay renders with `kubectl
// kustomize`; each container's command, arguments and environment (downward-API values
// filled with samples) are accepted by that binary's --check-config; and the ports the
// manifests name (Service targets, probes) are the ones the arguments listen on.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/subprocess.h"

namespace rstmesh {
namespace {

using testing::RunProcess;

const std::string kSource = RSTMESH_SOURCE_DIR;
const std::map<std::string, std::string> kBinaries = {
    {"rstmesh-controller", RSTMESH_CONTROLLER_BIN},
    {"rstmesh-agent", RSTMESH_AGENT_BIN},
    {"rstmeshctl", RSTMESH_CTL_BIN}};
// What the downward API would give a pod.
const std::map<std::string, std::string> kFieldSamples = {
    {"spec.nodeName", "node-a"}, {"status.podIP", "10.0.0.5"}, {"status.hostIP", "10.0.1.5"}};

std::vector<std::string> Overlays() {
  std::vector<std::string> dirs = {kSource + "/deploy/base"};
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/deploy/overlays")) {
    dirs.push_back(entry.path().string());
  }
  return dirs;
}

// kubectl's path ("" when it is not installed); RunProcess does not search PATH.
std::string Kubectl() {
  auto found = RunProcess({"/bin/sh", "-c", "command -v kubectl"});
  std::string path = found.out.substr(0, found.out.find('\n'));
  return found.exit_code == 0 ? path : "";
}

// The port number in "--flag=host:port" / "--flag=port" arguments.
int PortOf(const std::string& value) {
  return std::stoi(value.substr(value.find_last_of(":=") + 1));
}

TEST(DeployTest, EveryOverlayRendersAndTheBinariesAcceptItsContainers) {
  const std::string kubectl = Kubectl();
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: kubectl is not installed";
  const std::string tmp = std::filesystem::temp_directory_path() / "rstmesh-deploy-test";
  std::filesystem::create_directories(tmp);
  for (const std::string& overlay : Overlays()) {
    SCOPED_TRACE(overlay);
    auto rendered = RunProcess({kubectl, "kustomize", overlay});
    ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
    std::vector<YAML::Node> docs = YAML::LoadAll(rendered.out);
    std::map<std::string, std::string> config_files;  // "configmap/key" -> content
    for (const YAML::Node& doc : docs) {
      if (doc["kind"].as<std::string>() != "ConfigMap") continue;
      for (const auto& kv : doc["data"]) {
        config_files[doc["metadata"]["name"].as<std::string>() + "/" + kv.first.as<std::string>()] =
            kv.second.as<std::string>();
      }
    }
    std::set<std::string> kinds;
    std::map<std::string, std::set<std::string>> service_targets;  // app -> port names
    std::map<std::string, std::set<std::string>> container_ports;  // app -> port names
    int checked = 0;
    for (const YAML::Node& doc : docs) {
      const std::string kind = doc["kind"].as<std::string>();
      kinds.insert(kind);
      if (kind != "Namespace") {
        EXPECT_EQ(doc["metadata"]["namespace"].as<std::string>(""), "rstmesh") << kind;
      }
      if (kind == "Service") {
        const std::string app = doc["spec"]["selector"]["app.kubernetes.io/name"].as<std::string>();
        for (const auto& p : doc["spec"]["ports"]) {
          service_targets[app].insert(p["targetPort"].as<std::string>());
        }
        continue;
      }
      YAML::Node pod;
      if (kind == "Deployment" || kind == "DaemonSet") pod = doc["spec"]["template"]["spec"];
      if (kind == "CronJob") pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"];
      if (!pod) continue;
      const std::string app = doc["metadata"]["name"].as<std::string>();
      for (const auto& c : pod["containers"]) {
        const std::string binary =
            std::filesystem::path(c["command"][0].as<std::string>()).filename();
        ASSERT_TRUE(kBinaries.count(binary)) << binary;
        std::map<std::string, int> ports;  // name -> number
        for (const auto& p : c["ports"]) {
          ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
          container_ports[app].insert(p["name"].as<std::string>());
        }
        std::vector<std::string> argv = {"/usr/bin/env", "-i"};
        for (const auto& e : c["env"]) {
          std::string value = e["value"] ? e["value"].as<std::string>() : "";
          if (e["valueFrom"]) {
            value = kFieldSamples.at(e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>());
          }
          argv.push_back(e["name"].as<std::string>() + "=" + value);
        }
        argv.push_back(kBinaries.at(binary));
        std::vector<std::string> args;
        for (const auto& a : c["args"]) args.push_back(a.as<std::string>());
        // Mounted files (the audit's plan) are read from what the ConfigMap holds.
        std::map<std::string, std::string> mounts;  // mount path -> configmap
        for (const auto& m : c["volumeMounts"]) {
          for (const auto& v : pod["volumes"]) {
            if (v["name"].as<std::string>() == m["name"].as<std::string>() && v["configMap"]) {
              mounts[m["mountPath"].as<std::string>()] = v["configMap"]["name"].as<std::string>();
            }
          }
        }
        for (std::string& a : args) {
          for (const auto& [path, map] : mounts) {
            size_t at = a.find(path + "/");
            if (at == std::string::npos) continue;
            std::string key = a.substr(at + path.size() + 1);
            std::string file = tmp + "/" + key;
            std::ofstream(file) << config_files.at(map + "/" + key);
            a = a.substr(0, at) + file;
          }
          // Each listening flag's port is a named port of the container.
          for (const auto& [flag, name] :
               std::vector<std::pair<std::string, std::string>>{{"--listen=", "grpc"},
                                                                {"--metrics-listen=", "metrics"},
                                                                {"--health-listen=", "health"},
                                                                {"--port=", "data"},
                                                                {"--closed-port=", "closed"}}) {
            if (!absl::StartsWith(a, flag) || (flag == "--listen=" && binary == "rstmesh-agent")) {
              continue;
            }
            ASSERT_TRUE(ports.count(name)) << a << ": no container port named " << name;
            EXPECT_EQ(PortOf(a), ports[name]) << a;
          }
        }
        for (const char* probe : {"readinessProbe", "livenessProbe"}) {
          if (c[probe]) {
            EXPECT_EQ(c[probe]["grpc"]["port"].as<int>(), ports["health"]) << probe;
          }
        }
        // --check-config right after the subcommand (agent: run; ctl: global flags first).
        if (binary == "rstmeshctl") {
          argv.push_back("--check-config");
          argv.insert(argv.end(), args.begin(), args.end());
        } else {
          argv.insert(argv.end(), args.begin(), args.end());
          argv.push_back("--check-config");
        }
        auto checked_run = RunProcess(argv);
        EXPECT_EQ(checked_run.exit_code, 0)
            << binary << " refused the manifest's configuration: " << checked_run.err;
        EXPECT_NE(checked_run.out.find("configuration ok"), std::string::npos) << checked_run.out;
        ++checked;
      }
    }
    EXPECT_EQ(checked, 3) << "controller, agent and audit containers";
    for (const char* kind : {"Namespace", "Deployment", "Service", "PodDisruptionBudget",
                             "PersistentVolumeClaim", "DaemonSet", "CronJob", "ConfigMap"}) {
      EXPECT_TRUE(kinds.count(kind)) << kind;
    }
    for (const auto& [app, targets] : service_targets) {
      for (const std::string& t : targets) {
        EXPECT_TRUE(container_ports[app].count(t)) << app << ": Service targets " << t;
      }
    }
  }
  std::filesystem::remove_all(tmp);
}

TEST(DeployTest, OverlaysChangeWhatTheySay) {
  const std::string kubectl = Kubectl();
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: kubectl is not installed";
  auto agent = [&](const std::string& overlay) {
    auto rendered = RunProcess({kubectl, "kustomize", kSource + "/deploy/" + overlay});
    for (const YAML::Node& doc : YAML::LoadAll(rendered.out)) {
      if (doc["kind"].as<std::string>() == "DaemonSet") return doc["spec"]["template"]["spec"];
    }
    return YAML::Node();
  };
  YAML::Node base = agent("base");
  EXPECT_FALSE(base["hostNetwork"]);
  EXPECT_TRUE(base["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_EQ(base["containers"][0]["securityContext"]["capabilities"]["add"].size(), 0u);
  EXPECT_TRUE(agent("overlays/host-network")["hostNetwork"].as<bool>());
  YAML::Node fault = agent("overlays/fault-injection");
  EXPECT_EQ(fault["containers"][0]["securityContext"]["capabilities"]["add"][0].as<std::string>(),
            "NET_ADMIN");
  EXPECT_EQ(fault["securityContext"]["runAsUser"].as<int>(), 0);
}

// The runtime image installs every Debian package the binaries link (ldd), so that the
// list in the Dockerfile cannot drift from the build. libc6, libgcc-s1 and libstdc++6 come
// with debian:12-slim.
TEST(DeployTest, DockerfileInstallsEveryLibraryTheBinariesLink) {
  std::ifstream file(kSource + "/deploy/Dockerfile");
  std::stringstream text;
  text << file.rdbuf();
  const std::string dockerfile = text.str();
  const size_t runtime = dockerfile.rfind("\nFROM ");
  ASSERT_NE(runtime, std::string::npos);
  const std::string stage = dockerfile.substr(runtime);
  std::set<std::string> installed;
  for (absl::string_view word :
       absl::StrSplit(stage, absl::ByAnyChar(" \n\\"), absl::SkipEmpty())) {
    installed.insert(std::string(word));
  }
  std::string script;
  for (const auto& [name, path] : kBinaries) script += "ldd " + path + "; ";
  auto ldd = RunProcess({"/bin/sh", "-c",
                         "(" + script +
                             ") | awk '$3 ~ /^\\// {print $3}' | sort -u | "
                             "while read f; do dpkg -S \"$(readlink -f \"$f\")\" 2>/dev/null || "
                             "dpkg -S \"$f\"; done | cut -d: -f1 | sort -u"});
  ASSERT_EQ(ldd.exit_code, 0) << ldd.err;
  int packages = 0;
  for (absl::string_view package : absl::StrSplit(ldd.out, '\n', absl::SkipEmpty())) {
    ++packages;
    if (package == "libc6" || package == "libgcc-s1" || package == "libstdc++6") continue;
    EXPECT_TRUE(installed.count(std::string(package)))
        << "the binaries link " << package << ", which the Dockerfile's runtime stage does not "
        << "install";
  }
  EXPECT_GE(packages, 5) << ldd.out;
}

}  // namespace
}  // namespace rstmesh
