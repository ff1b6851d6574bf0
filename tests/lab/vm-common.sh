# Shared by the lab's VM scenario and benchmark (bash; source it after
# common.sh and tests/lib/guest.sh).  The VM: the VM tests' guest
# (tests/vm/guest-build) as a QEMU domain of the nodes' own libvirtd
# (tests/lab/node-libvirtd, run from /srv/shared/boot.d), on the node's bridge br0 at $VM_ADDR, its kernel,
# disk and console on the shared directory; its service on port 7000
# answers "vcha-guest count=N disk=M" (the count in memory, and the one its
# disk held at boot).

VM=${VM:-vm1}
VMDIR=$SHARED/vm/$VM # as this host sees it
NODE_VMDIR=/srv/shared/vm/$VM
VM_ADDR=198.18.0.60

# vm_prepare: the guest built (or found in its cache) and copied to the
# shared directory, a new disk, the domain XML at /srv/shared/vm/$VM.xml,
# and libvirtd on every node, also after a power-on (boot.d).  Needs the
# lab up.  Says what failed on stderr.
vm_prepare() {
    local out guest n
    out=$("$(dirname "${BASH_SOURCE[0]}")/../vm/guest-build" 2>&1) ||
        { printf '%s\n' "$out" >&2; return 1; }
    guest=$(printf '%s\n' "$out" | tail -1)
    mkdir -p "$SHARED/guest" "$SHARED/boot.d" "$SHARED/vm"
    cp "$guest/vmlinuz" "$guest/initramfs.gz" "$guest/cmdline" "$SHARED/guest/"
    rm -rf "$VMDIR" && mkdir -p "$VMDIR"
    guest_files "$VMDIR"
    # the XML names the files as the nodes see them
    GUEST_NET=bridge:br0 GUEST_IP=$VM_ADDR/24 guest_xml "$VM" "$SHARED/guest" "$NODE_VMDIR" |
        sed "s|$SHARED/guest/|/srv/shared/guest/|" > "$SHARED/vm/$VM.xml"
    # from this tree, not the nodes' image: each node runs it at boot too
    install -m 755 "$(dirname "${BASH_SOURCE[0]}")/node-libvirtd" "$SHARED/boot.d/50-libvirtd"
    for n in node1 node2 node3; do
        ex "$n" /srv/shared/boot.d/50-libvirtd || { echo "no libvirtd on $n" >&2; return 1; }
    done
}

# vm_unprepare: no libvirtd at the nodes' next boots
vm_unprepare() { rm -f "$SHARED/boot.d/50-libvirtd"; }

# ask: what the guest's service answers the client, or nothing
ask() {
    client timeout 3 bash -c "exec 3<> /dev/tcp/$VM_ADDR/7000 &&
        read -r -t 2 l <&3 && echo \"\$l\"" 2> /dev/null
}
count() { sed -n 's/.*count=\([0-9]*\).*/\1/p' <<< "$1"; }
disk() { sed -n 's/.*disk=\([0-9]*\).*/\1/p' <<< "$1"; }
answers() { [ -n "$(ask)" ]; }
# is_on RESOURCE NODE: Pacemaker has RESOURCE running on NODE
is_on() {
    [ "$(ex node1 crm_resource --locate -r "$1" 2> /dev/null |
        sed -n 's/.*running on: //p')" = "$2" ]
}
qemu_on() { ex "$1" pgrep -f "qemu-system-x86_64 .*guest=$VM" 2> /dev/null; }
# qemu_gone NODE: NODE answered, and no QEMU of the VM runs there
qemu_gone() {
    # [q]: the pattern does not match this sh's own command line
    [ "$(ex "$1" sh -c "pgrep -f '[q]emu-system-x86_64 .*guest=$VM' > /dev/null; echo \$?" 2> /dev/null)" = 1 ]
}
# other_than NODE: the first node that is not NODE
other_than() {
    local n
    for n in node1 node2 node3; do
        [ "$n" != "$1" ] && echo "$n" && return 0
    done
}
# vm_watch FILE / vm_watch_stop FILE: ask every 0.1 s in the background,
# "<epoch s> <answer>" a line (the answer empty when none came)
vm_watch() {
    rm -f "$1.stop"
    (while [ ! -e "$1.stop" ]; do
        echo "$(now) $(ask | tr ' ' _)"
        sleep 0.1
    done > "$1") &
    VM_WATCH_PID=$!
}
vm_watch_stop() {
    touch "$1.stop"
    wait "$VM_WATCH_PID"
}
# vm_watch_gap FILE: the longest time between two answers, in seconds
vm_watch_gap() {
    awk 'NF == 2 { if (last != "" && $1 - last > g) g = $1 - last; last = $1 }
        END { printf "%.1f", g }' "$1"
}
# jobinfo NODE: libvirt's figures of the migration that brought the VM to
# NODE (its completed job): "DOWNTIME-MS TOTAL-MS"
jobinfo() {
    ex "$1" virsh -c qemu:///system domjobinfo --completed "$VM" 2> /dev/null |
        awk -F: '/^Total downtime/ { d = $2 + 0 } /^Time elapsed:/ { t = $2 + 0 }
            END { if (d != "") print d, t }'
}
# log_since T0 NODE ERE: the lines of NODE's pacemaker.log (the agents'
# lines among them) matching ERE, written at or after T0 (epoch seconds):
# the logs outlive a run, and an earlier run's lines must not count
log_since() {
    local line stamp t
    grep -E "$3" "$(node_log "$2" /var/log/pacemaker/pacemaker.log)" 2> /dev/null |
        while IFS= read -r line; do
            stamp=$(awk '{ print $1, $2, $3 }' <<< "$line")
            t=$(date -d "$stamp" +%s.%N 2> /dev/null) || continue
            awk -v a="$t" -v b="$1" 'BEGIN { exit !(a >= b - 0.001) }' &&
                printf '%s\n' "$line"
        done
}
