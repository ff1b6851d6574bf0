#!/bin/bash
# ocf:vcha:ctset on this machine, for real: its rsync daemon on 127.0.0.1
# with vcha-receive as its hooks, real pushes through its modules, LXC
# members with a tiny busybox root on a bridge of the lab's range
# (198.18.0.0/15, no address on the host, no route off it).  Start brings
# up the receiver and writes the configurations; a push lands and marks its
# batch; the hot member then runs with its address; monitor starts it
# again after it is killed and restarts it when its package list changes;
# the active marker refuses pushes and keeps the agent's hands off the
# member; a foreign configuration of a member's name is refused, naming the
# container; a reload removes a member and leaves the others running, and
# restarts one whose address changed; a killed receiver comes back; stop
# leaves nothing running; an unprivileged member (idmap) keeps the
# primary's ids on disk and inside.  Runs as root.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/receiver.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "LXC containers and rsync's ids need root"
for p in lxc-start lxc-info lxc-attach lxc-stop rsync ip ss; do
    command -v $p > /dev/null || tap_bail "$p is missing (lxc, rsync, iproute2)"
done
BUSYBOX=$(command -v busybox) || tap_bail "busybox is missing (busybox-static)"
file -L "$BUSYBOX" 2> /dev/null | grep -q "statically linked" ||
    tap_bail "$BUSYBOX is not static: install busybox-static"
agent=$top_builddir/agents/ctset
receive=$top_builddir/daemon/vcha-receive
[ -x "$agent" ] && [ -x "$receive" ] || tap_bail "build ctset and vcha-receive"

work=$(mktemp -d /tmp/vcha-ctset.XXXXXX)
chmod 755 "$work"
lxcpath=$work/lxc
sync=$work/sync
br=vcts$((RANDOM % 100000))
port=$(receiver_free_port) || tap_bail "no free port"
inst=ctset-host

