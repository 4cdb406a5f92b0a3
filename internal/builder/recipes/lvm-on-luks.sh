# LVM on LUKS, as Debian's "guided, encrypted LVM" lays it out: LUKS2 (argon2id 32 MiB,
# 4 iterations, 1 lane) on the disk, one PV inside, VG with the root LV (80 MiB, ext4 root)
# and a swap LV "swap" (16 MiB, SWAP_UUID, SWAP_LABEL). Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks2 --cipher aes-xts-plain64 --key-size 512 \
	--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-parallel 1 --pbkdf-force-iterations 4
luks_open /dev/vda cryptlvm
pvcreate /dev/mapper/cryptlvm
vgcreate "$VG" /dev/mapper/cryptlvm
lvcreate -y -L 80M -n "$LV" "$VG"
lvcreate -y -L 16M -n swap "$VG"
mkroot "/dev/$VG/$LV"
mkswap -U "$SWAP_UUID" -L "$SWAP_LABEL" "/dev/$VG/swap"
lvm_report
vgchange -an "$VG"
cryptsetup close cryptlvm
cryptsetup luksDump /dev/vda
