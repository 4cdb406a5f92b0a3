# LUKS2 with four keyslots: 0, 1 and 2 hold other passphrases ("other-0", "other-1",
# "other-2"; keyslot 1 is argon2i 32 MiB), keyslot 3 holds the test passphrase (pbkdf2).
# ext4 root inside. Disk: vda = the LUKS volume.
printf %s other-0 >/tmp/k0
printf %s other-1 >/tmp/k1
printf %s other-2 >/tmp/k2
printf %s "$PASS" >/tmp/kt
cryptsetup luksFormat --batch-mode --type luks2 --uuid "$LUKS_UUID" --cipher aes-xts-plain64 \
	--key-size 512 $PBKDF2_FAST --key-slot 0 --key-file /tmp/k0 /dev/vda
cryptsetup luksAddKey --batch-mode --key-file /tmp/k0 --key-slot 1 --pbkdf argon2i \
	--pbkdf-memory 32768 --pbkdf-parallel 1 --pbkdf-force-iterations 4 /dev/vda /tmp/k1
cryptsetup luksAddKey --batch-mode --key-file /tmp/k0 --key-slot 2 $PBKDF2_FAST /dev/vda /tmp/k2
cryptsetup luksAddKey --batch-mode --key-file /tmp/k0 --key-slot 3 $PBKDF2_FAST /dev/vda /tmp/kt
luks_open /dev/vda root
mkroot /dev/mapper/root
cryptsetup close root
cryptsetup open --test-passphrase --key-slot 3 --key-file /tmp/kt /dev/vda
cryptsetup luksDump /dev/vda
