# LUKS2 with serpent-xts-plain64 (a cipher whose module the kernel asks for on demand),
# keyslot 0 pbkdf2-sha256; ext4 root inside. Disk: vda = the LUKS volume.
luks_format /dev/vda --type luks2 --cipher serpent-xts-plain64 --key-size 512 $PBKDF2_FAST
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup luksDump /dev/vda
lsmod | grep -i serpent
