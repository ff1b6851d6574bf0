#!/bin/sh
# Each agent links only the libraries of the libcommon layers it uses.
# needed/AGENT is AGENT linked with --no-as-needed, which keeps every
# library named on the link line: its NEEDED entries show what the layers
# it links would bring in.  One TAP result per check.

READELF=${READELF:-readelf}
n=0
failed=0

check() {
    n=$((n + 1))
    if "$@"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failed=$((failed + 1))
    fi
}

needed() {
    "$READELF" -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
}

lists() { needed "$1" | grep -q "^$2"; }
lacks() { ! lists "$1" "$2"; }

for prog in needed/dnsswitch needed/criuct needed/ctset needed/control; do
    if [ ! -x "$prog" ]; then
        echo "Bail out! $prog is not built"
        exit 1
    fi
done
echo "1..10"
# the control: this link keeps a library nobody calls
desc="a program linked the same way keeps libm, which it never calls"
check lists needed/control libm.so
desc="dnsswitch needs libqb (the runtime)"
check lists needed/dnsswitch libqb.so
desc="dnsswitch needs no libcrypto (the checkpoint layer's)"
check lacks needed/dnsswitch libcrypto.so
desc="dnsswitch needs no libvirt (the virtualisation layer's)"
check lacks needed/dnsswitch libvirt.so
desc="dnsswitch needs no libxml2 (opened only for meta-data)"
check lacks needed/dnsswitch libxml2.so
desc="dnsswitch needs libresolv (the DNS layer's)"
check lists needed/dnsswitch libresolv.so
desc="criuct needs no libvirt"
check lacks needed/criuct libvirt.so
desc="criuct needs no libresolv"
check lacks needed/criuct libresolv.so
desc="ctset needs no libvirt"
check lacks needed/ctset libvirt.so
desc="ctset needs liblxc (its members)"
check lists needed/ctset liblxc.so
[ "$failed" -eq 0 ]
