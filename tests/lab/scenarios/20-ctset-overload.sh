#!/bin/bash
# Scenario 20: an in-VM container set (seed 000, Fig. 5) - overload relief.
# Five nodes: "web" (tests/lab/ctset-common.sh) natively on node1 and "app"
# (the same kind of tree, its own address) on node2, both trees synced into
# hot members on the standby VM node3; node4 a second standby VM, the
# overflow one, holding no copy (vcha-overflow); the standby VMs declare a
# capacity of 256 MiB, placement-strategy=utilization, and both services
# measure what their members use (measure_utilization).
#   1. node1 and node2 powered off at once (and kept out of service,
#      standby): both fenced, both services come back in their members on
#      node3;
#   2. load driven into web's member (a process its init started holds
#      140 MB; app's holds 60 MB all along): web's measured utilization
#      rises, both no longer fit on
#      node3, and Pacemaker moves app to node4 by a live migration; app
#      answers on its address all along but for the migration's downtime,
#      which is measured, and web goes on serving on node3;
#   3. a spike past any node (web would need more than a standby VM has):
#      the rise is not made, with a warning naming what it would stop, and
#      no service stops;
#   4. all along, each service was active on one node at most.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/../lib/tap.sh"
. "$here/common.sh"
CS_OVERFLOW=node4
# the load: a process web's member's init starts, holding 140 MB from the
# moment /www/load exists and 120 MB more once /www/load2 does, as long as
# they exist; app's holds 60 MB all along (busybox only: the members have
# no other programs)
hold() { # hold BYTES [TRIGGER]: the line that holds BYTES (once TRIGGER exists)
    # shellcheck disable=SC2016 # the member's shell expands it
    printf '/bin/sh -c '\''%sx=$(/bin/busybox head -c %s /dev/zero | /bin/busybox tr "\\0" a); while [ -e /www/load ] || [ -z "%s" ]; do /bin/busybox sleep 0.5; done'\'' < /dev/null > /dev/null 2>&1 &\n' \
        "${2:+while [ ! -e $2 ]; do /bin/busybox sleep 0.5; done; }" "$1" "${2:-}"
}
CS_ENV="$(hold 140000000 /www/load)
$(hold 120000000 /www/load2)"
. "$here/ctset-common.sh"

[ "$(id -u)" = 0 ] || tap_bail "the lab needs root"
S=$CS_S
T=$CS_OVERFLOW
A_ADDR=198.18.0.72 # app's member
A_TREE=/srv/app-vm
work=$(mktemp -d)
t_start=$(now)

app_cleanup() {
    ex node5 pcs resource delete app > /dev/null 2>&1
    for n in node2 "$S" "$T"; do
        ex "$n" sh -c "lxc-stop -n app -k; rm -rf $CS_SYNC/app /var/lib/lxc/app $A_TREE; pkill -f '[a]pp-vm/www'" > /dev/null 2>&1
    done
    ex node5 crm_attribute -t crm_config -s vcha-records -n vcha-active-app -D > /dev/null 2>&1
    ex node5 crm_attribute -t crm_config -n placement-strategy -D > /dev/null 2>&1
    for n in node1 node2 node3 node4 node5; do
        ex node5 crm_attribute -N "$n" -z -n memory -D > /dev/null 2>&1
        ex node5 crm_attribute -N "$n" -z -n cpu -D > /dev/null 2>&1
    done
    ex node5 crm_attribute -N "$T" -n vcha-overflow -D > /dev/null 2>&1
    ex node5 pcs node unstandby node1 node2 > /dev/null 2>&1
}
trap 'cs_poll_stop; cs_active_watch_stop; app_cleanup; cs_cleanup; rm -rf "$work"' EXIT

