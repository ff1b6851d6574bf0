# Shared by the container-set scenarios and benchmarks (bash; source it
# after common.sh): service "web" on its primary VM CS_P, a busybox httpd
# serving a tree that is, as far as the service goes, the VM's root; the
# standby VM CS_S holds member "web" of an ocf:vcha:ctset clone, hot (or
# as CS_MODE says), at CS_ADDR on CS_S's bridge; ocf:vcha:vcservice and
# ocf:vcha:dnsswitch grouped as "www", preferring CS_P, allowed on a
# standby VM, sticky (no automatic failback).

CS_P=node1                  # the primary VM of web
CS_S=node3                  # the standby VM
CS_TREE=/srv/web-vm         # on CS_P: the service's tree
CS_SYNC=/srv/vcha-sync      # on CS_S: the members' trees
CS_ADDR=198.18.0.71         # the member's own address
CS_PORT=8730                # ctset's receiver
CS_MODE=${CS_MODE:-hot}     # the member's mode: hot, or cold (warm: not here)
CS_BASE=${CS_BASE:-}        # on CS_P: a distribution root the tree starts from
CS_PAGES=${CS_PAGES:-0}     # pages besides the count, /www/p/N.html
CS_OVERFLOW=${CS_OVERFLOW:-} # a second standby VM, with no copy of the tree:
                            # web migrates there (allow-migrate, migration_dir)
CS_MIG=/srv/shared/migrate  # web's migration_dir, with CS_OVERFLOW
CS_MIG_TIMEOUT=${CS_MIG_TIMEOUT:-60s} # its migrate_to and migrate_from timeouts
CS_ENV=${CS_ENV:-}          # shell the tree's init sources (/etc/web.d/lab.env)
CS_MEMBERS=${CS_MEMBERS:-}  # the set's members (default: web alone)
CS_VCS_MORE=${CS_VCS_MORE:-} # more of web's parameters (NAME=VALUE ...)

# cs_cleanup: what cs_configure and a failover leave on the nodes, gone
cs_cleanup() {
    local n
    ex node1 pcs resource delete www > /dev/null 2>&1
    ex node1 pcs resource delete web-dns > /dev/null 2>&1 # (a set-up cut short)
    ex node1 pcs resource delete web > /dev/null 2>&1
    ex node1 pcs resource delete ctset-clone > /dev/null 2>&1
    ex node1 pcs node attribute "$CS_S" vcha-standby= > /dev/null 2>&1
    ex node1 crm_attribute -t crm_config -s vcha-records -n vcha-active-web -D > /dev/null 2>&1
    for n in "$CS_S" $CS_OVERFLOW; do
        ex "$n" sh -c "lxc-stop -n web -k; rm -rf $CS_SYNC/web /var/lib/lxc/web" > /dev/null 2>&1
    done
    [ -z "$CS_OVERFLOW" ] || ex node1 pcs node attribute "$CS_OVERFLOW" vcha-standby= > /dev/null 2>&1
    rm -rf "$SHARED/migrate"
    for n in node1 node2 node3; do
        ex "$n" sh -c "pkill -f '[w]eb-writes'; rm -rf $CS_TREE /run/web.pid" > /dev/null 2>&1
    done
    rm -f "$SHARED/web-writes"
}

