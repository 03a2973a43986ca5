#!/usr/bin/env bash
# Install the Debian packages the test suite needs, then the tests' apps environment
# (JupyterLab and TensorBoard, scripts/install-test-apps.sh) and the OpenID provider the
# sign-in tests run (oidc-provider from npm, tests/support/oidc_provider). Idempotent: when
# everything is installed it only asks dpkg and looks at a stamp file and a directory,
# and returns at once; apt-get, pip and npm run only for what is missing.
#
# As root it installs them; otherwise it prints the command to run and exits 1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

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
#   slurm-wlm          slurmctld, slurmd and the client commands for a private single-node
#                      cluster (tests/support/slurm.py)
#   munge              munged and mungekey: SLURM's authentication, a private daemon too
#   python3-venv       Debian's python3 builds the apps environment (install-test-apps.sh)
#   tigervnc-standalone-server  Xvnc, the X server of the Desktop template's sessions
#   tigervnc-tools     vncpasswd, which writes a desktop's VNC password file
#   openbox            the built-in desktop's window manager
#   xterm              the built-in desktop's terminal
#   pcmanfm            the built-in desktop's file manager
#   xclip, x11-utils   the desktop pane's test: the desktop's clipboard and its screen size
#                      (xdpyinfo), read on the resource
#   slapd              OpenLDAP's server for a private directory on 127.0.0.1 (LDAP sign-in,
#                      tests/support/slapd.py); the package's own service stays off
#   ldap-utils         ldapsearch and ldapmodify, to look at that directory by hand
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
    slurm-wlm
    munge
    python3-venv
    tigervnc-standalone-server
    tigervnc-tools
    openbox
    xterm
    pcmanfm
    xclip
    x11-utils
    slapd
    ldap-utils
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

# The apps environment needs python3-venv, so it comes after the packages.
install_apps() {
    if ((EUID != 0)); then
        echo "install-test-deps: not root: no apps environment (the tests that need" \
            "JupyterLab or TensorBoard are skipped)" >&2
        return 0
    fi
    echo "install-test-deps: apps environment $("$here/install-test-apps.sh")"
}

# The OpenID provider's packages (tests/support/oidc.py installs them too when missing),
# with the Node.js the front end builds with. Without one yet (no Node.js >= 20.19 on PATH
# and no .venv to put one in), the tests install them when they first need them.
install_oidc_provider() {
    local dir="$here/../tests/support/oidc_provider" path
    [[ -f "$dir/node_modules/oidc-provider/package.json" ]] && return 0
    if ! path="$("$here/node-env.sh")"; then
        echo "install-test-deps: no Node.js yet: the OpenID provider's packages are" \
            "installed by the tests" >&2
        return 0
    fi
    echo "install-test-deps: the OpenID provider's packages (npm ci in $dir)"
    (cd "$dir" && PATH="$path" npm ci --no-audit --no-fund </dev/null)
}

if ((${#missing[@]} == 0)); then
    echo "install-test-deps: all present (${TEST_PACKAGES[*]})"
    install_apps
    install_oidc_provider
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
# Packages with daemons (munge, slurmd, slurmctld, slapd) start them on installation unless
# policy-rc.d says no. The tests start private ones; the system's must stay off. Where
# the machine has no policy of its own, one that forbids starting services is in place
# while apt-get runs.
policy=/usr/sbin/policy-rc.d
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# labgate install-test-deps: no services during apt-get\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update
DEBIAN_FRONTEND=noninteractive "${install[@]}" </dev/null
install_apps
install_oidc_provider
