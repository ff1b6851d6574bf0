#!/bin/bash
# Scenario 9: vchad's filesync job on real nodes.  node1's tree is a Debian
# 13 system on an ext4 file system of its own (the primary VM's root, with a
# kernel package installed); vchad's job on node1 keeps a container's root
# on node2 (ext4 too) in step with it, over ssh to an sshd of its own on
# node2's lab address whose key may only run vcha-receive.
#   1. the first full push completes; the standby is the primary minus the
#      exclusions (a checksum walk), and nothing the list excludes arrived:
#      no kernel, /boot, the VM's identity or host keys;
#   2. a change, a creation, a deletion, a renamed file and a renamed
#      directory converge; single writes arrive within a few hundred ms;
#   3. a 1 GiB file converges, checksums equal; the receiver (rsync
#      --server) killed in the middle of the push of a change to it: the
#      live name never holds a part (absent, then the old file whole, then
#      the new one), the marker says incomplete, the next full push
#      completes it;
#   4. 100,000 small files converge;
#   5. real dpkg in the tree installs a needed package and a firmware
#      package the container does not need: the needed one's files and
#      the new dpkg status arrive, the firmware's never stay; the job's
#      digest of the package list and the marker's agree; removed, the
#      needed one's files go;
#   6. vchad and the job's process killed in the middle of a push (the
#      100,000 files being deleted): vchactl start, and it converges;
#   7. the figures are node attributes (crm_mon -A1);
#   8. a receiver nobody listens for: the job fails saying so, the standby
#      is untouched; mended, it converges.
# Ends with a checksum walk of the whole tree.  The parts run in the order
# 1 7 2 5 3 8 4 6: every full push walks the whole tree, so the 100,000
# files come last (and their deletion is the push that 6 interrupts).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
. "$here/sync-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
P=node1                           # the primary: the VM's tree and vchad
S=node2                           # the standby: the container's root
TREE=/srv/vm1                     # on P, an ext4 loop file system
SYNC=/srv/vcha-sync               # on S, an ext4 loop file system
DEST=$SYNC/ct1/rootfs             # the container's root
ID=ct1                            # the job
PORT=2222                         # S's sshd for the sync
DEAD_PORT=2223                    # nobody listens there
SSHD_DIR=/etc/vcha-lab-sshd       # on S: StrictModes wants root's, not /run
KEYS=/etc/vcha-lab-sync           # on P: the push key and known_hosts
DEBS=/root/vcha-lab-debs          # on P
LAB_DIR=/srv/lab                  # in the tree: what the checks write
KERNEL=6.12.99-vcha-lab
GiB=1073741824
A2=$(addr_of "$S")
work=$(mktemp -d)
t_start=$(now)

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() { # what this scenario leaves on the nodes, gone
    ex "$P" vchactl -t 10 remove "$ID" > /dev/null 2>&1
    ex "$S" sh -c "touch /run/vcha-lab-sample.stop
        [ -s /run/vcha-lab-sshd.pid ] && kill \$(cat /run/vcha-lab-sshd.pid)
        rm -rf $SSHD_DIR /run/vcha-lab-sshd.pid" > /dev/null 2>&1
    ex "$P" rm -rf "$KEYS" "$DEBS" > /dev/null 2>&1
    loopfs_drop "$S" "$SYNC"
    loopfs_drop "$P" "$TREE"
}
trap 'cleanup; rm -rf "$work"' EXIT

lab up 3 > "$work/up.out" 2>&1 || { sed 's/^/#  /' "$work/up.out"; tap_bail "lab up failed"; }
cleanup # (a run stopped half-way)

