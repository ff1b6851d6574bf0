#!/bin/bash
# vcha-receive, the standby's end of the file sync, behind a real sshd (as a
# forced command) and a real rsync daemon (as its pre-xfer and post-xfer
# hooks), both on 127.0.0.1 (tests/lib/receiver.sh), pushed to by the real
# rsync with the sender's flags: ownership by number, hard links, xattrs,
# deletion of missing paths, the batch marker and its packages digest, a
# push killed half-way, refused downloads, destinations and commands,
# daemon authentication, an unreachable receiver, the lock between pushes,
# `vcha-receive --state`, and the active marker that refuses every push.
# Runs as root.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/receiver.sh"

RECEIVE=${VCHA_RECEIVE:?}
[ -x "$RECEIVE" ] || tap_bail "build vcha-receive first ($RECEIVE)"
[ "$(id -u)" = 0 ] || tap_skip_all "needs root (sshd, file ownership)"
for tool in "$RECEIVER_SSHD" ssh ssh-keygen rsync setfattr getfattr flock \
    ss sha256sum setsid; do
    command -v "$tool" > /dev/null ||
        tap_bail "$tool is missing (openssh-server, openssh-client, rsync," \
            "attr, util-linux, iproute2: tests/run-all installs them)"
done

work=$(receiver_workdir) || tap_bail "no scratch directory for sshd"
src=$work/src     # the primary's tree
dest=$work/rootfs # the standby's copy, over ssh
ddest=$work/drootfs # the standby's copy, over the rsync daemon
mkdir -p "$src" "$dest" "$ddest"
bg_pids=()

