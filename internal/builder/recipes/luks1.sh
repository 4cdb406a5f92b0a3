# LUKS1, keyslot 0 pbkdf2-sha256 (1000 iterations), aes-xts-plain64 with a 512-bit key;
# ext4 root inside. Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks1 --cipher aes-xts-plain64 --key-size 512 --hash sha256 \
	--pbkdf-force-iterations 1000
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/vda
