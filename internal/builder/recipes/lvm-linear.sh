# LVM2: one PV on the whole disk, VG, a linear LV (40 MiB) with the ext4 root.
# Disk: vda = the PV.
pvcreate /dev/vda
vgcreate "$VG" /dev/vda
lvcreate -y -L 40M -n "$LV" "$VG"
mkroot "/dev/$VG/$LV"
lvm_report
vgchange -an "$VG"
