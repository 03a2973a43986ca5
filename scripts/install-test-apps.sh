#!/usr/bin/env bash
# Build the tests' "apps environment": a virtualenv with JupyterLab and TensorBoard at the
# versions pinned in requirements/test-apps.txt, for the resource side of the tests (this
# machine reached over SSH as the test account `labgate-test`).
#
#   scripts/install-test-apps.sh          build it if missing; print its path
#
# Where: $LABGATE_TEST_APPS_ROOT (default /opt/labgate-test-apps) / <first 12 hex digits
# of the SHA-256 of the requirements file>. A changed requirements file gets a new
# directory; an environment is never changed in place, so parallel test runs of other
# work trees keep theirs. Readable and executable by every account (the test account runs
# it), writable by root only.
#
# Idempotent: the environment is complete when its stamp, a copy of the requirements
# file, exists; then this script only prints the path. Otherwise it builds the venv with
# Debian's /usr/bin/python3 (the python a resource has) under a lock, so that two
# concurrent runs build it once, and writes the stamp last.
#
# Needs Debian's python3-venv (scripts/install-test-deps.sh installs it) and PyPI.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo/requirements/test-apps.txt"
root="${LABGATE_TEST_APPS_ROOT:-/opt/labgate-test-apps}"
base_python="${LABGATE_TEST_APPS_PYTHON:-/usr/bin/python3}"

digest="$(sha256sum "$requirements" | cut -c1-12)"
target="$root/$digest"
stamp="$target/labgate-test-apps.txt"

if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements"; then
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
if [[ -f "$stamp" ]] && cmp -s "$stamp" "$requirements"; then
    echo "$target"
    exit 0
fi

echo "install-test-apps: building $target from requirements/test-apps.txt" >&2
start=$SECONDS
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
echo "install-test-apps: built $target in $((SECONDS - start)) s" >&2
echo "$target"
