# LUKS on MD: RAID1 over two disks (metadata 1.2, MD_UUID), LUKS2 (pbkdf2) on the array,
# ext4 root inside. Disks: vda, vdb = the members.
md_create /dev/md0 1 1.2 /dev/vda /dev/vdb
luks_format /dev/md0 --type luks2 --cipher aes-xts-plain64 --key-size 512 $PBKDF2_FAST
luks_open /dev/md0 root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/md0
md_report /dev/md0 /dev/vda /dev/vdb
mdadm --stop /dev/md0
