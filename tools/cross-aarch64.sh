#!/usr/bin/env bash
# Cross-builds the kernels crate (tern-kernels) for aarch64-unknown-linux-gnu and runs
# its test suite under QEMU user-mode emulation, once per emulated CPU model, so that
# both NEON paths are exercised:
#
#   max         every extension QEMU emulates, `dotprod` included: Neon and NeonDot run
#   cortex-a72  Armv8.0 NEON without `dotprod`: Neon runs, NeonDot is skipped (noted)
#
# Debian bookworm (x86-64 host), as root or with sudo. Uses Debian's Rust (rustc-web,
# cargo-web: its arm64 standard library is a package, libstd-rust-web-dev:arm64), not
# rustup's, which cannot add targets without network access to static.rust-lang.org.
#
# Usage: tools/cross-aarch64.sh [--no-install | --install-only] [--clippy] [-- <cargo test args>]
#   --no-install    skip the package check / installation
#   --install-only  only check / install the packages
#   --clippy      also run clippy (rust-web-clippy) on the aarch64 build, -D warnings
#   QEMU_CPUS     CPU models to run, default "max cortex-a72"
#   CARGO_TARGET_DIR  default: target/cross-aarch64 (inside the ignored target/)
#
# QEMU timings are emulation timings: they say nothing about NEON performance.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
install=1
install_only=0
clippy=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-install) install=0 ;;
        --install-only) install_only=1 ;;
        --clippy) clippy=1 ;;
        --) shift; break ;;
        *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
[[ $clippy == 1 ]] && packages+=(rust-web-clippy)

sudo=""
[[ $(id -u) != 0 ]] && sudo="sudo"

if [[ $install == 1 ]]; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "installing: ${missing[*]}"
        dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
    fi
fi

[[ $install_only == 1 ]] && exit 0

# Debian's toolchain, whatever comes first on PATH (rustup's proxies usually do).
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
cargo=/usr/bin/cargo
sysroot="$($RUSTC --print sysroot)"
if [[ ! -d "$sysroot/lib/rustlib/aarch64-unknown-linux-gnu" ]]; then
    echo "$RUSTC ($($RUSTC --version)) has no aarch64-unknown-linux-gnu standard library;" \
        "install libstd-rust-web-dev:arm64 of the same version as rustc-web" >&2
    exit 1
fi
echo "toolchain: $($RUSTC --version), $($cargo --version)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/cross-aarch64}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
cd "$repo"

if [[ $clippy == 1 ]]; then
    # cargo finds `cargo-clippy` on PATH: Debian's, not rustup's proxy.
    PATH="/usr/bin:$PATH" $cargo clippy -p tern-kernels --target aarch64-unknown-linux-gnu --all-targets \
        -- -D warnings
fi

# No `-L /usr/aarch64-linux-gnu`: the binaries load the arm64 multiarch glibc
# (/lib/aarch64-linux-gnu, pulled in by libstd-rust-web-dev:arm64) with its own loader,
# /lib/ld-linux-aarch64.so.1. With `-L`, QEMU takes the loader from the cross sysroot
# (libc6-arm64-cross) but the loader still searches /lib/aarch64-linux-gnu, which exists
# only on the host, so it pairs with the libc.so.6 of another glibc build; the first
# thread spawn then spins forever (libtest hangs after "running N tests").
for cpu in ${QEMU_CPUS:-max cortex-a72}; do
    echo "=== tern-kernels tests under qemu-aarch64 -cpu $cpu"
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -cpu $cpu" \
        $cargo test -p tern-kernels --target aarch64-unknown-linux-gnu "$@"
done
