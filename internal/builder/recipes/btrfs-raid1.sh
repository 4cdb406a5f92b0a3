# btrfs over two disks, data and metadata raid1 (ROOT_UUID, ROOT_LABEL), holding the test
# root. Disks: vda, vdb = the two devices of the filesystem.
modprobe btrfs
mkfs.btrfs -f -d raid1 -m raid1 -U "$ROOT_UUID" -L "$ROOT_LABEL" /dev/vda /dev/vdb
btrfs device scan /dev/vda /dev/vdb
fill /dev/vda btrfs
btrfs filesystem show "$ROOT_UUID"
