#!/usr/bin/env bash
# Line coverage of the whole workspace with cargo-llvm-cov (installed here if missing).
# The end-to-end tests spawn the real binary; its coverage is collected too.
#
# rustup's llvm-tools component is not reachable from every machine, so this uses the
# Debian package of the LLVM that matches rustc's when the component is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
if ! rustup component list --installed 2>/dev/null | grep -q llvm-tools; then
    if [ ! -x "/usr/lib/llvm-$llvm_major/bin/llvm-cov" ]; then
        echo "==> installing llvm-$llvm_major (llvm-cov, llvm-profdata)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "llvm-$llvm_major" >/dev/null
    fi
    export LLVM_COV="/usr/lib/llvm-$llvm_major/bin/llvm-cov"
    export LLVM_PROFDATA="/usr/lib/llvm-$llvm_major/bin/llvm-profdata"
fi
if ! cargo llvm-cov --version >/dev/null 2>&1; then
    echo "==> installing cargo-llvm-cov"
    cargo install cargo-llvm-cov --locked
fi
cargo llvm-cov --workspace --locked --summary-only "$@"
