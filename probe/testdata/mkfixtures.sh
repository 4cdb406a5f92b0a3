#!/bin/sh
# mkfixtures.sh builds the block-device fixtures for the probe package tests (and the device registry's).
#
# For every fixture NAME it writes:
#   NAME.img.gz       the first blocks of a real image (gzip -n)
#   NAME.blkid        `blkid -p -o export` of the full image (expected values)
#   NAME.sfdisk.json  `sfdisk -J` of partition-table fixtures
#
# Needs: mkfs.ext2/3/4, mkfs.xfs, mkfs.btrfs, mkfs.vfat, mkfs.f2fs, mksquashfs,
# mkfs.erofs, xorriso, mkswap, cryptsetup, sgdisk, sfdisk, blkid, python3
# (LVM2 and MD RAID headers are written by hand: their tools need block
# devices). No root, no loop devices. Run from anywhere; output goes next to
# this script.
set -eu

out=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SOURCE_DATE_EPOCH=1700000000

# keep NAME IMAGE BYTES: record blkid's view of IMAGE, truncate, compress.
keep() {
	blkid -p -o export "$2" | grep -v '^DEVNAME=' >"$out/$1.blkid" || true
	truncate -s "$3" "$2"
	gzip -9n <"$2" >"$out/$1.img.gz"
	echo "fixture $1: $(grep '^TYPE=\|^PTTYPE=' "$out/$1.blkid" | tr '\n' ' ')"
}

img() { rm -f "$tmp/$1"; truncate -s "$2" "$tmp/$1"; echo "$tmp/$1"; }

q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; }; }

# --- filesystems ---------------------------------------------------------
f=$(img ext2 4M); q mkfs.ext2 -F -L 'ext2 label' -U 2e8f1c5a-1111-4b5b-9b0e-0123456789ab "$f"; keep ext2 "$f" 8192
f=$(img ext3 8M); q mkfs.ext3 -F -L ext3root -U 3e8f1c5a-2222-4b5b-9b0e-0123456789ab "$f"; keep ext3 "$f" 8192
f=$(img ext4 16M); q mkfs.ext4 -F -L 'root fs' -U 4e8f1c5a-3333-4b5b-9b0e-0123456789ab "$f"; keep ext4 "$f" 8192
f=$(img ext4-nocsum 16M); q mkfs.ext4 -F -O ^metadata_csum -L nocsum -U 4e8f1c5a-4444-4b5b-9b0e-0123456789ab "$f"; keep ext4-nocsum "$f" 8192
f=$(img jbd 8M); q mkfs.ext4 -F -O journal_dev -L extjournal -U 1f8f1c5a-1111-4b5b-9b0e-0123456789ab "$f"; keep jbd "$f" 8192
f=$(img xfs 320M); q mkfs.xfs -f -L xfsroot -m uuid=5e8f1c5a-5555-4b5b-9b0e-0123456789ab "$f"; keep xfs "$f" 4096
f=$(img btrfs 128M); q mkfs.btrfs -f -L 'btrfs root' -U 6e8f1c5a-6666-4b5b-9b0e-0123456789ab "$f"; keep btrfs "$f" $((65536 + 4096))
f=$(img vfat12 1M); q mkfs.vfat -F 12 -n BOOT12 -i 1234abcd "$f"; keep vfat12 "$f" 1M
f=$(img vfat16 32M); q mkfs.vfat -F 16 -n 'EFI SYS' -i 00c0ffee "$f"; keep vfat16 "$f" 512K
f=$(img vfat32 64M); q mkfs.vfat -F 32 -n ESP32 -i deadbeef "$f"; keep vfat32 "$f" 2M
# The root directory's volume label wins over a stale boot-sector label.
f=$(img vfat-relabel 4M); q mkfs.vfat -n NEWLABEL -i 11112222 "$f"
printf 'OLDLABEL   ' | dd of="$f" bs=1 seek=43 conv=notrunc 2>/dev/null; keep vfat-relabel "$f" 256K
f=$(img vfat-nolabel 4M); q mkfs.vfat -i 0a0b0c0d "$f"; keep vfat-nolabel "$f" 256K
f=$(img f2fs 64M); q mkfs.f2fs -f -l f2fsroot -U 7e8f1c5a-7777-4b5b-9b0e-0123456789ab "$f"; keep f2fs "$f" 4096
mkdir -p "$tmp/tree/etc"; echo hello >"$tmp/tree/etc/hostname"
rm -f "$tmp/squashfs"; q mksquashfs "$tmp/tree" "$tmp/squashfs" -noappend -all-root; keep squashfs "$tmp/squashfs" 4096
rm -f "$tmp/erofs"; q mkfs.erofs -T 1700000000 -U 8e8f1c5a-8888-4b5b-9b0e-0123456789ab "$tmp/erofs" "$tmp/tree"; keep erofs "$tmp/erofs" 4096
rm -f "$tmp/iso"; q xorriso -as mkisofs -V 'LIVE_2026_IMAGE' -J -o "$tmp/iso" "$tmp/tree"; keep iso9660-joliet "$tmp/iso" 65536
rm -f "$tmp/iso2"; q xorriso -as mkisofs -V 'A_VERY_LONG_VOLUME_LABEL_32CHARS' -o "$tmp/iso2" "$tmp/tree"; keep iso9660 "$tmp/iso2" 40960
rm -f "$tmp/iso3"; q xorriso -as mkisofs -V 'Ubuntu 24.04.1 LTS amd64' -J -o "$tmp/iso3" "$tmp/tree"; keep iso9660-joliet-long "$tmp/iso3" 40960

