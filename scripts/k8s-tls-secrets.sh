#!/usr/bin/env bash
# Prints the Kubernetes Secrets the mtls overlay mounts, from certificates made by
# scripts/make-certs.sh (or any CA's files named the same way):
#   rstmesh-controller-tls  DIR/controller.pem, controller.key
#   rstmesh-agent-tls       DIR/agent-shared.pem, agent-shared.key   (CN agent:*)
#   rstmesh-operator-tls    DIR/operator-NAME.pem, operator-NAME.key (CN operator:NAME)
# each with ca.crt (DIR/ca.pem), tls.crt and tls.key, type kubernetes.io/tls: the layout
# cert-manager writes too. Apply with: scripts/k8s-tls-secrets.sh DIR | kubectl apply -f -
set -euo pipefail

usage() {
  echo "usage: $0 DIR [--operator NAME] [--namespace NS]" >&2
  echo "  (make DIR with: scripts/make-certs.sh DIR --shared-agent --operators NAME)" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
dir=$1
shift
operator=audit namespace=rstmesh
while [[ $# -gt 0 ]]; do
  case $1 in
    --operator) operator=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    *) usage ;;
  esac
done

for f in ca.pem controller.pem controller.key agent-shared.pem agent-shared.key \
  "operator-$operator.pem" "operator-$operator.key"; do
  if [[ ! -r $dir/$f ]]; then
    echo "$0: $dir/$f is missing or unreadable (scripts/make-certs.sh $dir --shared-agent --operators $operator makes it)" >&2
    exit 1
  fi
done

# secret NAME CERT_BASENAME
secret() {
  cat <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: $1
  namespace: $namespace
  labels:
    app.kubernetes.io/part-of: rstmesh
type: kubernetes.io/tls
data:
  ca.crt: $(base64 -w0 "$dir/ca.pem")
  tls.crt: $(base64 -w0 "$dir/$2.pem")
  tls.key: $(base64 -w0 "$dir/$2.key")
YAML
}
secret rstmesh-controller-tls controller
secret rstmesh-agent-tls agent-shared
secret rstmesh-operator-tls "operator-$operator"
