#!/usr/bin/env bash
# Installs the tools that validate the deployment offline (validate.sh beside
# this file), all under one tools folder outside the clone:
#
#   $OVOM_TOOLS/venv            aws-sam-cli, cfn-lint, cargo-lambda, zig  (requirements.txt)
#   $OVOM_TOOLS/checkov-venv    checkov                                   (requirements-checkov.txt)
#   $OVOM_TOOLS/node            asl-validator, jsonata                    (package.json, package-lock.json)
#   $OVOM_TOOLS/rust            a compiler and standard library for aarch64-unknown-linux-gnu,
#                               when the machine's rustup toolchain has no such target
#
# Idempotent: a stamp of the pinned files' hash skips the work when nothing
# changed. Concurrent callers wait on a lock and then find the work done.
#
# The Lambda functions run on arm64. Where rustup cannot add the aarch64 target
# (its distribution server out of reach), the Debian archive's `rustc-web`
# compiler (amd64) and its aarch64 standard library are unpacked here, without
# installing them on the system, and validate.sh builds with that compiler.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="${OVOM_TOOLS:-/var/tmp/ovom-tools}"
mkdir -p "$tools"

exec 9>"$tools/.setup.lock"
if ! flock -n 9; then
    echo "setup: another setup is running; waiting for it"
    flock 9
fi

have_rustup_target() {
    command -v rustup >/dev/null 2>&1 &&
        rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu
}

# The aarch64 standard library: rustup's when it has or can fetch it, else
# Debian's (OVOM_RUST_FROM_DEBIAN=1 forces the latter).
rust_source=debian
if [[ "${OVOM_RUST_FROM_DEBIAN:-0}" != 1 ]]; then
    if have_rustup_target; then
        rust_source=rustup
    elif command -v rustup >/dev/null 2>&1 &&
        timeout 600 rustup target add aarch64-unknown-linux-gnu; then
        rust_source=rustup
    fi
fi

stamp="$tools/.setup.stamp"
want="$(
    {
        cat "$here/requirements.txt" "$here/requirements-checkov.txt" \
            "$here/package.json" "$here/package-lock.json" "$here/setup.sh"
        python3 --version 2>&1
        node --version
        echo "rust: $rust_source"
    } | sha256sum | cut -d' ' -f1
)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup: tools in $tools are up to date"
    exit 0
fi
rm -f "$stamp"

step() { echo "setup: $*"; }
started=$SECONDS

step "Python tools into $tools/venv"
python3 -m venv --clear "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --requirement "$here/requirements.txt"

step "checkov into $tools/checkov-venv"
python3 -m venv --clear "$tools/checkov-venv"
"$tools/checkov-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --requirement "$here/requirements-checkov.txt"

step "asl-validator and jsonata into $tools/node"
rm -rf "$tools/node"
mkdir -p "$tools/node"
cp "$here/package.json" "$here/package-lock.json" "$tools/node/"
(cd "$tools/node" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

if [[ "$rust_source" == rustup ]]; then
    step "aarch64 target: rustup's"
    rm -rf "$tools/rust"
else
    step "aarch64 target: unpacking Debian's rustc-web with its aarch64 standard library into $tools/rust"
    apt_dir="$tools/apt"
    rm -rf "$apt_dir" "$tools/rust"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$tools/rust"
    # A private package list with arm64 beside amd64; the system's own
    # lists, architectures and installed packages are left as they are.
    apt_opts=(
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "APT::Architectures::=amd64"
        -o "APT::Architectures::=arm64"
        -o "APT::Sandbox::User=root"
    )
    apt-get "${apt_opts[@]}" -qq update
    dep() { # the first dependency of package $1 whose name matches $2
        apt-cache "${apt_opts[@]}" depends "$1" | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'
    }
    libstd="$(dep libstd-rust-web-dev:amd64 '^libstd-rust-web-[0-9]')"
    libllvm="$(dep "$libstd:amd64" '^libllvm[0-9]')"
    [[ -n "$libstd" && -n "$libllvm" ]] || { echo "setup: cannot resolve rustc-web's libraries" >&2; exit 1; }
    (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download \
        rustc-web:amd64 libstd-rust-web-dev:amd64 libstd-rust-web-dev:arm64 "$libstd:amd64" "$libllvm:amd64")
    for deb in "$apt_dir/debs"/*.deb; do
        dpkg-deb -x "$deb" "$tools/rust/root"
    done
    rm -rf "$apt_dir"
    mkdir -p "$tools/rust/bin"
    # rustc finds its sysroot next to its binary; the wrapper only adds the
    # folder of its shared libraries (librustc_driver, libLLVM).
    cat >"$tools/rust/bin/rustc" <<'EOF'
#!/usr/bin/env bash
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../root" && pwd)"
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$root/usr/bin/rustc" "$@"
EOF
    chmod +x "$tools/rust/bin/rustc"
    "$tools/rust/bin/rustc" --version
    test -d "$tools/rust/root/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib"
fi

echo "$want" >"$stamp"
step "done in $((SECONDS - started)) s"
