# Helpers for the recipes, sourced before each one. /env.sh has set RECIPE, PASS, KEYFILE
# (a file holding the test key), ROOT_TAR (the device holding the test root as a tar, or
# empty) and the recipe's facts: ROOT_UUID, ROOT_LABEL, LUKS_UUID, MD_UUID, VG, LV, SWAP_UUID,
# SWAP_LABEL, KEY_UUID, KEY_LABEL.

# Debian's busybox runs its own applets before anything on PATH (FEATURE_SH_STANDALONE):
# without these functions, mkswap, blkid or modprobe would be busybox's, not the real tools.
set +x
for p in /usr/sbin/*; do
	n=${p##*/}
	case $n in *[!A-Za-z0-9_]*) continue ;; esac
	eval "$n() { $p \"\$@\"; }"
done
set -x

# fill DEV FSTYPE: unpacks the test root into the filesystem on DEV, with the marker file
# /earlyroot-recipe naming the recipe, and checks that its /sbin/init (testinit, which run as
# another PID than 1 only prints its facts line) runs there.
fill() {
	mount -t "$2" "$1" /mnt
	if [ -n "$ROOT_TAR" ]; then
		tar -x -f "$ROOT_TAR" -C /mnt
		chroot /mnt /sbin/init | grep EARLYROOT-FACTS >/dev/null
	fi
	echo "$RECIPE" >/mnt/earlyroot-recipe
	ls -la /mnt
	umount /mnt
}

# mkroot DEV: the root filesystem (ext4, ROOT_UUID, ROOT_LABEL) on DEV, filled.
mkroot() {
	mkfs.ext4 -q -F -U "$ROOT_UUID" -L "$ROOT_LABEL" "$1"
	fill "$1" ext4
}

# luks_format DEV ARGS...: a LUKS volume on DEV with the test passphrase in the first free
# keyslot (keyslot 0 unless ARGS say otherwise) and the UUID LUKS_UUID.
luks_format() {
	dev=$1
	shift
	printf %s "$PASS" | cryptsetup luksFormat --batch-mode --uuid "$LUKS_UUID" --key-file=- "$@" "$dev"
}

# luks_open DEV NAME: opens DEV with the test passphrase as /dev/mapper/NAME.
luks_open() {
	printf %s "$PASS" | cryptsetup open --key-file=- "$1" "$2"
}

# Fast key derivation for the recipes whose subject is not the KDF.
PBKDF2_FAST="--pbkdf pbkdf2 --hash sha256 --pbkdf-force-iterations 1000"

# md_create DEV LEVEL METADATA [OPTIONS] MEMBERS...: an array with MD_UUID, named
# earlyroot:root where the metadata holds a name. --assume-clean: the members are all zeros,
# so they are in sync already and no resync runs.
md_create() {
	dev=$1 level=$2 meta=$3
	shift 3
	n=0
	for a in "$@"; do
		case $a in /dev/*) n=$((n + 1)) ;; esac
	done
	name="--homehost=earlyroot --name=root"
	[ "$meta" = 0.90 ] && name=""
	mdadm --create "$dev" --run --assume-clean --level="$level" --metadata="$meta" \
		--uuid="$MD_UUID" $name --raid-devices=$n "$@"
}

# md_report DEV MEMBERS...: what mdadm sees, for the build log.
md_report() {
	dev=$1
	shift
	mdadm --detail "$dev"
	for m in "$@"; do mdadm --examine "$m"; done
	cat /proc/mdstat
}

lvm_report() {
	pvs -o +pv_uuid
	vgs -o +vg_uuid
	lvs -a -o +lv_uuid,segtype,devices
}