# ------------------------------------------------------------ helpers
health() { ex "$P" vchactl health "$ID" > "$work/health" 2> /dev/null; }
fig() { # fig KEY: from the last health (fig.* and the job's own keys)
    sed -n "s/^$1=//p" "$work/health"
}
now_fig() { health; fig "$1"; }
wait_fig() { # wait_fig SECONDS KEY VALUE
    local i
    for ((i = 0; i < $1 * 4; i++)); do
        health
        [ "$(fig "$2")" = "$3" ] && return 0
        sleep 0.25
    done
    return 1
}
# settle SECONDS PUSHES: until a push after the first PUSHES ended and the
# job is in step (a report older than the change still says in_sync=1)
settle() {
    local i
    for ((i = 0; i < $1 * 4; i++)); do
        health
        [ "$(fig fig.pushes)" -gt "$2" ] 2> /dev/null &&
            [ "$(fig fig.in_sync)" = 1 ] && return 0
        sleep 0.25
    done
    return 1
}
# The job's current exclusion list, as a file on this host.
filter_copy() { cp "$(node_path "$P" "/run/vcha/filesync/$ID/filter")" "$work/filter"; }
# walk OPTS [SUB]: what rsync would still change on the standby (itemized;
# nothing when in step), the whole tree through the job's list, or the
# subtree SUB (which the list does not touch) alone.  The receiving rsync
# runs in S (rsync refuses a destination reached through /proc/PID/root).
walk() {
    local opts=$1 sub=${2:-} out rc filter=()
    [ -n "$sub" ] || filter=(--filter="merge $work/filter")
    out=$(rsync "$opts" --numeric-ids --delete "${filter[@]}" -e "$LAB exec" \
        "$(node_path "$P" "$TREE$sub")/" "$S:$DEST$sub/" 2>&1)
    rc=$?
    grep -v '^\.d\.\.t\.\.\.\.\.\. \./$' <<< "$out" | grep .
    [ $rc = 0 ] || echo "rsync exited with $rc"
}
# in_step SECONDS PUSHES OPTS [SUB]: settled, and the walk finds nothing
in_step() {
    local i
    for i in 1 2 3; do
        settle "$1" "$2" || break
        walk "$3" "${4:-}" > "$work/walk"
        [ -s "$work/walk" ] || return 0
        sleep 1 # a change still on its way: settle again
    done
    head -5 "$work/walk" | sed 's/^/#   differs: /'
    return 1
}
# listing [FILTER]: the standby's files that a push with the filter would
# delete were the primary empty; with the job's list it leaves out what
# the list excludes, so with and without it must be the same list
listing() {
    # (a directory the list keeps a file in is not deleted: said so)
    rsync -ani --delete ${1:+--filter="merge $1"} -e "$LAB exec" \
        "$work/empty/" "$S:$DEST/" 2>&1 |
        sed 's|^cannot delete non-empty directory: \(.*\)$|*deleting   \1/|' |
        LC_ALL=C sort
}
mkdir -p "$work/empty"
state() { ex "$S" vcha-receive --state "$DEST" > "$work/state" 2>&1; }
marker() { sed -n "s/^$1=//p" "$work/state"; }
p_sha() { ex "$P" sha256sum "$TREE$1" | cut -d' ' -f1; }
s_sha() { ex "$S" sha256sum "$DEST$1" | cut -d' ' -f1; }
both_sha() { # both_sha PATH: "PRIMARY'S STANDBY'S", read at the same time
    local s p
    s_sha "$1" > "$work/s_sha" &
    s=$!
    p=$(p_sha "$1")
    wait "$s"
    echo "$p $(cat "$work/s_sha")"
}
jobadd() { # jobadd PORT: add the job, or give it new parameters
    ex "$P" vchactl add filesync "$ID" source="$TREE" \
        target="ssh://root@$A2:$1" identity="$KEYS/key" \
        known_hosts="$KEYS/known_hosts" delay=100ms verify_interval=1h
}
# deb NAME VERSION SUMMARY PATH=CONTENT...: a package in $DEBS on P
deb() {
    # shellcheck disable=SC2016 # expanded by the node's bash
    ex "$P" bash -c 'set -e; n=$1 v=$2 d=$3; shift 3
        cd '"$DEBS"' && rm -rf "$n" && mkdir -p "$n/DEBIAN"
        printf "Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: vcha lab <lab@vcha.test>\nSection: misc\nPriority: optional\nDescription: %s\n" \
            "$n" "$v" "$d" > "$n/DEBIAN/control"
        for f in "$@"; do
            mkdir -p "$n$(dirname "${f%%=*}")"
            printf "%s\n" "${f#*=}" > "$n${f%%=*}"
        done
        chmod -R a+rX "$n"
        [ ! -d "$n/usr/bin" ] || chmod 755 "$n"/usr/bin/*
        dpkg-deb --root-owner-group --build "$n" "$n.deb" > /dev/null
        cp "$n.deb" '"$TREE"'/tmp/' deb "$@"
}
in_tree() { ex "$P" chroot "$TREE" "$@"; }

# ------------------------------------------------------------ the primary
loopfs_make "$P" "$TREE" 6G && loopfs_make "$S" "$SYNC" 6G
tap_ok $? "ext4 loop file systems: $TREE on $P, $SYNC on $S"
t=$(now)
# but for the Azure SDK that fence-agents brings along (50,000 files, 1.1 GB
# that would add only time)
debian_tree "$P" "$TREE" --exclude=/usr/lib/python3/dist-packages/azure
tap_ok $? "a Debian 13 system copied to $TREE on $P"
tap_diag "$(ex "$P" find "$TREE" -xdev | wc -l) files, $(ex "$P" du -sh "$TREE" | cut -f1), copied in $(secs "$t" "$(now)") s"
# a VM's kernel, as a package (the lab's image has none), and its links
ex "$P" mkdir -p "$DEBS"
deb linux-image-$KERNEL 1 "the VM's kernel" \
    "/boot/vmlinuz-$KERNEL=kernel" "/boot/System.map-$KERNEL=map" \
    "/usr/lib/modules/$KERNEL/kernel/drivers/misc/vcha-lab.ko=module" \
    "/usr/lib/modules/$KERNEL/modules.dep=dep"
in_tree dpkg -i "/tmp/linux-image-$KERNEL.deb" > "$work/dpkg.out" 2>&1 &&
    ex "$P" sh -c "cd $TREE && : > boot/initrd.img-$KERNEL &&
        ln -sfn boot/vmlinuz-$KERNEL vmlinuz && ln -sfn boot/initrd.img-$KERNEL initrd.img"
tap_ok $? "a kernel package installed in the tree with the tree's dpkg"
ex "$P" mkdir -p "$TREE$LAB_DIR"

# ------------------------------------------------------------ the standby
ex "$S" sh -c "set -e; mkdir -p $DEST /run/sshd && chmod 755 /run/sshd
    rm -rf $SSHD_DIR && mkdir -m 700 $SSHD_DIR
    ssh-keygen -q -t ed25519 -N '' -C $S-sync -f $SSHD_DIR/host_key
    cat > $SSHD_DIR/sshd_config << CONF
Port $PORT
ListenAddress $A2
AddressFamily inet
HostKey $SSHD_DIR/host_key
PidFile /run/vcha-lab-sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
StrictModes yes
UsePAM no
PermitRootLogin forced-commands-only
AllowUsers root
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment no
LogLevel VERBOSE
CONF
    install -m 600 /dev/null $SSHD_DIR/authorized_keys"
ex "$P" sh -c "set -e; rm -rf $KEYS && mkdir -m 700 $KEYS
    ssh-keygen -q -t ed25519 -N '' -C $P-push -f $KEYS/key && chmod 600 $KEYS/key"
ex "$S" sh -c "echo 'restrict,command=\"/usr/sbin/vcha-receive --dest $DEST\" $(ex "$P" cat "$KEYS/key.pub")' \
    >> $SSHD_DIR/authorized_keys"
ex "$P" sh -c "echo '[$A2]:$PORT $(ex "$S" cat "$SSHD_DIR/host_key.pub")' > $KEYS/known_hosts"
ex "$S" /usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E /var/log/vcha-lab-sshd.log
wait_for 10 sh -c "'$LAB' exec $S ss -Htln 'sport = :$PORT' | grep -q $A2"
tap_ok $? "$S: sshd on $A2:$PORT, the push key forced to vcha-receive --dest $DEST"
out=$(ex "$P" ssh -F none -p "$PORT" -i "$KEYS/key" -o IdentitiesOnly=yes \
    -o BatchMode=yes -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile="$KEYS/known_hosts" "root@$A2" ls / 2>&1)
tap_like "$out" "*refused*" "the key runs nothing else (ls / refused by vcha-receive)"

# ------------------------------------------------------------ 1. first push
ex "$P" env HA_LOGFACILITY=none HA_LOGFILE=/var/log/vchad.log vchactl start > /dev/null
tap_ok $? "vchad runs on $P"
t=$(now)
jobadd "$PORT" > /dev/null
tap_ok $? "vchactl add filesync $ID source=$TREE target=ssh://root@$A2:$PORT"
wait_fig 300 fig.in_sync 1
tap_ok $? "1. the first full push completes"
t_first=$(secs "$t" "$(now)")
tap_diag "first full push: $t_first s (the job's own figure: $(fig fig.last_push_ms) ms, $(fig fig.files_sent) files, $(fig fig.bytes_sent) bytes)"
tap_is "$(fig fig.mechanism)" fanotify "it tracks changes with fanotify (ext4)"
tap_is "$(fig fig.full_pushes)" 1 "one full push"
state
tap_is "$(marker state)" complete "the receiver's marker: its batch completed"
tap_is "$(marker packages)" "$(fig fig.packages)" \
    "the marker's package digest is the job's"
filter_copy
grep -Eqx -- "- /usr/lib/modules/(\*\*\*|$KERNEL/\*\*\*)" "$work/filter"
tap_ok $? "the kernel package's modules are in the exclusion list"
t=$(now)
walk -anicHAX > "$work/walk"
tap_is "$(wc -l < "$work/walk")" 0 \
    "the standby is the primary minus the exclusions (checksum walk, ids, hard links, ACLs, xattrs; $(secs "$t" "$(now)") s)"
head -5 "$work/walk" | sed 's/^/#   /'
listing "$work/filter" > "$work/with"
listing > "$work/without"
tap_cond "$(wc -l < "$work/without") > 50000" \
    "the standby holds $(wc -l < "$work/without") files"
diff "$work/with" "$work/without" > "$work/excluded"
tap_is "$(grep -c '^>' "$work/excluded")" 0 \
    "none of them is one the list excludes"
grep '^>' "$work/excluded" | head -5 | sed 's/^/#   /'
absent=(boot vmlinuz initrd.img "usr/lib/modules/$KERNEL" etc/hostname etc/fstab
    etc/machine-id var/lib/dbus/machine-id etc/ssh/ssh_host_ed25519_key
    etc/ssh/ssh_host_rsa_key.pub)
ex "$P" sh -c "cd $TREE && ls -d ${absent[*]}" > /dev/null 2>&1
tap_ok $? "the primary has ${absent[*]}"
there=$(ex "$S" sh -c "cd $DEST && ls -d ${absent[*]} 2> /dev/null")
tap_is "$there" "" "none of them reached the standby"
tap_is "$(ex "$S" stat -c %u:%g "$DEST$TREE_ALIEN/file" "$DEST$TREE_SVC/data" | tr '\n' ' ')" \
    "$ALIEN_ID:$ALIEN_ID $SVC_UID:$SVC_GID " "the tree's own numeric ids, 70000 too"
ex "$S" sh -c "echo ct1 > $DEST/etc/hostname" # the container's own name

# ------------------------------------------------------------ 7. attributes
attr() {
    sed -n "s/^[[:space:]]*\* vcha-$ID-sync-$1[[:space:]]*:[[:space:]]*\([^[:space:]]*\).*/\1/p" \
        "$work/attrs"
}
wait_for 20 sh -c "'$LAB' exec $P crm_mon -A1 | grep -q 'vcha-$ID-sync-packages.*$(fig fig.packages)'"
ex "$P" crm_mon -A1 > "$work/attrs" 2>&1
health
tap_is "$(attr lag-ms)/$(attr failures)" 0/0 "7. crm_mon -A1: vcha-$ID-sync-lag-ms 0, -failures 0"
tap_is "$(attr last-full)" "$(fig fig.last_full_sync)" \
    "vcha-$ID-sync-last-full is the job's last full push"
