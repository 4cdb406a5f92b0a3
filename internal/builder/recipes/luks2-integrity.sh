# LUKS2 with authenticated encryption: aes-xts-plain64 with hmac-sha256 tags kept by
# dm-integrity (cryptsetup --integrity), a layout earlyroot refuses as unsupported; ext4 root
# inside. Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks2 --cipher aes-xts-plain64 --key-size 512 --integrity hmac-sha256 \
	$PBKDF2_FAST
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/vda
