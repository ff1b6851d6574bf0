#!/bin/bash
# ocf:vcha:ctset run by a real one-node Pacemaker (tests/lib/cluster1.sh)
# as a clone: the node attributes it publishes for each member (vcha-sync-
# NAME, vcha-lag-NAME, vcha-receiver-NAME) follow a real push through its
# rsync daemon on 127.0.0.1 (the one of its two receiver addresses this
# node has) and the active marker, and are gone once it stops.  Its members are a cold one and one never synced: no container
# starts here (tests/ctset/agent.sh runs them).
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/cluster1.sh"
. "$top_srcdir/tests/lib/receiver.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "a cluster in namespaces needs root"
for prog in corosync pacemakerd cibadmin crm_resource attrd_updater unshare \
    rsync ss; do
    command -v "$prog" > /dev/null ||
        tap_bail "$prog missing: install pacemaker corosync rsync iproute2"
done
cluster1_enter "$@"

work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
cluster1_start "$work/cluster" || {
    cluster1_logs
    tap_bail "the cluster did not start"
}
ip link set lo up
port=$(receiver_free_port) || tap_bail "no free port"
(umask 077 && echo "web:cluster-secret" > "$work/secrets" &&
    echo "cluster-secret" > "$work/pass")

# Pacemaker passes no environment of ours: a wrapper names the receiver
cat > "$work/ctset" << SH
#!/bin/sh
VCHA_RECEIVE=$top_builddir/daemon/vcha-receive exec "$top_builddir/agents/ctset" "\$@"
SH
chmod 755 "$work/ctset"
cluster1_agent vcha ctset "$work/ctset"
cibadmin -C -o resources -X "
<clone id='standby-set-clone'>
  <primitive id='standby-set' class='ocf' provider='vcha' type='ctset'>
    <instance_attributes id='standby-set-params'>
      <nvpair id='s1' name='members'
        value='web:cold:198.18.9.2/24 db:hot:198.18.9.3/24'/>
      <nvpair id='s2' name='sync_dir' value='$work/sync'/>
      <nvpair id='s3' name='lxcpath' value='$work/lxc'/>
      <nvpair id='s4' name='receiver_address' value='198.18.9.250 127.0.0.1'/>
      <nvpair id='s5' name='receiver_port' value='$port'/>
      <nvpair id='s6' name='secrets_file' value='$work/secrets'/>
    </instance_attributes>
    <operations>
      <op id='standby-set-monitor' name='monitor' interval='2s' timeout='30s'/>
    </operations>
  </primitive>
</clone>"
tap_is "$?" 0 "the clone is created"