tap_is "$(attr packages)" "$(fig fig.packages)" \
    "vcha-$ID-sync-packages is the job's package digest"
tap_is "$(attr files)/$(attr bytes)" "$(fig fig.files_sent)/$(fig fig.bytes_sent)" \
    "vcha-$ID-sync-files and -bytes are the job's"

# ------------------------------------------------------------ 2. changes
ex "$P" sh -c "set -e; cd $TREE$LAB_DIR
    mkdir -p keep/a/b old-dir/sub && echo 1 > keep/a/b/file && echo x > old-dir/sub/f
    echo v1 > changed && echo gone > deleted && echo r > renamed-from
    mkdir -p gone-dir/x && echo g > gone-dir/x/f"
health
settle 30 "$(fig fig.pushes)"
pushes=$(fig fig.pushes)
ex "$P" sh -c "set -e; cd $TREE$LAB_DIR
    echo v2 >> changed && chmod 600 changed
    echo new > created && ln created created.hard && ln -s created created.sym
    rm deleted && mv renamed-from renamed-to
    mv old-dir new-dir && echo after > new-dir/sub/g && rm -r gone-dir
    echo 'vcha-lab motd' > $TREE/etc/motd"
in_step 30 "$pushes" -anicHAX "$LAB_DIR"
tap_ok $? "2. change, create (a hard and a symbolic link too), delete, rename a file and a directory: in step"
tap_is "$(ex "$S" sh -c "cd $DEST$LAB_DIR && ls -d deleted renamed-from old-dir gone-dir 2>&1 | grep -vc 'No such'")" 0 \
    "the deleted and the old names are gone on the standby"
