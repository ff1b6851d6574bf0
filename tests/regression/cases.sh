# The regression cases, one function per agent (sourced by regression.sh).

cases_dnsswitch() {
    RA_ENV=(HA_RSCTMP="$work/state" OCF_RESOURCE_INSTANCE=web-dns
        OCF_RESKEY_name=www.vcha.test OCF_RESKEY_server=127.0.0.1
        OCF_RESKEY_port="$NAMED_PORT" OCF_RESKEY_keyfile="$NAMED_KEYFILE"
        OCF_RESKEY_address=198.18.0.10 OCF_RESKEY_CRM_meta_timeout=10000
        OCF_RESKEY_CRM_meta_interval=10000)
    local probe=OCF_RESKEY_CRM_meta_interval=0

    case_stdout "no action" ""
    case_stdout "usage" usage
    case_run "meta-data" meta-data
    case_run "unknown action" promote
    case_run "validate-all" validate-all
    case_run "validate-all, level 10" validate-all OCF_CHECK_LEVEL=10
    case_run "probe, record absent" monitor $probe
    case_run "start" start
    case_run "monitor" monitor
    case_run "probe, record present" monitor $probe
    case_run "start, already started" start
    case_run "monitor, record moved" monitor OCF_RESKEY_address=198.18.0.11
    case_run "stop" stop
    case_run "monitor, stopped" monitor
    case_run "probe, stopped" monitor $probe
    case_run "stop, already stopped" stop
    case_run "start, IPv6" start OCF_RESKEY_address=2001:db8::10
    case_run "stop, unregister" stop OCF_RESKEY_address=2001:db8::10 \
        OCF_RESKEY_unregister_on_stop=yes
    case_run "probe, after unregister" monitor $probe \
        HA_RSCTMP="$work/fresh" OCF_RESKEY_address=2001:db8::10
    case_run "start, wrong key" start OCF_RESKEY_keyfile="$NAMED_BADKEY"
    cp "$NAMED_KEYFILE" "$work/open.key"
    chmod 640 "$work/open.key"
    case_run "start, key readable by group" start \
        OCF_RESKEY_keyfile="$work/open.key"
    case_run "start, key missing" start OCF_RESKEY_keyfile="$work/none.key"
    case_run "start, no name" start OCF_RESKEY_name=
    case_run "start, bad name" start OCF_RESKEY_name=-www.vcha.test
    case_run "start, bad address" start OCF_RESKEY_address=fe80::zz
    case_run "start, both addresses" start OCF_RESKEY_address_attribute=a
    case_run "start, no address" start OCF_RESKEY_address=
    case_run "start, bad port" start OCF_RESKEY_port=0
    case_run "start, bad ttl" start OCF_RESKEY_ttl=99999999999999999999
    case_run "start, non-UTF-8 zone" start OCF_RESKEY_zone=$'\xff.test'
    case_run "probe, bad configuration" monitor $probe OCF_RESKEY_port=0
    case_run "stop, bad configuration" stop OCF_RESKEY_port=0
    # started here, so that monitor and stop go on to ask the server
    case_run "start, before the server goes down" start
    named_stop
    case_run "monitor, server down" monitor
    case_run "start, server down" start
    case_run "stop, server down, unregister" stop \
        OCF_RESKEY_unregister_on_stop=yes
}

