# LVM on MD: RAID1 over two disks (metadata 1.2, MD_UUID), one PV on the array, VG, linear
# root LV (40 MiB, ext4 root). Disks: vda, vdb = the members.
md_create /dev/md0 1 1.2 /dev/vda /dev/vdb
pvcreate /dev/md0
vgcreate "$VG" /dev/md0
lvcreate -y -L 40M -n "$LV" "$VG"
mkroot "/dev/$VG/$LV"
lvm_report
vgchange -an "$VG"
md_report /dev/md0 /dev/vda /dev/vdb
mdadm --stop /dev/md0