tap_is "$(ex "$S" stat -c '%a %h' "$DEST$LAB_DIR/changed" "$DEST$LAB_DIR/created" | tr '\n' ' ')" \
    "600 1 644 2 " "the mode change and the hard link arrived"
tap_is "$(s_sha /etc/motd)" "$(p_sha /etc/motd)" "a system file changed: /etc/motd arrived"

# single writes: from the write on P to the file whole on S (one clock)
ex "$P" mkdir -p "$TREE$LAB_DIR/lag"
lags=()
for i in 1 2 3 4 5 6 7; do
    f=$DEST$LAB_DIR/lag/w$i
    rm -f "$work/seen"
    ex "$S" bash -c "touch /run/vcha-lab-lag.ready
        for ((j = 0; j < 1000; j++)); do
            [ -s $f ] && { echo \$EPOCHREALTIME; exit 0; }; sleep 0.005
        done" > "$work/seen" &
    w=$!
    wait_for 5 test -e "$(node_path "$S" /run/vcha-lab-lag.ready)"
    t=$(ex "$P" bash -c "t=\$EPOCHREALTIME; echo \$t > $TREE$LAB_DIR/lag/w$i; echo \$t")
    wait "$w"
    ex "$S" rm -f /run/vcha-lab-lag.ready
    [ -s "$work/seen" ] && lags+=("$(awk -v a="$t" -v b="$(cat "$work/seen")" 'BEGIN { printf "%d", (b - a) * 1000 }')")