# --- not filesystems -------------------------------------------------------
f=$(img swap 1M); q mkswap -L swaplabel -U 9e8f1c5a-9999-4b5b-9b0e-0123456789ab "$f"; keep swap "$f" 4096
f=$(img swap-v0 1M); printf 'SWAP-SPACE' | dd of="$f" bs=1 seek=4086 conv=notrunc 2>/dev/null; keep swap-v0 "$f" 4096
f=$(img swsuspend 1M); q mkswap -L hib -U ae8f1c5a-aaaa-4b5b-9b0e-0123456789ab "$f"
printf 'S1SUSPEND\0' | dd of="$f" bs=1 seek=4086 conv=notrunc 2>/dev/null; keep swsuspend "$f" 4096
f=$(img swsuspend-linhib 1M); q mkswap -U fe8f1c5a-ffff-4b5b-9b0e-0123456789ab "$f"
printf 'LINHIB0001' | dd of="$f" bs=1 seek=4086 conv=notrunc 2>/dev/null; keep swsuspend-linhib "$f" 4096
printf pw >"$tmp/key"
f=$(img luks1 4M); q cryptsetup luksFormat -q --type luks1 --pbkdf-force-iterations 1000 --key-file "$tmp/key" --uuid be8f1c5a-bbbb-4b5b-9b0e-0123456789ab "$f"; keep luks1 "$f" 4096
f=$(img luks2 20M); q cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$tmp/key" --uuid ce8f1c5a-cccc-4b5b-9b0e-0123456789ab --label cryptroot "$f"; keep luks2 "$f" 4096
# LUKS2 with the primary header wiped: found through the secondary one.
f=$(img luks2-secondary 20M); q cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$tmp/key" --uuid de8f1c5a-dddd-4b5b-9b0e-0123456789ab --label second "$f"
dd if=/dev/zero of="$f" bs=4096 count=1 conv=notrunc 2>/dev/null; keep luks2-secondary "$f" 20480
f=$(img lvm2 4M); python3 "$out/mkheaders.py" lvm2 "$f"; keep lvm2 "$f" 4096
for v in 0.90 1.0 1.1 1.2; do
	f=$(img md$v 4M); python3 "$out/mkheaders.py" md$v "$f"; keep md$v "$f" 4M
done

# --- partition tables ------------------------------------------------------
table() { # NAME IMAGE [sfdisk options]
	n=$1 f=$2; shift 2
	sfdisk "$@" -J "$f" | sed "s|$tmp/||" >"$out/$n.sfdisk.json"
}
f=$(img gpt 8M)
q sgdisk -U 0e8f1c5a-0000-4b5b-9b0e-0123456789ab \
	-n 1:2048:+1M -t 1:ef00 -u 1:11111111-2222-4333-8444-555555555555 -c 1:'EFI System' \
	-n 2:0:+2M -t 2:8304 -u 2:21111111-2222-4333-8444-555555555555 -c 2:'root dätä' \
	-n 4:0:+1M -t 4:8200 -u 4:41111111-2222-4333-8444-555555555555 -c 4:swap "$f"
table gpt "$f"; keep gpt "$f" 64K
# sfdisk 2.38 cannot write 4096-byte-sector tables into a file and blkid
# assumes 512-byte sectors there: the header is written by hand and the
# expected values come from the same description.
f=$(img gpt4k 32M); python3 "$out/mkheaders.py" gpt4k "$f" "$out/gpt4k.sfdisk.json"
printf 'PTUUID=0e8f1c5a-4096-4b5b-9b0e-0123456789ab\nPTTYPE=gpt\n' >"$out/gpt4k.blkid"
truncate -s 64K "$f"; gzip -9n <"$f" >"$out/gpt4k.img.gz"
echo "fixture gpt4k: PTTYPE=gpt (4096-byte sectors)"
f=$(img dos 16M)
printf 'label: dos\nlabel-id: 0x12345678\n
start=2048, size=2048, type=83, bootable\nsize=2048, type=82\nsize=2048, type=83\nsize=16384, type=f\n
size=2048, type=83\nsize=2048, type=8e\nsize=2048, type=c\n' | q sfdisk "$f"
table dos "$f"; keep dos "$f" 12M
