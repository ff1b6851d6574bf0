# A loopback standby for the file sync's tests and benchmarks (bash, as
# root): a real sshd and a real rsync daemon on 127.0.0.1 only, each with
# its own configuration, keys and logs in a scratch directory, both
# handing pushes to vcha-receive.
#
#   receiver_workdir
#       print a new scratch directory that sshd's StrictModes accepts (every
#       directory above it owned by root and writable by nobody else):
#       under $RECEIVER_BASE, else the current directory, else /run
#   receiver_sshd_start DIR
#       start /usr/sbin/sshd on a free port: host key, sshd_config,
#       authorized_keys, known_hosts and sshd.log in DIR; root may log in
#       with forced-command keys only.  Sets RECEIVER_SSH_PORT and
#       RECEIVER_SSH_PID.
#   receiver_ssh_key NAME COMMAND...
#       a new client key DIR/key-NAME (mode 0600) whose line in authorized_keys
#       is "restrict,command=..." with COMMAND; sets RECEIVER_SSH to the
#       ssh command line for `rsync -e` with that key (host key checked
#       against DIR/known_hosts, no config file, batch mode)
#   receiver_rsyncd_start DIR MODULE PATH RECEIVE
#       start `rsync --daemon` on a free port with MODULE serving PATH as
#       vcha needs it (downloads judged by pre-xfer, uid/gid root, numeric
#       ids, chroot, one connection at a time, auth user "vcha") with
#       RECEIVE --pre-xfer /
#       --post-xfer as its hooks.  The secrets file DIR/rsyncd.secrets and
#       the client's password file DIR/rsync.pass are mode 0600.  Sets
#       RECEIVER_RSYNCD_PORT, RECEIVER_RSYNCD_PID, RECEIVER_RSYNC_URL
#       (rsync://vcha@127.0.0.1:PORT/MODULE/) and RECEIVER_RSYNC_PASSFILE.
#   receiver_stop
#       stop both (call it from the caller's EXIT trap)
#   receiver_free_port
#       print a TCP port nobody listens on at 127.0.0.1
#
# Nothing here listens on anything but 127.0.0.1.

RECEIVER_SSHD=${RECEIVER_SSHD:-/usr/sbin/sshd}

