# Shared by the lab's COLO scenarios (bash; source it after common.sh).
#
#   colo_guest DIR    the VM tests' guest built (or found in its cache), its
#                     kernel and initramfs copied into DIR (made anew);
#                     APPEND set to its command line with the address it
#                     has in QEMU's user-mode network
#   field KEY         the member KEY of the JSON object on stdin

colo_guest() {
    local out guest
    out=$("$(dirname "${BASH_SOURCE[0]}")/../vm/guest-build" 2>&1) ||
        { printf '%s\n' "$out" | sed 's/^/#  /'; tap_bail "guest-build failed"; }
    guest=$(printf '%s\n' "$out" | tail -1)
    rm -rf "$1" && mkdir -p "$1"
    cp "$guest/vmlinuz" "$guest/initramfs.gz" "$1/"
    APPEND="$(cat "$guest/cmdline") vcha.ip=10.0.2.15/24 vcha.gw=10.0.2.2"
}

field() { python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
