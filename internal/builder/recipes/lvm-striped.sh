# LVM2: two PVs, VG, a striped LV (2 stripes of 64 KiB, 64 MiB) with the ext4 root.
# Disks: vda, vdb = the PVs.
pvcreate /dev/vda /dev/vdb
vgcreate "$VG" /dev/vda /dev/vdb
lvcreate -y -i 2 -I 64k -L 64M -n "$LV" "$VG"
mkroot "/dev/$VG/$LV"
lvm_report
vgchange -an "$VG"
