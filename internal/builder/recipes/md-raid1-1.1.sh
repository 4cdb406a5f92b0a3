# MD RAID1 over two disks, metadata 1.1, MD_UUID; ext4 root on the array.
# Disks: vda and vdb = the members.
md_create /dev/md0 1 1.1 /dev/vda /dev/vdb
mkroot /dev/md0
md_report /dev/md0 /dev/vda /dev/vdb
mdadm --stop /dev/md0
