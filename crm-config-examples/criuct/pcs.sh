#!/bin/sh
# A stateful service in an LXC container that survives the loss of its node
# with its memory: checkpointed every 10 s into /srv/ckpt/app on NFS that
# every node mounts, restored from the newest good generation wherever
# Pacemaker starts it.  Crashes restart it in place first; the third failure
# on a node moves it.  allow-migrate=true turns a move into a live migration
# (last checkpoint, then restore on the target: nothing lost).
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# Every node: the same /var/lib/lxc/app/config (as lxc-create -t download
# made it: criuct boots and restores it with what CRIU needs set in memory,
# the file untouched; lxc.start.auto = 0), its own copy of the root
# filesystem, criu and lxc installed.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

# The shared store must be mounted before the container can start.
pcs resource create ckpt-fs ocf:heartbeat:Filesystem \
    device=nfs.example.com:/export/ckpt directory=/srv/ckpt fstype=nfs \
    op monitor interval=20s timeout=40s \
    clone interleave=true

pcs resource create app ocf:vcha:criuct \
    container=app checkpoint_dir=/srv/ckpt/app checkpoint_interval=10s \
    keep=3 compress=auto max_checkpoint_age=60s \
    monitor_cmd="/bin/pidof appd" \
    meta migration-threshold=3 allow-migrate=true \
    op monitor interval=10s timeout=30s \
    op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=20 \
    op start timeout=180s op stop timeout=180s \
    op migrate_to timeout=180s op migrate_from timeout=180s

pcs constraint order start ckpt-fs-clone then start app
pcs constraint colocation add app with ckpt-fs-clone
