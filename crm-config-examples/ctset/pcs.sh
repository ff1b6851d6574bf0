#!/bin/sh
# Two services, each on a VM of its own (web on web-vm, db on db-vm), and
# the in-VM container set (seed 000): one standby VM, standby1, holds a
# container per service, each kept in step with its VM's tree (vchad's
# filesync job, registered by ocf:vcha:vcservice), ocf:vcha:ctset running
# the receiver and the containers.  When a primary VM dies, its service
# comes back in its container on standby1, with its own address, and the
# DNS name follows it: one standby VM for any number of services.
# Overload relief (seed 000, Fig. 5): a second standby VM, standby2, holds
# no copy; when the services that failed over to standby1 need more than
# it has, Pacemaker moves one to standby2 (placement-strategy, the standby
# VMs' capacity, the services' utilization), and vcservice live-migrates
# its container there, memory and tree, through migration_dir.
#
# Run on a cluster node, or against a CIB file: CIB=cib.xml sh pcs.sh
# Each standby VM: /etc/vcha/rsyncd.secrets (a line MEMBER:SECRET per
# member, mode 600: each primary may push into its own member only), a
# bridge br0 on the network the clients reach, lxc, rsync and criu
# installed, and /srv/vcha-migrate shared between them (NFS, say).
# Each primary:
# /etc/vcha/sync.password (SECRET, mode 600).  rsync's daemon protocol is
# not encrypted: keep the sync on a private network.
set -e
pcs() { command pcs ${CIB:+-f "$CIB"} "$@"; }

# The standby VMs are marked by a node attribute, standby2 as the one
# that takes services by migration only (vcha-overflow); the container set
# runs on both and nowhere else, each node's receiver on its own address
# (the one of receiver_address it has).
pcs node attribute standby1 vcha-standby=true
pcs node attribute standby2 vcha-standby=true vcha-overflow=true
pcs resource create ctset ocf:vcha:ctset \
    members="web:hot:198.51.100.71/24 db:warm:198.51.100.72/24" \
    receiver_address="198.51.100.70 198.51.100.80" \
    secrets_file=/etc/vcha/rsyncd.secrets \
    bridge=br0 gateway=198.51.100.1 hosts_allow=198.51.100.0/24 \
    op monitor interval=10s timeout=60s \
    clone interleave=true
pcs constraint location ctset-clone rule score=-INFINITY \
    not_defined vcha-standby or vcha-standby ne true

# Capacity: what each VM offers and each service needs (MiB, cores).  The
# scheduler places a service only where it fits, and moves one away from
# a standby VM that the services failed over to no longer fit on.  The
# services' figures below are where they start: in a member, vcservice
# measures what it uses (measure_utilization) and sets them, with
# headroom, never to a value that would leave a service stopped.
pcs property set placement-strategy=utilization
for vm in web-vm db-vm standby1 standby2; do
    pcs node utilization $vm memory=4096 cpu=4
done

# web: hot.  Its container runs nginx all along, on the synced tree; a
# failover only checks its ports and moves the name.  web-vm's init does
# not start nginx (systemctl disable nginx): start_cmd does, once a
# failback has pulled the member's tree back.
pcs resource create web ocf:vcha:vcservice \
    primary=web-vm member=web address=198.51.100.11 ports="80 443" \
    address_attribute=web-address \
    start_cmd="/usr/sbin/service nginx start" \
    stop_cmd="/usr/sbin/service nginx stop" \
    sync_target=rsync://web@198.51.100.70:8730/web \
    sync_password_file=/etc/vcha/sync.password \
    migration_dir=/srv/vcha-migrate measure_utilization=true \
    op monitor interval=10s timeout=30s \
    op monitor interval=30s timeout=30s OCF_CHECK_LEVEL=10 \
    op migrate_to timeout=120s op migrate_from timeout=120s \
    meta allow-migrate=true