# cs_tree: the service's tree on CS_P (busybox, an init for the container:
# the settings packages leave in /etc/web.d read, then httpd on port 80 in
# the foreground; the pages; a CGI that says who serves, and the feature
# its server started with, if any; a dpkg database of one package, for dpkg
# --root; or, with CS_BASE, that distribution root with its own shell,
# users and dpkg database, busybox and the service added; CS_PAGES pages
# more; CS_ENV for its init to source) and the secrets of the sync on both
# ends
cs_tree() {
    local t=$CS_TREE
    ex "$CS_P" sh -c "
        set -e
        rm -rf $t && mkdir -p $t
        if [ -n '$CS_BASE' ]; then cp -a $CS_BASE/. $t/; fi
        mkdir -p $t/bin $t/sbin $t/www/cgi-bin $t/etc \
            $t/dev $t/proc $t/sys $t/tmp $t/root $t/run \
            $t/var/lib/dpkg/info $t/var/lib/dpkg/updates $t/var/lib/dpkg/triggers
        if [ -z '$CS_BASE' ]; then
            printf '%s\n' 'Package: web-base' 'Status: install ok installed' 'Version: 1.0' \
                'Architecture: all' 'Maintainer: vcha lab <lab@lab.vcha.test>' \
                'Description: the lab web tree' > $t/var/lib/dpkg/status
            echo /. > $t/var/lib/dpkg/info/web-base.list
            ln -s busybox $t/bin/sh
            echo 'root:x:0:0:root:/root:/bin/sh' > $t/etc/passwd
        fi
        # (a distribution root's own may be links, out of the tree)
        rm -f $t/bin/busybox $t/sbin/init $t/www/cgi-bin/who
        cp /bin/busybox $t/bin/busybox
        if [ '$CS_PAGES' -gt 0 ]; then
            mkdir -p $t/www/p
            seq 1 $CS_PAGES | awk '{ f = \"$t/www/p/\" \$1 \".html\"; print \"page \" \$1 > f; close(f) }'
        fi
        printf '%s\n' '#!/bin/sh' 'for f in /etc/web.d/*.env; do [ -r \"\$f\" ] && . \"\$f\"; done' \
            'export WEB_FEATURE' 'exec /bin/busybox httpd -f -p 80 -h /www' > $t/sbin/init
        printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho served by \$(/bin/busybox hostname)\${WEB_FEATURE:+ feature \$WEB_FEATURE}\n' \
            > $t/www/cgi-bin/who
        chmod 755 $t/sbin/init $t/www/cgi-bin/who
        echo 0 > $t/www/count" || return 1
    if [ -n "$CS_ENV" ]; then
        printf '%s\n' "$CS_ENV" | ex "$CS_P" sh -c "mkdir -p $t/etc/web.d && cat > $t/etc/web.d/lab.env" ||
            return 1
    fi
    for n in "$CS_S" $CS_OVERFLOW; do
        ex "$n" sh -c "mkdir -p /etc/vcha $CS_SYNC && umask 077 &&
            echo web:lab-sync-secret > /etc/vcha/rsyncd.secrets" || return 1
    done
    ex "$CS_P" sh -c "mkdir -p /etc/vcha && umask 077 &&
        echo lab-sync-secret > /etc/vcha/sync.password"
}

# cs_configure: the tree, the set and the service group, created disabled,
# constrained, then enabled; 0 or the first pcs failure (its output on
# stderr).  With CS_OVERFLOW, the set is cloned there too (a receiver
# address each), web may migrate (allow-migrate, migration_dir CS_MIG)
# and prefers CS_S to it (which holds its copy)
cs_configure() {
    local pa sa out mig=() migop=()
    pa=$(addr_of "$CS_P")
    sa=$(addr_of "$CS_S")
    if [ -n "$CS_OVERFLOW" ]; then
        sa="$sa $(addr_of "$CS_OVERFLOW")"
        mkdir -p "$SHARED/migrate"
        mig=(migration_dir=$CS_MIG)
        migop=(op migrate_to timeout=$CS_MIG_TIMEOUT op migrate_from timeout=$CS_MIG_TIMEOUT
            meta allow-migrate=true)
    fi
    cs_tree || return 1
    out=$(
        set -e
        exec 2>&1
        for n in "$CS_S" $CS_OVERFLOW; do
            ex node1 pcs node attribute "$n" vcha-standby=true
        done
        ex node1 pcs resource create ctset ocf:vcha:ctset \
            members="${CS_MEMBERS:-web:$CS_MODE:$CS_ADDR/24}" receiver_address="$sa" \
            receiver_port=$CS_PORT secrets_file=/etc/vcha/rsyncd.secrets \
            sync_dir=$CS_SYNC bridge=br0 \
            op monitor interval=5s timeout=30s clone --disabled
        ex node1 pcs resource meta ctset-clone interleave=true
        ex node1 pcs constraint location ctset-clone rule score=-INFINITY \
            "not_defined vcha-standby or vcha-standby ne true"
        ex node1 pcs resource create web ocf:vcha:vcservice \
            primary="$CS_P" member=web address="$pa" ports=80 \
            start_cmd="/sbin/start-stop-daemon --start --background --make-pidfile --pidfile /run/web.pid --exec /bin/busybox -- httpd -f -p $pa:80 -h $CS_TREE/www" \
            stop_cmd="/sbin/start-stop-daemon --stop --oknodo --remove-pidfile --pidfile /run/web.pid" \
            sync_target="rsync://web@${sa%% *}:$CS_PORT/web" \
            sync_password_file=/etc/vcha/sync.password sync_source=$CS_TREE \
            address_attribute=web-address "${mig[@]}" $CS_VCS_MORE \
            op monitor interval=5s timeout=30s OCF_CHECK_LEVEL=10 \
            op start timeout=60s op stop timeout=60s "${migop[@]}" --disabled
        ex node1 pcs resource create web-dns ocf:vcha:dnsswitch \
            name=$NAME address_attribute=web-address server=$DNS \
            keyfile=/etc/vcha/lab.key ttl=5 op monitor interval=5s --disabled
        ex node1 pcs resource group add www web web-dns
        ex node1 pcs resource meta www resource-stickiness=200
        ex node1 pcs constraint location www prefers "$CS_P"=100
        [ -z "$CS_OVERFLOW" ] || ex node1 pcs constraint location www prefers "$CS_S"=50
        ex node1 pcs constraint location www rule score=-INFINITY \
            "#uname ne $CS_P and vcha-standby ne true"
        ex node1 pcs resource enable ctset-clone web web-dns
    ) || { echo "$out" >&2; return 1; }
}

