# LUKS2, keyslot 0 argon2id (32 MiB, 4 iterations, 4 lanes: the builder VM has 4 CPUs),
# aes-xts-plain64, 512-byte sectors; ext4 root inside. Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks2 --cipher aes-xts-plain64 --key-size 512 \
	--pbkdf argon2id --pbkdf-memory 32768 --pbkdf-parallel 4 --pbkdf-force-iterations 4
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/vda