pcs resource utilization web memory=2048 cpu=2
pcs resource create web-dns ocf:vcha:dnsswitch \
    name=www.example.com address_attribute=web-address \
    server=192.0.2.53 keyfile=/etc/vcha/www.key ttl=30 \
    op monitor interval=10s timeout=20s
pcs resource group add web-svc web web-dns

# db: warm.  Redis must not run on files the sync rewrites under it: its
# container runs, and the database starts at activation.  Its
# /etc/redis/redis.conf (in db-vm's tree, synced with it) binds every
# address and writes through an append-only file (appendonly yes,
# appendfsync always), so that what it acknowledged is in the files the
# sync carries; db-vm's init does not start it (systemctl disable
# redis-server): start_cmd does, once a failback has pulled the member's
# files back.  Its shutdown returns once the last write is on disk, and
# the stop then pushes once more: a move to standby1 loses no write.
pcs resource create db ocf:vcha:vcservice \
    primary=db-vm member=db address=198.51.100.12 ports=6379 \
    address_attribute=db-address \
    start_cmd="/usr/bin/redis-server /etc/redis/redis.conf --daemonize yes" \
    stop_cmd="/usr/bin/redis-cli shutdown" \
    activate_cmd="/usr/bin/redis-server /etc/redis/redis.conf --daemonize yes" \
    deactivate_cmd="/usr/bin/redis-cli shutdown" \
    monitor_cmd="/usr/bin/redis-cli ping" \
    sync_target=rsync://db@198.51.100.70:8730/db \
    sync_password_file=/etc/vcha/sync.password \
    migration_dir=/srv/vcha-migrate measure_utilization=true \
    op monitor interval=10s timeout=30s \
    op monitor interval=60s timeout=30s OCF_CHECK_LEVEL=20 \
    op migrate_to timeout=120s op migrate_from timeout=120s \
    meta allow-migrate=true
pcs resource utilization db memory=1024 cpu=1
pcs resource create db-dns ocf:vcha:dnsswitch \
    name=db.example.com address_attribute=db-address \
    server=192.0.2.53 keyfile=/etc/vcha/db.key ttl=30 \
    op monitor interval=10s timeout=20s
pcs resource group add db-svc db db-dns

# Each service prefers its own VM, then a standby VM whose copy of its
# tree was ever synced (ctset's node attribute vcha-sync-NAME, not never),
# may run on a standby VM, and nowhere else; never on one that holds no
# copy (never synced: no tree to serve) but the overflow standby, which
# gets it by migration, its tree travelling with it.  (A failover onto
# the overflow standby, standby1 lost as well, is refused by vcservice's
# start: a member never synced is never activated.)  No automatic
# failback: a stickiness of 200 outweighs the preference of 100, so a
# service that failed over stays in its container when its VM returns
# (the container's files are newer than the VM's).
# A failback is an administrator's move, e.g.
#   pcs resource move web-svc web-vm && pcs resource clear web-svc
# the service stops in its member, vcservice's start on web-vm pulls the
# member's tree back from where it is active (the cluster property
# vcha-active-web, in the crm_config set vcha-records, says where: a
# migration moves it too; native:web-vm once it failed back) and only then
# starts the service; the standby VMs' ctset then make their members
# standbys again.  A start that cannot pull fails: web-vm's older tree is
# never served.
for svc in web db; do
    pcs resource meta $svc-svc resource-stickiness=200
    pcs constraint location $svc-svc prefers $svc-vm=100
    pcs constraint location $svc-svc rule score=50 \
        defined vcha-sync-$svc and vcha-sync-$svc ne never
    pcs constraint location $svc-svc rule score=-INFINITY \
        '#uname' ne $svc-vm and vcha-standby ne true
    pcs constraint location $svc-svc rule score=-INFINITY \
        '#uname' ne $svc-vm and vcha-sync-$svc eq never and \
        vcha-overflow ne true
    pcs constraint order start ctset-clone then start $svc-svc kind=Optional
done
