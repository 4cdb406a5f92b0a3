# LVM2: two PVs, VG, a raid1 LV (dm-raid, one mirror, 40 MiB, no initial sync) with the
# ext4 root. Disks: vda, vdb = the PVs.
pvcreate /dev/vda /dev/vdb
vgcreate "$VG" /dev/vda /dev/vdb
lvcreate -y --type raid1 -m 1 --nosync -L 40M -n "$LV" "$VG"
mkroot "/dev/$VG/$LV"
lvm_report
vgchange -an "$VG"