# criuct's cases need no LXC: what it says before it touches a container.
cases_criuct() {
    RA_ENV=(HA_RSCTMP="$work/state" OCF_RESOURCE_INSTANCE=web-ct
        OCF_RESKEY_container=web1 OCF_RESKEY_lxcpath="$work/lxc"
        OCF_RESKEY_checkpoint_dir="$work/store"
        OCF_RESKEY_CRM_meta_timeout=10000 OCF_RESKEY_CRM_meta_interval=10000
        VCHA_SOCKET="$work/vchad.sock")
    local probe=OCF_RESKEY_CRM_meta_interval=0
    mkdir -p "$work/lxc" "$work/store"

    case_stdout "no action" ""
    case_stdout "usage" usage
    case_run "meta-data" meta-data
    case_run "unknown action" promote
    case_run "validate-all" validate-all
    # level 10 reads the container's configuration (liblxc, linked in),
    # then looks for its programs, on a PATH that has none
    mkdir -p "$work/lxc/web2"
    echo "lxc.rootfs.path = dir:$work/rootfs" > "$work/lxc/web2/config"
    case_run "validate-all, level 10, no programs" validate-all \
        OCF_CHECK_LEVEL=10 PATH="$work/nobin" OCF_RESKEY_container=web2
    case_run "validate-all, level 10, no container" validate-all \
        OCF_CHECK_LEVEL=10
    case_run "validate-all, no container" validate-all OCF_RESKEY_container=
    case_run "validate-all, container name with a slash" validate-all \
        OCF_RESKEY_container=../web1
    case_run "validate-all, relative checkpoint_dir" validate-all \
        OCF_RESKEY_checkpoint_dir=store
    case_run "validate-all, keep 1" validate-all OCF_RESKEY_keep=1
    case_run "validate-all, bad compress" validate-all OCF_RESKEY_compress=gzip
    case_run "validate-all, interval too short" validate-all \
        OCF_RESKEY_checkpoint_interval=500ms
    case_run "validate-all, age within the interval" validate-all \
        OCF_RESKEY_checkpoint_interval=60s OCF_RESKEY_max_checkpoint_age=30s
    case_run "validate-all, monitor_cmd of spaces" validate-all \
        "OCF_RESKEY_monitor_cmd=   "
    case_run "probe, bad configuration" monitor $probe OCF_RESKEY_keep=1
    case_run "probe, no such container" monitor $probe
}

