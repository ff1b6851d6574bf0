# A throwaway authoritative named on 127.0.0.1 for the tests (bash).
#
#   named_start DIR   start it; sets NAMED_PORT, NAMED_KEYFILE (0600),
#                     NAMED_BADKEY (same key name, other secret), NAMED_ZONE
#   named_stop        stop it (also done by the EXIT trap the caller sets)
#   named_lookup NAME TYPE   print the record data the server holds; fail
#                     unless it answered NOERROR or NXDOMAIN
#
# The zone vcha.test (RFC 2606 reserved) accepts updates signed with the key.

NAMED_ZONE=vcha.test

named_write_conf() {
    local dir=$1 port=$2
    cat > "$dir/named.conf" <<CONF
include "$dir/key.conf";
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    listen-on port $port { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    dnssec-validation no;
    allow-transfer { none; };
};
zone "$NAMED_ZONE" {
    type primary;
    file "$dir/$NAMED_ZONE.zone";
    allow-update { key "vcha-test"; };
};
CONF
    cat > "$dir/$NAMED_ZONE.zone" <<ZONE
\$TTL 300
@   IN SOA ns1.$NAMED_ZONE. hostmaster.$NAMED_ZONE. ( 1 3600 600 86400 60 )
@   IN NS  ns1.$NAMED_ZONE.
ns1 IN A   127.0.0.1
ZONE
}

named_ready() {
    local i
    for i in $(seq 1 100); do
        if dig +short +time=1 +tries=1 -p "$NAMED_PORT" @127.0.0.1 \
            "$NAMED_ZONE" SOA 2>/dev/null | grep -q hostmaster; then
            return 0
        fi
        kill -0 "$NAMED_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

named_start() {
    local dir=$1 try
    NAMED_DIR=$dir
    mkdir -p "$dir"
    tsig-keygen -a hmac-sha256 vcha-test > "$dir/key.conf"
    tsig-keygen -a hmac-sha256 vcha-test > "$dir/badkey.conf"
    chmod 600 "$dir/key.conf" "$dir/badkey.conf"
    NAMED_KEYFILE=$dir/key.conf
    NAMED_BADKEY=$dir/badkey.conf
    for try in 1 2 3 4 5; do
        NAMED_PORT=$((20000 + (RANDOM * 7 + $$ + try) % 40000))
        named_write_conf "$dir" "$NAMED_PORT"
        named -g -c "$dir/named.conf" > "$dir/named.log" 2>&1 &
        NAMED_PID=$!
        if named_ready; then
            return 0
        fi
        kill "$NAMED_PID" 2>/dev/null
        wait "$NAMED_PID" 2>/dev/null
    done
    echo "# named did not start; its log:" >&2
    sed 's/^/#   /' "$dir/named.log" >&2
    return 1
}

named_stop() {
    if [ -n "${NAMED_PID:-}" ]; then
        kill "$NAMED_PID" 2>/dev/null
        wait "$NAMED_PID" 2>/dev/null
        NAMED_PID=
    fi
}

# named_lookup NAME TYPE: the data of NAME's TYPE records on the server,
# sorted.  Unless the server answered NOERROR or NXDOMAIN (no reply, REFUSED,
# SERVFAIL...) it prints why and fails, so that an empty result always means
# "no such record".
named_lookup() {
    local out status
    out=$(dig +norecurse +time=2 +tries=1 +noall +comments +answer \
        -p "$NAMED_PORT" @127.0.0.1 "$1" "$2" 2>&1)
    status=$(sed -n 's/.*, status: \([A-Z]*\),.*/\1/p' <<<"$out")
    case $status in
    NOERROR | NXDOMAIN) ;;
    *)
        echo "lookup of $1 $2 failed: ${status:-$(tail -n 1 <<<"$out")}"
        return 1
        ;;
    esac
    awk -v type="$2" '$1 !~ /^;/ && $4 == type { print $5 }' <<<"$out" | sort
}

named_set() { # named_set NAME TYPE DATA: put a record in place directly
    local i
    # until the server answers with it: an update lost on a loaded machine
    # would otherwise show as the agent's fault
    for i in 1 2 3; do
        nsupdate -t 5 -k "$NAMED_KEYFILE" <<UPD
server 127.0.0.1 $NAMED_PORT
zone $NAMED_ZONE
update delete $1 A
update delete $1 AAAA
update add $1 30 $2 $3
send
UPD
        [ "$(named_lookup "$1" "$2")" = "$3" ] && return 0
        sleep 0.5
    done
    echo "named_set: $1 $2 $3 not in place" >&2
    return 1
}
