# LVM2: one PV, VG, a thin pool "pool" (64 MiB) and a thin LV (96 MiB virtual) with the
# ext4 root. Disk: vda = the PV.
pvcreate /dev/vda
vgcreate "$VG" /dev/vda
lvcreate -y --type thin-pool -L 64M -n pool "$VG"
lvcreate -y -V 96M --thinpool "$VG/pool" -n "$LV"
mkroot "/dev/$VG/$LV"
lvm_report
vgchange -an "$VG"