located() { # located RESOURCE: the nodes it runs on, asked of node5
    ex node5 crm_resource --locate -r "$1" 2> /dev/null |
        sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | tr '\n' ' '
}
util() { ex node5 crm_resource -r "$1" --utilization -g memory --quiet 2> /dev/null; }
# ------------------------------------------------------------ the set-up
lab up 5 > "$work/up" 2>&1 || { sed 's/^/#  /' "$work/up"; tap_bail "lab up failed"; }
app_cleanup
cs_cleanup
# app's tree on node2: web's kind, made the same way
(CS_P=node2 CS_TREE=$A_TREE cs_tree) || tap_bail "app's tree was not made"
hold 60000000 | ex node2 sh -c "cat > $A_TREE/etc/web.d/lab.env"
ex node2 grep -q 60000000 "$A_TREE/etc/web.d/lab.env" || tap_bail "app's load not written"
pa2=$(addr_of node2)
out=$(
    set -e
    exec 2>&1
    for n in node1 node2 "$S" "$T"; do
        ex node5 crm_attribute -N "$n" -z -n memory -v "$([ "$n" = "$S" ] || [ "$n" = "$T" ] && echo 256 || echo 4096)"
        ex node5 crm_attribute -N "$n" -z -n cpu -v 8
    done
    ex node5 crm_attribute -t crm_config -n placement-strategy -v utilization
    ex node5 crm_attribute -N "$T" -n vcha-overflow -v true
2>&1) || { echo "$out" | sed 's/^/#  /'; tap_bail "capacity not declared"; }
CS_MEMBERS="web:hot:$CS_ADDR/24 app:hot:$A_ADDR/24"
CS_VCS_MORE="measure_utilization=true"
cs_configure 2> "$work/create"
tap_is "$?" 0 "web configured (the set on $S and $T, allow-migrate, measure_utilization)"
sed 's/^/#  /' "$work/create"
out=$(
    set -e
    exec 2>&1
    for n in "$S" "$T"; do
        ex "$n" sh -c "printf 'web:lab-sync-secret\napp:lab-sync-secret\n' > /etc/vcha/rsyncd.secrets"
    done
    ex node5 pcs resource create app ocf:vcha:vcservice \
        primary=node2 member=app address="$pa2" ports=80 \
        start_cmd="/sbin/start-stop-daemon --start --background --make-pidfile --pidfile /run/app.pid --exec /bin/busybox -- httpd -f -p $pa2:80 -h $A_TREE/www" \
        stop_cmd="/sbin/start-stop-daemon --stop --oknodo --remove-pidfile --pidfile /run/app.pid" \
        sync_target="rsync://app@$(addr_of "$S"):$CS_PORT/app" \
        sync_password_file=/etc/vcha/sync.password sync_source=$A_TREE \
        migration_dir=$CS_MIG measure_utilization=true \
        op monitor interval=5s timeout=30s OCF_CHECK_LEVEL=10 \
        op start timeout=60s op stop timeout=60s \
        op migrate_to timeout=60s op migrate_from timeout=60s \
        meta allow-migrate=true resource-stickiness=200 --disabled
    ex node5 pcs constraint location app prefers node2=100 "$S"=50
    ex node5 pcs constraint location app rule score=-INFINITY \
        "#uname ne node2 and vcha-standby ne true"
    ex node5 pcs resource enable app
) || { echo "$out" | sed 's/^/#  /'; tap_bail "app was not configured"; }
tap_is "$(ex node5 crm_resource -r app --meta -g allow-migrate --quiet 2> /dev/null)/$(ex node5 crm_resource -r app -g migration_dir --quiet 2> /dev/null)" \
    "true/$CS_MIG" "app configured the same way (allow-migrate, migration_dir), natively on node2"
cs_ready 120
tap_ok $? "web runs on $CS_P, its hot member answers on $S"
wait_for 120 sh -c "ip netns exec vchalab-client curl -s --max-time 1 http://$A_ADDR/cgi-bin/who | grep -q 'served by app'"
tap_ok $? "app runs on node2, its hot member answers on $S"

# ------------------------------------------------------------ 1. both lost
cs_active_watch "$work/watch" "$S $T" web app
t0=$(now)
lab poweroff node1 2> /dev/null &
p1=$!
lab poweroff node2 2> /dev/null
wait "$p1"
# their VMs stay out of service once fenced (standby): neither is a
# place to relieve node3 on (a service would go home, a failback)
ex node5 pcs node standby node1 node2 > /dev/null 2>&1 ||
    tap_bail "cannot put node1 and node2 in standby"
