#!/bin/busybox sh
# /init of the builder VM: mount the API filesystems, load the modules the recipe's tools
# need, wait for the disks, run the recipe, sync and power off. The host reads the verdict
# from the last marker line: EARLYROOT-BUILDER-OK or EARLYROOT-BUILDER-FAILED.
/bin/busybox mkdir -p /bb
/bin/busybox --install -s /bb
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/bb
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /run/cryptsetup /run/lock/lvm /run/mdadm /mnt /tmp
. /env.sh

finish() {
	sync
	echo "$1"
	poweroff -f
	sleep 60
}

/usr/sbin/modprobe -a $MODULES || finish "EARLYROOT-BUILDER-FAILED $RECIPE: modprobe $MODULES"
for d in $DISKS $ROOT_TAR; do
	n=0
	while [ ! -b "$d" ]; do
		n=$((n + 1))
		[ $n -gt 300 ] && finish "EARLYROOT-BUILDER-FAILED $RECIPE: $d did not appear"
		usleep 100000
	done
done
cd /tmp
if sh -e -x -c '. /lib.sh; . /recipe.sh'; then
	finish "EARLYROOT-BUILDER-OK $RECIPE"
fi
finish "EARLYROOT-BUILDER-FAILED $RECIPE: the recipe exited with an error (see the lines above)"