cleanup() {
    local c pid
    for c in hot1 cold1 warm1 u1 bad1; do
        lxc-stop -P "$lxcpath" -n "$c" -k > /dev/null 2>&1
    done
    for pid in $(cat "$work"/run/ctset/*/rsyncd.pid 2> /dev/null); do
        kill "$pid" 2> /dev/null
    done
    ip link del "$br" 2> /dev/null
    if [ "$tap_failed" -gt 0 ] && [ -f "$work/run/ctset/$inst/rsyncd.log" ]; then
        tap_diag "rsyncd.log:"
        tail -20 "$work/run/ctset/$inst/rsyncd.log" | sed 's/^/#   /'
    fi
    rm -rf "$work"
}
trap cleanup EXIT
ip link add "$br" type bridge && ip link set "$br" up ||
    tap_bail "cannot make the bridge $br"

# one user per member, named after it (each module admits only its own)
(umask 077 && for m in hot1 cold1 warm1 u1 bad1; do
    echo "$m:ctset-host-secret"
done > "$work/secrets" && echo "ctset-host-secret" > "$work/pass")
MEMBERS="hot1:hot:198.18.9.2/24 cold1:cold:198.18.9.3/24"
ctset() { # ctset ACTION [VAR=VALUE...]: sets RC, REASON, LOG
    local action=$1
    shift
    LOG=$(env -i PATH="$PATH" HA_RSCTMP="$work/state" \
        VCHA_RUN_DIR="$work/run" VCHA_RECEIVE="$receive" \
        OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=$inst \
        OCF_RESKEY_members="$MEMBERS" OCF_RESKEY_sync_dir="$sync" \
        OCF_RESKEY_lxcpath="$lxcpath" OCF_RESKEY_bridge="$br" \
        OCF_RESKEY_receiver_address=127.0.0.1 \
        OCF_RESKEY_receiver_port="$port" \
        OCF_RESKEY_secrets_file="$work/secrets" \
        OCF_RESKEY_receiver_timeout=10 \
        OCF_RESKEY_CRM_meta_timeout=60000 \
        OCF_RESKEY_CRM_meta_interval=10000 "$@" "$agent" "$action" 2>&1)
    RC=$?
    REASON=$(sed -n 's/^ocf-exit-reason://p' <<< "$LOG")
    [ "$RC" = 0 ] || tap_diag "$action: rc $RC: $LOG"
}
state() { lxc-info -P "$lxcpath" -n "$1" -s -H 2> /dev/null || echo NONE; }
initpid() { lxc-info -P "$lxcpath" -n "$1" -p -H 2> /dev/null; }
in_ct() { lxc-attach -P "$lxcpath" -n "$1" --clear-env -- "${@:2}"; }
daemon_pid() { cat "$work/run/ctset/$inst/rsyncd.pid" 2> /dev/null; }
# alive PID: the process exists and has not exited (a zombie waits for its
# reaper, which here may be slow)
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2> /dev/null)
    [ -n "$st" ] && [[ $st != Z* ]]
}
field() { sed -n "s/^$2=//p" "$sync/$1/rootfs.vcha-sync" 2> /dev/null; }
push() { # push MEMBER: the primary's tree into its module; sets PRC, PERR
    local i
    for i in $(seq 1 50); do
        PERR=$(rsync -aHAX --numeric-ids --delete --delete-delay \
            --password-file="$work/pass" "$work/src/" \
            "rsync://$1@127.0.0.1:$port/$1/" 2>&1)
        PRC=$?
        # "max connections (1) reached": the last one's post-xfer still runs
        [ "$PRC" = 5 ] || break
        sleep 0.1
    done
    "$receive" --state "$sync/$1/rootfs" --wait 30 > /dev/null 2>&1
}

# ------------------------------------------------------------ the tree
# what a primary would push: a busybox root whose init loops
src=$work/src
mkdir -p "$src/bin" "$src/sbin" "$src/etc" "$src/proc" "$src/sys" \
    "$src/dev" "$src/tmp" "$src/var/lib/dpkg" "$src/root"
cp "$BUSYBOX" "$src/bin/busybox"
for t in sh sleep cat ip; do ln -s busybox "$src/bin/$t"; done
# its init starts a service (a listener on 7777), as a real tree's would
printf '#!/bin/sh\n/bin/busybox httpd -p 7777 -h /tmp\nwhile :; do sleep 1; done\n' \
    > "$src/sbin/init"
chmod 755 "$src/sbin/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$src/etc/passwd"
printf 'Package: base-files\nStatus: install ok installed\n\n' \
    > "$src/var/lib/dpkg/status"

# ------------------------------------------------------------ start
# receiver_address lists one address per standby VM: a node with none of
# them configured cannot receive, and says so (not installed here)
ctset start OCF_RESKEY_receiver_address="198.18.9.250 198.18.9.251"
tap_is "$RC" 5 "start on a node with none of receiver_address's addresses: OCF_ERR_INSTALLED"
tap_is "$REASON" 'receiver_address: none of "198.18.9.250 198.18.9.251" is an address of this node' \
    "naming the parameter"
tap_ok "$([ -z "$(daemon_pid)" ] && [ ! -e "$work/run/ctset/$inst/rsyncd.conf" ]; echo $?)" \
    "no rsync daemon started, no configuration written for one"
ctset stop OCF_RESKEY_receiver_address="198.18.9.250 198.18.9.251"
tap_is "$RC" 0 "and its stop succeeds"
ctset start
tap_is "$RC" 0 "start succeeds"
dpid=$(daemon_pid)
tap_ok "$([ -n "$dpid" ] && alive "$dpid"; echo $?)" \
    "the rsync daemon runs (pid ${dpid:-none})"
tap_like "$(tr '\0' ' ' < "/proc/${dpid:-0}/cmdline" 2> /dev/null)" \
    "*rsync --daemon --config=$work/run/ctset/$inst/rsyncd.conf*" \
    "with the agent's configuration"
ss -Htln "sport = :$port" | grep -q "127.0.0.1:$port"
tap_ok $? "it listens on 127.0.0.1:$port"
tap_is "$(head -1 "$lxcpath/hot1/config")" \
    "# ocf:vcha:ctset $inst: written by the agent, changes are overwritten" \
    "hot1's configuration is the agent's"
tap_like "$(cat "$lxcpath/hot1/config")" \
    "*lxc.rootfs.path = dir:$sync/hot1/rootfs*lxc.net.0.link = $br*lxc.net.0.ipv4.address = 198.18.9.2/24*" \
    "with its tree, bridge and address"
tap_is "$(state hot1)/$(state cold1)" STOPPED/STOPPED \
    "members never synced are not started"
ctset monitor OCF_RESKEY_CRM_meta_interval=0
tap_is "$RC" 0 "a probe says running"

# ------------------------------------------------------------ a push
push hot1
tap_is "$PRC" 0 "a push through the module hot1 succeeds"
[ "$PRC" = 0 ] || tap_diag "$PERR"
tap_is "$(field hot1 state)/$(field hot1 batch)" complete/1 \
    "vcha-receive marked batch 1 complete"
tap_like "$(field hot1 owner)" "rsyncd *" "owned by the daemon's transfer"
tap_is "$(cmp "$src/sbin/init" "$sync/hot1/rootfs/sbin/init" && echo same)" \
    same "the tree landed"
push cold1
tap_is "$PRC/$(field cold1 state)" 0/complete "cold1's tree too"
out=$(rsync -a --password-file="$work/pass" "$src/" \
    "rsync://cold1@127.0.0.1:$port/hot1/" 2>&1)
tap_like "$?:$out" "[1-9]*:*auth*failed*" \
    "cold1's user cannot push into hot1's module"
tap_is "$(field hot1 batch)" 1 "and began no batch there"
tap_like "$(cat "$work/run/ctset/$inst/rsyncd.conf")" \
    "*syslog facility = daemon*syslog tag = rsyncd-$inst*" \
    "the daemon logs to syslog"
tap_is "$(cd "$work/run/ctset/$inst" && ls | grep -c log)" 0 \
    "and writes no log file in the run directory"

# ------------------------------------------------------------ monitor
ctset monitor
tap_is "$RC" 0 "monitor succeeds"
tap_is "$(state hot1)" RUNNING "monitor started the hot member once synced"
tap_like "$(in_ct hot1 /bin/ip -4 addr show eth0 2>&1)" "*198.18.9.2/24*" \
    "it runs with its address on eth0"
tap_is "$(state cold1)" STOPPED "the cold member stays stopped"
pid1=$(initpid hot1)
ctset monitor
tap_is "$RC/$(initpid hot1)" "0/$pid1" "a monitor leaves a healthy member be"

mac_before=$(in_ct hot1 /bin/busybox cat /sys/class/net/eth0/address 2> /dev/null)
lxc-stop -P "$lxcpath" -n hot1 -k > /dev/null 2>&1
tap_is "$(state hot1)" STOPPED "hot1 killed"
ctset monitor
tap_is "$RC/$(state hot1)" 0/RUNNING "monitor starts it again"
tap_like "$LOG" "*member hot1 was not running: starting it again*" \
    "and logs it"
# its MAC is the configuration's, locally administered, the same after the
# restart (neighbours' caches stay right), and another member's differs
mac() { in_ct "$1" /bin/busybox cat /sys/class/net/eth0/address 2> /dev/null; }
conf_mac=$(sed -n 's/^lxc.net.0.hwaddr = //p' "$lxcpath/hot1/config")
tap_like "$conf_mac" "02:??:??:??:??:??" "hot1's configuration fixes its MAC ($conf_mac)"
tap_is "$(mac hot1)" "$conf_mac" "and its eth0 has it after the restart"
tap_is "$mac_before" "$conf_mac" "as it had before the kill"
tap_ok "$([ -n "$conf_mac" ] && [ "$conf_mac" != "$(sed -n 's/^lxc.net.0.hwaddr = //p' "$lxcpath/cold1/config")" ]; echo $?)" \
    "cold1's MAC is another"

# ------------------------------------------------------------ packages
pid2=$(initpid hot1)
echo "a file" > "$src/etc/motd"
push hot1
ctset monitor
tap_is "$RC/$(initpid hot1)" "0/$pid2" \
    "a push that keeps the package list restarts nothing"
printf 'Package: base-files\nStatus: install ok installed\n\nPackage: nginx\nStatus: install ok installed\n\n' \
    > "$src/var/lib/dpkg/status"
push hot1
tap_is "$(field hot1 batch)" 3 "a push with a new package list (batch 3)"
ctset monitor
pid3=$(initpid hot1)
tap_ok "$([ "$RC" = 0 ] && [ -n "$pid3" ] && [ "$pid3" != "$pid2" ]; echo $?)" \
    "monitor restarted hot1 (init $pid2 -> ${pid3:-none})"
tap_like "$LOG" "*member hot1: its package list changed; restarting it*" \
    "and says why"
tap_is "$(state hot1)" RUNNING "it runs"

# ------------------------------------------------------------ activation lock
# vcservice holds SYNC_DIR/NAME/rootfs.vcha-active.lock while it activates:
# the agent then leaves the member alone (no restart on a package change)
lock=$sync/hot1/rootfs.vcha-active.lock
tap_ok "$([ -f "$lock" ] && flock -n "$lock" true; echo $?)" \
    "hot1's activation lock exists and nothing holds it (not the container)"
printf 'Package: base-files\nStatus: install ok installed\n\nPackage: pg\nStatus: install ok installed\n\n' \
    > "$src/var/lib/dpkg/status"
push hot1
exec 9> "$lock"
flock -n 9 || tap_bail "cannot take $lock"
ctset monitor 9>&-
tap_is "$RC/$(initpid hot1)" "0/$pid3" \
    "lock held: a new package list does not restart hot1"
tap_like "$LOG" "*member hot1: its activation lock is held*" "and logs why"
lxc-stop -P "$lxcpath" -n hot1 -k > /dev/null 2>&1
ctset monitor 9>&-
tap_is "$RC/$(state hot1)" 0/STOPPED "lock held: a stopped hot1 is not booted"
exec 9>&-
ctset monitor
tap_is "$RC/$(state hot1)" 0/RUNNING "lock released: monitor boots it"
pid3=$(initpid hot1)

# ------------------------------------------------------------ active
printf 'instance=svc-hot1\nnode=%s\nsince_ms=%s\n' "$(uname -n)" \
    "$(date +%s000)" > "$sync/hot1/rootfs.vcha-active"
echo "late" > "$src/etc/late"
batch=$(field hot1 batch)
push hot1
tap_ok "$([ "$PRC" != 0 ]; echo $?)" "active: a push fails (rc $PRC)"
tap_like "$PERR" "*rootfs is active ($sync/hot1/rootfs.vcha-active: instance=svc-hot1*" \
    "active: refused, naming the marker"
tap_ok "$([ ! -e "$sync/hot1/rootfs/etc/late" ]; echo $?)" \
    "active: nothing landed"
tap_is "$(field hot1 batch)" "$batch" "active: no batch began"
lxc-stop -P "$lxcpath" -n hot1 -k > /dev/null 2>&1
ctset monitor
tap_is "$RC/$(state hot1)" 0/STOPPED \
    "active: monitor does not start the member (its service's now)"
ctset monitor OCF_RESKEY_members="hot1:hot:198.18.9.77/24 cold1:cold:198.18.9.3/24"
tap_is "$RC" 0 "active: a new address for hot1"
tap_like "$(grep ipv4.address "$lxcpath/hot1/config")" "*198.18.9.2/24" \
    "active: its configuration is not rewritten under its service"
tap_like "$LOG" "*member hot1 is active*changes after failback*" \
    "active: the change is said to apply after failback"
rm "$sync/hot1/rootfs.vcha-active"
ctset monitor
tap_is "$RC/$(state hot1)" 0/RUNNING "marker removed: monitor starts it"

# ------------------------------------------------------------ clash
mkdir -p "$lxcpath/warm1"
echo "lxc.uts.name = warm1" > "$lxcpath/warm1/config"
foreign=$(sha256sum < "$lxcpath/warm1/config")
pid4=$(initpid hot1)
ctset reload-agent OCF_RESKEY_members="$MEMBERS warm1:warm:198.18.9.4/24"
tap_is "$RC" 5 "a member whose name a foreign container has: refused (5)"
tap_is "$REASON" "member warm1: container name clash: $lxcpath/warm1/config (not written by ctset)" \
    "naming the member and the container"
tap_cond "${#REASON} <= 128" "in the 128 bytes of an exit reason that Pacemaker keeps (${#REASON})"
tap_is "$(sha256sum < "$lxcpath/warm1/config")" "$foreign" \
    "the foreign configuration is untouched"
# a running foreign warm1: a stop after a refused start leaves it be
mkdir -p "$work/foreign"
cp -a "$src/." "$work/foreign/"
cat > "$lxcpath/warm1/config" << CFG
lxc.uts.name = warm1
lxc.rootfs.path = dir:$work/foreign
lxc.net.0.type = empty
lxc.tty.max = 0
lxc.pty.max = 4
lxc.console.path = none
lxc.autodev = 1
lxc.mount.auto = proc:mixed sys:mixed
CFG
lxc-start -P "$lxcpath" -n warm1 -d > /dev/null 2>&1
ctset start OCF_RESOURCE_INSTANCE=ctset-clash \
    OCF_RESKEY_members="warm1:warm:198.18.9.4/24" \
    OCF_RESKEY_receiver_port=$((port + 1))
tap_is "$RC/$(state warm1)" 5/RUNNING "a foreign warm1 runs; start refused"
ctset stop OCF_RESOURCE_INSTANCE=ctset-clash \
    OCF_RESKEY_members="warm1:warm:198.18.9.4/24" \
    OCF_RESKEY_receiver_port=$((port + 1))
tap_is "$RC/$(state warm1)" 0/RUNNING \
    "the stop after it leaves the foreign container running"
lxc-stop -P "$lxcpath" -n warm1 -k > /dev/null 2>&1
rm -r "$lxcpath/warm1"

# ------------------------------------------------------------ reload
MEMBERS="hot1:hot:198.18.9.2/24 warm1:warm:198.18.9.4/24"
ctset reload-agent
tap_is "$RC" 0 "reload: cold1 out, warm1 in"
tap_ok "$([ ! -e "$lxcpath/cold1/config" ] && [ -e "$sync/cold1/rootfs/sbin/init" ]; echo $?)" \
    "reload: cold1's configuration removed, its tree kept"
tap_like "$(cat "$work/run/ctset/$inst/rsyncd.conf")" "*\[warm1\]*" \
    "reload: the daemon has a module for warm1"
tap_ok "$(! grep -q '^\[cold1\]' "$work/run/ctset/$inst/rsyncd.conf"; echo $?)" \
    "reload: and none for cold1"
tap_is "$(initpid hot1)/$(daemon_pid)" "$pid4/$dpid" \
    "reload: hot1 and the daemon untouched"
push warm1
ctset monitor
tap_is "$RC/$(state warm1)" 0/RUNNING "warm1, pushed to, runs"
listens() { in_ct "$1" /bin/busybox netstat -tln 2> /dev/null | grep -c ':7777 '; }
tap_is "$(listens hot1)" 1 "hot1's init started its service (port 7777)"
tap_is "$(listens warm1)" 0 \
    "warm1: its tree's init does not run: port 7777 closed before activation"
tap_like "$(in_ct warm1 /bin/busybox cat /proc/1/cmdline | tr '\0' ' ')" \
    "/dev/vcha-idle/sleep *" "warm1 idles with the bound sleeper as init"
tap_ok "$([ ! -e "$sync/warm1/rootfs/dev/vcha-idle" ]; echo $?)" \
    "and nothing of it is in the tree"
in_ct warm1 /bin/busybox httpd -p 7777 -h /tmp
tap_is "$(listens warm1)" 1 "warm1: activation (a command inside) starts it"
pid5=$(initpid warm1)
MEMBERS="hot1:hot:198.18.9.12/24 warm1:warm:198.18.9.4/24"
ctset reload-agent
tap_is "$RC" 0 "reload: hot1 gets a new address"
tap_like "$(in_ct hot1 /bin/ip -4 addr show eth0 2>&1)" "*198.18.9.12/24*" \
    "reload: hot1 restarted with it"
tap_ok "$([ "$(initpid hot1)" != "$pid4" ]; echo $?)" "reload: a new init"
tap_is "$(initpid warm1)" "$pid5" "reload: warm1 untouched"

# one member that does not boot (its tree has no init) holds back no other
BAD="bad1:hot:198.18.9.5/24 $MEMBERS"
ctset reload-agent OCF_RESKEY_members="$BAD"
tap_is "$RC" 0 "reload: bad1 in"
mkdir -p "$work/empty/etc"
rsync -a --password-file="$work/pass" "$work/empty/" \
    "rsync://bad1@127.0.0.1:$port/bad1/" > /dev/null 2>&1
"$receive" --state "$sync/bad1/rootfs" --wait 30 > /dev/null 2>&1
lxc-stop -P "$lxcpath" -n hot1 -k > /dev/null 2>&1
ctset monitor OCF_RESKEY_members="$BAD"
tap_is "$RC/$(state bad1)/$(state hot1)" 0/STOPPED/RUNNING \
    "bad1 does not boot: the monitor succeeds and boots hot1 after it"
tap_like "$LOG" "*error*member bad1 does not start*" "bad1 is logged as an error"
ctset reload-agent
tap_is "$RC/$(state hot1)" 0/RUNNING "reload: bad1 out"

# ------------------------------------------------------------ receiver
kill -KILL "$dpid"
pid6=$(initpid hot1)
ctset monitor OCF_RESKEY_CRM_meta_interval=0
tap_is "$RC" 0 "daemon dead, members running: a probe says running"
ctset monitor
dpid2=$(daemon_pid)
tap_ok "$([ "$RC" = 0 ] && [ "$dpid2" != "$dpid" ] && alive "$dpid2"; echo $?)" \
    "monitor starts the receiver again (pid $dpid -> ${dpid2:-none})"
tap_like "$LOG" "*the rsync daemon died*starting it again*" "and logs it"
tap_is "$(initpid hot1)" "$pid6" "the members run on untouched"
push warm1
tap_is "$PRC" 0 "pushes land again"
dpid=$dpid2

# a primary that dies in the middle of a push (here: its rsync waits for a
# file list that never comes) holds the member's batch lock only until the
# module's timeout (receiver_timeout=10) ends the transfer
tap_like "$(cat "$work/run/ctset/$inst/rsyncd.conf")" \
    "*\[warm1\]*timeout = 10*" "each module has the timeout"
mkfifo "$work/never"
exec 8<> "$work/never"
rsync -a --password-file="$work/pass" --files-from="$work/never" \
    "$src/" "rsync://warm1@127.0.0.1:$port/warm1/" > /dev/null 2>&1 &
stalled=$!
wlock=$sync/warm1/rootfs.vcha-sync.lock
for _ in $(seq 1 100); do
    flock -n "$wlock" true || break
    sleep 0.05
done
tap_ok "$(! flock -n "$wlock" true; echo $?)" "a stalled push holds the lock"
t0=$(date +%s)
for _ in $(seq 1 300); do
    flock -n "$wlock" true && break
    sleep 0.1
done
t=$(($(date +%s) - t0))
tap_ok "$(flock -n "$wlock" true; echo $?)" \
    "the daemon ends it: the lock is free again after ${t} s"
tap_is "$(field warm1 state)" incomplete "and its batch stays incomplete"
kill -KILL "$stalled" 2> /dev/null
wait "$stalled" 2> /dev/null
exec 8>&-
push warm1
tap_is "$PRC/$(field warm1 state)" 0/complete "the next push completes it"

# ------------------------------------------------------------ orphans
# warm1 leaves the set while active: it stays recorded, and stop stops it
printf 'instance=svc-warm1\nnode=n\nsince_ms=1\n' > "$sync/warm1/rootfs.vcha-active"
MEMBERS="hot1:hot:198.18.9.12/24"
ctset reload-agent
tap_is "$RC/$(state warm1)" 0/RUNNING "reload: active warm1 leaves, left running"
tap_is "$(sed 1d "$work/run/ctset/$inst/members" | tr '\n' ' ')" "hot1 warm1 " \
    "reload: warm1 stays recorded until it is down"
# hot1's configuration vanishes under it
hpid=$(initpid hot1)
rm "$lxcpath/hot1/config"

# ------------------------------------------------------------ stop
# its pid file gone: stop finds the daemon by its command line
rm "$work/run/ctset/$inst/rsyncd.pid"
ctset stop
tap_ok "$(! alive "${hpid:-0}"; echo $?)" \
    "stop: hot1, its configuration gone, is stopped (init ${hpid:-none})"
rm -f "$sync/warm1/rootfs.vcha-active"
MEMBERS="hot1:hot:198.18.9.12/24 warm1:warm:198.18.9.4/24"
tap_is "$RC" 0 "stop succeeds"
tap_ok "$(! alive "$dpid"; echo $?)" "the rsync daemon is gone"
tap_is "$(pgrep -f -- "--config=$work/run/ctset/$inst/rsyncd.conf" | while read -r p; do
    alive "$p" && echo "$p"; done)" "" "and no transfer of it is left"
ss -Htln "sport = :$port" | grep -q .
tap_cond "$? != 0" "nothing listens on port $port"
tap_is "$(state warm1)" STOPPED "warm1 (left the set while active) stopped"
tap_is "$(lxc-ls -P "$lxcpath" --running 2> /dev/null | tr -d ' \n')" "" \
    "lxc-ls lists nothing running"
ctset monitor OCF_RESKEY_CRM_meta_interval=0
tap_is "$RC" 7 "a probe says not running"
ctset stop
tap_is "$RC" 0 "a second stop succeeds"

# ------------------------------------------------------------ idmap
# an unprivileged member: its ids 0..65535 are the host's 200000.., its
# tree (on this ext4) mounted idmapped, so the pushed files keep the
# primary's ids on disk and inside
chown 1000:1000 "$src/etc/motd"
IDM=(OCF_RESOURCE_INSTANCE=ctset-idm OCF_RESKEY_idmap=200000:65536
    OCF_RESKEY_members=u1:hot:198.18.9.30/24)
inst=ctset-idm
ctset start "${IDM[@]}"
tap_is "$RC" 0 "idmap: start"
push u1
ctset monitor "${IDM[@]}"
tap_is "$RC/$(state u1)" 0/RUNNING "idmap: the pushed member runs"
tap_like "$(cat "$lxcpath/u1/config")" \
    "*lxc.rootfs.options = idmap=container*lxc.idmap = u 0 200000 65536*lxc.idmap = g 0 200000 65536*" \
    "idmap: its configuration maps its ids"
tap_is "$(stat -c %u "/proc/$(initpid u1)" 2> /dev/null)" 200000 \
    "idmap: its init runs as uid 200000 on the host"
tap_is "$(in_ct u1 /bin/busybox stat -c %u:%g /etc/motd /bin/busybox | tr '\n' ' ')" \
    "1000:1000 0:0 " "idmap: inside, the files have the primary's ids"
tap_is "$(stat -c %u:%g "$sync/u1/rootfs/etc/motd")" 1000:1000 \
    "idmap: and so on disk (never chowned)"
ctset stop "${IDM[@]}"
tap_is "$RC/$(state u1)" 0/STOPPED "idmap: stop"
tap_done