wait_for 180 sh -c "[ \"\$('$LAB' exec node5 crm_resource --locate -r web 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $S ] &&
    [ \"\$('$LAB' exec node5 crm_resource --locate -r app 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $S ]"
tap_ok $? "node1 and node2 powered off at once: web and app both active on $S ($(since "$t0" "$(now)"))"
wait_fenced 60 node5 node1 "$t0" && wait_fenced 60 node5 node2 "$t0"
tap_ok $? "both fenced"
tap_is "$(client curl -s --max-time 2 "http://$A_ADDR/cgi-bin/who")" "served by app" \
    "app is served by its member"
wait_for 30 sh -c "[ -n \"\$('$LAB' exec node5 crm_resource -r app --utilization -g memory --quiet 2> /dev/null)\" ] &&
    [ -n \"\$('$LAB' exec node5 crm_resource -r web --utilization -g memory --quiet 2> /dev/null)\" ]"
tap_ok $? "both publish what their members use (web $(util web) MiB, app $(util app) MiB)"

# ------------------------------------------------------------ 2. overload
cs_poll "$work/app" "http://$A_ADDR/cgi-bin/who"
t_load=$(now)
ex "$S" touch "$CS_SYNC/web/rootfs/www/load"
wait_for 120 sh -c "[ \"\$('$LAB' exec node5 crm_resource --locate -r app 2> /dev/null | sed -n 's/.*running on: \(node[0-9]*\).*/\1/p')\" = $T ]"
tap_ok $? "web loaded (140 MB): app moved to $T ($(since "$t_load" "$(now)") after the load began)"
sleep 3
cs_poll_stop
log_s=$(node_log "$S" /var/log/pacemaker/pacemaker.log)
log_t=$(node_log "$T" /var/log/pacemaker/pacemaker.log)
w=$(util web)
tap_cond "${w:-0} > 128" "web's memory utilization was raised ($w MiB: what it holds, with headroom)"
grep -F 'vcservice(web)' "$log_s" | grep -F 'memory utilization of web raised' | tail -1 | sed 's/^.*memory/#  memory/'
grep -q "Result of migrate_to operation for app on $S: OK" "$log_s" &&
    grep -q "Result of migrate_from operation for app on $T: OK" "$log_t"
tap_ok $? "by a live migration: migrate_to on $S, migrate_from on $T"
tap_is "$(located web)$(located app)" "$S $T " "web stays on $S, app runs on $T"
gap=$(cs_gap "$work/app")
tap_cond "$(grep -c 'served by app' "$work/app") > 0 && $(tail -1 "$work/app" | grep -c 'served by app') == 1" \
    "app was answered through the migration, and after it; longest gap ${gap} s"
tap_diag "overload relief: app's downtime seen by the client ${gap} s (seed 000, LXD: 5.4-9.0 s)"
grep -F 'vcservice(app)' "$log_s" | grep -F 'checkpointed for its migration' | tail -1 |
    sed 's/^.*checkpointed/#  checkpointed/'
tap_is "$(client curl -s --max-time 2 "http://$CS_ADDR/cgi-bin/who")" "served by web" \
    "web goes on serving on $S"

# ------------------------------------------------------------ 3. a spike
spike='memory utilization of web not raised to .*the scheduler would stop'
n0=$(grep -c "$spike" "$log_s")
ex "$S" touch "$CS_SYNC/web/rootfs/www/load2"
wait_for 60 sh -c "[ \$(grep -c '$spike' '$log_s') -gt $n0 ]"
tap_ok $? "a spike past any standby VM (260 MB): the rise is not made, the scheduler would stop a service"
grep "$spike" "$log_s" | tail -1 | sed 's/^.*memory/#  memory/'
sleep 6
tap_is "$(located web)$(located app)" "$S $T " "no service stopped: web on $S, app on $T"
# a rise that still fits (the load grows while it is sampled) may be made;
# none past what a standby VM has
u=$(util web)
tap_cond "${u:-0} >= $w && ${u:-0} <= 256" \
    "web's utilization was not raised past a standby VM's 256 MiB ($w before the spike, $u after)"
ex "$S" rm -f "$CS_SYNC/web/rootfs/www/load" "$CS_SYNC/web/rootfs/www/load2"

cs_active_watch_stop
tap_is "$(awk '$2 > 1 || $3 > 1' "$work/watch" | wc -l)" 0 \
    "in $(wc -l < "$work/watch") samples neither service was active on two nodes"
tap_cond "$(awk '$2 == 1 && $3 == 1' "$work/watch" | wc -l) > 0" "and the samples saw both active (the watch works)"
tap_diag "scenario time: $(since "$t_start" "$(now)")"
tap_done
