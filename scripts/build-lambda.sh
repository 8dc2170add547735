#!/usr/bin/env bash
# Builds the rotation Lambda (lambdas/rotation) for AWS Lambda's provided.al2023 runtime on
# arm64 and zips it as Lambda expects (an executable named `bootstrap` at the root).
#   scripts/build-lambda.sh [OUT.zip]        default: target/lambda/rotation.zip
# Needs the aarch64 Rust target and a cross C toolchain (aws-lc builds C); installs both if
# missing (rustup, Debian's gcc-aarch64-linux-gnu). The binary needs glibc <= 2.34, which
# AL2023 has; the script checks that.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/lambda/rotation.zip}
target=aarch64-unknown-linux-gnu

rustup target list --installed | grep -qx "$target" || rustup target add "$target"
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build --release --locked -p s9-rotation-lambda --target "$target"

bin="target/$target/release/bootstrap"
newest=$(aarch64-linux-gnu-objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -t. -k2,2n -k3,3n -u | tail -1)
case "$newest" in
    GLIBC_2.[0-9] | GLIBC_2.[12][0-9] | GLIBC_2.3[0-4]) ;;
    *) echo "bootstrap needs $newest; provided.al2023 has glibc 2.34" >&2; exit 1 ;;
esac
mkdir -p "$(dirname "$out")"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/bootstrap"
rm -f "$out"
(cd "$stage" && zip -q -X rotation.zip bootstrap)
mv "$stage/rotation.zip" "$out"
echo "$out: $(du -h "$out" | cut -f1), arm64, needs $newest"
