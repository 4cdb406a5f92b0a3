# MD RAID5 over three disks, metadata 1.2, 64 KiB chunks, MD_UUID; ext4 root on the array.
# Disks: vda, vdb, vdc = the members.
md_create /dev/md0 5 1.2 --chunk=64 /dev/vda /dev/vdb /dev/vdc
mkroot /dev/md0
md_report /dev/md0 /dev/vda /dev/vdb /dev/vdc
mdadm --stop /dev/md0
