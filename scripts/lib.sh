# scripts/lib.sh: shared by quickstart and run-tests (sourced, not run).
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin

# Debian 12 packages: build, run, and test.
# Building and running (scripts/quickstart): the libraries, PostgreSQL,
# and what the Gitea emulator and the demo use.
DEPS=(build-essential autoconf automake pkg-config
      libmicrohttpd-dev libpq-dev libjson-c-dev libcurl4-openssl-dev
      libyaml-dev libsodium-dev check libncurses-dev libsystemd-dev
      postgresql-15 postgresql-client-15
      python3 python3-requests python3-yaml
      git curl)
# Testing too (scripts/run-tests): pytest, the console in tmux, pages in
# Chromium, systemd-analyze for the unit, the Debian package's tools, the
# man page linters and the fuzzing build.
TEST_DEPS=(python3-pytest python3-jsonschema systemd
      tmux chromium fonts-dejavu-core
      debhelper dpkg-dev lintian man-db mandoc
      clang libclang-rt-14-dev)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"
	elif command -v sudo >/dev/null; then sudo "$@"
	else die "need root (or sudo) to run: $*"
	fi
}

# install_deps [tests]: DEPS, and TEST_DEPS with "tests".
install_deps() {
	local missing=() want=("${DEPS[@]}")
	[ "${1:-}" = tests ] && want+=("${TEST_DEPS[@]}")
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "Debian packages: all present"
		return
	fi
	say "installing Debian packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends "${missing[@]}" >/dev/null
}

# The MCP tests' client (tests/mcp): the official MCP SDK from npm, at the
# versions package-lock.json pins, installed in $REPO/build-mcp (a build
# product, like the build folders: nothing third-party under tests/), where
# test_mcp.py runs a copy of client.mjs.  Node.js is not in DEPS: CI
# brings its own (with npm); Debian's is installed only where there is no
# node at all.  `npm ci` starts from an empty node_modules, so it runs only
# when the lockfile, package.json or node changed since the last install.
MCP_CLIENT_DIR=$REPO/build-mcp
install_mcp_client() {
	local src=$REPO/tests/mcp dir=$MCP_CLIENT_DIR stamp want
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		say "installing Debian packages: nodejs npm"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		    --no-install-recommends nodejs npm >/dev/null || return 1
	fi
	stamp=$dir/node_modules/.synstack-installed
	want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum)
	want="$want node $(node --version)"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		say "MCP test client (npm): up to date"
		return
	fi
	say "MCP test client: npm ci in build-mcp"
	mkdir -p "$dir" &&
	    cp "$src/package.json" "$src/package-lock.json" "$dir/" || return 1
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund \
	    --no-update-notifier --loglevel=error >/dev/null) || return 1
	printf '%s\n' "$want" >"$stamp"
}

# build DIR [configure flags...]: configure once, then make.
build() {
	local dir=$1; shift
	[ -x "$REPO/configure" ] || (cd "$REPO" && ./autogen.sh >/dev/null 2>&1) ||
	    die "autogen.sh failed"
	mkdir -p "$REPO/$dir"
	if [ ! -f "$REPO/$dir/Makefile" ]; then
		say "configuring $dir ($*)"
		(cd "$REPO/$dir" && ../configure "$@" >/dev/null) ||
		    die "configure failed; see $REPO/$dir/config.log"
	fi
	say "building $dir"
	make -C "$REPO/$dir" -j"$(nproc)" >/dev/null || die "build failed in $dir"
}

# PostgreSQL refuses to run as root: run its programs as postgres then.
pg_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