cs_who() { client curl -s --connect-timeout 1 --max-time 2 "http://$1/cgi-bin/who" 2> /dev/null; }
cs_count() { client curl -s --connect-timeout 1 --max-time 2 "http://$1/count" 2> /dev/null; }
cs_named() { client dig +short +time=1 +tries=1 @$DNS $NAME A 2> /dev/null | head -1; }
# cs_state: the state of member web's last batch, as its receiver marked it
cs_state() { ex "$CS_S" vcha-receive --state "$CS_SYNC/web/rootfs" 2> /dev/null | sed -n 's/^state=//p'; }
cs_hot() { ex "$CS_S" lxc-info -n web -s 2> /dev/null | grep -q RUNNING; }
# cs_online NODE...: crm_mon on node2 lists them online
cs_online() {
    local out n
    out=$(ex node2 crm_mon -1 2> /dev/null) || return 1
    for n in "$@"; do
        grep -q "Online:.*\b$n\b" <<< "$out" || return 1
    done
}

# cs_ready SECONDS: until the service runs natively, the name points at
# CS_P, the member's last batch completed, and the hot member answers (a
# cold one: its configuration is written, and it does not run)
cs_ready() {
    local i pa
    pa=$(addr_of "$CS_P")
    for ((i = 0; i < $1 * 2; i++)); do
        if [ "$(cs_named)" = "$pa" ] && [ "$(cs_state)" = complete ]; then
            if [ "$CS_MODE" = cold ]; then
                ex "$CS_S" test -s /var/lib/lxc/web/config && ! cs_hot && return 0
            else
                cs_hot && cs_who $CS_ADDR | grep -q 'served by web' && return 0
            fi
        fi
        sleep 0.5
    done
    return 1
}

# cs_writer: on CS_P, the count written into the tree every 0.2 s, each
# value also appended to the lab's shared directory (kept when CS_P dies)
cs_writer() {
    ex "$CS_P" sh -c "nohup sh -c 'n=0; while :; do n=\$((n + 1)); echo \$n > $CS_TREE/www/count.new &&
        mv $CS_TREE/www/count.new $CS_TREE/www/count && echo \$n >> /srv/shared/web-writes; sleep 0.2; done' \
        > /dev/null 2>&1 &"
}

# cs_failover T0-FILE: pull CS_P's plug (its instant into T0-FILE) and wait
# up to 120 s until the client is served by the container through the name;
# prints "T-FENCED T-STARTED T-DNS T-CLIENT" (epoch seconds; a phase found
# in no log is "?")
cs_failover() {
    local t0 t_client t_f t_w t_d
    t0=$(now)
    echo "$t0" > "$1"
    lab poweroff "$CS_P" 2> /dev/null
    until [ "$(cs_named)" = "$CS_ADDR" ] && cs_who $CS_ADDR | grep -q 'served by web'; do
        awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 120) }' && return 1
        sleep 0.05
    done
    t_client=$(now)
    t_f=$(log_time_wait "$t0" "$CS_S" /var/log/pacemaker/pacemaker.log "finalize_op.*targeting $CS_P .*OK")
    t_w=$(log_time_wait "$t0" "$CS_S" /var/log/pacemaker/pacemaker.log "Result of start operation for web on $CS_S: OK")
    t_d=$(log_time_wait "$t0" "$CS_S" /var/log/pacemaker/pacemaker.log "dnsswitch.*now points to")
    echo "${t_f:-?} ${t_w:-?} ${t_d:-?} $t_client"
}

