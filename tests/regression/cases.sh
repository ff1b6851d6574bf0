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
