#!/usr/bin/env bash
# Writes the release version, whose one home is VERSION in the Makefile, everywhere a
# file must spell it out: the chart's version and appVersion, the kustomize image tag,
# the operator's default (main.go, for builds without the Makefile's -ldflags) and the
# Dockerfile's ARG defaults. make manifests runs it; make verify fails on drift.
#
# Usage: hack/sync-version.sh v1.2.3
set -euo pipefail
version="${1:?usage: hack/sync-version.sh vX.Y.Z}"
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || {
  echo "sync-version: '$version' is not a version like v1.2.3" >&2
  exit 2
}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sed -i -E "s/^version: .*/version: ${version#v}/; s/^appVersion: .*/appVersion: \"$version\"/" "$ROOT/charts/poet-operator/Chart.yaml"
sed -i -E "s/^(    newTag: ).*/\1$version/" "$ROOT/config/manager/kustomization.yaml"
sed -i -E "s/^var version = \".*\"$/var version = \"$version\"/" "$ROOT/main.go"
sed -i -E "s/^ARG VERSION=.*/ARG VERSION=$version/" "$ROOT/Dockerfile"
