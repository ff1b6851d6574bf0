# A real one-node Pacemaker cluster (corosync + pacemakerd) for the tests,
# in private namespaces (bash; the caller runs under `unshare` as PID 1, so
# every process of the cluster dies with it).
#
#   cluster1_enter "$@"  re-run the calling script inside new namespaces
#   cluster1_start DIR   set up and start the cluster; wait until it is up
#   cluster1_agent PROVIDER NAME PATH   make PATH an OCF agent for Pacemaker
#   cluster1_fence_agent NAME PATH      make PATH a fence agent for Pacemaker
#   cluster1_wait SECONDS CMD...        retry CMD until it succeeds

cluster1_enter() {
    if [ -z "${VCHA_IN_CLUSTER_NS:-}" ]; then
        unshare --mount --propagation private true 2>/dev/null ||
            tap_bail "cannot make a private mount namespace (in a chroot whose / is not a mount point?)"
        exec env VCHA_IN_CLUSTER_NS=1 unshare --net --mount --uts --ipc \
            --pid --fork --mount-proc --propagation private \
            bash "$0" "$@"
    fi
}

cluster1_wait() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        timeout 5 "$@" > /dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

cluster1_dirs() {
    local d
    for d in /var/lib/pacemaker /var/lib/corosync /var/log /run /dev/shm \
        /etc/corosync; do
        mount -t tmpfs tmpfs "$d"
    done
    mkdir -p /var/lib/pacemaker/{cib,pengine,blackbox,cores} \
        /var/log/pacemaker /var/log/corosync /run/resource-agents
    chown -R hacluster:haclient /var/lib/pacemaker /var/log/pacemaker
    chmod 750 /var/lib/pacemaker/*
}

cluster1_conf() {
    cat > /etc/corosync/corosync.conf <<CONF
totem {
    version: 2
    cluster_name: vcha-test
    transport: knet
    token: 1000
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: node1
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: no
    to_stderr: no
}
CONF
}

cluster1_start() {
    CLUSTER_DIR=$1
    mkdir -p "$CLUSTER_DIR"
    hostname node1
    ip link set lo up
    cluster1_dirs
    cluster1_conf
    corosync -f > "$CLUSTER_DIR/corosync.out" 2>&1 &
    cluster1_wait 20 corosync-quorumtool -s || return 1
    pacemakerd > "$CLUSTER_DIR/pacemakerd.out" 2>&1 &
    cluster1_wait 60 sh -c 'crm_mon -1 | grep -q "Current DC: node1"' ||
        return 1
    crm_attribute -t crm_config -n stonith-enabled -v false
}

# cluster1_link DIR NAME TARGET: DIR/NAME -> TARGET, through a private
# overlay on DIR (the system's DIR is not touched)
cluster1_link() {
    local dir=$1 key
    key=$(printf '%s' "$dir" | tr '/' '_')
    if [ ! -d "$CLUSTER_DIR/upper$key" ]; then
        mkdir -p "$CLUSTER_DIR/upper$key" "$CLUSTER_DIR/work$key"
        mount -t overlay overlay -o "lowerdir=$dir,upperdir=$CLUSTER_DIR/upper$key,workdir=$CLUSTER_DIR/work$key" "$dir"
    fi
    ln -sf "$3" "$dir/$2"
}

cluster1_agent() { # cluster1_agent PROVIDER NAME PATH: an OCF agent
    mkdir -p "$CLUSTER_DIR/agents/$1"
    cluster1_link /usr/lib/ocf/resource.d "$1" "$CLUSTER_DIR/agents/$1"
    ln -sf "$3" "$CLUSTER_DIR/agents/$1/$2"
}

cluster1_fence_agent() { # cluster1_fence_agent NAME PATH: in sbindir
    cluster1_link /usr/sbin "$1" "$2"
}

cluster1_logs() {
    tail -n 40 /var/log/pacemaker/pacemaker.log 2>/dev/null | sed 's/^/#  /'
}
