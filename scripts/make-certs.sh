#!/usr/bin/env bash
# Makes the certificates rstmesh's mutual TLS needs, with openssl (EC P-256):
#   DIR/ca.pem, ca.key                 the CA (reused when DIR already has one)
#   DIR/controller.pem, controller.key CN rstmesh-controller, names in --controller-names
#   DIR/agent-ID.pem, agent-ID.key     CN agent:ID       (one per --agents id)
#   DIR/agent-shared.pem, .key         CN agent:*        (--shared-agent: one certificate
#                                      for every agent; the controller accepts it only with
#                                      --allow-shared-agent-certificate)
#   DIR/operator-N.pem, operator-N.key CN operator:N     (one per --operators name)
# --days applies to the certificates made now (a negative value makes expired ones, for
# tests). For production, issue the same subjects from your own CA (e.g. cert-manager).
set -euo pipefail

usage() {
  echo "usage: $0 DIR [--agents id,...] [--operators name,...] [--shared-agent] [--controller-names n,...] [--days N]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
dir=$1
shift
agents="" operators="" days=365 shared=0
names="localhost,127.0.0.1,::1,rstmesh-controller,rstmesh-controller.rstmesh,rstmesh-controller.rstmesh.svc,rstmesh-controller.rstmesh.svc.cluster.local"
while [[ $# -gt 0 ]]; do
  case $1 in
    --agents) agents=$2; shift 2 ;;
    --operators) operators=$2; shift 2 ;;
    --shared-agent) shared=1; shift ;;
    --controller-names) names="$names,$2"; shift 2 ;;
    --days) days=$2; shift 2 ;;
    *) usage ;;
  esac
done
mkdir -p "$dir"
cd "$dir"
umask 077

if [[ ! -f ca.pem ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj "/CN=rstmesh test CA" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
fi

# issue NAME CN USAGE [SANS]
issue() {
  local name=$1 cn=$2 usage=$3 sans=${4:-}
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
    -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$name.pem" \
    -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

if [[ ! -f controller.pem ]]; then
  sans=""
  IFS=, read -ra list <<<"$names"
  for n in "${list[@]}"; do
    [[ -z $n ]] && continue
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then sans+="${sans:+,}IP:$n"; else sans+="${sans:+,}DNS:$n"; fi
  done
  issue controller rstmesh-controller serverAuth "$sans"
fi
IFS=, read -ra list <<<"$agents"
for id in "${list[@]}"; do [[ -n $id ]] && issue "agent-$id" "agent:$id" clientAuth; done
[[ $shared == 1 ]] && issue agent-shared 'agent:*' clientAuth
IFS=, read -ra list <<<"$operators"
for n in "${list[@]}"; do [[ -n $n ]] && issue "operator-$n" "operator:$n" clientAuth; done
echo "certificates in $dir"
