# Shared by the demo, the scenarios and the benchmark (bash; source it).
# The service: busybox httpd in group "www" with its DNS name
# www.lab.vcha.test kept by ocf:vcha:dnsswitch.

LAB=${LAB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lab}
NAME=www.lab.vcha.test
DNS=198.18.0.2
# the lab's shared directory, /srv/shared on every node
SHARED=${VCHA_LAB_VAR:-/var/lib/vcha-lab}/shared
# each node's /var/log, on this host: kept across power-offs (tests/lab/lab)
LAB_LOGS=${VCHA_LAB_VAR:-/var/lib/vcha-lab}/logs
TAP_FAIL_NOTE="the nodes' logs, kept across power-offs: $LAB_LOGS/NODE/ (pacemaker/pacemaker.log with the agents' and vchad's lines, corosync/corosync.log)"

lab() { "$LAB" "$@"; }
ex() { lab exec "$@"; }
now() { echo "$EPOCHREALTIME"; }
# since T0 T: "+1.234s"; "      ?" when T is unknown (a phase not logged)
since() {
    if [ -z "$2" ]; then
        printf '%8s' '?'
        return
    fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%+7.3fs", b - a }'
}
addr_of() { echo "198.18.0.$((10 + ${1#node}))"; }
client() { ip netns exec vchalab-client "$@"; }

# The service: busybox httpd serving a page that names its node; the name
# www.lab.vcha.test follows it, from each node's lab-address attribute.
configure() {
    local n
    for n in node1 node2 node3; do
        ex "$n" sh -c "mkdir -p /srv/www && echo 'served by $n' > /srv/www/index.html"
        ex node1 pcs node attribute "$n" lab-address="$(addr_of "$n")"
    done
    if ex node1 crm_resource --list-raw | grep -qx web; then
        ex node1 pcs resource meta www resource-stickiness=100 > /dev/null
        return 0
    fi
    ex node1 pcs resource create web ocf:heartbeat:anything \
        binfile=/bin/busybox cmdline_options="httpd -f -p 80 -h /srv/www" \
        op monitor interval=5s > /dev/null
    ex node1 pcs resource create www-dns ocf:vcha:dnsswitch \
        name=$NAME address_attribute=lab-address server=$DNS \
        keyfile=/etc/vcha/lab.key ttl=5 op monitor interval=5s > /dev/null
    ex node1 pcs resource group add www web www-dns > /dev/null
    # sticky, as an administrator sets it: a node's loss or return elsewhere
    # leaves the group where it runs
    ex node1 pcs resource meta www resource-stickiness=100 > /dev/null
}

where() { # the node running web, or nothing
    ex node1 crm_resource --locate -r web 2> /dev/null |
        sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | head -1
}

# started_on RESOURCE: the node where crm_mon shows RESOURCE "Started";
# nothing while it is stopped, starting or FAILED (crm_resource --locate
# names the node of a failed resource too).  It asks the first node that
# answers as a member of the cluster: a node that is booting answers as
# well, before it has joined, from a CIB with no status (no DC, every node
# unclean or pending, every resource stopped).
started_on() {
    local n out
    for n in node1 node2 node3; do
        out=$(ex "$n" crm_mon -1 2> /dev/null) || continue
        grep -Eq "^[[:space:]]*\* Online: \[ (.* )?$n " <<< "$out" || continue
        sed -n "s/^[[:space:]]*\* $1[[:space:]]\{1,\}([^)]*):[[:space:]]*Started \(node[0-9]*\).*/\1/p" <<< "$out" |
            head -1
        return 0
    done
}

page() { # what a user gets for http://www.lab.vcha.test/
    local ip
    ip=$(client dig +short +time=1 +tries=1 @$DNS $NAME A 2> /dev/null | head -1)
    # a live server answers at once; a dead one must not hold the poll for
    # the whole of --max-time (it would add up to 1 s to what is measured)
    [ -n "$ip" ] && client curl -s --connect-timeout 0.2 --max-time 1 \
        "http://$ip/" 2> /dev/null
}

wait_for_page() { # wait_for_page SECONDS: until the client gets a page
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        page | grep -q served && return 0
        sleep 0.1
    done
    return 1
}