attr() { # the transient attribute NAME of node1, or nothing
    attrd_updater -Q -n "$1" -N node1 2> /dev/null |
        sed -n 's/.* value="\([^"]*\)".*/\1/p'
}
attr_is() { # attr_is NAME VALUE SECONDS: wait until it has that value
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        [ "$(attr "$1")" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

attr_is vcha-sync-web never 60
tap_ok $? "started: vcha-sync-web=never (got '$(attr vcha-sync-web)')"
attr_is vcha-sync-db never 30
tap_ok $? "vcha-sync-db=never (got '$(attr vcha-sync-db)')"
tap_is "$(attr vcha-lag-web)" "" "no lag for a tree never synced"
attr_is vcha-receiver-db "127.0.0.1:$port" 30
tap_ok $? "vcha-receiver-db=127.0.0.1:$port: the receiver holding its tree here, on the one address of the two this node has"
tap_is "$(attr vcha-receiver-web)" "127.0.0.1:$port" "and vcha-receiver-web"
ss -Htln "sport = :$port" | grep -q "127.0.0.1:$port"
tap_ok $? "its rsync daemon listens on 127.0.0.1:$port"

mkdir -p "$work/src/etc"
echo "hello" > "$work/src/etc/motd"
for i in $(seq 1 50); do
    out=$(rsync -a --numeric-ids --password-file="$work/pass" "$work/src/" \
        "rsync://web@127.0.0.1:$port/web/" 2>&1)
    rc=$?
    [ "$rc" = 5 ] || break
    sleep 0.1
done
tap_is "$rc" 0 "a push into web succeeds"
[ "$rc" = 0 ] || tap_diag "$out"
attr_is vcha-sync-web complete 30
tap_ok $? "the monitor publishes vcha-sync-web=complete"
# (attrd may show the state before the lag written just ahead of it)
cluster1_wait 10 sh -c "attrd_updater -Q -n vcha-lag-web -N node1 2> /dev/null | grep -q 'value=\"[0-9]'"
lag=$(attr vcha-lag-web)
tap_like "$lag" "[0-9]*" "and vcha-lag-web, seconds since the batch ended ($lag)"
tap_cond "${lag:-99} >= 0 && ${lag:-99} < 30" "a small number"
tap_is "$(attr vcha-sync-db)" never "db is still never synced"

# activated here: the record first (as vcservice writes it), the marker
crm_attribute -t crm_config -s vcha-records -n vcha-active-web -v node1
printf 'instance=web-svc\nnode=node1\nsince_ms=1\n' \
    > "$work/sync/web/rootfs.vcha-active"
attr_is vcha-sync-web active 30
tap_ok $? "with the active marker: vcha-sync-web=active"
tap_is "$(attr vcha-lag-web)" "" "and no vcha-lag-web: the tree is newer than the primary's"
sleep 3 # monitors go by
tap_ok "$([ -e "$work/sync/web/rootfs.vcha-active" ]; echo $?)" \
    "while the record names this node, the marker stays"
# no record at all (a CIB replaced from an older copy): it proves nothing
crm_attribute -t crm_config -s vcha-records -n vcha-active-web -D
cluster1_wait 30 grep -q "member web is active, but no cluster property vcha-active-web says where: kept active" \
    /var/log/pacemaker/pacemaker.log
tap_ok $? "the record gone: the monitor warns"
tap_ok "$([ -e "$work/sync/web/rootfs.vcha-active" ]; echo $?)" \
    "and keeps the marker"
tap_is "$(attr vcha-sync-web)" active "and the member active"
# the failback pulled the tree back, and recorded it
crm_attribute -t crm_config -s vcha-records -n vcha-active-web -v native:node2
attr_is vcha-sync-web complete 30
tap_ok $? "the record says failed back: the monitor releases the member (vcha-sync-web=complete)"
tap_ok "$([ ! -e "$work/sync/web/rootfs.vcha-active" ]; echo $?)" \
    "its stale marker is removed"
grep -q "member web failed back to node2 (cluster property vcha-active-web)" \
    /var/log/pacemaker/pacemaker.log
tap_ok $? "and says so in the log"
# an activation under way, its lock held and its marker written: nothing
# is published for the member (a change would abort the transition that
# activates or migrates it) until the lock is released
crm_attribute -t crm_config -s vcha-records -n vcha-active-web -v node1
exec 9> "$work/sync/web/rootfs.vcha-active.lock"
flock -n 9 || tap_bail "cannot take web's activation lock"
printf 'instance=web-svc\nnode=node1\nsince_ms=1\n' \
    > "$work/sync/web/rootfs.vcha-active"
sleep 5 # two monitors go by
tap_is "$(attr vcha-sync-web)" complete \
    "web marked active under its held activation lock: vcha-sync-web unchanged"
exec 9>&-
attr_is vcha-sync-web active 30
tap_ok $? "the lock released: vcha-sync-web=active"
rm -f "$work/sync/web/rootfs.vcha-active"
crm_attribute -t crm_config -s vcha-records -n vcha-active-web -D

crm_resource -r standby-set-clone --meta -p target-role -v Stopped > /dev/null
cluster1_wait 60 sh -c "crm_resource --locate -r standby-set-clone 2>&1 | grep -q 'NOT running'"
tap_ok $? "target-role=Stopped stops it"
attr_is vcha-sync-web "" 30
tap_ok $? "the stop removed vcha-sync-web"
attr_is vcha-sync-db "" 30
tap_ok $? "and vcha-sync-db"
tap_is "$(attr vcha-lag-web)" "" "and vcha-lag-web"
tap_is "$(attr vcha-receiver-web)$(attr vcha-receiver-db)" "" "and vcha-receiver-web and -db"
ss -Htln "sport = :$port" | grep -q .
tap_cond "$? != 0" "nothing listens on port $port any more"
crm_mon -1 2>&1 | grep -q "Failed Resource Actions"
tap_is "$?" 1 "no failed action on the way"
tap_done