cleanup() {
    local pid
    for pid in "${bg_pids[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    done
    receiver_stop
    if [ "$tap_failed" -gt 0 ]; then
        for f in sshd.log rsyncd.log; do
            [ -f "$work/$f" ] && tap_diag "$f:" &&
                tail -30 "$work/$f" | sed 's/^/#   /'
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

run() { # run CMD...: sets OUT, ERR, RC
    OUT=$("$@" 2> "$work/run.err")
    RC=$?
    ERR=$(cat "$work/run.err")
}
field() { sed -n "s/^$2=//p" "$1.vcha-sync" 2>/dev/null; }
marks() { # state/batch/completed of DIR's marker
    echo "$(field "$1" state)/$(field "$1" batch)/$(field "$1" completed)"
}
sum() { sha256sum "$1" | cut -c1-64; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# the paths of the source tree, NUL-separated, plus missing ones to delete
files_list() {
    (cd "$src" && find . -mindepth 1 -printf '%P\0') > "$work/files"
    [ $# -gt 0 ] && printf '%s\0' "$@" >> "$work/files"
    true
}
# the sender's flags (vchad's filesync job)
SENDER=(-aHAX --numeric-ids -r --files-from="$work/files" --from0
    --delete-missing-args --delete --delete-delay --stats
    --filter="merge $work/filter")
push_ssh() { # push_ssh [RSYNC-ARGS...]: to the default key's destination
    run rsync "${SENDER[@]}" -e "$SSH_PUSH" "$@" "$src/" root@127.0.0.1:
}
push_daemon() { # push_daemon [RSYNC-ARGS...]: retried while the module is busy
    local i
    for i in $(seq 1 50); do
        run rsync "${SENDER[@]}" --password-file="$RECEIVER_RSYNC_PASSFILE" \
            "$@" "$src/" "$RECEIVER_RSYNC_URL"
        # "max connections (1) reached": the last one's post-xfer still runs
        [ "$RC" = 5 ] || return 0
        sleep 0.1
    done
}
wait_unlocked() { flock -w 30 "$1.vcha-sync.lock" true; }
wait_state() { "$RECEIVE" --state "$1" --wait 30 > /dev/null 2>&1; }

# ------------------------------------------------------------ the tree
mkdir -p "$src/etc" "$src/data" "$src/var/lib/dpkg"
echo "127.0.0.1 localhost" > "$src/etc/hosts"
echo owned > "$src/data/owned"
chown 12345:23456 "$src/data/owned"
echo linked > "$src/data/link1"
ln "$src/data/link1" "$src/data/link2"
echo labelled > "$src/data/xattr"
setfattr -n user.vcha -v hello "$src/data/xattr"
printf 'Package: base-files\nStatus: install ok installed\n\n' \
    > "$src/var/lib/dpkg/status"
echo scratch > "$src/data/scratch.tmp"
head -c $((40 * 1024 * 1024)) /dev/urandom > "$src/big"
# with --from0, rsync reads merge files NUL-separated too (rsync(1),
# --from0): a newline-separated filter would be one rule that never matches
printf '%s\0' '- *.tmp' > "$work/filter"

# ------------------------------------------------------------ ssh
receiver_sshd_start "$work" || tap_bail "sshd did not start"
tap_diag "sshd on 127.0.0.1:$RECEIVER_SSH_PORT, workdir $work"
receiver_ssh_key push "$RECEIVE --dest $dest"
SSH_PUSH=$RECEIVER_SSH
receiver_ssh_key quick "$RECEIVE --dest $dest --lock-wait 1"
SSH_QUICK=$RECEIVER_SSH
receiver_ssh_key dquick "$RECEIVE --dest $ddest --lock-wait 1"
SSH_DQUICK=$RECEIVER_SSH
receiver_ssh_key missing "$RECEIVE --dest $work/no-such-dir"
SSH_MISSING=$RECEIVER_SSH
receiver_ssh_key relative "$RECEIVE --dest rootfs"
SSH_RELATIVE=$RECEIVER_SSH

"$RECEIVE" --state "$dest" > "$work/state.out" 2> "$work/state.err"
tap_is "$?" 2 "--state before any push: exit 2 (never synced)"
tap_is "$(cat "$work/state.out")" "state=never" "and says state=never"

files_list
push_ssh
tap_is "$RC" 0 "ssh: the first push succeeds"
[ "$RC" = 0 ] || tap_diag "$ERR"
tap_is "$(stat -c %u:%g "$dest/data/owned")" 12345:23456 \
    "ssh: numeric ids kept (12345:23456)"
tap_is "$(stat -c %i "$dest/data/link1")" "$(stat -c %i "$dest/data/link2")" \
    "ssh: hard links kept (one inode)"
tap_is "$(getfattr --only-values -n user.vcha "$dest/data/xattr" 2>/dev/null)" \
    hello "ssh: xattrs kept"
tap_is "$(sum "$dest/big")" "$(sum "$src/big")" "ssh: the large file arrived"
tap_ok "$([ ! -e "$dest/data/scratch.tmp" ]; echo $?)" \
    "ssh: the sender's filter applies"
tap_is "$(marks "$dest")" \
    complete/1/1 "ssh: marker complete, batch 1"
tap_is "$(field "$dest" packages)" "$(sum "$src/var/lib/dpkg/status")" \
    "ssh: marker holds the dpkg status file's sha256"
tap_ok "$([ ! -e "$dest/.vcha-sync" ] && [ -f "$dest.vcha-sync" ]; echo $?)" \
    "ssh: the marker lies beside the tree, not in it"

rm "$src/etc/hosts"
files_list etc/hosts
push_ssh
tap_is "$RC" 0 "ssh: a push with a missing path succeeds"
tap_ok "$([ ! -e "$dest/etc/hosts" ]; echo $?)" \
    "ssh: --delete-missing-args deleted it"
tap_is "$(field "$dest" state)/$(field "$dest" batch)" complete/2 \
    "ssh: marker complete, batch 2"

old_pk=$(field "$dest" packages)
printf 'Package: %s\nStatus: install ok installed\n\n' base-files nginx \
    > "$src/var/lib/dpkg/status"
files_list
push_ssh
tap_is "$(field "$dest" batch)" 3 "ssh: the batch counts up"
tap_is "$(field "$dest" packages)" "$(sum "$src/var/lib/dpkg/status")" \
    "ssh: the digest follows the new package list"
tap_ok "$([ "$old_pk" != "$(field "$dest" packages)" ]; echo $?)" \
    "ssh: and differs from the old one"
"$RECEIVE" --state "$dest" > /dev/null 2>&1
tap_is "$?" 0 "--state after a complete push: exit 0"

# ------------------------------------------------------------ killed push
old_big=$(sum "$dest/big")
head -c $((40 * 1024 * 1024)) /dev/urandom > "$src/big"
files_list
setsid rsync "${SENDER[@]}" -e "$SSH_PUSH" --bwlimit=4000 "$src/" \
    root@127.0.0.1: > "$work/killed.out" 2>&1 &
killed=$!
bg_pids+=("$killed")
for _ in $(seq 1 100); do
    [ "$(field "$dest" batch)" = 4 ] && break
    sleep 0.05
done
sleep 1.5 # a part of the large file is over
kill -KILL -- "-$killed"
wait "$killed" 2>/dev/null
wait_unlocked "$dest"
tap_is "$(marks "$dest")" \
    incomplete/4/3 "killed push: marker incomplete, batch 4, completed 3"
tap_ok "$([ "$(field "$dest" status)" != 0 ]; echo $?)" \
    "killed push: rsync's status recorded ($(field "$dest" status))"
tap_is "$(sum "$dest/big")" "$old_big" \
    "killed push: the live file is still the old one, whole"
tap_diag "left behind: $(cd "$dest" &&
    find . -name '.~tmp~' -o -name '.big.*' | tr '\n' ' ')"
run "$RECEIVE" --state "$dest"
tap_is "$RC" 1 "--state after a killed push: exit 1"
tap_like "$ERR" "*incomplete*did not finish*" \
    "and says the tree may be half-applied"
push_ssh
tap_is "$RC" 0 "ssh: the next push succeeds"
tap_is "$(marks "$dest")" \
    complete/5/5 "ssh: and completes the tree (batch 5)"
tap_is "$(sum "$dest/big")" "$(sum "$src/big")" "ssh: with the new large file"
tap_is "$(cd "$dest" && find . -name '.~tmp~' -o -name '.big.*')" "" \
    "ssh: and the killed push's temporary files are gone"

# ------------------------------------------------------------ refusals
mkdir -p "$work/pulled"
run rsync -a -e "$SSH_PUSH" root@127.0.0.1:. "$work/pulled/"
tap_ok "$([ "$RC" != 0 ]; echo $?)" "ssh: a download fails"
tap_like "$ERR" "*downloads (--sender) are refused from $dest: it is not active*" \
    "ssh: --sender refused from a tree that is not active, said so"
tap_is "$(ls -A "$work/pulled")" "" "ssh: nothing was downloaded"

touch "$src/vcha-receive-test-$$"
files_list
run rsync "${SENDER[@]}" -e "$SSH_PUSH" "$src/" root@127.0.0.1:../x
tap_like "$ERR" '*pushes into '"$dest"' only*not "../x"*' \
    "ssh: destination ../x refused with a message"
tap_ok "$([ ! -e "$work/x" ]; echo $?)" "ssh: nothing written at ../x"
run rsync "${SENDER[@]}" -e "$SSH_PUSH" "$src/" root@127.0.0.1:/etc
tap_like "$ERR" '*not "/etc"*' "ssh: destination /etc refused with a message"
tap_ok "$([ ! -e "/etc/vcha-receive-test-$$" ]; echo $?)" \
    "ssh: nothing written in /etc"
tap_is "$(field "$dest" batch)" 5 "ssh: a refused push begins no batch"
rm "$src/vcha-receive-test-$$"

for cmd in "rsync --server . .; touch $work/pwned" \
    "rsync --server . . \$(touch $work/pwned)" \
    "rsync --server . . \`touch $work/pwned\`" \
    "rsync --server . . | touch $work/pwned" \
    "rsync --server '.' ." 'rsync --server . .\ x' \
    "touch $work/pwned"; do
    run $SSH_PUSH root@127.0.0.1 "$cmd"
    tap_like "$RC:$ERR" "1:*refused*" "ssh: refused: $cmd"
done
tap_ok "$([ ! -e "$work/pwned" ]; echo $?)" "ssh: and none of them ran anything"
run $SSH_PUSH root@127.0.0.1 true
tap_is "$RC" 0 "ssh: \"true\" (a connectivity check) succeeds"

files_list
run rsync "${SENDER[@]}" -e "$SSH_PUSH" -M--log-file="$work/written.log" \
    "$src/" root@127.0.0.1:
tap_like "$ERR" "*--log-file is refused*" "ssh: --log-file refused"
tap_ok "$([ ! -e "$work/written.log" ]; echo $?)" "ssh: and no log written"
run rsync "${SENDER[@]}" -e "$SSH_PUSH" --temp-dir=/tmp "$src/" root@127.0.0.1:
tap_like "$ERR" "*--temp-dir is refused*symbolic link*" \
    "ssh: an absolute --temp-dir refused"
run rsync "${SENDER[@]}" -e "$SSH_PUSH" --keep-dirlinks "$src/" root@127.0.0.1:
tap_like "$ERR" "*-K*refused*symbolic links*" "ssh: --keep-dirlinks refused"
run rsync -a -e "$SSH_PUSH" --inplace "$src/" root@127.0.0.1:
tap_like "$ERR" "*--inplace is refused*partial file*" "ssh: --inplace refused"
run rsync "${SENDER[@]}" -e "$SSH_PUSH" --dry-run "$src/" root@127.0.0.1:
tap_like "$ERR" "*-n *dry run changes nothing*" \
    "ssh: a dry run refused (it would mark the batch complete)"
run rsync "${SENDER[@]}" -e "$SSH_MISSING" "$src/" root@127.0.0.1:
tap_like "$ERR" "*$work/no-such-dir*No such file*" \
    "ssh: a key whose directory is missing is refused"
run rsync "${SENDER[@]}" -e "$SSH_RELATIVE" "$src/" root@127.0.0.1:
tap_like "$ERR" "*rootfs is not an absolute directory*" \
    "ssh: a key with a relative directory is refused"
tap_is "$(field "$dest" batch)" 5 "ssh: none of these began a batch"

# ------------------------------------------------------------ the lock
setsid flock "$dest.vcha-sync.lock" sleep 60 &
holder=$!
bg_pids+=("$holder")
sleep 0.2
t0=$(now_ms)
run rsync "${SENDER[@]}" -e "$SSH_QUICK" "$src/" root@127.0.0.1:
t1=$(now_ms)
tap_like "$ERR" "*another push into $dest is still running*" \
    "lock: a push while another holds the lock is refused"
tap_cond "$t1 - $t0 >= 1000 && $t1 - $t0 < 15000" \
    "lock: after the bound (--lock-wait 1: $((t1 - t0)) ms)"
tap_is "$(field "$dest" batch)" 5 "lock: and began no batch"

# --state --wait: a held lock and an incomplete batch (as a running push)
cp "$dest.vcha-sync" "$work/marker.saved"
sed -i 's/^state=complete/state=incomplete/' "$dest.vcha-sync"
t0=$(now_ms)
run "$RECEIVE" --state "$dest" --wait 2
t1=$(now_ms)
tap_is "$RC" 1 "--state --wait 2 on a running incomplete batch: exit 1"
tap_cond "$t1 - $t0 >= 2000 && $t1 - $t0 < 8000" \
    "--state --wait 2 waits its bound ($((t1 - t0)) ms)"
tap_like "$OUT" "*running=yes*" "--state says a push is running"
kill -- "-$holder"
wait "$holder" 2>/dev/null
t0=$(now_ms)
run "$RECEIVE" --state "$dest" --wait 20
t1=$(now_ms)
tap_is "$RC" 1 "--state --wait with nothing pushing: exit 1"
tap_cond "$t1 - $t0 < 5000" \
    "and at once ($((t1 - t0)) ms): nothing will complete it"
cp "$work/marker.saved" "$dest.vcha-sync"
echo "state=complete" > "$work/damaged.vcha-sync"
mkdir -p "$work/damaged"
run "$RECEIVE" --state "$work/damaged"
tap_is "$RC" 3 "--state on a damaged marker: exit 3"
tap_like "$ERR" "*$work/damaged.vcha-sync is damaged*" "and names the file"

# --state --wait until a real push completes
head -c $((3 * 1024 * 1024)) /dev/urandom > "$src/medium"
files_list
rsync "${SENDER[@]}" -e "$SSH_PUSH" --bwlimit=2000 "$src/" root@127.0.0.1: \
    > "$work/slow.out" 2>&1 &
slow=$!
bg_pids+=("$slow")
for _ in $(seq 1 100); do
    [ "$(field "$dest" batch)" = 6 ] && break
    sleep 0.05
done
run "$RECEIVE" --state "$dest"
tap_is "$RC" 1 "--state during a push: exit 1 (incomplete)"
t0=$(now_ms)
run "$RECEIVE" --state "$dest" --wait 60
t1=$(now_ms)
wait "$slow"
tap_is "$RC" 0 "--state --wait 60 returns complete when the push ends"
tap_cond "$t1 - $t0 < 30000" "before its bound ($((t1 - t0)) ms)"
tap_like "$OUT" "*batch=6*" "for batch 6"

# a directory option naming a link the pusher planted would lead out of
# the tree: refused whatever its value, and nothing is written outside
mkdir -p "$work/outside"
ln -sfn "$work/outside" "$src/lnk"
files_list
push_ssh
for opt in --temp-dir=lnk --partial-dir=lnk --backup-dir=lnk --delay-updates; do
    echo "payload $opt" > "$src/payload"
    files_list
    run rsync "${SENDER[@]}" -e "$SSH_PUSH" -b $opt "$src/" root@127.0.0.1:
    tap_like "$ERR" "*${opt%%=*} is refused*" "ssh: $opt refused"
done
tap_is "$(find "$work/outside" -mindepth 1 | wc -l)" 0 \
    "ssh: nothing was written through the planted link"
rm -f "$src/lnk" "$src/payload"
files_list lnk payload
push_ssh

# ------------------------------------------------------------ rsync daemon
receiver_rsyncd_start "$work" vcha "$ddest" "$RECEIVE" ||
    tap_bail "rsync --daemon did not start"
tap_diag "rsync daemon on 127.0.0.1:$RECEIVER_RSYNCD_PORT"
files_list
push_daemon
tap_is "$RC" 0 "daemon: the first push succeeds"
[ "$RC" = 0 ] || tap_diag "$ERR"
wait_state "$ddest"
tap_is "$(stat -c %u:%g "$ddest/data/owned")" 12345:23456 \
    "daemon: numeric ids kept"
tap_is "$(stat -c %i "$ddest/data/link1")" \
    "$(stat -c %i "$ddest/data/link2")" "daemon: hard links kept"
tap_is "$(getfattr --only-values -n user.vcha "$ddest/data/xattr" \
    2>/dev/null)" \
    hello "daemon: xattrs kept"
tap_is "$(field "$ddest" state)/$(field "$ddest" batch)" complete/1 \
    "daemon: marker complete, batch 1"
tap_like "$(field "$ddest" owner)" "rsyncd [0-9]*" \
    "daemon: owned by the transfer"
tap_is "$(field "$ddest" packages)" "$(sum "$src/var/lib/dpkg/status")" \
    "daemon: packages digest"

mv "$src/medium" "$work/medium"
files_list medium
push_daemon
wait_state "$ddest"
tap_ok "$([ "$RC" = 0 ] && [ ! -e "$ddest/medium" ]; echo $?)" \
    "daemon: --delete-missing-args deleted a path"
tap_is "$(field "$ddest" state)/$(field "$ddest" batch)" complete/2 \
    "daemon: batch 2 complete"

# killed half-way, then completed
old_big=$(sum "$ddest/big")
head -c $((40 * 1024 * 1024)) /dev/urandom > "$src/big"
files_list
setsid rsync "${SENDER[@]}" --password-file="$RECEIVER_RSYNC_PASSFILE" \
    --bwlimit=4000 "$src/" "$RECEIVER_RSYNC_URL" > "$work/dkilled.out" 2>&1 &
killed=$!
bg_pids+=("$killed")
for _ in $(seq 1 100); do
    [ "$(field "$ddest" batch)" = 3 ] && break
    sleep 0.05
done
sleep 1
# meanwhile, the lock keeps an ssh push into the same tree out
run rsync "${SENDER[@]}" -e "$SSH_DQUICK" "$src/" root@127.0.0.1:
tap_like "$ERR" "*another push into $ddest is still running*" \
    "daemon: its lock keeps an ssh push into the same tree out"
kill -KILL -- "-$killed"
wait "$killed" 2>/dev/null
wait_unlocked "$ddest"
tap_is "$(marks "$ddest")" \
    incomplete/3/2 "daemon: killed push leaves the marker incomplete"
tap_is "$(sum "$ddest/big")" "$old_big" \
    "daemon: the live file is whole, the old one"
push_daemon
wait_state "$ddest"
tap_is "$RC/$(field "$ddest" state)/$(field "$ddest" batch)" 0/complete/4 \
    "daemon: the next push completes the tree"
tap_is "$(sum "$ddest/big")" "$(sum "$src/big")" \
    "daemon: with the new large file"

# refusals
mkdir -p "$work/dpulled"
run rsync -a --password-file="$RECEIVER_RSYNC_PASSFILE" "$RECEIVER_RSYNC_URL" \
    "$work/dpulled/"
tap_ok "$([ "$RC" != 0 ] && [ -z "$(ls -A "$work/dpulled")" ]; echo $?)" \
    "daemon: a download fails, nothing downloaded"
tap_like "$ERR" "*downloads (--sender) are refused from $ddest: it is not active*" \
    "daemon: said so, by pre-xfer (the module is not write only)"
run env RSYNC_MODULE_PATH="$ddest" RSYNC_MODULE_NAME=vcha RSYNC_REQUEST=vcha/ \
    RSYNC_PID=$$ RSYNC_ARG0=rsyncd RSYNC_ARG1=--server RSYNC_ARG2=--sender \
    RSYNC_ARG3=-logDtpre.iLsfxCIvu RSYNC_ARG4=. RSYNC_ARG5=/ \
    "$RECEIVE" --pre-xfer
tap_like "$RC:$OUT" "1:*downloads (--sender) are refused*" \
    "pre-xfer refuses a download itself, on stdout (shown to the client)"
tap_is "$(field "$ddest" batch)" 4 \
    "pre-xfer: a refused transfer begins no batch"

for bad in "../x" "sub"; do
    for i in $(seq 1 50); do # retried while the last push's post-xfer runs
        run rsync "${SENDER[@]}" --password-file="$RECEIVER_RSYNC_PASSFILE" \
            "$src/" "${RECEIVER_RSYNC_URL}$bad"
        [[ $ERR == *"max connections"* ]] || break
        sleep 0.1
    done
    tap_ok "$([ "$RC" != 0 ]; echo $?)" \
        "daemon: a push to the module's $bad fails"
    tap_like "$ERR" "*receives into its root only*" "daemon: said so ($bad)"
done
tap_ok "$([ ! -e "$work/x" ] && [ ! -e "$ddest/sub" ]; echo $?)" \
    "daemon: nothing written outside the module's root"
tap_is "$(field "$ddest" batch)/$(field "$ddest" state)" 4/complete \
    "daemon: and the marker is untouched"

(umask 077 && echo wrong-secret > "$work/wrong.pass")
for i in $(seq 1 50); do # retried while the last push's post-xfer runs
    run rsync "${SENDER[@]}" --password-file="$work/wrong.pass" "$src/" \
        "$RECEIVER_RSYNC_URL"
    [[ $ERR == *"max connections"* ]] || break
    sleep 0.1
done
tap_like "$RC:$ERR" "5:*auth failed on module vcha*" \
    "daemon: a wrong secret is refused"
cp "$RECEIVER_RSYNC_PASSFILE" "$work/open.pass"
chmod 0644 "$work/open.pass"
run rsync "${SENDER[@]}" --password-file="$work/open.pass" "$src/" \
    "$RECEIVER_RSYNC_URL"
tap_like "$ERR" "*password file must not be other-accessible*" \
    "daemon: the client refuses a world-readable password file"
chmod 0644 "$work/rsyncd.secrets"
run rsync "${SENDER[@]}" --password-file="$RECEIVER_RSYNC_PASSFILE" "$src/" \
    "$RECEIVER_RSYNC_URL"
tap_like "$RC:$ERR" "5:*auth failed*" \
    "daemon: a world-readable secrets file is refused (strict modes)"
tap_like "$(cat "$work/rsyncd.log")" \
    "*secrets file must not be other-accessible*" \
    "daemon: its log says why"
chmod 0600 "$work/rsyncd.secrets"

closed=$(receiver_free_port)
run rsync "${SENDER[@]}" --password-file="$RECEIVER_RSYNC_PASSFILE" "$src/" \
    "rsync://vcha@127.0.0.1:$closed/vcha/"
tap_like "$RC:$ERR" "10:*failed to connect to 127.0.0.1*Connection refused*" \
    "daemon: an unreachable receiver fails clearly"
run rsync "${SENDER[@]}" -e "${SSH_PUSH/-p $RECEIVER_SSH_PORT/-p $closed}" \
    "$src/" root@127.0.0.1:
# rsync exits 12 or 255 (ssh's status) depending on which it sees first
tap_like "$RC:$ERR" "[12][25]*:*port $closed: Connection refused*" \
    "ssh: an unreachable receiver fails clearly"

# ------------------------------------------------------------ active marker
# a service activated on the standby (ocf:vcha:vcservice) serves from the
# tree: no push may land in it until an administrator removes the marker
echo "after activation" > "$src/data/late"
files_list
for d in "$dest" "$ddest"; do
    printf 'instance=svc-web\nnode=standby1\nsince_ms=%s\n' \
        "$(now_ms)" > "$d.vcha-active"
done
before=$(marks "$dest")
push_ssh
tap_ok "$([ "$RC" != 0 ]; echo $?)" "active: an ssh push fails (rc $RC)"
tap_like "$ERR" "*$dest is active ($dest.vcha-active: instance=svc-web node=standby1 since_ms=*)*no push may land*" \
    "active: ssh: refused, naming the marker and what it says"
tap_ok "$([ ! -e "$dest/data/late" ]; echo $?)" "active: ssh: nothing landed"
tap_is "$(marks "$dest")" "$before" "active: ssh: no batch began"
before=$(marks "$ddest")
push_daemon
tap_ok "$([ "$RC" != 0 ]; echo $?)" "active: a daemon push fails (rc $RC)"
tap_like "$ERR" "*$ddest is active ($ddest.vcha-active: instance=svc-web*no push may land*" \
    "active: daemon: refused by pre-xfer, shown to the client"
tap_ok "$([ ! -e "$ddest/data/late" ]; echo $?)" "active: daemon: nothing landed"
tap_is "$(marks "$ddest")" "$before" "active: daemon: no batch began"
# an active tree is the newest: a failback pulls it back, and that
# download is no batch
echo "written in the member" > "$dest/data/member-wrote"
echo "written in the member" > "$ddest/data/member-wrote"
before=$(marks "$dest")
rm -rf "$work/pulled"
mkdir -p "$work/pulled"
run rsync -a -e "$SSH_PUSH" root@127.0.0.1:. "$work/pulled/"
tap_is "$RC/$(cat "$work/pulled/data/member-wrote" 2>/dev/null)" \
    "0/written in the member" "active: ssh: a download gets the active tree"
tap_is "$(cd "$work/pulled" && find . | sort | md5sum)" \
    "$(cd "$dest" && find . | sort | md5sum)" \
    "active: ssh: all of it, and nothing from outside it"
tap_is "$(marks "$dest")" "$before" "active: ssh: the download began no batch"
run rsync -a --remove-source-files -e "$SSH_PUSH" root@127.0.0.1:. "$work/pulled/"
tap_like "$RC:$ERR" "1*:*a download with --remove-source-files is refused*" \
    "active: ssh: a download that would delete what it sends is refused"
tap_ok "$([ -e "$dest/data/member-wrote" ]; echo $?)" \
    "active: ssh: and the tree keeps its files"
before=$(marks "$ddest")
rm -rf "$work/dpulled"
mkdir -p "$work/dpulled"
run rsync -a --password-file="$RECEIVER_RSYNC_PASSFILE" "$RECEIVER_RSYNC_URL" \
    "$work/dpulled/"
tap_is "$RC/$(cat "$work/dpulled/data/member-wrote" 2>/dev/null)" \
    "0/written in the member" "active: daemon: a download gets the active tree"
sleep 0.5 # post-xfer runs after the client is done
tap_is "$(marks "$ddest")" "$before" \
    "active: daemon: the download began no batch, post-xfer left the marker"
run rsync -a --remove-source-files --password-file="$RECEIVER_RSYNC_PASSFILE" \
    "$RECEIVER_RSYNC_URL" "$work/dpulled/"
tap_like "$ERR" "*a download with --remove-source-files is refused*" \
    "active: daemon: a download that would delete what it sends is refused"
tap_ok "$([ -e "$ddest/data/member-wrote" ]; echo $?)" \
    "active: daemon: and the tree keeps its files"
# a member migrated to another standby VM (its marker says migrated_to=):
# the newer tree is there, and this one is never pulled back
for d in "$dest" "$ddest"; do
    printf 'instance=svc-web\nnode=standby1\nsince_ms=%s\nmigrated_to=standby2\n\n' \
        "$(now_ms)" > "$d.vcha-active"
done
# ssh_both_refused CASE WHY: an ssh download from $dest is refused, the
# refusal matching WHY, nothing downloaded; an ssh push too, nothing landed
ssh_both_refused() {
    rm -rf "$work/pulled"
    mkdir -p "$work/pulled"
    run rsync -a -e "$SSH_PUSH" root@127.0.0.1:. "$work/pulled/"
    tap_like "$RC:$ERR" "1*:*downloads (--sender) are refused from $dest: $2*" \
        "$1: ssh: a download is refused, said so"
    tap_is "$(ls -A "$work/pulled")" "" "$1: ssh: nothing was downloaded"
    push_ssh
    tap_ok "$([ "$RC" != 0 ] && [ ! -e "$dest/data/late" ]; echo $?)" \
        "$1: ssh: a push is refused, nothing landed (rc $RC)"
}
ssh_both_refused migrated "its member migrated to standby2"
rm -rf "$work/dpulled"
mkdir -p "$work/dpulled"
run rsync -a --password-file="$RECEIVER_RSYNC_PASSFILE" "$RECEIVER_RSYNC_URL" \
    "$work/dpulled/"
tap_like "$RC:$ERR" "[1-9]*:*downloads (--sender) are refused from $ddest: its member migrated to standby2*" \
    "migrated: daemon: a download is refused"
tap_is "$(ls -A "$work/dpulled")" "" "migrated: daemon: nothing was downloaded"
# a restore from another standby VM began here and may not have completed
# (restoring_from=): the tree may be only partly the migration's
printf 'instance=svc-web\nnode=standby2\nsince_ms=%s\nrestoring_from=standby1\n\n' \
    "$(now_ms)" > "$dest.vcha-active"
ssh_both_refused restoring "its member is being restored here from standby1"
# a marker whose last line was cut short (what it lost may be migrated_to=)
printf 'instance=svc-web\nnode=standby1\nmigrated_to=stand' > "$dest.vcha-active"
ssh_both_refused "marker cut short" "its active marker*cannot be read as one (Bad message)"
for d in "$dest" "$ddest"; do
    printf 'instance=svc-web\nnode=standby1\nsince_ms=%s\n' \
        "$(now_ms)" > "$d.vcha-active"
done
# a marker that cannot be read as one (here a directory in its place):
# a push takes it as there, a download as not; neither overwrites a tree
# that may be the newer one
mv "$dest.vcha-active" "$work/marker-kept"
mkdir "$dest.vcha-active"
ssh_both_refused "unreadable marker" "its active marker*cannot be read as one"
rmdir "$dest.vcha-active"
mv "$work/marker-kept" "$dest.vcha-active"
rm -f "$dest/data/member-wrote" "$ddest/data/member-wrote"
rm -f "$dest.vcha-active" "$ddest.vcha-active"
push_ssh
tap_is "$RC/$(cat "$dest/data/late" 2>/dev/null)" "0/after activation" \
    "active: once the marker is removed, an ssh push lands again"
push_daemon
wait_state "$ddest"
tap_is "$RC/$(cat "$ddest/data/late" 2>/dev/null)" "0/after activation" \
    "active: and a daemon push too"
rm -f "$src/data/late"

# activated while a push waits for the batch lock (vcservice writes the
# marker holding that lock): the push is refused and the marker of the last
# batch is left as it was, complete, since nothing was sent
wait_state "$ddest"
before=$(marks "$ddest")
echo "in flight" > "$src/data/inflight"
setsid flock "$ddest.vcha-sync.lock" sh -c "sleep 1; printf 'instance=svc-web\nnode=standby1\nsince_ms=1\n' > '$ddest.vcha-active'" &
holder=$!
bg_pids+=("$holder")
sleep 0.2
push_daemon
wait "$holder"
tap_like "$ERR" "*$ddest is active*no push may land*" \
    "activated while waiting: the daemon push is refused"
tap_ok "$([ ! -e "$ddest/data/inflight" ]; echo $?)" \
    "activated while waiting: nothing landed"
tap_is "$(marks "$ddest")" "$before" \
    "activated while waiting: the marker is left as it was ($before)"
rm -f "$ddest.vcha-active" "$src/data/inflight"

tap_done