# ctset's cases run the real rsync daemon on a free loopback port (blanked
# as CTPORT) with members never synced (no container starts), and no
# attrd_updater on PATH (a cluster on this machine must not get them).
cases_ctset() {
    CTSET_PORT=$(ctset_free_port)
    RA_ENV=(HA_RSCTMP="$work/state" OCF_RESOURCE_INSTANCE=standby-set
        "OCF_RESKEY_members=web:hot:198.18.7.2/24 db:cold:198.18.7.3/24"
        OCF_RESKEY_sync_dir="$work/sync" OCF_RESKEY_lxcpath="$work/ctlxc"
        OCF_RESKEY_receiver_address=127.0.0.1
        OCF_RESKEY_receiver_port="$CTSET_PORT"
        OCF_RESKEY_secrets_file="$work/rsyncd.secrets"
        OCF_RESKEY_CRM_meta_timeout=20000 OCF_RESKEY_CRM_meta_interval=10000
        VCHA_RUN_DIR="$work/run" PATH="$work/nobin"
        VCHA_RECEIVE="$top_builddir/daemon/vcha-receive")
    local probe=OCF_RESKEY_CRM_meta_interval=0
    (umask 077 && printf '# pushers\nweb:secret\ndb:pw\n' \
        > "$work/rsyncd.secrets")

    case_stdout "no action" ""
    case_stdout "usage" usage
    case_run "meta-data" meta-data
    case_run "unknown action" promote
    case_run "validate-all" validate-all
    case_run "validate-all, level 10" validate-all OCF_CHECK_LEVEL=10
    case_run "validate-all, no members" validate-all OCF_RESKEY_members=
    case_run "validate-all, members of spaces" validate-all \
        "OCF_RESKEY_members=   "
    case_run "validate-all, member without address" validate-all \
        OCF_RESKEY_members=web:hot
    case_run "validate-all, bad mode" validate-all \
        OCF_RESKEY_members=web:lukewarm:198.18.7.2/24
    case_run "validate-all, bad name" validate-all \
        OCF_RESKEY_members=../web:hot:198.18.7.2/24
    case_run "validate-all, name with a control character" validate-all \
        OCF_RESKEY_members=$'w\x01b:hot:198.18.7.2/24'
    case_run "validate-all, address without prefix" validate-all \
        OCF_RESKEY_members=web:hot:198.18.7.2
    case_run "validate-all, prefix too long" validate-all \
        OCF_RESKEY_members=web:hot:198.18.7.2/33
    case_run "validate-all, IPv6 member" validate-all \
        OCF_RESKEY_members=web:warm:2001:db8::2/64
    case_run "validate-all, two members of one name" validate-all \
        "OCF_RESKEY_members=web:hot:198.18.7.2/24 web:cold:198.18.7.3/24"
    case_run "validate-all, two members of one address" validate-all \
        "OCF_RESKEY_members=web:hot:198.18.7.2/24 db:cold:198.18.7.2/24"
    case_run "validate-all, no receiver_address" validate-all \
        OCF_RESKEY_receiver_address=
    case_run "validate-all, receiver_address a name" validate-all \
        OCF_RESKEY_receiver_address=standby1
    case_run "validate-all, port 0" validate-all OCF_RESKEY_receiver_port=0
    case_run "validate-all, relative sync_dir" validate-all \
        OCF_RESKEY_sync_dir=sync
    case_run "validate-all, bad bridge" validate-all \
        "OCF_RESKEY_bridge=br 0"
    case_run "validate-all, bad gateway" validate-all \
        OCF_RESKEY_gateway=198.18.7
    case_run "validate-all, bad idmap" validate-all OCF_RESKEY_idmap=100000
    case_run "validate-all, idmap of too few ids" validate-all \
        OCF_RESKEY_idmap=100000:1000
    case_run "validate-all, one address written two ways" validate-all \
        "OCF_RESKEY_members=web:hot:2001:db8::2/64 db:cold:2001:db8:0::2/64"
    case_run "validate-all, member at 0.0.0.0" validate-all \
        OCF_RESKEY_members=web:hot:0.0.0.0/24
    case_run "validate-all, member at ::" validate-all \
        OCF_RESKEY_members=web:hot:::/64
    case_run "validate-all, member at the receiver's address" validate-all \
        OCF_RESKEY_members=web:hot:127.0.0.1/8
    case_run "validate-all, member at the gateway's address" validate-all \
        OCF_RESKEY_gateway=198.18.7.3
    case_run "validate-all, gateway of the other family" validate-all \
        OCF_RESKEY_gateway=2001:db8::1
    case_run "validate-all, gateway outside the members' network" \
        validate-all OCF_RESKEY_gateway=198.18.8.1
    case_run "validate-all, gateway 0.0.0.0" validate-all \
        OCF_RESKEY_gateway=0.0.0.0
    case_run "validate-all, a good gateway" validate-all \
        OCF_RESKEY_gateway=198.18.7.1
    case_run "validate-all, bridge .." validate-all OCF_RESKEY_bridge=..
    case_run "validate-all, bad hosts_allow" validate-all \
        "OCF_RESKEY_hosts_allow=198.18.0.0/15;reboot"
    case_run "validate-all, level 10, no secrets file" validate-all \
        OCF_CHECK_LEVEL=10 OCF_RESKEY_secrets_file="$work/none.secrets"
    cp -p "$work/rsyncd.secrets" "$work/open.secrets"
    chmod 0644 "$work/open.secrets"
    case_run "validate-all, level 10, secrets readable by others" \
        validate-all OCF_CHECK_LEVEL=10 \
        OCF_RESKEY_secrets_file="$work/open.secrets"
    (umask 077 && echo "# nobody" > "$work/empty.secrets")
    case_run "validate-all, level 10, secrets without a user" validate-all \
        OCF_CHECK_LEVEL=10 OCF_RESKEY_secrets_file="$work/empty.secrets"
    case_run "validate-all, level 10, no vcha-receive" validate-all \
        OCF_CHECK_LEVEL=10 VCHA_RECEIVE="$work/nobin/vcha-receive"
    case_run "validate-all, level 10, vcha-receive path for a shell" \
        validate-all OCF_CHECK_LEVEL=10 \
        "VCHA_RECEIVE=$work/nobin/vcha-receive;reboot"
    case_run "probe, never started" monitor $probe
    case_run "monitor, never started" monitor
    case_run "probe, bad configuration" monitor $probe OCF_RESKEY_members=
    case_run "stop, bad configuration" stop OCF_RESKEY_members=
    mkdir -p "$work/ctlxc/db"
    echo "lxc.uts.name = db" > "$work/ctlxc/db/config"
    case_run "start, a foreign container of a member's name" start
    case_run "probe, after the refused start" monitor $probe
    rm -r "$work/ctlxc/db"
    case_run "start" start
    case_run "start, another instance on its port" start \
        OCF_RESOURCE_INSTANCE=other-set OCF_RESKEY_sync_dir="$work/sync2" \
        OCF_RESKEY_lxcpath="$work/ctlxc2"
    case_run "probe, started" monitor $probe
    case_run "monitor" monitor
    case_run "start, already started" start
    case_run "reload-agent, a member less" reload-agent \
        "OCF_RESKEY_members=web:hot:198.18.7.2/24"
    case_run "monitor, after the reload" monitor \
        "OCF_RESKEY_members=web:hot:198.18.7.2/24"
    case_run "stop" stop "OCF_RESKEY_members=web:hot:198.18.7.2/24"
    case_run "probe, stopped" monitor $probe
    case_run "monitor, stopped" monitor
    case_run "stop, already stopped" stop
}

