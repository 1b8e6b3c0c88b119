#include "security/tls.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rstmesh {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read '", path, "': ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is not a PEM file"));
  }
  return text.str();
}

struct Pems {
  std::string ca, cert, key;
};

// After CheckTls.
absl::StatusOr<Pems> ReadAll(const TlsOptions& tls) {
  Pems pems;
  for (auto [path, flag, out] : {std::tuple{&tls.ca_file, "--tls-ca", &pems.ca},
                                 std::tuple{&tls.cert_file, "--tls-cert", &pems.cert},
                                 std::tuple{&tls.key_file, "--tls-key", &pems.key}}) {
    absl::StatusOr<std::string> pem = ReadPem(*path, flag);
    if (!pem.ok()) return pem.status();
    *out = std::move(*pem);
  }
  return pems;
}

}  // namespace

void AddTlsFlags(CLI::App& app, TlsOptions& tls, TlsRole role) {
  const std::string group = "TLS (or --insecure)";
  app.add_option("--tls-ca", tls.ca_file, "CA certificate (PEM) that signs every peer")
      ->group(group);
  app.add_option("--tls-cert", tls.cert_file, "This process's certificate (PEM)")->group(group);
  app.add_option("--tls-key", tls.key_file, "This process's private key (PEM)")->group(group);
  if (role == TlsRole::kClient) {
    app.add_option("--tls-server-name", tls.server_name,
                   "Name to verify in the controller's certificate (default: the host dialled)")
        ->group(group);
  }
  app.add_flag("--insecure", tls.insecure,
               "Plaintext gRPC without certificates: for local use only")
      ->group(group);
}

void TlsFromEnvironment(TlsOptions& tls) {
  for (auto [name, field] :
       {std::pair{"RSTMESH_TLS_CA", &tls.ca_file}, std::pair{"RSTMESH_TLS_CERT", &tls.cert_file},
        std::pair{"RSTMESH_TLS_KEY", &tls.key_file}}) {
    if (field->empty()) {
      if (const char* value = std::getenv(name)) *field = value;
    }
  }
}

absl::Status CheckTls(const TlsOptions& tls) {
  const bool any = !tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty();
  if (tls.insecure && any) {
    return absl::InvalidArgumentError("--insecure: cannot be combined with --tls-* files");
  }
  if (tls.insecure) return absl::OkStatus();
  if (!any) {
    return absl::InvalidArgumentError(
        "--tls-ca, --tls-cert and --tls-key are required (mutual TLS); --insecure runs "
        "plaintext for local use");
  }
  for (auto [path, flag] :
       {std::pair{&tls.ca_file, "--tls-ca"}, std::pair{&tls.cert_file, "--tls-cert"},
        std::pair{&tls.key_file, "--tls-key"}}) {
    if (path->empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": required with TLS"));
    std::ifstream in(*path);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": cannot read '", *path, "': ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsOptions& tls) {
  if (absl::Status s = CheckTls(tls); !s.ok()) return s;
  if (tls.insecure) return grpc::InsecureServerCredentials();
  absl::StatusOr<Pems> pems = ReadAll(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = pems->ca;
  options.pem_key_cert_pairs.push_back({pems->key, pems->cert});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const TlsOptions& tls) {
  if (absl::Status s = CheckTls(tls); !s.ok()) return s;
  if (tls.insecure) return grpc::InsecureChannelCredentials();
  absl::StatusOr<Pems> pems = ReadAll(tls);
  if (!pems.ok()) return pems.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pems->ca;
  options.pem_private_key = pems->key;
  options.pem_cert_chain = pems->cert;
  return grpc::SslCredentials(options);
}

grpc::ChannelArguments TlsChannelArguments(const TlsOptions& tls, grpc::ChannelArguments args) {
  if (!tls.insecure && !tls.server_name.empty()) {
    args.SetSslTargetNameOverride(tls.server_name);
  }
  return args;
}

std::string PeerIdentity::Describe() const {
  switch (role) {
    case Role::kNone:
      return "a caller without a certificate";
    case Role::kAgent:
      return absl::StrCat("agent certificate 'agent:", name, "'");
    case Role::kOperator:
      return absl::StrCat("operator certificate 'operator:", name, "'");
    case Role::kOther:
      return absl::StrCat("certificate '", name, "'");
  }
  return "?";
}

PeerIdentity IdentityOf(const grpc::ServerContextBase& context) {
  PeerIdentity id;
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return id;
  std::vector<grpc::string_ref> names = auth->FindPropertyValues("x509_common_name");
  if (names.empty()) return id;
  const std::string cn(names.front().data(), names.front().size());
  id.role = PeerIdentity::Role::kOther;
  id.name = cn;
  if (absl::StartsWith(cn, "agent:") && cn.size() > 6) {
    id.role = PeerIdentity::Role::kAgent;
    id.name = cn.substr(6);
  } else if (absl::StartsWith(cn, "operator:") && cn.size() > 9) {
    id.role = PeerIdentity::Role::kOperator;
    id.name = cn.substr(9);
  }
  return id;
}

grpc::Status PeerPolicy::RequireOperator(const grpc::ServerContextBase& context) const {
  if (!tls_) return grpc::Status::OK;
  PeerIdentity id = IdentityOf(context);
  if (id.role == PeerIdentity::Role::kOperator) return grpc::Status::OK;
  return {grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("Control needs an operator certificate (CN operator:<name>); the caller "
                       "holds ",
                       id.Describe())};
}

grpc::Status PeerPolicy::RequireAgent(const grpc::ServerContextBase& context,
                                      const std::string& agent_id) const {
  if (!tls_) return grpc::Status::OK;
  PeerIdentity id = IdentityOf(context);
  if (id.role == PeerIdentity::Role::kAgent && id.name == agent_id) return grpc::Status::OK;
  if (id.role == PeerIdentity::Role::kAgent && id.name == kSharedAgentId) {
    if (allow_shared_agent_) return grpc::Status::OK;
    return {grpc::StatusCode::PERMISSION_DENIED,
            absl::StrCat("agent '", agent_id,
                         "' holds the shared agent certificate 'agent:*', which this controller "
                         "accepts only with --allow-shared-agent-certificate")};
  }
  return {grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("agent '", agent_id, "' must present the certificate 'agent:", agent_id,
                       "'; the caller holds ", id.Describe())};
}

}  // namespace rstmesh
