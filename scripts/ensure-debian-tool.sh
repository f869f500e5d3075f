#!/bin/sh
# Make sure the commands exist: install the Debian package through apt when we can, else say
# what to do.  usage: ensure-debian-tool.sh PACKAGE "what it is" COMMAND [COMMAND...]
set -eu
package=$1
what=$2
shift 2
missing=""
for command in "$@"; do
    command -v "$command" >/dev/null 2>&1 || missing="$missing $command"
done
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "error: $what ($*) is missing; install it as root: apt-get install $package" >&2
        exit 1
    fi
    echo "setup: installing $what through apt"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
    still=""
    for command in "$@"; do
        command -v "$command" >/dev/null 2>&1 || still="$still $command"
    done
    [ -z "$still" ] && exit 0
fi
echo "error: $what ($*) is missing: install the package '$package' with your package manager" >&2
exit 1