done
tap_is "${#lags[@]}" 7 "7 single writes, each arrived"
p50=$(printf '%s\n' "${lags[@]}" | sort -n | sed -n 4p)
tap_cond "${p50:-99999} < 3000" "a single write arrives within 3 s (p50 ${p50:-?} ms)"
tap_diag "single writes, write on $P to whole on $S (delay=100ms): ${lags[*]} ms; p50 ${p50:-?} ms"

# ------------------------------------------------------------ 5. packages
deb lab-svc-tool 1.0 "a tool the service needs" \
    "/usr/bin/lab-svc-tool=#!/bin/sh" "/usr/share/doc/lab-svc-tool/README=tool"
deb firmware-vcha-lab 1.0 "firmware the container does not need" \
    "/usr/lib/firmware/vcha-lab/blob-a.bin=a" "/usr/lib/firmware/vcha-lab/sub/blob-b.bin=b"
health
digest0=$(fig fig.packages)
pushes=$(fig fig.pushes)
full=$(fig fig.full_pushes)
in_tree dpkg -i /tmp/lab-svc-tool.deb /tmp/firmware-vcha-lab.deb > "$work/dpkg.out" 2>&1
tap_ok $? "5. dpkg -i in the tree: lab-svc-tool (needed) and firmware-vcha-lab (not)"
in_step 120 "$pushes" -anicHAX /var/lib/dpkg
tap_ok $? "in step after the install (/var/lib/dpkg: checksum walk)"
digest1=$(fig fig.packages)
tap_cond "$(fig fig.full_pushes) > full" "the changed package list brought a full (cleanup) push"
ex "$P" test -e "$TREE/usr/lib/firmware/vcha-lab/sub/blob-b.bin"
tap_ok $? "the primary has the firmware's files"
tap_is "$(ex "$S" sh -c "ls -d $DEST/usr/lib/firmware/vcha-lab 2>&1" | grep -c 'No such')" 1 \
    "they are not on the standby"