# cs_poll FILE URL: in the background, the client asks for URL every
# 0.05 s: "<epoch s> <the answer, or none>" per line; cs_poll_stop ends it
cs_poll() {
    rm -f "$1.stop"
    (
        while [ ! -e "$1.stop" ]; do
            t=$(now)
            v=$(client curl -s --connect-timeout 1 --max-time 1 "$2" 2> /dev/null)
            echo "$t ${v:-none}"
            sleep 0.05
        done > "$1"
    ) &
    CS_POLL_PID=$!
    CS_POLL_FILE=$1
}
cs_poll_stop() {
    [ -n "${CS_POLL_PID:-}" ] || return 0
    touch "$CS_POLL_FILE.stop"
    wait "$CS_POLL_PID" 2> /dev/null
    CS_POLL_PID=
}
# cs_active_watch FILE "NODES" MEMBER...: in the background, every 0.5 s,
# "<epoch s> <count>..." with, per MEMBER, on how many of NODES its
# service is active: natively (the process of /run/MEMBER.pid runs), or in
# the member running under its active marker.  (Pacemaker's own view lists
# a migrating resource on both nodes until the source's stop that ends a
# migration: not what runs.)  cs_active_watch_stop ends it.
cs_active_watch() {
    local f=$1 nodes=$2
    shift 2
    (
        while :; do
            line=$(now)
            for m in "$@"; do
                on=0
                for n in $nodes; do
                    ex "$n" sh -c "kill -0 \"\$(cat /run/$m.pid 2> /dev/null)\" 2> /dev/null ||
                        { lxc-info -n $m -s | grep -q RUNNING && test -e $CS_SYNC/$m/rootfs.vcha-active; }" \
                        > /dev/null 2>&1 && on=$((on + 1))
                done
                line+=" $on"
            done
            echo "$line"
            sleep 0.5
        done > "$f"
    ) &
    CS_ACTIVE_PID=$!
}
cs_active_watch_stop() {
    [ -n "${CS_ACTIVE_PID:-}" ] || return 0
    kill "$CS_ACTIVE_PID" 2> /dev/null
    wait "$CS_ACTIVE_PID" 2> /dev/null
    CS_ACTIVE_PID=
}
# cs_gap FILE: the longest time between two answers of a cs_poll, seconds
cs_gap() {
    awk '$2 != "none" { if (seen && $1 - t > g) g = $1 - t; t = $1; seen = 1 }
         END { printf "%.2f", g }' "$1"
}

# ------------------------------------------------------------ scenarios
# (they set work, and source tests/lib/tap.sh)

# cs_begin: the lab up, CS_NODES nodes (default 3; or bail out), what a
# run stopped half-way left
# cleared, the set and the service configured (a check)
cs_begin() {
    lab up "${CS_NODES:-3}" > "$work/up" 2>&1 || { sed 's/^/#  /' "$work/up"; tap_bail "lab up failed"; }
    cs_cleanup
    cs_configure 2> "$work/create"
    tap_is "$?" 0 "the set (ctset clone, a $CS_MODE member) and the service (vcservice, dnsswitch) configured"
    sed 's/^/#  /' "$work/create"
}

# cs_watch FILE: in the background, every 0.5 s, asked on CS_S (it stays
# up): "<epoch s> <nodes with web active> <what the name points at>";
# cs_watch_stop ends it
cs_watch() {
    (
        while :; do
            on=$(ex "$CS_S" crm_resource --locate -r web 2> /dev/null | grep -c 'running on')
            echo "$(now) $on $(cs_named)"
            sleep 0.5
        done > "$1"
    ) &
    CS_WATCH_PID=$!
}
cs_watch_stop() {
    [ -n "${CS_WATCH_PID:-}" ] || return 0
    kill "$CS_WATCH_PID" 2> /dev/null
    wait "$CS_WATCH_PID" 2> /dev/null
    CS_WATCH_PID=
}

# cs_fail_primary: the writer started, CS_P's plug pulled; checks that CS_P
# was fenced, that the client is served by the member through the name,
# that web runs on CS_S alone and serves the newest count CS_P wrote (2 s
# of writes at most behind); sets CS_T0 (the power-off) and CS_TIMES
# ("T-FENCED T-STARTED T-DNS T-CLIENT", see cs_failover)
cs_fail_primary() {
    local last located c
    cs_writer
    sleep 5
    CS_TIMES=$(cs_failover "$work/t0")
    CS_T0=$(cat "$work/t0")
    last=$(tail -1 "$SHARED/web-writes" 2> /dev/null)
    wait_fenced 60 "$CS_S" "$CS_P" "$CS_T0"
    tap_ok $? "$CS_P powered off: fenced"
    tap_ok "$([ -n "$CS_TIMES" ]; echo $?)" \
        "the client is served by the container through $NAME ($(since "$CS_T0" "${CS_TIMES##* }"))"
    # asked of CS_S: CS_P, fenced by a reboot, may answer before it rejoined
    located=$(ex "$CS_S" crm_resource --locate -r web 2> /dev/null |
        sed -n 's/.*running on: \(node[0-9]*\).*/\1/p' | tr '\n' ' ')
    tap_is "$located" "$CS_S " "web started on $CS_S, and only there"
    c=$(cs_count $CS_ADDR)
    # (one count more than the log's last: the power-off fell between a
    # count's write and its line in the log)
    tap_cond "${c:-0} >= ${last:-1} - 10 && ${c:-0} <= ${last:-0} + 1" \
        "it serves the newest count $CS_P wrote, within the sync lag (wrote ${last:-?}, serves ${c:-none})"
}

