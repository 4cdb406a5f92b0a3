# LVM2 with /usr on its own LV: one PV, VG, the ext4 root LV and an ext4 LV "usr" holding the
# real init (/sbin/init -> /usr/lib/testinit, as a merged /usr holds systemd), which the root's
# /etc/fstab names by its /dev/VG/usr path. Disk: vda = the PV.
pvcreate /dev/vda
vgcreate "$VG" /dev/vda
lvcreate -y -L 40M -n "$LV" "$VG"
lvcreate -y -L 24M -n usr "$VG"
mkroot "/dev/$VG/$LV"
mkfs.ext4 -q -F -L usr "/dev/$VG/usr"
mount -t ext4 "/dev/$VG/$LV" /mnt
mkdir -p /mnt/usr
mount -t ext4 "/dev/$VG/usr" /mnt/usr
mkdir -p /mnt/usr/lib
mv /mnt/sbin/init /mnt/usr/lib/testinit
ln -s /usr/lib/testinit /mnt/sbin/init
printf '%s\n' "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" "/dev/$VG/usr /usr ext4 defaults 0 2" >/mnt/etc/fstab
ls -la /mnt /mnt/usr/lib
umount /mnt/usr
umount /mnt
lvm_report
vgchange -an "$VG"