tap_is "$(s_sha /usr/bin/lab-svc-tool)" "$(p_sha /usr/bin/lab-svc-tool)" \
    "the needed package's program arrived"
tap_is "$(s_sha /var/lib/dpkg/status)" "$(p_sha /var/lib/dpkg/status)" \
    "the new dpkg status arrived"
tap_is "$(s_sha /var/lib/dpkg/info/lab-svc-tool.list)" "$(p_sha /var/lib/dpkg/info/lab-svc-tool.list)" \
    "and the package's file list"
state
[ ${#digest1} = 64 ] && [ "$digest1" != "$digest0" ]
tap_ok $? "the job's package digest changed"
tap_is "$(marker packages)" "$digest1" "the marker's agrees"
tap_is "$digest1" "$(p_sha /var/lib/dpkg/status)" "both are the primary's dpkg status"
tap_is "$(ex "$S" cat "$DEST/etc/hostname")" ct1 \
    "the cleanup push left the container's own /etc/hostname"
pushes=$(fig fig.pushes)
in_tree dpkg -r lab-svc-tool firmware-vcha-lab > "$work/dpkg.out" 2>&1
tap_ok $? "dpkg -r both"
in_step 120 "$pushes" -anicHAX /var/lib/dpkg
tap_ok $? "in step after the removal"
tap_is "$(ex "$S" sh -c "ls -d $DEST/usr/bin/lab-svc-tool $DEST/usr/share/doc/lab-svc-tool 2>&1" | grep -c 'No such')" 2 \
    "the needed package's files are gone from the standby"
state
digest2=$(fig fig.packages)
[ ${#digest2} = 64 ] && [ "$digest2" != "$digest1" ]
tap_ok $? "the job's package digest changed again"
tap_is "$(marker packages)" "$digest2" "the marker's agrees"
wait_for 20 sh -c "'$LAB' exec $P attrd_updater -Q -n vcha-$ID-sync-packages -N $P | grep -q '$digest2'"
tap_ok $? "7. the node attribute vcha-$ID-sync-packages follows"

# ------------------------------------------------------------ 3. 1 GiB
BIG=$LAB_DIR/big.bin
# written beside the tree's excluded /tmp, then moved in whole
ex "$P" sh -c "head -c $GiB /dev/urandom > $TREE/tmp/big.new"
health
pushes=$(fig fig.pushes)
# a sampler of the live name on S: "absent" or its inode and size
ex "$S" bash -c "rm -f /run/vcha-lab-sample.stop
    for ((i = 0; i < 30000; i++)); do
        [ -e /run/vcha-lab-sample.stop ] && break
        stat -c '%i %s' $DEST$BIG 2> /dev/null || echo absent
        sleep 0.02
    done" > "$work/samples" &
sampler=$!
t=$(now)
ex "$P" mv "$TREE/tmp/big.new" "$TREE$BIG"
settle 180 "$pushes"
t_big=$(secs "$t" "$(now)")
big_push=$(fig fig.last_push_ms)
in_step 60 "$pushes" -aniHAX "$LAB_DIR"
tap_ok $? "3. a 1 GiB file of random data: in step"
shas=$(both_sha "$BIG")
sha1=${shas% *}
tap_is "${shas#* }" "$sha1" "checksums equal"
tap_diag "1 GiB file: in step $t_big s after it appeared (its push: $big_push ms)"
# a change in its middle: the push rewrites it into a temporary file;
# the receiver killed when that holds more than 256 MiB
inode=$(ex "$S" stat -c %i "$DEST$BIG")
health
failures=$(fig fig.failures)
full=$(fig fig.full_pushes)
ex "$P" dd if=/dev/urandom of="$TREE$BIG" bs=1M count=1 seek=512 conv=notrunc status=none
ex "$S" bash -c "
    for ((i = 0; i < 6000; i++)); do
        for t in $DEST$LAB_DIR/.big.bin.*; do
            [ -f \"\$t\" ] && [ \$(stat -c %s \"\$t\") -gt 268435456 ] && break 2
        done
        sleep 0.01
    done
    pids=\$(pgrep -x rsync | tr '\n' ' ')
    [ -n \"\$pids\" ] && kill -KILL \$pids
    exec 3< $DEST$BIG
    echo \"killed=\$pids temp=\$(stat -c %s \"\$t\" 2> /dev/null)\"
    vcha-receive --state $DEST; echo rc=\$?
    echo inode=\$(stat -L -c %i /proc/self/fd/3)
    echo sha=\$(sha256sum <&3 | cut -d' ' -f1)" > "$work/kill" 2>&1
sed -n 's/^killed=\(.*\) temp=\(.*\)$/# receiver (rsync pids \1) killed with \2 bytes in its temporary file/p' "$work/kill"
temp=$(sed -n 's/^killed=[0-9][0-9 ]* temp=\([0-9]*\)$/\1/p' "$work/kill")
tap_cond "${temp:-0} > 268435456" "the receiver's rsync killed in the middle of the file"
tap_is "$(sed -n 's/^rc=//p' "$work/kill")" 1 "vcha-receive --state: exit 1, incomplete"
tap_is "$(sed -n 's/^state=//p' "$work/kill")" incomplete "state=incomplete"
tap_is "$(sed -n 's/^inode=//p' "$work/kill")/$(sed -n 's/^sha=//p' "$work/kill")" "$inode/$sha1" \
    "the live name then held the old file, whole (same inode, same checksum)"
in_step 180 "$(fig fig.pushes)" -aniHAX "$LAB_DIR"
tap_ok $? "the job brings it in step"
tap_cond "$(fig fig.failures) > failures && $(fig fig.full_pushes) > full" \
    "by a full push after the failed one"
tap_diag "the full push that completed it: $(fig fig.last_push_ms) ms"
touch "$(node_path "$S" /run/vcha-lab-sample.stop)"
wait "$sampler"
shas=$(both_sha "$BIG")
tap_ok "$([ "${shas% *}" = "${shas#* }" ] && [ "${shas% *}" != "$sha1" ]; echo $?)" \
    "the changed file whole on the standby (checksums)"
state
tap_is "$(marker state)" complete "the marker: complete"
tap_is "$(ex "$S" sh -c "ls -a $DEST$LAB_DIR" | grep -c '^\.big\.bin\.')" 0 \
    "no temporary file left"
n=$(wc -l < "$work/samples")
bad=$(grep -cvx -e absent -e "[0-9]* $GiB" "$work/samples")
tap_is "$bad" 0 "the live name, sampled $n times every 20 ms, was absent or 1 GiB, never a part"
tap_cond "$(grep -c "^$inode $GiB\$" "$work/samples") > 10" "(the sampler saw the first copy)"
ex "$P" rm "$TREE$BIG"

# ------------------------------------------------------------ 8. bad input
state
batch=$(marker batch)
ex "$S" ss -Htln "sport = :$DEAD_PORT" | grep -q .
tap_ok $((!$?)) "8. nobody listens on $A2:$DEAD_PORT"
jobadd "$DEAD_PORT" > /dev/null
wait_fig 30 state failing
tap_ok $? "a target nobody listens on: the job fails"
ex "$P" sh -c "echo while-away > $TREE$LAB_DIR/while-away"
tap_cond "$(fig fig.failures) >= 1" "the failure is counted ($(fig fig.failures) so far)"
err=$(fig last_error)
tap_like "$err" "*ssh*connect*" "its error says the connection failed: $err"
tap_like "$err" "*Connection refused*" \
    "and why, in ssh's own words: the connection was refused"
wait_for 10 sh -c "'$LAB' exec $P vchactl health $ID | grep -q '^fig.lag_ms=[1-9]'"
tap_ok $? "the lag grows meanwhile"
tap_is "$(now_fig fig.in_sync)" 0 "not in step"
state
tap_is "$(marker batch)/$(marker state)" "$batch/complete" "the standby's marker untouched"
filter_copy
walk -anicHAX > "$work/walk"
# Whether the directory's time shows as a difference depends on how close the
# earlier push and the new file fell; the new file is the pending change.
tap_is "$(grep -vxF ".d..t...... ${LAB_DIR#/}/" "$work/walk" | tr '\n' ' ')" \
    "<f+++++++++ ${LAB_DIR#/}/while-away " \
    "the standby untouched: a checksum walk finds the pending change alone"
pushes=$(now_fig fig.pushes)
jobadd "$PORT" > /dev/null
in_step 120 0 -aniHAX "$LAB_DIR"
tap_ok $? "mended: in step"
tap_is "$(ex "$S" cat "$DEST$LAB_DIR/while-away")" while-away "the change made meanwhile arrived"
tap_is "$(now_fig state)" ok "the job's state is ok"

# ------------------------------------------------------------ 4. 100k files
MANY=$LAB_DIR/many
pushes=$(now_fig fig.pushes)
overflows=$(fig fig.overflows)
t=$(now)
ex "$P" bash -c "set -e; mkdir $TREE$MANY && cd $TREE$MANY
    for i in \$(seq -w 0 99); do
        mkdir d\$i && (cd d\$i && seq 1000 | split -l 1 -a 3 -d - f)
    done"
t_made=$(secs "$t" "$(now)")
in_step 300 "$pushes" -aniHAX "$MANY"
tap_ok $? "4. 100,000 small files in 100 directories: in step"
t_many=$(secs "$t" "$(now)")
health
tap_is "$(ex "$S" find "$DEST$MANY" -type f | wc -l)" 100000 "100,000 files on the standby"
tap_diag "100,000 files: made in $t_made s, in step $t_many s after the first ($(($(fig fig.pushes) - pushes)) pushes, $(($(fig fig.overflows) - overflows)) queue overflows)"

# ------------------------------------------------------------ 6. kills
jpid=$(fig pid)
vpid=$(ex "$P" cat /run/vcha/vchad.sock.lock)
ex "$P" rm -rf "$TREE$MANY" &
rmer=$!
ex "$S" bash -c "for ((i = 0; i < 3000; i++)); do
        vcha-receive --state $DEST 2> /dev/null | grep -qx running=yes &&
            exit 0
        sleep 0.01
    done; exit 1"
tap_ok $? "6. a push under way (the 100,000 files being deleted)"
ex "$P" kill -KILL "$vpid" "$jpid"
tap_ok $? "vchad ($vpid) and the job's process ($jpid) killed"
left=$(ex "$P" ps -o comm= -s "$jpid" | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }')
tap_diag "left of the job's session: ${left:-nothing}"
ex "$P" vchactl ping > /dev/null 2>&1
tap_is $? 3 "no vchad answers"
wait "$rmer"
ex "$P" sh -c "echo while-down > $TREE$LAB_DIR/while-down"
ex "$P" env HA_LOGFACILITY=none HA_LOGFILE=/var/log/vchad.log vchactl start > /dev/null
tap_ok $? "vchactl start"
wait_for 20 sh -c "'$LAB' exec $P vchactl health $ID | grep -q '^pid=[1-9]'"
tap_ok $? "the job is back (from its record)"
tap_cond "$(now_fig pid) != $jpid" "with a new process"
wait_for 20 sh -c "! '$LAB' exec $P ps -o pid= -s $jpid | grep -q ."
tap_ok $? "nothing of the killed job's session is left (rsync, ssh)"
in_step 300 0 -aniHAX "$LAB_DIR"
tap_ok $? "in step (and the whole tree: the walk below)"
tap_is "$(ex "$S" sh -c "ls -d $DEST$MANY 2>&1" | grep -c 'No such')/$(ex "$S" cat "$DEST$LAB_DIR/while-down")" \
    "1/while-down" "the deletion and the change made while nothing ran arrived"

# ------------------------------------------------------------ at the end
filter_copy
t=$(now)
walk -anicHAX > "$work/walk"
tap_is "$(wc -l < "$work/walk")" 0 \
    "at the end: the standby is the primary minus the exclusions (checksum walk, $(secs "$t" "$(now)") s)"
head -5 "$work/walk" | sed 's/^/#   /'
listing "$work/filter" > "$work/with"
listing > "$work/without"
tap_is "$(diff "$work/with" "$work/without" | grep '^[<>]')" \
    "> *deleting   etc/hostname" \
    "of what the list excludes the standby holds its own /etc/hostname alone"
state
tap_is "$(marker state)/$(marker packages)" "complete/$(now_fig fig.packages)" \
    "the marker: complete, the job's package digest"
tap_is "$(fig fig.in_sync)/$(fig state)" "1/ok" "the job: in step, ok"

tap_diag "figures: first full push $t_first s; 1 GiB file $t_big s; 100,000 files $t_many s; single writes p50 ${p50:-?} ms"
tap_diag "runtime $(secs "$t_start" "$(now)") s"
tap_done
