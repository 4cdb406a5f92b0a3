# LUKS2, keyslot 0 pbkdf2-sha256 (1000 iterations), aes-xts-plain64, 4096-byte sectors;
# ext4 root inside. Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
	$PBKDF2_FAST
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/vda
