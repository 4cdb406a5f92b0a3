# LUKS2 opened by a key file: keyslot 0 holds the key file's content (KEYFILE, pbkdf2),
# keyslot 1 the test passphrase; ext4 root inside. The second disk is a small ext4
# filesystem (KEY_UUID, KEY_LABEL) holding that key file as /luks.key.
# Disks: vda = the LUKS volume, vdb = the key disk.
cryptsetup luksFormat --batch-mode --type luks2 --uuid "$LUKS_UUID" --cipher aes-xts-plain64 \
	--key-size 512 $PBKDF2_FAST --key-slot 0 --key-file "$KEYFILE" /dev/vda
printf %s "$PASS" >/tmp/kt
cryptsetup luksAddKey --batch-mode --key-file "$KEYFILE" --key-slot 1 $PBKDF2_FAST /dev/vda /tmp/kt
cryptsetup open --key-file "$KEYFILE" /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
mkfs.ext4 -q -F -U "$KEY_UUID" -L "$KEY_LABEL" /dev/vdb
mount -t ext4 /dev/vdb /mnt
cp "$KEYFILE" /mnt/luks.key
chmod 0400 /mnt/luks.key
umount /mnt
cryptsetup luksDump /dev/vda
