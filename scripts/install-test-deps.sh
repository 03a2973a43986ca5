#!/usr/bin/env bash
# Install the Debian packages the test suite needs. Idempotent: when everything is
# installed it only asks dpkg and returns at once; apt-get runs only for what is missing.
#
# As root it installs them; otherwise it prints the command to run and exits 1.
set -euo pipefail

# The system packages the tests use. Add new ones here (one list for everything).
#   chromium           Playwright drives /usr/bin/chromium (never a downloaded browser)
#   postgresql         server binaries for a private cluster when no server is reachable
#   fonts-dejavu-core  readable text in screenshots
#   openssh-server     /usr/sbin/sshd for a private sshd on 127.0.0.1 (never the system one)
#   openssh-client     ssh, ssh-keygen and ssh-keyscan to check it from the outside
#   iproute2           ip netns, veth links and routes for test networks (jump hosts)
#   libpam-google-authenticator  a real second factor (TOTP) for keyboard-interactive tests
#   vim, htop          full-screen programs (keys, mouse, colours) in the terminal pane tests
#   fonts-droid-fallback  CJK glyphs, so wide characters in terminal screenshots are not boxes
TEST_PACKAGES=(
    chromium
    postgresql
    fonts-dejavu-core
    openssh-server
    openssh-client
    iproute2
    libpam-google-authenticator
    vim
    htop
    fonts-droid-fallback
)

if ! command -v dpkg-query >/dev/null; then
    echo "install-test-deps: this is not a Debian-like system (no dpkg-query);" \
        "install these packages yourself: ${TEST_PACKAGES[*]}" >&2
    exit 1
fi

missing=()
for package in "${TEST_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
    echo "install-test-deps: all present (${TEST_PACKAGES[*]})"
    exit 0
fi

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if ((EUID != 0)); then
    echo "install-test-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-test-deps: run as root:" >&2
    echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive ${install[*]}" >&2
    exit 1
fi

echo "install-test-deps: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive "${install[@]}" </dev/null
