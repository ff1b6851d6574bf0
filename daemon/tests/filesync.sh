#!/bin/bash
# vchad's filesync job, run by the real vchad through vchactl, pushing with
# the real rsync into a local directory, and over ssh and to an rsync daemon
# on 127.0.0.1 (tests/lib/receiver.sh) into vcha-receive: the first full push, changes of every
# kind, the package-aware list (a kernel package installed on the source
# never arrives, even when its files travelled before its package did),
# lost events, a standby that fails and comes back, the job's process
# killed, the receiver killed in the middle of a push, a secret others can
# read, a wrong password, bad parameters, figures and node attributes.  The source is a
# tmpfs of its own, so fanotify can mark it; the inotify fallback runs too.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/receiver.sh"

VCHAD=${VCHAD:?}
CTL=${VCHACTL:?}
RECEIVE=${VCHA_RECEIVE:?}
[ -x "$VCHAD" ] && [ -x "$CTL" ] || tap_bail "build vchad and vchactl first"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (a tmpfs mount, fanotify)"

work=$(mktemp -d)
SOCK=$work/run/vchad.sock
export VCHA_SOCKET=$SOCK VCHA_VCHAD=$VCHAD VCHA_RUN_DIR=$work/run
export HA_LOGFACILITY=none HA_LOGFILE=$work/vchad.log HA_debug=1
unset HA_LOGTAG
mkdir -p "$work/bin" "$work/fs" "$work/dst" "$work/dst2"
printf '#!/bin/sh\necho "$*" >> %s/attrd.log\n' "$work" > "$work/bin/attrd_updater"
chmod 755 "$work/bin/attrd_updater"
# rsync as itself, but for one run while $work/vanish-once exists: then the
# real rsync runs and its exit 0 is said as 24 (a file vanished while it
# was sent), the race no test can time
cat > "$work/bin/rsync" << EOF
#!/bin/sh
PATH=\${PATH#$work/bin:}
[ -e $work/vanish-once ] || exec rsync "\$@"
rsync "\$@"
rc=\$?
rm -f $work/vanish-once
[ \$rc = 0 ] && exit 24
exit \$rc
EOF
chmod 755 "$work/bin/rsync"
export PATH=$work/bin:$PATH

cleanup() {
    local pid
    pid=$(cat "$SOCK.lock" 2> /dev/null)
    [ -n "$pid" ] && kill -TERM "$pid" 2> /dev/null
    for i in $(seq 50); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    [ -n "${jpid:-}" ] && kill -KILL "$jpid" 2> /dev/null
    if [ "$tap_failed" -gt 0 ] && [ -f "$work/vchad.log" ]; then
        tap_diag "vchad.log:" && tail -30 "$work/vchad.log" | sed 's/^/#   /'
    fi
    umount "$work/fs" 2> /dev/null
    receiver_stop
    rm -rf "$work" "${rw:-}"
}
trap cleanup EXIT
mount -t tmpfs -o size=256m vcha-filesync-test "$work/fs" ||
    tap_bail "cannot mount a tmpfs"
src=$work/fs/src

health_key() { "$CTL" health "$1" 2> /dev/null | sed -n "s/^$2=//p"; }
wait_fig() { # wait_fig ID 'EXPR with $v' KEY: 0 once figure KEY makes EXPR true (20 s)
    local i v
    for ((i = 0; i < 400; i++)); do
        v=$(health_key "$1" "$3")
        [ -n "$v" ] && (($2)) && return 0
        sleep 0.05
    done
    return 1
}
wait_health() { # wait_health ID KEY VALUE [SECONDS]
    local i
    for ((i = 0; i < ${4:-20} * 20; i++)); do
        [ "$(health_key "$1" "$2")" = "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
# differences between the source and the standby, the filter applied
differ() { # differ FILTER DST: itemized differences, none when in step
    rsync -aniHAX --numeric-ids --delete --checksum --filter="merge $1" \
        "$src/" "$2/" | grep -v '^\.d\.\.t\.\.\.\.\.\. \./$' || true
}
converged() { # converged ID DST [SECONDS]: 0 once the standby matches (30 s)
    local i f=$work/run/filesync/$1/filter
    for ((i = 0; i < ${3:-30} * 10; i++)); do
        if [ "$(health_key "$1" fig.in_sync)" = 1 ] && [ -z "$(differ "$f" "$2")" ]; then
            return 0
        fi
        sleep 0.1
    done
    differ "$f" "$2" | head -5 | sed 's/^/# differs: /'
    return 1
}
mkdir -p "$work/empty"

# --- a source with a dpkg database: bash (needed), a kernel (not)
pkg() { # pkg NAME PATH...: install package NAME owning PATHs (DIR/: a directory)
    local f
    printf 'Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n' \
        "$1" >> "$src/var/lib/dpkg/status"
    : > "$src/var/lib/dpkg/info/$1.list"
    for f in "${@:2}"; do
        if [ "${f%/}" != "$f" ]; then
            mkdir -p "$src$f"
        else
            mkdir -p "$src$(dirname "$f")"
            [ -e "$src$f" ] || echo "$1 $f" > "$src$f"
        fi
        echo "${f%/}" >> "$src/var/lib/dpkg/info/$1.list"
    done
}
mkdir -p "$src/var/lib/dpkg/info" "$src/etc" "$src/proc" "$src/tmp"
: > "$src/var/lib/dpkg/status"
pkg bash /usr/ /usr/bin/ /usr/bin/bash /usr/lib/ /usr/lib/libbash.so
pkg linux-image-6.1.0-1-amd64 /usr/ /usr/lib/ /usr/lib/modules/ \
    /usr/lib/modules/6.1.0-1/ /usr/lib/modules/6.1.0-1/kernel.ko
echo vm1 > "$src/etc/hostname"
echo 'root:x:0:0' > "$src/etc/passwd"
echo junk > "$src/tmp/scratch"
mkdir -p "$src/home/app" && echo data > "$src/home/app/db"
chown 104:109 "$src/home/app/db"
ln "$src/home/app/db" "$src/home/app/db.link"
ln -s db "$src/home/app/db.sym"

"$CTL" start > /dev/null 2>&1 || tap_bail "vchad does not start"

# --- bad parameters: refused at job-add, naming the parameter
out=$("$CTL" add filesync bad source=relative target="$work/dst" 2>&1)
tap_like "$out" "*source*" "a relative source is refused, naming source"
out=$("$CTL" add filesync bad source="$src" target="ssh://h" 2>&1)
tap_like "$out" "*identity*" "an ssh target without a key is refused"
out=$("$CTL" add filesync bad source="$src" target="ssh://h;x" 2>&1)
tap_like "$out" "*target*" "a target with a shell character is refused"
out=$("$CTL" add filesync bad source="$src" target="$work/dst" delay=5min 2>&1)
tap_like "$out" "*delay*" "a delay past a minute is refused"
"$CTL" health bad > /dev/null 2>&1
tap_is $? 1 "and no job was made"

# --- the first full push
"$CTL" add filesync fs1 source="$src" target="$work/dst" mechanism=fanotify \
    delay=50ms verify_interval=0 timeout_ms=10000 > /dev/null
tap_is $? 0 "add a filesync job"
wait_health fs1 fig.in_sync 1
tap_ok $? "the first full push completes"
tap_is "$(health_key fs1 fig.mechanism)" fanotify "it tracks with fanotify"
tap_is "$(health_key fs1 fig.full_pushes)" 1 "one full push"
filter=$work/run/filesync/fs1/filter
tap_ok "$(grep -Fqx -- '- /usr/lib/modules/***' "$filter"; echo $?)" \
    "its list excludes the kernel's modules, collapsed"
converged fs1 "$work/dst"
tap_ok $? "the standby holds the source minus the exclusions (checksums)"
tap_ok "$([ -e "$work/dst/usr/bin/bash" ] && [ ! -e "$work/dst/usr/lib/modules" ]; echo $?)" \
    "a needed package's file arrived, the kernel's did not"
tap_ok "$([ ! -e "$work/dst/etc/hostname" ] && [ ! -e "$work/dst/tmp/scratch" ] && [ -d "$work/dst/tmp" ]; echo $?)" \
    "the VM's identity and /tmp's contents stay behind, /tmp itself arrives"
echo ct1 > "$work/dst/etc/hostname" # the container's own name
tap_is "$(stat -c %u:%g "$work/dst/home/app/db")" 104:109 "numeric ids kept"
tap_is "$(stat -c %i "$work/dst/home/app/db")" "$(stat -c %i "$work/dst/home/app/db.link")" \
    "hard links kept"
tap_is "$(readlink "$work/dst/home/app/db.sym")" db "symbolic links kept"

# --- changes of every kind
echo changed > "$src/etc/passwd"
echo new > "$src/etc/new"
rm "$src/home/app/db.link"
mv "$src/home/app/db" "$src/home/app/db.old"
mkdir -p "$work/fs/outside/tree/sub" && echo x > "$work/fs/outside/tree/sub/f"
mv "$work/fs/outside/tree" "$src/home/moved-in"
mkdir "$src/home/d1" && echo 1 > "$src/home/d1/f" && mv "$src/home/d1" "$src/home/d2"
echo after > "$src/home/d2/g"
setfattr -n user.vcha -v 1 "$src/etc/new" 2> /dev/null
chmod 600 "$src/etc/passwd"
echo vm1-renamed > "$src/etc/hostname"
mkdir -p "$src/boot" && echo k > "$src/boot/vmlinuz-new"
converged fs1 "$work/dst"
tap_ok $? "write, create, delete, rename, a tree moved in, a renamed directory: in step"
tap_ok "$([ ! -e "$work/dst/home/app/db" ] && [ -e "$work/dst/home/app/db.old" ] && [ -e "$work/dst/home/moved-in/sub/f" ]; echo $?)" \
    "the renamed file's old name is gone, the moved-in tree arrived whole"
tap_is "$(stat -c %a "$work/dst/etc/passwd")" 600 "a mode change arrived"
tap_ok "$([ "$(cat "$work/dst/etc/hostname")" = ct1 ] && [ ! -e "$work/dst/boot/vmlinuz-new" ]; echo $?)" \
    "changed and new paths that the list excludes do not travel"
if command -v getfattr > /dev/null; then
    tap_is "$(getfattr --only-values -n user.vcha "$work/dst/etc/new" 2> /dev/null)" 1 \
        "an extended attribute arrived"
fi
wait_fig fs1 'v >= 2' fig.pushes
tap_ok $? "pushes counted"
tap_is "$(health_key fs1 fig.full_pushes)" 1 "incremental ones: still one full push"
wait_fig fs1 'v >= 5' fig.files_sent
tap_ok $? "files counted"

# --- rsync says a file vanished while it was sent (exit 24, injected):
# the standby marks such a batch incomplete, and the change that removed
# the file may have been in the batch: the same paths go again
p0=$(health_key fs1 fig.pushes)
full0=$(health_key fs1 fig.full_pushes)
touch "$work/vanish-once"
echo vanish > "$src/etc/vanish"
wait_fig fs1 "v >= $((p0 + 2))" fig.pushes
tap_ok $? "a push that ended with 24 is followed by another, with no new change"
tap_ok "$([ ! -e "$work/vanish-once" ]; echo $?)" "(the injected 24 was said)"
tap_ok "$(tr '\0' '\n' < "$work/run/filesync/fs1/list" | grep -qx etc/vanish; echo $?)" \
    "for the same paths"
tap_is "$(health_key fs1 fig.full_pushes)" "$full0" "(a push of those paths, not a full one)"
sleep 0.5
tap_is "$(health_key fs1 fig.pushes)/$(health_key fs1 fig.failures)" "$((p0 + 2))/0" \
    "and no more: neither counted as a failure"
converged fs1 "$work/dst"
tap_ok $? "in step"

# --- a file rewritten at the same size within the second of its last push:
# its new time differs in the nanoseconds only, and must still tell rsync
# that it changed
echo aa > "$src/etc/same-size"
converged fs1 "$work/dst"
tap_ok $? "a small file arrives"
sec=$(stat -c %Y "$work/dst/etc/same-size")
ns=$(stat -c %y "$work/dst/etc/same-size" | sed 's/.*\.\([0-9]*\) .*/\1/')
other=$((10#$ns < 500000000 ? 10#$ns + 400000000 : 10#$ns - 400000000))
p0=$(health_key fs1 fig.pushes)
echo bb > "$work/fs/same-size.new"
touch -d "@$sec.$(printf %09d "$other")" "$work/fs/same-size.new"
mv "$work/fs/same-size.new" "$src/etc/same-size"
wait_fig fs1 "v > $p0" fig.pushes
converged fs1 "$work/dst"
tap_is "$(cat "$work/dst/etc/same-size")" bb \
    "rewritten at the same size, in the same second: the new content arrives"

# --- a file kept open and written, never closed
exec 7>> "$src/home/app/log"
echo line1 >&7
converged fs1 "$work/dst"
tap_is "$(cat "$work/dst/home/app/log" 2> /dev/null)" line1 \
    "a write to a file held open arrives without a close"
exec 7>&-

# --- an unneeded package installed: its files never stay on the standby.
# They are written before dpkg's database names them, and travel as files
# of no package (a service's data could be anywhere); once the package is
# known, the rebuilt list excludes them and a cleanup push deletes them.
mkdir -p "$src/usr/share/fw-foo"
echo blob > "$src/usr/share/fw-foo/foo.bin"
converged fs1 "$work/dst"
tap_ok "$([ -e "$work/dst/usr/share/fw-foo/foo.bin" ]; echo $?)" \
    "files of no package travel"
digest1=$(health_key fs1 fig.packages)
pkg firmware-foo /usr/share/fw-foo/ /usr/share/fw-foo/foo.bin
converged fs1 "$work/dst"
tap_ok "$([ ! -e "$work/dst/usr/share/fw-foo" ]; echo $?)" \
    "once their package is known as unneeded, they are deleted on the standby"
tap_ok "$(grep -Fqx -- '- /usr/share/fw-foo/***' "$work/run/filesync/fs1/filter"; echo $?)" \
    "the list was rebuilt"
tap_cond "${#digest1} == 64" "the packages' digest is a figure"
wait_fig fs1 '1' fig.packages && [ "$(health_key fs1 fig.packages)" != "$digest1" ]
tap_ok $? "and it changed with the package list"
tap_ok "$([ -e "$work/dst/usr/bin/bash" ] && [ -d "$work/dst/tmp" ]; echo $?)" \
    "the cleanup deleted nothing else"
tap_is "$(cat "$work/dst/etc/hostname")" ct1 \
    "the container's own /etc/hostname (always excluded) survives the cleanup"

# --- node attributes
tap_ok "$(grep -q "vcha-fs1-sync-lag-ms" "$work/attrd.log"; echo $?)" \
    "the lag is published as a node attribute"
tap_ok "$(grep -q "vcha-fs1-sync-last-full" "$work/attrd.log"; echo $?)" \
    "and the last full sync"
tap_is "$(health_key fs1 fig.lag_ms)" 0 "in step: no lag"
status=$("$CTL" status 2> /dev/null)
tap_like "$status" "*fs1*filesync*lag_ms=0*" "vchactl status shows the job's figures"

# --- lost events: the job stopped while 20,000 files appear
jpid=$(health_key fs1 pid)
kill -STOP "$jpid"
mkdir "$src/many"
(cd "$src/many" && seq 20000 | xargs touch)
echo after-the-flood > "$src/etc/passwd" # its event is lost: queue full
kill -CONT "$jpid"
converged fs1 "$work/dst" 120
tap_ok $? "after the kernel's queue overflowed, a full push brings it in step"
tap_is "$(cat "$work/dst/etc/passwd")" after-the-flood \
    "a change whose event was lost arrives too"
wait_fig fs1 'v >= 1' fig.overflows
tap_ok $? "the overflow is counted"
wait_fig fs1 'v >= 3' fig.full_pushes
tap_ok $? "and answered by a full push"
rm -rf "$src/many"
converged fs1 "$work/dst" 120

# --- events lost while a full push runs: that push cannot carry them (it
# may have walked past), another is owed
kill -STOP "$jpid"
mkdir "$src/many2"
(cd "$src/many2" && seq 20000 | xargs touch)
kill -CONT "$jpid"
for i in $(seq 500); do
    pgrep -f "rsync .*--stats.* $src/ " > /dev/null && break
    sleep 0.02
done
kill -STOP "$jpid"
mkdir "$src/many3"
(cd "$src/many3" && seq 20000 | xargs touch)
echo during-the-push > "$src/etc/passwd" # its event is lost: queue full
kill -CONT "$jpid"
converged fs1 "$work/dst" 120
tap_is "$(cat "$work/dst/etc/passwd")" during-the-push \
    "events lost during a full push: a change it walked past arrives"
rm -rf "$src/many2" "$src/many3"
converged fs1 "$work/dst" 120
jpid=

# --- the standby fails (its directory is a file), then comes back
failures=$(health_key fs1 fig.failures)
mv "$work/dst" "$work/dst.away" && : > "$work/dst"
echo more > "$src/etc/more"
for i in $(seq 100); do
    [ "$(health_key fs1 fig.failures)" -gt "$failures" ] && break
    sleep 0.1
done
tap_cond "$(health_key fs1 fig.failures) > failures" "a failed push is counted"
tap_is "$(health_key fs1 state)" failing "the job's state says it fails"
tap_like "$(health_key fs1 last_error)" "*rsync*" "with rsync's error"
tap_cond "$(health_key fs1 fig.lag_ms) > 0" "the lag grows meanwhile"
tap_is "$(health_key fs1 fig.in_sync)" 0 "and the copy is not in step"
full=$(health_key fs1 fig.full_pushes)
rm "$work/dst" && mv "$work/dst.away" "$work/dst"
converged fs1 "$work/dst"
tap_ok $? "once the standby is back, it is brought in step"
tap_cond "$(health_key fs1 fig.full_pushes) > full" "by a full push"
wait_health fs1 state ok
tap_ok $? "and the job's state is ok again"

# --- the job's process killed: the daemon starts another, which catches up
jpid=$(health_key fs1 pid)
kill -KILL "$jpid"
echo while-down > "$src/etc/while-down"
for i in $(seq 100); do
    p=$(health_key fs1 pid)
    [ -n "$p" ] && [ "$p" != "$jpid" ] && break
    sleep 0.1
done
tap_ok "$([ "$(health_key fs1 pid)" != "$jpid" ]; echo $?)" "a new process"
converged fs1 "$work/dst"
tap_ok $? "which brings the standby in step, the change made while none ran included"
jpid=

# --- a package registered while no process of the job runs: the next one
# finds a list other than its predecessor's, and cleans up
mkdir -p "$src/usr/share/fw-bar"
echo blob > "$src/usr/share/fw-bar/bar.bin"
converged fs1 "$work/dst"
tap_ok "$([ -e "$work/dst/usr/share/fw-bar/bar.bin" ]; echo $?)" \
    "a file of no package travels"
jpid=$(health_key fs1 pid)
kill -STOP "$jpid" # its events die with it
pkg firmware-bar /usr/share/fw-bar/ /usr/share/fw-bar/bar.bin
kill -KILL "$jpid"
for i in $(seq 100); do
    p=$(health_key fs1 pid)
    [ -n "$p" ] && [ "$p" != "$jpid" ] && break
    sleep 0.1
done
converged fs1 "$work/dst"
tap_ok "$([ ! -e "$work/dst/usr/share/fw-bar" ]; echo $?)" \
    "the new process deletes the package's files on the standby"
tap_is "$(cat "$work/dst/etc/hostname")" ct1 "and keeps the protected ones"
jpid=

# --- remove: the job's process and its files go
jpid=$(health_key fs1 pid)
"$CTL" remove fs1 > /dev/null 2>&1
tap_is $? 0 "remove the job"
tap_ok "$([ -n "$jpid" ] && [ ! -e "/proc/$jpid" ]; echo $?)" "its process is gone"
jpid=

# --- the inotify fallback, on a plain directory
rm -rf "$work/dst2"/*
printf -- '- /home/secret/***\n- /proc/*\n' > "$work/my-filter"
mkdir -p "$src/home/secret" && echo s > "$src/home/secret/key"
"$CTL" add filesync fs2 source="$src" target="$work/dst2" mechanism=inotify \
    delay=50ms timeout_ms=10000 filter="$work/my-filter" > /dev/null
wait_health fs2 fig.in_sync 1 60
tap_is "$(health_key fs2 fig.mechanism)" inotify "mechanism=inotify tracks with inotify"
tap_cond "$(health_key fs2 fig.watches) > 5" "one watch per directory"
mkdir -p "$src/home/ino/a/b" && echo 1 > "$src/home/ino/a/b/c"
mv "$src/home/ino" "$src/home/ino2"
echo 2 > "$src/home/ino2/a/b/d"
rm "$src/etc/new"
converged fs2 "$work/dst2"
tap_ok $? "inotify: new trees, a renamed directory written into, a deletion: in step"
echo s2 > "$src/home/secret/key2"
echo v > "$src/home/visible"
converged fs2 "$work/dst2"
tap_ok "$([ -e "$work/dst2/home/visible" ] && [ ! -e "$work/dst2/home/secret" ] && [ -e "$work/dst2/etc/hostname" ]; echo $?)" \
    "a filter file of the admin's is the list: what it excludes stays behind, the rest travels"
"$CTL" remove fs2 > /dev/null 2>&1

# --- over ssh, into vcha-receive, on one master connection
rw=$(receiver_workdir) || tap_bail "no scratch directory for sshd"
receiver_sshd_start "$rw" || tap_bail "sshd did not start"
mkdir -p "$rw/ct1/rootfs"
receiver_ssh_key push "$RECEIVE --dest $rw/ct1/rootfs"
"$CTL" add filesync fs3 source="$src" \
    target="ssh://root@127.0.0.1:$RECEIVER_SSH_PORT" identity="$rw/key-push" \
    known_hosts="$rw/known_hosts" delay=50ms timeout_ms=20000 > /dev/null
tap_is $? 0 "add a filesync job with an ssh target"
wait_health fs3 fig.in_sync 1 60
tap_ok $? "ssh: the first full push completes"
converged fs3 "$rw/ct1/rootfs"
tap_ok $? "ssh: the standby holds the source minus the exclusions"
"$RECEIVE" --state "$rw/ct1/rootfs" > "$work/state" 2>&1
tap_is $? 0 "the receiver's marker says its last batch completed"
tap_is "$(sed -n 's/^packages=//p' "$work/state")" "$(health_key fs3 fig.packages)" \
    "with the packages' digest the job reports"
master=$(pgrep -f "ControlPath=$work/run/filesync/fs3/ssh")
tap_ok "$([ -n "$master" ] && [ -S "$work/run/filesync/fs3/ssh" ]; echo $?)" \
    "a master connection is up"
batch=$(sed -n 's/^batch=//p' "$rw/ct1/rootfs.vcha-sync")
echo over-ssh > "$src/etc/over-ssh"
converged fs3 "$rw/ct1/rootfs"
tap_ok $? "ssh: a change arrives"
tap_cond "$(sed -n 's/^batch=//p' "$rw/ct1/rootfs.vcha-sync") > batch" \
    "as a batch of its own"
tap_is "$(pgrep -f "ControlPath=$work/run/filesync/fs3/ssh")" "$master" \
    "through the same master connection"

# a directory removed with what it holds (as dpkg -r does): one batch lists
# the directory and its files, all gone; the standby loses them all, and
# the batch completes (rsync takes a gone directory above a listed path for
# a file that vanished: the batch would stay incomplete)
mkdir -p "$src/etc/gone.d/sub" && echo 1 > "$src/etc/gone.d/a" &&
    echo 2 > "$src/etc/gone.d/sub/b"
converged fs3 "$rw/ct1/rootfs"
tap_ok "$([ -f "$rw/ct1/rootfs/etc/gone.d/sub/b" ]; echo $?)" "a directory with its files arrives"
batch=$(sed -n 's/^batch=//p' "$rw/ct1/rootfs.vcha-sync")
rm -r "$src/etc/gone.d"
converged fs3 "$rw/ct1/rootfs"
tap_ok "$([ ! -e "$rw/ct1/rootfs/etc/gone.d" ]; echo $?)" "removed with its files: gone from the standby"
for i in $(seq 100); do
    [ "$(sed -n 's/^batch=//p' "$rw/ct1/rootfs.vcha-sync")" -gt "$batch" ] &&
        ! grep -qx 'state=running' "$rw/ct1/rootfs.vcha-sync" && break
    sleep 0.05
done
tap_is "$(sed -n 's/^state=//p;s/^status=/status /p' "$rw/ct1/rootfs.vcha-sync" | tr '\n' ' ')" \
    "complete status 0 " "and the batch that removed them completed (rsync exit 0)"

# the receiver killed in the middle of a push: the file's live name never
# holds a part, the marker says incomplete, the next push completes it
head -c 300M /dev/urandom > "$work/fs/big.tmp" 2> /dev/null ||
    dd if=/dev/urandom of="$work/fs/big.tmp" bs=1M count=200 2> /dev/null
mv "$work/fs/big.tmp" "$src/home/big"
for i in $(seq 200); do
    pgrep -f "rsync --server.*$rw/ct1/rootfs" > /dev/null &&
        ls -a "$rw/ct1/rootfs/home" | grep -q '^\.big\.' && break
    sleep 0.05
done
pkill -KILL -f "rsync --server.*$rw/ct1/rootfs" 2> /dev/null
tap_ok "$([ ! -e "$rw/ct1/rootfs/home/big" ]; echo $?)" \
    "the receiver killed mid-file: no live file holds a part"
"$RECEIVE" --state "$rw/ct1/rootfs" > /dev/null 2>&1
tap_is $? 1 "the marker says the batch did not complete"
converged fs3 "$rw/ct1/rootfs"
tap_ok $? "the next push brings the standby in step"
tap_is "$(sha256sum < "$rw/ct1/rootfs/home/big")" "$(sha256sum < "$src/home/big")" \
    "the file whole"
"$RECEIVE" --state "$rw/ct1/rootfs" > /dev/null 2>&1
tap_is $? 0 "and the marker says complete"
tap_is "$(ls -a "$rw/ct1/rootfs/home" | grep -c '^\.big\.')" 0 \
    "no temporary file is left"
rm "$src/home/big"

# a key others can read: pushes stop, saying why, until it is mended
chmod 644 "$rw/key-push"
echo unread > "$src/etc/unread"
wait_health fs3 state failing
tap_ok $? "a key others can read: the job fails"
tap_like "$(health_key fs3 last_error)" "*key-push*0644*" \
    "naming the key and its mode"
tap_ok "$([ ! -e "$rw/ct1/rootfs/etc/unread" ]; echo $?)" "and pushes nothing"
chmod 600 "$rw/key-push"
converged fs3 "$rw/ct1/rootfs"
tap_ok $? "mended: the standby is brought in step"
"$CTL" remove fs3 > /dev/null 2>&1
tap_ok "$(! pgrep -f "ControlPath=$work/run/filesync/fs3/ssh" > /dev/null; echo $?)" \
    "removing the job closes its master connection"

# --- to an rsync daemon (private networks only)
mkdir -p "$rw/ct2/rootfs"
receiver_rsyncd_start "$rw" vcha "$rw/ct2/rootfs" "$RECEIVE" ||
    tap_bail "rsync --daemon did not start"
echo wrong > "$work/wrong.pass" && chmod 600 "$work/wrong.pass"
"$CTL" add filesync fs4 source="$src" target="$RECEIVER_RSYNC_URL" \
    password_file="$work/wrong.pass" delay=50ms timeout_ms=20000 > /dev/null
wait_health fs4 state failing
tap_ok $? "a wrong password: the job fails"
tap_like "$(health_key fs4 last_error)" "*@ERROR*auth*" "with the daemon's own words"
tap_is "$(find "$rw/ct2/rootfs" -mindepth 1 | wc -l)" 0 "nothing reached the standby"
"$CTL" add filesync fs4 source="$src" target="$RECEIVER_RSYNC_URL" \
    password_file="$RECEIVER_RSYNC_PASSFILE" delay=50ms timeout_ms=20000 > /dev/null
converged fs4 "$rw/ct2/rootfs"
tap_ok $? "rsync daemon: the standby holds the source minus the exclusions"
for i in 1 2 3 4 5; do echo "$i" > "$src/etc/burst-$i"; sleep 0.03; done
converged fs4 "$rw/ct2/rootfs"
tap_ok $? "rsync daemon: pushes one after the other arrive"
"$RECEIVE" --state "$rw/ct2/rootfs" > /dev/null 2>&1
tap_is $? 0 "and the marker says complete"
"$CTL" remove fs4 > /dev/null 2>&1

tap_done