# A TCP port nobody listens on at 127.0.0.1.
ctset_free_port() {
    local port try
    for try in $(seq 1 50); do
        port=$((20000 + (RANDOM * 7 + $$ + try) % 40000))
        if ! ss -Htln "sport = :$port" 2>/dev/null | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# vcservice's cases need no LXC and no cluster: what it says before it
# touches a container or a service, and where it refuses to run.  A fake
# attrd_updater says this node is a standby (node9; primary is vm1).
cases_vcservice() {
    RA_ENV=(HA_RSCTMP="$work/state" OCF_RESOURCE_INSTANCE=web
        OCF_RESKEY_primary=vm1 OCF_RESKEY_member=web1
        OCF_RESKEY_lxcpath="$work/lxc" OCF_RESKEY_address=198.18.0.10
        "OCF_RESKEY_ports=80 443" OCF_RESKEY_CRM_meta_on_node=node9
        OCF_RESKEY_CRM_meta_timeout=10000 OCF_RESKEY_CRM_meta_interval=10000
        VCHA_SOCKET="$work/vchad.sock" PATH="$work/nobin")
    local probe=OCF_RESKEY_CRM_meta_interval=0
    mkdir -p "$work/lxc" "$work/vcs-bin" "$work/sync/web2/rootfs"
    printf '%s\n' '#!/bin/sh' \
        'h=node9' \
        'case "$*" in *-Q*vcha-standby*) v=true;;' \
        '    *-Q*vcha-sync-web4*) v=active h=node7;; *-Q*) v=false;;' \
        '    *) exit 0;; esac' \
        'echo "name=\"$3\" host=\"$h\" value=\"$v\""' \
        > "$work/vcs-bin/attrd_updater"
    chmod 755 "$work/vcs-bin/attrd_updater"
    # the cluster's record (crm_attribute -t crm_config): web5 is active on
    # node8, no other member anywhere
    printf '%s\n' '#!/bin/sh' \
        'case "$*" in *vcha-active-web5*-G*) echo node8;; *-G*) exit 105;; esac' \
        > "$work/vcs-bin/crm_attribute"
    chmod 755 "$work/vcs-bin/crm_attribute"
    mkdir -p "$work/lxc/web2" "$work/lxc/web3" "$work/lxc/web5" \
        "$work/sync/web5/rootfs"
    printf '%s\n' "lxc.rootfs.path = dir:$work/sync/web5/rootfs" \
        "lxc.net.0.type = veth" "lxc.net.0.link = br0" \
        "lxc.net.0.ipv4.address = 198.18.0.45/24" > "$work/lxc/web5/config"
    printf '%s\n' "lxc.rootfs.path = dir:$work/sync/web2/rootfs" \
        "lxc.net.0.type = veth" "lxc.net.0.link = br0" \
        "lxc.net.0.ipv4.address = 198.18.0.42/24" > "$work/lxc/web2/config"
    echo "lxc.rootfs.path = dir:$work/sync/web2/rootfs" > "$work/lxc/web3/config"
    local standby=PATH="$work/vcs-bin"
    # a TCP listener on 127.0.0.1 standing for a service that answers: an
    # rsync daemon (it detaches, its pid in a file)
    local try
    for try in 1 2 3 4 5; do
        VCS_PORT=$((20000 + (RANDOM * 7 + $$ + try) % 40000))
        printf '%s\n' "port = $VCS_PORT" "address = 127.0.0.1" \
            "pid file = $work/vcs-rsyncd.pid" "use chroot = no" \
            "[m]" "path = $work/sync" > "$work/vcs-rsyncd.conf"
        rsync --daemon --config="$work/vcs-rsyncd.conf" 2> /dev/null &&
            break
    done
    for try in $(seq 1 50); do
        [ -s "$work/vcs-rsyncd.pid" ] &&
            timeout 1 bash -c 'exec 3<> /dev/tcp/127.0.0.1/$0' "$VCS_PORT" \
                2> /dev/null && break
        sleep 0.1
    done

    case_stdout "no action" ""
    case_stdout "usage" usage
    case_run "meta-data" meta-data
    case_run "unknown action" promote
    case_run "validate-all" validate-all
    case_run "validate-all, no primary" validate-all OCF_RESKEY_primary=
    case_run "validate-all, no member" validate-all OCF_RESKEY_member=
    case_run "validate-all, member name with a slash" validate-all \
        OCF_RESKEY_member=../web1
    case_run "validate-all, no address" validate-all OCF_RESKEY_address=
    case_run "validate-all, bad address" validate-all \
        OCF_RESKEY_address=198.18.0.x
    local addr
    for addr in 0.0.0.0 :: 224.0.0.1 ff02::1; do
        case_run "validate-all, address $addr" validate-all \
            OCF_RESKEY_address=$addr
    done
    case_run "validate-all, IPv6 address" validate-all \
        OCF_RESKEY_address=2001:db8::10
    case_run "validate-all, a port twice" validate-all "OCF_RESKEY_ports=80 443 80"
    case_run "validate-all, port with a sign" validate-all "OCF_RESKEY_ports=+80"
    case_run "validate-all, negative port" validate-all "OCF_RESKEY_ports=80 -443"
    # a tab: refused as a control character, like in every parameter
    case_run "validate-all, ports separated by a tab" validate-all \
        "$(printf 'OCF_RESKEY_ports=80\t443')"
    case_run "validate-all, bad target" validate-all \
        OCF_RESKEY_sync_target=ftp://198.18.0.2/web1
    case_run "validate-all, level 10, start_cmd not installed, primary" \
        validate-all OCF_CHECK_LEVEL=10 OCF_RESKEY_primary=node9 \
        "OCF_RESKEY_start_cmd=/opt/nosuch/bin/svc start"
    case_run "validate-all, level 10, stop_cmd not installed, primary" \
        validate-all OCF_CHECK_LEVEL=10 OCF_RESKEY_primary=node9 \
        OCF_RESKEY_stop_cmd=nosuch-stop
    case_run "validate-all, level 10, monitor_cmd not installed, primary" \
        validate-all OCF_CHECK_LEVEL=10 OCF_RESKEY_primary=node9 \
        OCF_RESKEY_monitor_cmd=/opt/nosuch/check
    case_run "validate-all, level 10, monitor_cmd not installed, standby" \
        validate-all OCF_CHECK_LEVEL=10 OCF_RESKEY_monitor_cmd=/opt/nosuch/check
    case_run "validate-all, no ports" validate-all OCF_RESKEY_ports=
    case_run "validate-all, port 0" validate-all OCF_RESKEY_ports=0
    case_run "validate-all, port by name" validate-all "OCF_RESKEY_ports=80 http"
    case_run "validate-all, 17 ports" validate-all \
        "OCF_RESKEY_ports=$(seq -s ' ' 1 17)"
    case_run "validate-all, relative lxcpath" validate-all OCF_RESKEY_lxcpath=lxc
    case_run "validate-all, start_cmd of spaces" validate-all \
        "OCF_RESKEY_start_cmd=   "
    case_run "validate-all, bad incomplete_sync" validate-all \
        OCF_RESKEY_incomplete_sync=ignore
    case_run "validate-all, password file without a target" validate-all \
        OCF_RESKEY_sync_password_file=/etc/vcha/pass
    case_run "validate-all, level 10, rsync target without a password" \
        validate-all OCF_CHECK_LEVEL=10 \
        OCF_RESKEY_sync_target=rsync://vcha@198.18.0.2:8730/web1
    case_run "validate-all, level 10, bad target" validate-all \
        OCF_CHECK_LEVEL=10 OCF_RESKEY_sync_target=ftp://198.18.0.2/web1
    case_run "probe, never started" monitor $probe
    case_run "monitor, no instance name" monitor OCF_RESOURCE_INSTANCE=
    case_run "monitor, never started" monitor
    case_run "stop, never started" stop
    case_run "start, no cluster tools" start
    case_run "start, not a standby" start "$standby" \
        OCF_RESKEY_standby_attribute=vcha-other
    case_run "start, standby, no container" start "$standby"
    case_run "start, standby, no address in the config" start "$standby" \
        OCF_RESKEY_member=web3
    case_run "start, standby, never synced" start "$standby" \
        OCF_RESKEY_member=web2
    # a damaged state file on a standby: stopped as start would run it
    # here (the member), never the native stop_cmd against the primary's
    # address (which answers: the listener above)
    printf 'mode=bogus\n\n' > "$work/state/vcha-vcservice-web.state"
    case_run "stop, damaged state file, standby" stop "$standby" \
        OCF_RESKEY_member=web2 OCF_RESKEY_stop_cmd=/bin/false \
        OCF_RESKEY_address=127.0.0.1 OCF_RESKEY_ports=$VCS_PORT
    case_run "start, primary, member active on a standby" start "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_member=web4 \
        OCF_RESKEY_address=127.0.0.1 OCF_RESKEY_ports=$VCS_PORT
    case_run "start, primary, member recorded active elsewhere, no target" \
        start "$standby" OCF_RESKEY_primary=node9 OCF_RESKEY_member=web5 \
        OCF_RESKEY_address=127.0.0.1 OCF_RESKEY_ports=$VCS_PORT \
        "OCF_RESKEY_start_cmd=/bin/touch $work/start_cmd_ran"
    [ -e "$work/start_cmd_ran" ] &&
        echo "start_cmd ran though the member is recorded active elsewhere" >> "$out"
    case_run "start, standby, member recorded active elsewhere" start \
        "$standby" OCF_RESKEY_member=web5
    [ -e "$work/sync/web5/rootfs.vcha-active" ] &&
        echo "an active marker was written for a member active elsewhere" >> "$out"
    case_run "start, primary, start_cmd not installed" start "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_start_cmd=/opt/nosuch/bin/svc
    case_run "start, primary, bad target" start "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_sync_target=ftp://198.18.0.2/web1 \
        "OCF_RESKEY_start_cmd=/bin/touch $work/start_cmd_ran"
    [ -e "$work/start_cmd_ran" ] &&
        echo "start_cmd ran before a bad sync_target was refused" >> "$out"
    case_run "start, primary, port never opens" start "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_address=127.0.0.1 \
        OCF_RESKEY_ports=1 OCF_RESKEY_CRM_meta_timeout=3000
    case_run "probe, after the failed start" monitor $probe "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_address=127.0.0.1 \
        OCF_RESKEY_ports=1
    case_run "monitor, after the failed start" monitor "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_address=127.0.0.1 \
        OCF_RESKEY_ports=1
    case_run "stop, primary" stop "$standby" OCF_RESKEY_primary=node9 \
        OCF_RESKEY_address=127.0.0.1 OCF_RESKEY_ports=1
    # the service answering (the listener): running, until stop
    local up=(OCF_RESKEY_primary=node9 OCF_RESKEY_address=127.0.0.1
        "OCF_RESKEY_ports=1 $VCS_PORT")
    case_run "start, primary, a port answers" start "$standby" \
        OCF_RESKEY_primary=node9 OCF_RESKEY_address=127.0.0.1 \
        OCF_RESKEY_ports=$VCS_PORT
    case_run "probe, started, one port of two answers" monitor $probe \
        "$standby" "${up[@]}"
    case_run "monitor, started, one port of two answers" monitor "$standby" \
        "${up[@]}"
    case_run "monitor, level 10, started, one port of two answers" monitor \
        "$standby" "${up[@]}" OCF_CHECK_LEVEL=10
    case_run "stop, started" stop "$standby" "${up[@]}"
    case_run "probe, stopped" monitor $probe "$standby" "${up[@]}"
    kill "$(cat "$work/vcs-rsyncd.pid" 2> /dev/null)" 2> /dev/null
}
