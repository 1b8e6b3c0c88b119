#!/usr/bin/env bash
# Installs the Debian 12 packages rstmesh builds and tests with, and the npm packages of the
# manifest validator (deploy/validate, from its package-lock.json). Idempotent: when
# everything is already present it prints nothing and touches nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libboost-dev libboost-system-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  libgtest-dev libgmock-dev
  libcli11-dev
  libsqlite3-dev libyaml-cpp-dev
  libssl-dev openssl
  clang libclang-rt-14-dev
  iproute2 nftables
  # Packet evidence: the agents capture the packets that end a test with libpcap; tests
  # read the pcap files back with tcpdump.
  libpcap-dev tcpdump
  # Headless Chromium loads the HTML report in a test (the page as a browser renders it).
  chromium
  # The shipped alerts are checked with promtool, and a Prometheus server scrapes a real
  # controller during a run in a test (deploy/monitoring).
  prometheus
  # The PostgreSQL store (controllers sharing a database): libpq to build with, and a real
  # PostgreSQL 15 server that the tests start in a temporary directory.
  libpq-dev postgresql-15
)
# Node.js runs the manifest validator; the machine's own node is used where there is one.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or install them with apt-get) and try again" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Node.js tools' packages, exactly as locked; again only when a lock changed: the
# manifest validator, and the independent gRPC reflection client the tests use.
for tool in deploy/validate tests/reflection; do
  if [ ! -f $tool/node_modules/.package-lock.json ] ||
    [ $tool/package-lock.json -nt $tool/node_modules/.package-lock.json ]; then
    echo "install-deps: installing the npm packages of $tool"
    npm ci --prefix $tool --no-audit --no-fund --loglevel=error >/dev/null
  fi
done

# Rendering the manifests needs kubectl >= 1.21 (kustomize v4+, for `patches:`). Debian 12
# has only kubernetes-client 1.20, so it is not installed from here; without it the deploy
# tests that render say SKIPPED.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-deps: kubectl (>= 1.21) is not installed: the tests will not render the" \
    "overlays (deploy tests SKIPPED); the schema checks of deploy/base still run" >&2
fi
