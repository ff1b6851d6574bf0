#!/bin/bash
# ocf-tester (from resource-agents) accepts ocf:vcha:vm, run for real
# against an LXC domain of a private libvirtd (tests/lib/libvirtd.sh):
# probe, start, monitor, start again, stop, stop again, as it runs every
# agent.  What it leaves behind is checked apart from it: no domain, no
# process of the domain's init.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/libvirtd.sh"
. "$top_srcdir/tests/lib/vmagent.sh"

command -v ocf-tester > /dev/null ||
    tap_bail "ocf-tester missing: install resource-agents"
libvirtd_lxc_enter "$@"

work=$(mktemp -d)
chmod 755 "$work"
trap 'libvirtd_stop; rm -rf "$work"' EXIT
vmagent_vchad "$work"
libvirtd_start "$work/libvirtd" ||
    {
        sed 's/^/#  /' "$work/libvirtd/libvirtd.out"
        tap_bail "libvirtd did not start"
    }
export HA_RSCTMP=$work/rsctmp
mkdir -p "$HA_RSCTMP"

# the domain's init: a sleep with a marker argument nothing else uses
MARK=$((2 * 86400 + $$))
cat > "$work/ot.xml" << XML
<domain type='lxc'>
  <name>vcha-ot</name>
  <memory>65536</memory>
  <os><type>exe</type><init>/bin/sleep</init><initarg>$MARK</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
XML
chmod 644 "$work/ot.xml"

# ocf-tester runs the agent as nobody for meta-data: give it a copy that
# nobody can reach whatever the permissions of the build tree.  It checks
# the meta-data against the OCF 1.0 DTD (ra-api-1.dtd), which predates
# what OCF 1.1 added and vm uses (select, reloadable, reload-agent): it
# is given the OCF 1.0 view of them (conformance/ocf-1.0-view.xsl, as
# conformance/metadata.sh checks it; the OCF 1.1 meta-data is checked
# there against the OCF 1.1 schema).  Every other action is the agent's.
command -v xsltproc > /dev/null || tap_bail "xsltproc missing"
cp "$top_builddir/agents/vm" "$work/vm-agent"
cp "$top_srcdir/tests/conformance/ocf-1.0-view.xsl" "$work/view.xsl"
cat > "$work/vm" << SH
#!/bin/sh
if [ "\$1" = meta-data ]; then
    "$work/vm-agent" meta-data | xsltproc "$work/view.xsl" -
    exit
fi
exec "$work/vm-agent" "\$@"
SH
chmod 755 "$work/vm" "$work/vm-agent"
chmod 644 "$work/view.xsl"
t0=$EPOCHREALTIME
# the init ignores SIGTERM: a graceful stop would wait for its timeout
ocf-tester -v -n vm-ot -o config="$work/ot.xml" -o hypervisor=lxc:/// \
    -o force_stop=true "$work/vm" > "$work/out" 2>&1
rc=$?
ms=$(vmagent_ms_since "$t0")
sed 's/^/#  /' "$work/out"
tap_is "$rc" 0 "ocf-tester passes vm with an LXC domain"
tap_like "$(tail -1 "$work/out")" "*vm passed all tests*" "it says so"
tap_cond "ms < 60000" "within a minute ($ms ms)"
tap_is "$(virsh -c lxc:/// domstate vcha-ot 2> /dev/null | grep . || echo none)" \
    none "no domain is left"
pgrep -f "^/bin/sleep $MARK\$" > /dev/null
tap_is "$?" 1 "no process of it runs"
tap_done