receiver_dir_safe() { # receiver_dir_safe DIR: StrictModes would accept it
    local d
    d=$(cd "$1" 2>/dev/null && pwd -P) || return 1
    while :; do
        [ "$(stat -c %u "$d")" = 0 ] || return 1
        (( ($(stat -c %#a "$d") & 022) == 0 )) || return 1
        [ "$d" = / ] && return 0
        d=$(dirname "$d")
    done
}

receiver_workdir() {
    local base
    for base in ${RECEIVER_BASE:-} "$PWD" /run; do
        if receiver_dir_safe "$base" && [ -w "$base" ]; then
            mktemp -d "$base/vcha-receiver.XXXXXX"
            return
        fi
    done
    echo "receiver_workdir: no directory that sshd's StrictModes accepts" >&2
    return 1
}

receiver_free_port() {
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

# receiver_listening PORT PID: wait until PID listens on PORT (10 s)
receiver_listening() {
    local i
    for i in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        ss -Htln "sport = :$1" 2>/dev/null | grep -q 127.0.0.1 && return 0
        sleep 0.1
    done
    return 1
}

receiver_sshd_config() { # DIR PORT
    cat > "$1/sshd_config" <<CONF
Port $2
ListenAddress 127.0.0.1
AddressFamily inet
HostKey $1/ssh_host_ed25519_key
PidFile $1/sshd.pid
AuthorizedKeysFile $1/authorized_keys
StrictModes yes
UsePAM no
PermitRootLogin forced-commands-only
AllowUsers root
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment no
MaxStartups 100:30:200
LogLevel VERBOSE
CONF
}

receiver_sshd_start() {
    local dir=$1 try
    RECEIVER_DIR=$dir
    mkdir -p /run/sshd # privilege separation (Debian's sshd needs it)
    chmod 0755 /run/sshd
    rm -f "$dir/ssh_host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C vcha-test-host \
        -f "$dir/ssh_host_ed25519_key" || return 1
    : > "$dir/authorized_keys"
    chmod 0600 "$dir/authorized_keys"
    for try in 1 2 3 4 5; do
        RECEIVER_SSH_PORT=$(receiver_free_port) || return 1
        receiver_sshd_config "$dir" "$RECEIVER_SSH_PORT"
        "$RECEIVER_SSHD" -D -f "$dir/sshd_config" -E "$dir/sshd.log" &
        RECEIVER_SSH_PID=$!
        if receiver_listening "$RECEIVER_SSH_PORT" "$RECEIVER_SSH_PID"; then
            echo "[127.0.0.1]:$RECEIVER_SSH_PORT $(cat \
                "$dir/ssh_host_ed25519_key.pub")" > "$dir/known_hosts"
            return 0
        fi
        kill "$RECEIVER_SSH_PID" 2>/dev/null
        wait "$RECEIVER_SSH_PID" 2>/dev/null
    done
    echo "# sshd did not start; its log:" >&2
    sed 's/^/#   /' "$dir/sshd.log" >&2
    return 1
}

receiver_ssh_key() {
    local name=$1 key
    shift
    key=$RECEIVER_DIR/key-$name
    rm -f "$key" "$key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "vcha-test-$name" -f "$key" || return 1
    chmod 0600 "$key"
    echo "restrict,command=\"$*\" $(cat "$key.pub")" \
        >> "$RECEIVER_DIR/authorized_keys"
    RECEIVER_SSH="ssh -F none -p $RECEIVER_SSH_PORT -i $key"
    RECEIVER_SSH+=" -o IdentitiesOnly=yes -o BatchMode=yes"
    RECEIVER_SSH+=" -o UserKnownHostsFile=$RECEIVER_DIR/known_hosts"
    RECEIVER_SSH+=" -o GlobalKnownHostsFile=/dev/null"
    RECEIVER_SSH+=" -o StrictHostKeyChecking=yes -o LogLevel=ERROR"
}

receiver_rsyncd_config() { # DIR MODULE PATH RECEIVE PORT
    cat > "$1/rsyncd.conf" <<CONF
pid file = $1/rsyncd.pid
log file = $1/rsyncd.log
address = 127.0.0.1
port = $5

[$2]
    path = $3
    comment = vcha standby copy
    read only = no
    write only = no
    list = no
    uid = root
    gid = root
    numeric ids = yes
    use chroot = yes
    munge symlinks = no
    auth users = vcha
    secrets file = $1/rsyncd.secrets
    strict modes = yes
    hosts allow = 127.0.0.1
    max connections = 1
    lock file = $1/rsyncd-$2.lock
    pre-xfer exec = $4 --pre-xfer
    post-xfer exec = $4 --post-xfer
CONF
}

receiver_rsyncd_start() {
    local dir=$1 module=$2 path=$3 receive=$4 secret try
    RECEIVER_DIR=${RECEIVER_DIR:-$dir}
    secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    (umask 077 && echo "vcha:$secret" > "$dir/rsyncd.secrets" &&
        echo "$secret" > "$dir/rsync.pass")
    RECEIVER_RSYNC_PASSFILE=$dir/rsync.pass
    for try in 1 2 3 4 5; do
        RECEIVER_RSYNCD_PORT=$(receiver_free_port) || return 1
        receiver_rsyncd_config "$dir" "$module" "$path" "$receive" \
            "$RECEIVER_RSYNCD_PORT"
        rsync --daemon --no-detach --config="$dir/rsyncd.conf" \
            --port="$RECEIVER_RSYNCD_PORT" --address=127.0.0.1 \
            > "$dir/rsyncd.out" 2>&1 &
        RECEIVER_RSYNCD_PID=$!
        if receiver_listening "$RECEIVER_RSYNCD_PORT" "$RECEIVER_RSYNCD_PID"
        then
            RECEIVER_RSYNC_URL=rsync://vcha@127.0.0.1
            RECEIVER_RSYNC_URL+=:$RECEIVER_RSYNCD_PORT/$module/
            return 0
        fi
        kill "$RECEIVER_RSYNCD_PID" 2>/dev/null
        wait "$RECEIVER_RSYNCD_PID" 2>/dev/null
    done
    echo "# rsync --daemon did not start:" >&2
    sed 's/^/#   /' "$dir/rsyncd.out" "$dir/rsyncd.log" >&2 2>/dev/null
    return 1
}

receiver_stop() {
    local pid
    for pid in ${RECEIVER_SSH_PID:-} ${RECEIVER_RSYNCD_PID:-}; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    RECEIVER_SSH_PID=
    RECEIVER_RSYNCD_PID=
}
