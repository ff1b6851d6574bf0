# Shared by the lab's COLO scenarios (bash; source it after common.sh).
#
#   colo_guest DIR    the VM tests' guest built (or found in its cache), its
#                     kernel and initramfs copied into DIR (made anew);
#                     APPEND set to its command line with the address it
#                     has in QEMU's user-mode network
#   colo_begin NAME   a scenario's start: RUNNER, DIR ($SHARED/NAME, on
#                     this host) and NDIR (/srv/shared/NAME, as the nodes
#                     see it) set, colo_cleanup (the scenario's) and the
#                     removal of $work run at exit, the lab up, the guest
#                     in DIR, an earlier run's leftovers cleaned
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

colo_begin() {
    RUNNER=/usr/lib/vcha-lab/colorepl-run
    DIR=$SHARED/$1
    NDIR=/srv/shared/$1
    trap 'colo_cleanup; rm -rf "$work"' EXIT
    lab up > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
    colo_guest "$DIR"
    colo_cleanup
}

field() { # (nothing on stdin, or no JSON object: an empty line)
    python3 -c '
import json, sys
try:
    print(json.load(sys.stdin).get(sys.argv[1], ""))
except (ValueError, AttributeError):
    print("")' "$1"
}
