// Mutual TLS between agents, controller and rstmeshctl, and the identities in certificates.
//
// Every process takes --tls-ca, --tls-cert and --tls-key (PEM files), or --insecure for
// plaintext (local use only); one of the two is required. A certificate's Common Name says
// who holds it:
//   agent:<agent id>      an agent; it may only register under that id (AgentHub)
//   agent:*               a certificate shared by a fleet of agents (one Kubernetes Secret
//                         for a DaemonSet): registers under any agent id, but only where the
//                         controller runs with --allow-shared-agent-certificate
//   operator:<name>       an operator; only operators may call the Control service
//   anything else         a server (the controller's own certificate), never a caller
// Clients verify the controller's certificate against the CA and the name they dial (or
// --tls-server-name when dialling an address the certificate does not name).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace rstmesh {

struct TlsOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;  // clients: the name to expect in the controller's certificate
  bool insecure = false;
};

// Plaintext: what in-process controllers and agents (tests, the demo) use by default.
inline TlsOptions PlaintextTls() {
  TlsOptions tls;
  tls.insecure = true;
  return tls;
}

enum class TlsRole { kServer, kClient };

// Adds the flags above to `app`. Clients also get --tls-server-name.
void AddTlsFlags(CLI::App& app, TlsOptions& tls, TlsRole role);
// Fills unset files from RSTMESH_TLS_CA, RSTMESH_TLS_CERT and RSTMESH_TLS_KEY.
void TlsFromEnvironment(TlsOptions& tls);

// kInvalidArgument naming the flag: neither mode, both, a missing file, an unreadable one.
absl::Status CheckTls(const TlsOptions& tls);

// Server: requires and verifies a client certificate under the CA. nullptr-free on success;
// InsecureServerCredentials with --insecure.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const TlsOptions& tls);
// Client: presents its certificate and verifies the server's.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsOptions& tls);
// Channel arguments the credentials need (the name to verify), on top of `args`.
grpc::ChannelArguments TlsChannelArguments(const TlsOptions& tls, grpc::ChannelArguments args = {});

// The agent id a shared agent certificate names (CN agent:*).
inline constexpr char kSharedAgentId[] = "*";

// The caller as its certificate names it.
struct PeerIdentity {
  enum class Role { kNone, kAgent, kOperator, kOther };
  Role role = Role::kNone;  // kNone: no certificate (plaintext)
  std::string name;         // the agent id or operator name; the whole CN for kOther
  std::string Describe() const;
};
PeerIdentity IdentityOf(const grpc::ServerContextBase& context);

// What the services demand of a caller. With `tls` false (the controller runs --insecure)
// everyone may do everything.
class PeerPolicy {
 public:
  explicit PeerPolicy(bool tls, bool allow_shared_agent = false)
      : tls_(tls), allow_shared_agent_(allow_shared_agent) {}
  bool tls() const { return tls_; }
  // PERMISSION_DENIED unless the caller holds an operator certificate.
  grpc::Status RequireOperator(const grpc::ServerContextBase& context) const;
  // PERMISSION_DENIED unless the caller holds the certificate of agent `agent_id`, or the
  // shared agent certificate where that is allowed.
  grpc::Status RequireAgent(const grpc::ServerContextBase& context,
                            const std::string& agent_id) const;

 private:
  bool tls_;
  bool allow_shared_agent_;
};

}  // namespace rstmesh
