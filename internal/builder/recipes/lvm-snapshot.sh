# LVM2: one PV, VG, the root LV (40 MiB, ext4 root) and a classic snapshot of it "snap"
# (16 MiB CoW), taken after the root was filled, then a file /after-snapshot written to the
# origin only. Disk: vda = the PV.
pvcreate /dev/vda
vgcreate "$VG" /dev/vda
lvcreate -y -L 40M -n "$LV" "$VG"
mkroot "/dev/$VG/$LV"
lvcreate -y -s -L 16M -n snap "$VG/$LV"
mount -t ext4 "/dev/$VG/$LV" /mnt
echo origin >/mnt/after-snapshot
umount /mnt
lvm_report
vgchange -an "$VG"
