#!/usr/bin/env bash
# Install the toolchains used by the peer-client interop tests
# (tests/interop/peers: Node grpc-js, Go grpc, buf, browser, nghttp2).
#
# Usage:
#   sudo .ci/install-peers.sh              # fresh Debian 12 (bookworm) machine / CI, as root
#   .ci/install-peers.sh --local-go        # no root: install nothing system-wide
#
# It never removes a system package. As root it apt-installs BASE_PKGS (with --no-remove,
# so apt aborts rather than remove anything); in both modes the Go APIv2 protobuf stack
# is unpacked (apt-get download + dpkg-deb -x) into tests/interop/peers/.debroot, where
# tests/interop/peers/peers.py looks for it first (override with CELLO_PEERS_DEBROOT).
#
# Idempotent: re-running only re-checks (apt-get install of installed packages is a
# no-op, npm ci reinstalls node_modules from package-lock.json, the .debroot is
# refreshed only when a package version changed).
#
# Why not install the APIv2 set system-wide: protoc-gen-go (APIv2, v1.28) and
# golang-github-golang-protobuf-1-5-dev conflict with golang-goprotobuf-dev /
# golang-github-golang-protobuf-1-3-dev (the old APIv1 generator that needs plugins=grpc),
# so apt would remove those if the machine has them. protoc-gen-go-grpc emits code for the
# APIv2 runtime (google.golang.org/protobuf, package golang-google-protobuf-dev, which
# also provides types/known/{timestamppb,structpb,emptypb,durationpb}); unpacked locally
# it comes first on PATH and GOPATH and the system packages stay as they were.
#
# Env: APT_GET (default apt-get; "apt-get -s" for a dry run), SKIP_NPM=1.
set -Eeuo pipefail
trap 'echo "install-peers.sh: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$REPO/tests/interop/peers"
DEBROOT="${CELLO_PEERS_DEBROOT:-$PEERS/.debroot}"
APT_GET="${APT_GET:-apt-get}"
export DEBIAN_FRONTEND=noninteractive

# Always from the system (no conflicts).
BASE_PKGS=(protobuf-compiler libprotobuf-dev golang-go golang-google-grpc-dev
           chromium nghttp2-client nginx ca-certificates curl prometheus)
# The Go APIv2 protobuf codegen/runtime stack (conflicts with golang-goprotobuf-dev).
GO_V2_PKGS=(protoc-gen-go protoc-gen-go-grpc golang-google-protobuf-dev
            golang-github-golang-protobuf-1-5-dev)

die() { echo "install-peers.sh: $*" >&2; exit 1; }

mode=root
case "${1:-}" in
  "") ;;
  --local-go) mode=local ;;
  -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
  *) die "unknown argument: $1" ;;
esac

if [[ $mode == root ]]; then
  [[ $(id -u) == 0 || $APT_GET == *-s* ]] || die "run as root (or use --local-go)"
  echo "install-peers.sh: apt-get install ${BASE_PKGS[*]} (removes nothing)"
  if [[ $APT_GET == *-s* ]]; then echo "(dry run: skipping apt-get update)"; else $APT_GET update -qq; fi
  pkgs=("${BASE_PKGS[@]}")
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
  $APT_GET install -y -qq --no-install-recommends --no-remove "${pkgs[@]}"
  [[ $APT_GET == *-s* ]] && { echo "install-peers.sh: dry run, stopping here"; exit 0; }
else
  for tool in protoc go; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install ${BASE_PKGS[*]}"
  done
  [[ -d /usr/share/gocode/src/google.golang.org/grpc ]] ||
    die "golang-google-grpc-dev missing: apt-get install golang-google-grpc-dev"
fi

stamp="$DEBROOT/.versions"
want="$(apt-cache policy "${GO_V2_PKGS[@]}" | awk '/^[^ ]/{p=$1} /Candidate:/{print p, $2}')"
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "install-peers.sh: $DEBROOT up to date"
else
  echo "install-peers.sh: unpacking ${GO_V2_PKGS[*]} into $DEBROOT"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  [[ $(id -u) == 0 ]] && chmod 777 "$tmp"  # as root, apt downloads as the _apt user
  (cd "$tmp" && apt-get download -qq "${GO_V2_PKGS[@]}")
  rm -rf "$DEBROOT"
  mkdir -p "$DEBROOT"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$DEBROOT"; done
  echo "$want" > "$stamp"
fi

if [[ ${SKIP_NPM:-0} != 1 ]]; then
  command -v npm >/dev/null || die "npm missing"
  echo "install-peers.sh: npm ci in tests/interop/peers"
  (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)
fi

# ---- verify (fails loudly if anything is missing) ---------------------------------
PATH="$DEBROOT/usr/bin:$PATH"
echo "--- peer toolchain ---"
protoc --version
go version
# (no `| grep -q` here: under pipefail an early grep exit can SIGPIPE the writer)
[[ "$(protoc-gen-go --version 2>&1)" == *"protoc-gen-go v1."* ]] ||
  die "protoc-gen-go on PATH is not the APIv2 generator: $(command -v protoc-gen-go)"
protoc-gen-go --version
protoc-gen-go-grpc --version
for pkg in google.golang.org/grpc google.golang.org/protobuf/types/known/timestamppb \
           google.golang.org/protobuf/types/known/structpb github.com/golang/protobuf/proto; do
  [[ -d $DEBROOT/usr/share/gocode/src/$pkg || -d /usr/share/gocode/src/$pkg ]] ||
    die "Go package $pkg not found"
done
node --version
if [[ ${SKIP_NPM:-0} != 1 ]]; then
  "$PEERS/node_modules/.bin/buf" --version
  node -e "require('$PEERS/node_modules/@grpc/grpc-js'); require('$PEERS/node_modules/@grpc/proto-loader')"
fi
command -v chromium >/dev/null || die "chromium missing"
command -v nghttp >/dev/null || die "nghttp (nghttp2-client) missing"
command -v h2load >/dev/null || die "h2load (nghttp2-client) missing"
command -v nginx >/dev/null || die "nginx missing"
echo "install-peers.sh: OK ($mode mode)"