wait_for() { # wait_for SECONDS CMD...
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        "${@:2}" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# node_log NODE FILE: FILE (a path under the node's /var/log) as this host
# sees it: readable while the node is off, and after its reboot
node_log() { echo "$LAB_LOGS/$1/${2#/var/log/}"; }

# log_time T0 NODE FILE PATTERN: epoch seconds of the first line matching
# PATTERN that was written at or after T0; nothing (and success) if none
log_time() {
    local t0=$1 stamp t
    grep -E "$4" "$(node_log "$2" "$3")" 2> /dev/null | awk '{ print $1, $2, $3 }' |
        while read -r stamp; do
            t=$(date -d "$stamp" +%s.%N)
            if awk -v a="$t" -v b="$t0" 'BEGIN { exit !(a >= b - 0.001) }'; then
                echo "$t"
                break
            fi
        done
    return 0
}

# log_time_wait T0 NODE FILE PATTERN: log_time, waiting up to 3 s for the
# line: read at once from the host, a log can be a moment behind what a
# client already saw (dnsswitch checks the record before it logs it)
log_time_wait() {
    local i t
    for ((i = 0; i < 30; i++)); do
        t=$(log_time "$@")
        [ -n "$t" ] && break
        sleep 0.1
    done
    echo "$t"
}

node_loss() { # node_loss T0 VICTIM SURVIVOR: power-off, membership, fencing
    local t0=$1 v=$2 s=$3 t
    printf '   %s  power-off: every process of %s gone at once\n' "$(since "$t0" "$t0")" "$v"
    t=$(log_time "$t0" "$s" /var/log/corosync/corosync.log "A new membership .* Members left: ${v#node}\$")
    printf '   %s  membership: corosync on %s forms a cluster without %s\n' "$(since "$t0" "$t")" "$s" "$v"
    t=$(log_time "$t0" "$s" /var/log/pacemaker/pacemaker.log "finalize_op.*targeting $v .*OK")
    printf '   %s  fenced: %s rebooted by fence_vcha_libvirt (confirmed off, then on)\n' "$(since "$t0" "$t")" "$v"
}

timeline() { # timeline T0 VICTIM SURVIVOR NEW T-CLIENT CLIENT-LINE
    local t0=$1 n=$4 t
    node_loss "$t0" "$2" "$3"
    t=$(log_time_wait "$t0" "$n" /var/log/pacemaker/pacemaker.log "Result of start operation for web on $n: OK")
    printf '   %s  web started on %s\n' "$(since "$t0" "$t")" "$n"
    t=$(log_time_wait "$t0" "$n" /var/log/pacemaker/pacemaker.log "dnsswitch.*now points to")
    printf '   %s  DNS: %s -> %s (ocf:vcha:dnsswitch)\n' "$(since "$t0" "$t")" "$NAME" "$(addr_of "$n")"
    printf '   %s  client: "%s"\n' "$(since "$t0" "$5")" "$6"
}


# failover VICTIM SURVIVOR: pull VICTIM's plug, wait until the client is
# served from another node, print the timeline
failover() {
    local victim=$1 survivor=$2 t0 t line new
    t0=$(now)
    # the instant of the power-off, for whoever checks the timeline
    [ -z "${FAILOVER_T0:-}" ] || echo "$t0" > "$FAILOVER_T0"
    lab poweroff "$victim" 2> /dev/null
    # The client's view is polled; the other phases are read afterwards from
    # the logs of the nodes that saw them (same clock: one machine).
    until line=$(page) && [ -n "$line" ] && [ "$line" != "served by $victim" ]; do
        if awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 120) }'; then
            echo "demo: the service did not come back within 120 s" >&2
            lab status
            exit 1
        fi
        sleep 0.05
    done
    t=$(now)
    new=${line#served by }
    timeline "$t0" "$victim" "$survivor" "$new" "$t" "$line"
}

# wait_fenced SECONDS WATCHER TARGET T0: until WATCHER's fencer logs a
# successful fencing of TARGET at or after T0 (stonith_admin --history keeps
# only one entry per target and action, so it cannot tell a second fencing)
wait_fenced() {
    local i
    for ((i = 0; i < $1 * 2; i++)); do
        [ -n "$(log_time "$4" "$2" /var/log/pacemaker/pacemaker.log \
            "finalize_op.*targeting $3 .*OK")" ] && return 0
        sleep 0.5
    done
    return 1
}

# client_watch FILE: in the background, ask for the page as a user would,
# again and again until client_watch_stop; one line per answer in FILE,
# "<epoch s> <what the client got>" ("none" when it got nothing).  The
# timeouts are generous: on a loaded machine a slow answer is still an
# answer, and a sampler that stalls shows as a gap between lines.
client_watch() {
    local f=$1
    rm -f "$f.stop"
    (
        local t ip line
        while [ ! -e "$f.stop" ]; do
            t=$(now)
            ip=$(client dig +short +time=2 +tries=1 @$DNS $NAME A 2> /dev/null | head -1)
            line=
            [ -n "$ip" ] && line=$(client curl -s --connect-timeout 2 \
                --max-time 3 "http://$ip/" 2> /dev/null)
            echo "$t ${line:-none}"
            sleep 0.05
        done > "$f"
    ) &
    CLIENT_WATCH_PID=$!
}

client_watch_stop() { # client_watch_stop FILE
    touch "$1.stop"
    wait "$CLIENT_WATCH_PID"
}

# client_watch_report FILE: "SAMPLES SECONDS LARGEST-GAP ANSWERS", the
# answers counted by kind ("served by node2" x40, none x3)
client_watch_report() {
    awk '{ t = $1; $1 = ""; sub(/^ /, ""); n[$0]++; c++
           if (c > 1 && t - last > gap) gap = t - last
           if (c == 1) first = t; last = t }
        END { s = ""; for (k in n) s = s (s ? ", " : "") k " x" n[k]
              printf "%d %.1f %.1f %s\n", c, last - first, gap, s }' "$1"
}
