# Shared by scripts/serve and scripts/test: the build environment and the tools
# a fresh machine lacks. Every step checks first, so a second run costs seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Builds are cached outside the checkout, so a fresh clone builds incrementally;
# ./target points there, so target/release/masterclass works as usual.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/masterclass/target}"
mkdir -p "$CARGO_TARGET_DIR"
if [ ! -e target ]; then ln -s "$CARGO_TARGET_DIR" target; fi
export PATH="$HOME/.cache/masterclass/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

apt_install() { # apt_install COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  step "installing $2 (Debian package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "$2" >/dev/null || {
    $SUDO apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "$2" >/dev/null
  }
}

install_build_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    step "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version >/dev/null 2>&1; then
    step "installing cargo-leptos 0.3.8 (about 20 minutes on 2 cores, once)"
    cargo install cargo-leptos --version 0.3.8 --locked --features no_downloads
  fi
  # cargo-leptos needs wasm-bindgen at exactly the version in Cargo.lock.
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    step "installing wasm-bindgen-cli $want"
    cargo install wasm-bindgen-cli --version "$want"
  fi
  install_wasm_opt
}

# Release builds run wasm-opt. Debian's binaryen (108) predates the reference
# types Rust's wasm now uses and emits a module that fails at start-up, so the
# build uses binaryen 132 from npm, kept outside the checkout.
install_wasm_opt() {
  local dir="$HOME/.cache/masterclass/tools"
  if ! "$dir/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q 'version 132'; then
    step "installing wasm-opt (binaryen 132, npm)"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error binaryen@132.0.0 >/dev/null
  fi
}

build_release() {
  step "building the app (release)"
  command -v wasm-opt | grep -q masterclass/tools || { echo "wasm-opt from npm is missing: run install_build_tools"; exit 1; }
  LEPTOS_HASH_FILES=true cargo leptos build --release
}
