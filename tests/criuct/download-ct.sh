#!/bin/bash
# A container made the way lxc-create -t download makes it (common.conf's
# ttys and ptys, a console, AppArmor lines: what CRIU cannot checkpoint
# here) is booted by vcha with the settings CRIU needs set in liblxc's
# memory: inside it there is no tty, no console, no devpts of its own, its
# monitor reports the overridden items, and the admin's configuration file
# stays byte for byte the same.  The same file booted by lxc-start has
# them all.  criuct's validate-all and start refuse, naming the setting
# and its fix, what the boot cannot override.  That CRIU then checkpoints
# and restores it is the cluster lab's to show (CRIU runs only there).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/criuct/download-common.sh"

[ "$(id -u)" = 0 ] || tap_skip_all "LXC containers need root"
for p in lxc-start lxc-attach debootstrap; do
    command -v $p > /dev/null || tap_skip_all "$p is not installed"
done
ctctl=$top_builddir/tests/criuct/ctctl
agent=$top_builddir/agents/criuct
[ -x "$ctctl" ] && [ -x "$agent" ] || tap_bail "build ctctl and criuct first"
dl_rootfs > /dev/null || tap_bail "cannot build the root filesystem"

work=$(mktemp -d /tmp/vcha-dlct.XXXXXX)
lxcpath=$work/lxc
ct=dl$$
cleanup() {
    for c in "$ct" "$ct-plain"; do
        lxc-stop -P "$lxcpath" -n "$c" -k > /dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT
dl_config "$lxcpath" "$ct"
conf=$lxcpath/$ct/config
before=$(sha256sum < "$conf")
in_ct() { lxc-attach -P "$lxcpath" -n "$1" --clear-env -- "${@:2}"; }

# ------------------------------------------------ the file's own settings
tap_like "$(lxc-info -P "$lxcpath" -n "$ct" -c lxc.tty.max)" \
    "lxc.tty.max = 4" "its configuration has 4 ttys (common.conf)"
"$ctctl" "$lxcpath" "$ct" check
tap_ok $? "vcha_ct_criu_check accepts it"

# ------------------------------------------------------ booted by vcha
"$ctctl" "$lxcpath" "$ct" boot
tap_ok $? "vcha_ct_boot boots it"
read -r on pid < <("$ctctl" "$lxcpath" "$ct" running)
tap_is "$on" 1 "vcha_ct_running: it runs"
tap_is "$(cat "/proc/$pid/comm" 2> /dev/null)" sleep "with its init's pid ($pid)"
got=$("$ctctl" "$lxcpath" "$ct" running-config lxc.tty.max lxc.pty.max \
    lxc.console.path lxc.apparmor.profile | tr '\n' ' ')
tap_is "$got" "lxc.tty.max=0 lxc.pty.max=0 lxc.console.path=none lxc.apparmor.profile= " \
    "its monitor reports the items vcha set in memory"
in_ct "$ct" /bin/test -e /dev/tty1
tap_cond "$? != 0" "no /dev/tty1 inside"
in_ct "$ct" /bin/test -e /dev/lxc/tty1
tap_cond "$? != 0" "no /dev/lxc/tty1 inside (lxc.tty.dir)"
tap_is "$(readlink "/proc/$pid/fd/0")" /dev/null "init's stdin is no console"
tap_is "$(sha256sum < "$conf")" "$before" "the configuration file is unchanged"
"$ctctl" "$lxcpath" "$ct" kill
tap_ok $? "vcha_ct_kill stops it"
read -r on pid < <("$ctctl" "$lxcpath" "$ct" running)
tap_is "$on" 0 "vcha_ct_running: stopped"

# ------------------------------ the same file, booted by LXC, has them all
cp -a "$lxcpath/$ct" "$lxcpath/$ct-plain"
sed -i "s/^lxc.uts.name = .*/lxc.uts.name = $ct-plain/" "$lxcpath/$ct-plain/config"
lxc-start -P "$lxcpath" -n "$ct-plain" > /dev/null 2>&1
tap_ok $? "lxc-start boots the same configuration"
in_ct "$ct-plain" /bin/test -e /dev/tty1
tap_ok $? "with /dev/tty1 inside"
got=$("$ctctl" "$lxcpath" "$ct-plain" running-config lxc.tty.max lxc.console.path | tr '\n' ' ')
tap_is "$got" "lxc.tty.max=4 lxc.console.path= " "and a console"
lxc-stop -P "$lxcpath" -n "$ct-plain" -k > /dev/null 2>&1

# ---------------------------------- what the boot cannot override: refused
agent_run() { # agent_run ACTION NAME: "rc reason"
    local out rc
    out=$(env -i PATH="$PATH" OCF_ROOT=/usr/lib/ocf HA_RSCTMP="$work/state" \
        OCF_RESOURCE_INSTANCE=dl OCF_RESKEY_container="$2" \
        OCF_RESKEY_lxcpath="$lxcpath" OCF_RESKEY_checkpoint_dir="$work/store" \
        OCF_RESKEY_CRM_meta_timeout=20000 OCF_CHECK_LEVEL=10 \
        VCHA_SOCKET="$work/vchad.sock" VCHA_RUN_DIR="$work/run" \
        "$agent" "$1" 2>&1)
    rc=$?
    echo "$rc $(sed -n 's/^ocf-exit-reason://p' <<< "$out")"
}
mkdir -p "$work/state" "$work/store" "$work/run"
echo "lxc.start.auto = 1" >> "$lxcpath/$ct-plain/config"
for action in validate-all start; do
    got=$(agent_run "$action" "$ct-plain")
    tap_like "$got" "6 *lxc.start.auto = 1*set lxc.start.auto = 0*" \
        "$action refuses lxc.start.auto = 1 (OCF_ERR_CONFIGURED), naming the fix"
done
read -r on pid < <("$ctctl" "$lxcpath" "$ct-plain" running)
tap_is "$on" 0 "and starts nothing"
sed -i '/^lxc.start.auto/d; s/^lxc.net.0.type = empty/lxc.net.0.type = phys\nlxc.net.0.link = vcha-none0/' \
    "$lxcpath/$ct-plain/config"
got=$(agent_run validate-all "$ct-plain")
tap_like "$got" "6 *lxc.net.0.type = phys*veth*" \
    "validate-all refuses a network LXC cannot checkpoint"
# the download configuration itself: not refused (criu may be missing here)
got=$(agent_run validate-all "$ct")
if command -v criu > /dev/null; then
    tap_like "$got" "0*" "validate-all accepts the download configuration"
else
    tap_is "$got" "5 criu not found" \
        "validate-all accepts the download configuration (then misses criu)"
fi
tap_is "$(sha256sum < "$conf")" "$before" "its file is still unchanged"
tap_done
