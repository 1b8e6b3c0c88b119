// The Kubernetes manifests against the binaries and the API: every overlay renders with
// `kubectl kustomize`; every object passes offline schema validation, unknown fields
// included (deploy/validate, Node.js); each container's command, arguments and environment
// (downward-API values filled with samples, mounted ConfigMaps and Secrets with what they
// hold) are accepted by that binary's --check-config; and the ports the manifests name
// (Service targets, probes) are the ones the arguments listen on.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/node_tool.h"
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
    {"spec.nodeName", "node-a"},
    {"status.podIP", "10.0.0.5"},
    {"status.hostIP", "10.0.1.5"},
    {"metadata.name", "rstmesh-controller-6d9f7c5b8-x2k4q"}};

std::vector<std::string> Overlays() {
  std::vector<std::string> dirs = {kSource + "/deploy/base"};
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/deploy/overlays")) {
    dirs.push_back(entry.path().string());
  }
  return dirs;
}

// kubectl's path, or "" (and why in `*missing`) when there is none that renders our
// kustomizations: `patches:` needs kustomize v4+, kubectl 1.21+. RunProcess does not search
// PATH.
std::string Kubectl(std::string* missing) {
  auto found = RunProcess({"/bin/sh", "-c", "command -v kubectl"});
  if (found.exit_code != 0) {
    *missing = "kubectl is not installed";
    return "";
  }
  std::string path = found.out.substr(0, found.out.find('\n'));
  auto version = RunProcess({path, "version", "--client", "-o", "json"});
  std::smatch m;
  if (!std::regex_search(version.out, m, std::regex(R"re("minor":\s*"(\d+))re")) ||
      std::stoi(m[1]) < 21) {
    *missing = "kubectl older than 1.21 (its kustomize cannot read `patches:`): " + version.out;
    return "";
  }
  return path;
}

const std::string kValidator = kSource + "/deploy/validate/validate.mjs";

// Runs the schema validator on `yaml` (with `conventions`, also rstmesh's conventions on the
// whole set).
testing::RunResult Validate(const std::string& yaml, const std::string& tmp,
                            bool conventions = false) {
  const std::string file = tmp + "/objects.yaml";
  std::ofstream(file) << yaml;
  const std::string node = testing::NodeBinary();
  EXPECT_FALSE(node.empty()) << "node is not installed: run scripts/install-deps.sh";
  EXPECT_TRUE(testing::NodePackageInstalled(kSource + "/deploy/validate", "kubernetes-models"))
      << "the validator's packages are missing: run scripts/install-deps.sh";
  if (conventions) return RunProcess({node, kValidator, "--conventions", file});
  return RunProcess({node, kValidator, file});
}

// The Secrets of the mtls overlay, as scripts/k8s-tls-secrets.sh prints them for
// certificates from scripts/make-certs.sh.
std::string TlsSecrets(const std::string& tmp) {
  const std::string certs = tmp + "/certs";
  auto made = RunProcess(
      {kSource + "/scripts/make-certs.sh", certs, "--shared-agent", "--operators", "audit"});
  EXPECT_EQ(made.exit_code, 0) << made.err;
  auto secrets = RunProcess({kSource + "/scripts/k8s-tls-secrets.sh", certs});
  EXPECT_EQ(secrets.exit_code, 0) << secrets.err;
  return secrets.out;
}

// The port number in "--flag=host:port" / "--flag=port" arguments.
int PortOf(const std::string& value) {
  return std::stoi(value.substr(value.find_last_of(":=") + 1));
}

TEST(DeployTest, EveryOverlayRendersAndTheBinariesAcceptItsContainers) {
  std::string missing;
  const std::string kubectl = Kubectl(&missing);
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: " << missing;
  const std::string tmp = std::filesystem::temp_directory_path() / "rstmesh-deploy-test";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  // What mounted volumes hold: "configmap-or-secret/key" -> content.
  std::map<std::string, std::string> volume_files;
  const std::string secrets = TlsSecrets(tmp);
  for (const YAML::Node& doc : YAML::LoadAll(secrets)) {
    for (const auto& kv : doc["data"]) {
      std::string content;
      ASSERT_TRUE(absl::Base64Unescape(kv.second.as<std::string>(), &content));
      volume_files[doc["metadata"]["name"].as<std::string>() + "/" + kv.first.as<std::string>()] =
          content;
    }
  }
  // The replicated component's database Secret, as deploy/README.md has operators make it.
  volume_files["rstmesh-store/dsn"] =
      "postgresql://rstmesh@postgres.example:5432/rstmesh?sslmode=verify-full&"
      "sslrootcert=/etc/rstmesh/store/ca.crt\n";
  auto secrets_valid = Validate(secrets, tmp);
  EXPECT_EQ(secrets_valid.exit_code, 0) << secrets_valid.out << secrets_valid.err;
  // Components combine: every one of them on the base at once, as deploy/README.md shows.
  const std::string combined = tmp + "/all-components";
  std::filesystem::create_directories(combined);
  const std::string deploy = std::filesystem::relative(kSource + "/deploy", combined);
  std::ofstream(combined + "/kustomization.yaml")
      << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - "
      << deploy << "/base\ncomponents:\n  - " << deploy << "/components/mtls\n  - " << deploy
      << "/components/fault-injection\n  - " << deploy << "/components/host-network\n  - " << deploy
      << "/components/packet-capture\n  - " << deploy << "/components/replicated\n  - " << deploy
      << "/monitoring\n";
  std::vector<std::string> overlays = Overlays();
  overlays.push_back(combined);
  for (const std::string& overlay : overlays) {
    SCOPED_TRACE(overlay);
    auto rendered = RunProcess({kubectl, "kustomize", overlay});
    ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
    if (overlay == combined) {
      // Components append their capabilities: fault-injection's and packet-capture's both.
      EXPECT_NE(rendered.out.find("- NET_ADMIN\n"), std::string::npos) << rendered.out;
      EXPECT_NE(rendered.out.find("- NET_RAW\n"), std::string::npos) << rendered.out;
    }
    std::vector<YAML::Node> docs = YAML::LoadAll(rendered.out);
    auto valid = Validate(rendered.out, tmp, /*conventions=*/true);
    EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
    EXPECT_NE(valid.out.find(absl::StrCat(docs.size(), " objects valid, conventions kept")),
              std::string::npos)
        << valid.out;
    for (const YAML::Node& doc : docs) {
      if (doc["kind"].as<std::string>() != "ConfigMap") continue;
      for (const auto& kv : doc["data"]) {
        volume_files[doc["metadata"]["name"].as<std::string>() + "/" + kv.first.as<std::string>()] =
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
        // Mounted files (the audit's plan, certificates) are read from what the ConfigMap or
        // Secret holds.
        std::map<std::string, std::string> mounts;  // mount path -> configmap or secret
        for (const auto& m : c["volumeMounts"]) {
          for (const auto& v : pod["volumes"]) {
            if (v["name"].as<std::string>() != m["name"].as<std::string>()) continue;
            if (v["configMap"]) {
              mounts[m["mountPath"].as<std::string>()] = v["configMap"]["name"].as<std::string>();
            } else if (v["secret"]) {
              mounts[m["mountPath"].as<std::string>()] =
                  v["secret"]["secretName"].as<std::string>();
            }
          }
        }
        for (std::string& a : args) {
          for (const auto& [path, source] : mounts) {
            size_t at = a.find(path + "/");
            if (at == std::string::npos) continue;
            std::string key = a.substr(at + path.size() + 1);
            auto content = volume_files.find(source + "/" + key);
            ASSERT_NE(content, volume_files.end())
                << a << ": " << source << " has no key " << key << " to mount";
            std::filesystem::create_directories(tmp + "/" + source);
            std::string file = tmp + "/" + source + "/" + key;
            std::ofstream(file) << content->second;
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
    for (const char* kind : {"Namespace", "ServiceAccount", "Deployment", "Service", "DaemonSet",
                             "CronJob", "ConfigMap", "NetworkPolicy"}) {
      EXPECT_TRUE(kinds.count(kind)) << kind;
    }
    // The controller keeps its store on a volume, or (replicated) in a database with a
    // disruption budget instead.
    EXPECT_NE(kinds.count("PersistentVolumeClaim"), kinds.count("PodDisruptionBudget"));
    for (const auto& [app, targets] : service_targets) {
      for (const std::string& t : targets) {
        EXPECT_TRUE(container_ports[app].count(t)) << app << ": Service targets " << t;
      }
    }
  }
  std::filesystem::remove_all(tmp);
}

TEST(DeployTest, OverlaysChangeWhatTheySay) {
  std::string missing;
  const std::string kubectl = Kubectl(&missing);
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: " << missing;
  auto agent = [&](const std::string& overlay) {
    auto rendered = RunProcess({kubectl, "kustomize", kSource + "/deploy/" + overlay});
    for (const YAML::Node& doc : YAML::LoadAll(rendered.out)) {
      if (doc["kind"].as<std::string>() == "DaemonSet") return doc["spec"]["template"]["spec"];
    }
    return YAML::Node();
  };
  // The Pod Security level each overlay's namespace enforces: restricted, unless a component
  // that needs root, capabilities or the host network lowers it.
  auto level = [&](const std::string& overlay) {
    auto rendered = RunProcess({kubectl, "kustomize", kSource + "/deploy/" + overlay});
    for (const YAML::Node& doc : YAML::LoadAll(rendered.out)) {
      if (doc["kind"].as<std::string>() == "Namespace") {
        return doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as<std::string>("");
      }
    }
    return std::string("no Namespace");
  };
  EXPECT_EQ(level("base"), "restricted");
  EXPECT_EQ(level("overlays/mtls"), "restricted");
  EXPECT_EQ(level("overlays/fault-injection"), "privileged");
  EXPECT_EQ(level("overlays/packet-capture"), "privileged");
  EXPECT_EQ(level("overlays/host-network"), "privileged");
  YAML::Node base = agent("base");
  EXPECT_EQ(base["securityContext"]["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  EXPECT_FALSE(base["automountServiceAccountToken"].as<bool>());
  EXPECT_FALSE(base["hostNetwork"]);
  EXPECT_TRUE(base["securityContext"]["runAsNonRoot"].as<bool>());
  EXPECT_EQ(base["containers"][0]["securityContext"]["capabilities"]["add"].size(), 0u);
  EXPECT_TRUE(agent("overlays/host-network")["hostNetwork"].as<bool>());
  YAML::Node fault = agent("overlays/fault-injection");
  EXPECT_EQ(fault["containers"][0]["securityContext"]["capabilities"]["add"][0].as<std::string>(),
            "NET_ADMIN");
  EXPECT_EQ(fault["securityContext"]["runAsUser"].as<int>(), 0);
  YAML::Node capture = agent("overlays/packet-capture");
  EXPECT_EQ(capture["containers"][0]["securityContext"]["capabilities"]["add"][0].as<std::string>(),
            "NET_RAW");
  std::string capture_args;
  for (const auto& a : capture["containers"][0]["args"]) capture_args += a.as<std::string>() + " ";
  EXPECT_NE(capture_args.find("--capture-packets=on"), std::string::npos) << capture_args;

  // mtls: no process is left on plaintext; each mounts its own Secret.
  auto mtls = RunProcess({kubectl, "kustomize", kSource + "/deploy/overlays/mtls"});
  ASSERT_EQ(mtls.exit_code, 0) << mtls.err;
  EXPECT_EQ(mtls.out.find("--insecure"), std::string::npos);
  std::map<std::string, std::string> secret_of;  // workload -> Secret
  for (const YAML::Node& doc : YAML::LoadAll(mtls.out)) {
    const std::string kind = doc["kind"].as<std::string>();
    YAML::Node pod;
    if (kind == "Deployment" || kind == "DaemonSet") pod = doc["spec"]["template"]["spec"];
    if (kind == "CronJob") pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    if (!pod["containers"]) continue;
    std::string args;
    for (const auto& a : pod["containers"][0]["args"]) args += a.as<std::string>() + " ";
    EXPECT_NE(args.find("--tls-ca=/etc/rstmesh/tls/ca.crt --tls-cert=/etc/rstmesh/tls/tls.crt "
                        "--tls-key=/etc/rstmesh/tls/tls.key"),
              std::string::npos)
        << args;
    for (const auto& v : pod["volumes"]) {
      if (v["secret"]) {
        secret_of[doc["metadata"]["name"].as<std::string>()] =
            v["secret"]["secretName"].as<std::string>();
      }
    }
    EXPECT_EQ(args.find("--allow-shared-agent-certificate") != std::string::npos,
              kind == "Deployment")
        << args;
  }
  EXPECT_EQ(secret_of,
            (std::map<std::string, std::string>{{"rstmesh-controller", "rstmesh-controller-tls"},
                                                {"rstmesh-agent", "rstmesh-agent-tls"},
                                                {"rstmesh-audit", "rstmesh-operator-tls"}}));
}

// replicated: three controller replicas on a database whose DSN comes from a Secret, rolled
// one at a time, at most one disrupted; no volume. The single-replica base keeps Recreate
// and its volume.
TEST(DeployTest, ReplicatedComponentRunsThreeControllersOnTheDatabase) {
  std::string missing;
  const std::string kubectl = Kubectl(&missing);
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: " << missing;
  auto render = [&](const std::string& overlay) {
    auto rendered = RunProcess({kubectl, "kustomize", kSource + "/deploy/" + overlay});
    EXPECT_EQ(rendered.exit_code, 0) << rendered.err;
    std::map<std::string, YAML::Node> by_kind;
    for (const YAML::Node& doc : YAML::LoadAll(rendered.out)) {
      if (doc["metadata"]["name"].as<std::string>().rfind("rstmesh-controller", 0) == 0) {
        by_kind[doc["kind"].as<std::string>()] = doc;
      }
    }
    return by_kind;
  };
  auto base = render("base");
  EXPECT_EQ(base["Deployment"]["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(base["Deployment"]["spec"]["strategy"]["type"].as<std::string>(), "Recreate");
  EXPECT_TRUE(base.count("PersistentVolumeClaim"));
  auto replicated = render("overlays/replicated");
  const YAML::Node spec = replicated["Deployment"]["spec"];
  EXPECT_EQ(spec["replicas"].as<int>(), 3);
  EXPECT_EQ(spec["strategy"]["type"].as<std::string>(), "RollingUpdate");
  EXPECT_EQ(spec["strategy"]["rollingUpdate"]["maxUnavailable"].as<int>(), 1);
  EXPECT_FALSE(replicated.count("PersistentVolumeClaim"));
  ASSERT_TRUE(replicated.count("PodDisruptionBudget"));
  EXPECT_EQ(replicated["PodDisruptionBudget"]["spec"]["minAvailable"].as<int>(), 2);
  EXPECT_EQ(
      replicated["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
          .as<std::string>(),
      "rstmesh-controller");
  const YAML::Node pod = spec["template"]["spec"];
  std::string args;
  for (const auto& a : pod["containers"][0]["args"]) args += a.as<std::string>() + " ";
  EXPECT_NE(args.find("--store-file=/etc/rstmesh/store/dsn"), std::string::npos) << args;
  EXPECT_NE(args.find("--replicated"), std::string::npos) << args;
  EXPECT_EQ(args.find("--data-dir"), std::string::npos) << args;
  ASSERT_EQ(pod["volumes"].size(), 1u);
  EXPECT_EQ(pod["volumes"][0]["secret"]["secretName"].as<std::string>(), "rstmesh-store");
  EXPECT_EQ(pod["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>(),
            "metadata.name");
}

// The validator itself: the base's files as written are valid, and the mistakes a manifest
// edit makes are caught, each named by its path (no kubectl needed).
TEST(DeployTest, SchemaValidationCatchesTyposTypesAndMissingFields) {
  const std::string tmp = std::filesystem::temp_directory_path() / "rstmesh-validate-test";
  std::filesystem::create_directories(tmp);
  std::string base;
  for (const char* file :
       {"namespace.yaml", "controller.yaml", "agent.yaml", "audit.yaml", "network-policies.yaml"}) {
    std::ifstream in(kSource + "/deploy/base/" + file);
    std::stringstream text;
    text << in.rdbuf();
    base += "---\n" + text.str() + "\n";
  }
  auto valid = Validate(base, tmp);
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  EXPECT_NE(valid.out.find("13 objects valid"), std::string::npos) << valid.out;

  struct Mistake {
    std::function<void(YAML::Node)> edit;  // applied to the agent DaemonSet's container
    std::string expected;
  };
  const std::vector<Mistake> mistakes = {
      {[](YAML::Node c) { c["imagePullPolcy"] = "Always"; },
       "DaemonSet/rstmesh-agent: /spec/template/spec/containers/0/imagePullPolcy: unknown field "
       "\"imagePullPolcy\" in Container (did you mean \"imagePullPolicy\"?)"},
      {[](YAML::Node c) { c["readinessProbe"]["grpc"]["prot"] = 7404; },
       "/spec/template/spec/containers/0/readinessProbe/grpc/prot: unknown field \"prot\""},
      {[](YAML::Node c) { c["ports"][0]["containerPort"] = "data"; },
       "/spec/template/spec/containers/0/ports/0/containerPort: must be integer"},
      {[](YAML::Node c) { c["env"][0]["valueFrom"]["fieldRef"].remove("fieldPath"); },
       "/spec/template/spec/containers/0/env/0/valueFrom/fieldRef: must have required property "
       "fieldPath"},
      {[](YAML::Node c) { c.remove("name"); },
       "/spec/template/spec/containers/0: must have required property name"},
  };
  for (const Mistake& mistake : mistakes) {
    std::ifstream in(kSource + "/deploy/base/agent.yaml");
    YAML::Node agent;
    for (const YAML::Node& doc : YAML::LoadAll(in)) {
      if (doc["kind"].as<std::string>() == "DaemonSet") agent = doc;
    }
    ASSERT_TRUE(agent) << "agent.yaml has the DaemonSet";
    mistake.edit(agent["spec"]["template"]["spec"]["containers"][0]);
    YAML::Emitter out;
    out << agent;
    auto result = Validate(out.c_str(), tmp);
    EXPECT_EQ(result.exit_code, 1) << mistake.expected << "\n" << result.out << result.err;
    EXPECT_NE(result.out.find(mistake.expected), std::string::npos) << result.out;
  }
  std::filesystem::remove_all(tmp);
}

// The conventions the validator holds the manifests to, each shown to fail when the rendered
// base loses it: Pod Security "restricted" (and the components that need more lowering the
// namespace's level), ServiceAccounts without tokens, NetworkPolicies, the recommended
// labels, resources, appProtocol, and a PodDisruptionBudget that protects something.
TEST(DeployTest, ConventionsAreCheckedAndEachMissingOneFails) {
  std::string missing;
  const std::string kubectl = Kubectl(&missing);
  if (kubectl.empty()) GTEST_SKIP() << "deploy tests SKIPPED: " << missing;
  const std::string tmp = std::filesystem::temp_directory_path() / "rstmesh-conventions-test";
  std::filesystem::create_directories(tmp);
  auto rendered = RunProcess({kubectl, "kustomize", kSource + "/deploy/base"});
  ASSERT_EQ(rendered.exit_code, 0) << rendered.err;
  auto clean = Validate(rendered.out, tmp, true);
  ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;

  // Finds the object of `kind` and `name` among `docs`.
  auto find = [](std::vector<YAML::Node>& docs, const std::string& kind, const std::string& name) {
    for (YAML::Node& d : docs) {
      if (d["kind"].as<std::string>() == kind && d["metadata"]["name"].as<std::string>() == name) {
        return d;
      }
    }
    ADD_FAILURE() << "no " << kind << "/" << name;
    return YAML::Node();
  };
  struct Mistake {
    std::string what;
    std::function<void(std::vector<YAML::Node>&)> edit;
    std::string expected;
  };
  auto pod = [&](std::vector<YAML::Node>& docs, const char* kind, const char* name) {
    YAML::Node d = find(docs, kind, name);
    return std::string(kind) == "CronJob" ? d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                                          : d["spec"]["template"]["spec"];
  };
  const std::vector<Mistake> mistakes = {
      {"no seccomp profile",
       [&](auto& docs) {
         pod(docs, "Deployment", "rstmesh-controller")["securityContext"].remove("seccompProfile");
       },
       "Deployment/rstmesh-controller: /spec/template/spec/securityContext/seccompProfile: Pod "
       "Security \"restricted\" (namespace rstmesh): must be RuntimeDefault or Localhost"},
      {"a capability the namespace's level does not allow",
       [&](auto& docs) {
         pod(docs, "DaemonSet",
             "rstmesh-agent")["containers"][0]["securityContext"]["capabilities"]["add"]
             .push_back("NET_ADMIN");
       },
       "DaemonSet/rstmesh-agent: /spec/template/spec/containers/0/securityContext/capabilities/"
       "add: Pod Security \"restricted\" (namespace rstmesh): may not add NET_ADMIN"},
      {"the namespace enforces no level",
       [&](auto& docs) {
         find(docs, "Namespace", "rstmesh")["metadata"]["labels"].remove(
             "pod-security.kubernetes.io/enforce");
       },
       "Namespace/rstmesh: /metadata/labels/pod-security.kubernetes.io~1enforce: must name the "
       "Pod Security level"},
      {"a ServiceAccount that mounts its token",
       [&](auto& docs) {
         find(docs, "ServiceAccount", "rstmesh-agent").remove("automountServiceAccountToken");
       },
       "ServiceAccount/rstmesh-agent: /automountServiceAccountToken: must be false"},
      {"a pod on the default ServiceAccount",
       [&](auto& docs) { pod(docs, "CronJob", "rstmesh-audit").remove("serviceAccountName"); },
       "CronJob/rstmesh-audit: /spec/jobTemplate/spec/template/spec/serviceAccountName: pods must "
       "run under their own ServiceAccount"},
      {"no NetworkPolicy for the agents",
       [&](auto& docs) {
         docs.erase(std::remove_if(docs.begin(), docs.end(),
                                   [](const YAML::Node& d) {
                                     return d["kind"].as<std::string>() == "NetworkPolicy" &&
                                            d["metadata"]["name"].as<std::string>() !=
                                                "rstmesh-controller";
                                   }),
                    docs.end());
       },
       "DaemonSet/rstmesh-agent: /spec/template/metadata/labels: no NetworkPolicy selects these "
       "pods"},
      {"a recommended label missing",
       [&](auto& docs) {
         find(docs, "Service", "rstmesh-controller")["metadata"]["labels"].remove(
             "app.kubernetes.io/version");
       },
       "Service/rstmesh-controller: /metadata/labels: missing the recommended label(s) "
       "app.kubernetes.io/version"},
      {"a container without resources",
       [&](auto& docs) {
         pod(docs, "CronJob", "rstmesh-audit")["containers"][0].remove("resources");
       },
       "CronJob/rstmesh-audit: /spec/jobTemplate/spec/template/spec/containers/0/resources: no "
       "requests.cpu, requests.memory, limits.memory"},
      {"a Service port without appProtocol",
       [&](auto& docs) {
         find(docs, "Service", "rstmesh-controller")["spec"]["ports"][0].remove("appProtocol");
       },
       "Service/rstmesh-controller: /spec/ports/0/appProtocol: port grpc has none"},
      {"a PodDisruptionBudget on one replica",
       [&](auto& docs) {
         docs.push_back(YAML::Load(R"(
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: rstmesh-controller
  namespace: rstmesh
  labels: {app.kubernetes.io/name: rstmesh-controller, app.kubernetes.io/component: controller,
           app.kubernetes.io/part-of: rstmesh, app.kubernetes.io/version: 0.1.0,
           app.kubernetes.io/managed-by: kustomize}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: rstmesh-controller}}
)"));
       },
       "PodDisruptionBudget/rstmesh-controller: /spec: protects nothing: "
       "Deployment/rstmesh-controller has 1 replica"},
  };
  for (const Mistake& mistake : mistakes) {
    SCOPED_TRACE(mistake.what);
    std::vector<YAML::Node> docs = YAML::LoadAll(rendered.out);
    mistake.edit(docs);
    std::string text;
    for (const YAML::Node& d : docs) {
      YAML::Emitter out;
      out << d;
      text += std::string("---\n") + out.c_str() + "\n";
    }
    auto result = Validate(text, tmp, true);
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_NE(result.out.find(mistake.expected), std::string::npos) << result.out;
  }
  std::filesystem::remove_all(tmp);
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
