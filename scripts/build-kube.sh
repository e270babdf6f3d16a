#!/usr/bin/env bash
# Builds, once, the binaries of the local control plane and caches them outside the repository,
# keyed by version: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kubelet
# (from k8s.io/kubernetes through hack/kube), etcd, kwok and helm; for the real node also
# kube-proxy (hack/kube too), CoreDNS, containerd (with its runc shim and ctr), crictl, crane
# (images without Docker) and prepull's own static prepull-sleep. A warm cache builds nothing.
# Prints the bin directory on the last line of stdout.
#
#   scripts/build-kube.sh              every binary
#   scripts/build-kube.sh --only helm  that one binary (the unit tests need helm only)
set -euo pipefail

ONLY=""
case "${1:-}" in
  "") ;;
  --only) ONLY="${2:?--only needs a binary name, e.g. --only helm}" ;;
  --only=*) ONLY="${1#--only=}" ;;
  *) printf 'build-kube: unknown argument %s (usage: build-kube.sh [--only NAME])\n' "$1" >&2; exit 2 ;;
esac

# Versions: the single place they are set.
KUBE_VERSION="v1.37.2" # keep in step with hack/kube/go.mod
ETCD_VERSION="v3.6.16" # keep in step with hack/etcd/go.mod
KWOK_VERSION="v0.8.0"
HELM_VERSION="v3.22.0"
# The real node's parts live in the same directory; each records its version in <name>.version,
# so bumping one rebuilds only that one.
CONTAINERD_VERSION="v2.4.2"
CRICTL_VERSION="v1.37.0"
CRANE_VERSION="v0.22.1"
COREDNS_VERSION="v1.15.0" # the real node's cluster DNS (issue 16)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${PREPULL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/prepull}"
BIN="$CACHE/bin/kube-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
START=$SECONDS

log() { printf '[build-kube +%4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf 'build-kube: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH; install Go 1.26 or newer (https://go.dev/doc/install) and retry."

mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:-} -trimpath"
export CGO_ENABLED=0

# With --only, every other binary is left alone.
wanted() { [[ -z "$ONLY" || "$1" == "$ONLY" ]]; }

build() { # name, then the command that produces $BIN/name
  local name="$1"; shift
  wanted "$name" || return 0
  if [[ -x "$BIN/$name" ]]; then
    log "$name: cached"
    return
  fi
  local t=$SECONDS
  log "$name: building (a cold build on 2 cores takes minutes; progress is per binary)"
  if ! "$@"; then die "building $name failed (see the Go output above)"; fi
  [[ -x "$BIN/$name" ]] || die "building $name produced no binary at $BIN/$name"
  log "$name: built in $((SECONDS - t))s"
}

kube_ldflags() {
  local v="${KUBE_VERSION#v}" pkg
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=${v%%.*}"
    flags+=" -X $pkg.gitMinor=$(echo "$v" | cut -d. -f2) -X $pkg.gitTreeState=clean"
    flags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

build_kube() {
  (cd "$ROOT/hack/kube" && go build -ldflags "$(kube_ldflags)" -o "$BIN/$1" "k8s.io/kubernetes/cmd/$1")
}

# Marks a binary built at a version (see versioned below).
stamp() { echo "$2" > "$BIN/$1.version"; }
versioned() { # name, version, then the command that produces $BIN/name
  local name="$1" version="$2"; shift 2
  wanted "$name" || return 0
  if [[ -x "$BIN/$name" && "$(cat "$BIN/$name.version" 2>/dev/null)" != "$version" ]]; then
    rm -f "$BIN/$name"
  fi
  build "$name" "$@"
  stamp "$name" "$version"
}

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$cmd" build_kube "$cmd"
done
build_etcd() {
  # etcd's go.mod has replace directives, so `go install …@version` refuses it; hack/etcd wraps it.
  (cd "$ROOT/hack/etcd" && go build -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}
build etcd build_etcd
build kwok env GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
build helm env GOBIN="$BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
# kwokctl (issue 14 item 7): kwok's own cluster runner, from the same kwok release; versioned so a
# warm cache builds only this one.
versioned kwokctl "$KWOK_VERSION" env GOBIN="$BIN" go install "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"

# The real node (scripts/cluster/real-node/). The kubelet comes from the same wrapper module as
# the control plane. containerd without cgo: the btrfs/zfs/devmapper snapshotters need C
# libraries and the node uses overlayfs.
versioned kubelet "$KUBE_VERSION" build_kube kubelet
# Service routing and cluster DNS on the real node (issue 16): kube-proxy from the same wrapper
# module as the kubelet, and CoreDNS answering for cluster.local.
versioned kube-proxy "$KUBE_VERSION" build_kube kube-proxy
# CoreDNS's go.mod has no replace directives, so `go install` builds it as released.
versioned coredns "$COREDNS_VERSION" env GOBIN="$BIN" go install -ldflags "-s -w" \
  "github.com/coredns/coredns@$COREDNS_VERSION"
CONTAINERD_TAGS="no_btrfs no_zfs no_devmapper"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  versioned "$cmd" "$CONTAINERD_VERSION" env GOBIN="$BIN" go install -tags "$CONTAINERD_TAGS" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/$cmd@$CONTAINERD_VERSION"
done
versioned crictl "$CRICTL_VERSION" env GOBIN="$BIN" go install -ldflags "-s -w" \
  "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
versioned crane "$CRANE_VERSION" env GOBIN="$BIN" go install -ldflags "-s -w" \
  "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
# prepull's own sleeper, built from this checkout: the real node's pause image and the pre-pull
# DaemonSets' init container both run it. Rebuilt when its source changes.
SLEEP_HASH="$(cat "$ROOT/cmd/prepull-sleep/go.mod" "$ROOT/cmd/prepull-sleep/main.go" | sha256sum | cut -c1-16)"
build_sleeper() { (cd "$ROOT/cmd/prepull-sleep" && go build -ldflags "-s -w" -o "$BIN/prepull-sleep" .); }
versioned prepull-sleep "$SLEEP_HASH" build_sleeper
# The image's sleeper, cross-compiled for each platform the image is built for (scripts/image).
build_sleeper_for() { (cd "$ROOT/cmd/prepull-sleep" && GOOS=linux GOARCH="$1" go build -ldflags "-s -w" -o "$BIN/prepull-sleep-linux-$1" .); }
for arch in amd64 arm64; do
  versioned "prepull-sleep-linux-$arch" "$SLEEP_HASH" build_sleeper_for "$arch"
done

if [[ -n "$ONLY" ]]; then
  [[ -x "$BIN/$ONLY" ]] || die "no binary named $ONLY is built here (see the build lines above for the names)"
  log "$ONLY ready in $BIN"
else
  log "all binaries ready in $BIN"
fi
echo "$BIN"
