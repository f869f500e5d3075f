#!/bin/sh
# Make sure Icarus Verilog is on PATH: install it through apt when we can, else say what to do.
set -eu
if command -v iverilog >/dev/null 2>&1 && command -v vvp >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "error: Icarus Verilog is missing; install it as root: apt-get install iverilog" >&2
        exit 1
    fi
    echo "setup: installing Icarus Verilog through apt"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iverilog >/dev/null
    command -v iverilog >/dev/null 2>&1 && exit 0
fi
echo "error: Icarus Verilog (iverilog, vvp) is missing: install it with your package manager (Debian/Ubuntu: apt-get install iverilog, macOS: brew install icarus-verilog)" >&2
exit 1
