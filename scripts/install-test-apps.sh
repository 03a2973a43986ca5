#!/usr/bin/env bash
# Build the tests' "apps environment": a virtualenv with JupyterLab and TensorBoard at the
# versions labgate pins for its users (src/labgate/launching/apps-environment.txt), for the
# resource side of the tests (this machine reached over SSH as the test account
# `labgate-test`), and beside it a wheel directory of the same pins, which the tests give
# labgate as `app_setup_wheel_directory` to set the apps up for a user without internet.
#
#   scripts/install-test-apps.sh          build both if missing; print the venv's path
#
# Where: $LABGATE_TEST_APPS_ROOT (default /opt/labgate-test-apps) / <first 12 hex digits
# of the SHA-256 of the requirements file>, and <the same>-wheels. A changed requirements
# file gets new directories; they are never changed in place, so parallel test runs of
# other work trees keep theirs. Readable and executable by every account (the test
# account runs them), writable by root only.
#
# Idempotent: the environment (and the wheel directory) is complete when its stamp, a copy
# of the requirements file, exists; then this script only prints the path. Otherwise it builds the venv with
# Debian's /usr/bin/python3 (the python a resource has) under a lock, so that two
# concurrent runs build it once, and writes the stamp last.
#
# Needs Debian's python3-venv (scripts/install-test-deps.sh installs it) and PyPI.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo/src/labgate/launching/apps-environment.txt"
root="${LABGATE_TEST_APPS_ROOT:-/opt/labgate-test-apps}"
base_python="${LABGATE_TEST_APPS_PYTHON:-/usr/bin/python3}"

digest="$(sha256sum "$requirements" | cut -c1-12)"
target="$root/$digest"
stamp="$target/labgate-test-apps.txt"
wheels="$target-wheels"
wheels_stamp="$wheels/labgate-test-apps.txt"

complete() {
    [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements" &&
        [[ -f "$wheels_stamp" ]] && cmp -s "$wheels_stamp" "$requirements"
}

if complete; then
    echo "$target"
    exit 0
fi

if ! mkdir -p "$root" 2>/dev/null || [[ ! -w "$root" ]]; then
    echo "install-test-apps: cannot write $root (run as root, or set" \
        "LABGATE_TEST_APPS_ROOT); the tests that need JupyterLab or TensorBoard" \
        "will be skipped" >&2
    exit 1
fi
chmod 755 "$root"

exec 9>"$root/.lock"
flock 9
# Another run may have finished it while this one waited for the lock.
if complete; then
    echo "$target"
    exit 0
fi

start=$SECONDS
if [[ ! -f "$stamp" ]] || ! cmp -s "$stamp" "$requirements"; then
    echo "install-test-apps: building $target from apps-environment.txt" >&2
    # Built in place: the venv's scripts name their interpreter by absolute path. The stamp,
    # written last, marks it complete; a build that was interrupted is removed and redone.
    rm -rf "$target"
    "$base_python" -m venv "$target"
    # -qq: errors only (warnings about unused package sources here would fill pages).
    "$target/bin/python" -m pip install --quiet --quiet --disable-pip-version-check \
        --no-input --require-virtualenv -r "$requirements" >&2
    "$target/bin/python" -c 'import jupyterlab, tensorboard, numpy' >&2
    chmod -R a+rX,go-w "$target"
    cp "$requirements" "$stamp.partial"
    chmod 644 "$stamp.partial"
    mv "$stamp.partial" "$stamp"
fi

# The wheel directory: every pin as a wheel (pip wheel builds one for a package that has
# only a source archive), so that `pip install --no-index --find-links` needs nothing else.
echo "install-test-apps: collecting the wheels in $wheels" >&2
rm -rf "$wheels"
"$target/bin/python" -m pip wheel --quiet --quiet --disable-pip-version-check --no-input \
    --wheel-dir "$wheels" -r "$requirements" >&2
chmod -R a+rX,go-w "$wheels"
cp "$requirements" "$wheels_stamp.partial"
chmod 644 "$wheels_stamp.partial"
mv "$wheels_stamp.partial" "$wheels_stamp"
echo "install-test-apps: built $target in $((SECONDS - start)) s" >&2
echo "$target"
