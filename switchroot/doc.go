// Package switchroot hands PID 1 over from the initramfs to the real root file system, and
// frees the memory the initramfs occupied.
//
// The initramfs lives in a ramfs or tmpfs that is the kernel's rootfs: it cannot be
// unmounted, so the only way to release its memory is to delete every file in it before
// the real init starts. The steps, in order, are those of util-linux switch_root (nothing is
// copied):
//
// Checks (Check, no side effects; a failure leaves the system exactly as it was, so the
// caller can drop to the rescue shell with everything still in place):
//
//  1. the process is PID 1 — anywhere else, deleting "/" would destroy a real system;
//  2. statfs("/") is ramfs or tmpfs — the same reason: never delete a disk-backed root;
//  3. the new root is a mount point on another device (its st_dev differs from that of "/"
//     and of its parent directory) — otherwise the deletion would remove the new root too,
//     and MS_MOVE would have nothing to move;
//  4. the init exists inside the new root and is an executable regular file, with symbolic
//     links resolved relative to the new root (absolute targets restart at the new root,
//     ".." stops at it, and at most 40 links are followed) — after the deletion there is no
//     way back, so an exec that would fail must be caught before.
//
// Switch (Switch, after the checks):
//
//  5. make "/" recursively private, so that MS_MOVE is allowed even when the mounts were made
//     shared (EINVAL, as on the bare rootfs, is ignored);
//  6. move the API mounts (/dev, /proc, /sys, /run) into the new root with MS_MOVE, creating
//     the targets and resolving symbolic links inside the new root; a directory that is not
//     a mount point is skipped; a mount that cannot be moved is lazily unmounted and
//     reported, so that it does not pin the old root;
//  7. chdir to the new root, open "/" (the old root), move the new root onto "/" (mount
//     MS_MOVE), chroot("."), chdir("/") — until here nothing is deleted, so an error leaves
//     the initramfs whole for the rescue shell;
//  8. check the old root is still a ramfs or tmpfs and delete its contents through the
//     descriptor with the RemoveAll walker, which never crosses into another file system
//     (a mount such as /mnt/data that was not moved is left alone). With
//     Options.DeleteWith this runs in a child process at the lowest priority, as util-linux
//     switch_root does it in a forked child, so that the real init does not wait for the
//     pages of a whole initramfs to be freed; the child deletes only after
//     checking that PID 1 started it and that its fd 3 is the file system the root is now
//     mounted over, and reports the memory released when it is done;
//  9. reopen /dev/console of the new root as fds 0, 1, 2 (the old ones pin deleted initramfs
//     inodes), and mark every other fd close-on-exec, except the systemd serialization fd;
//  10. execve the init. For systemd the arguments are those systemd uses itself after a
//     switch-root: --switched-root --system --deserialize FD, where FD is a memfd holding the
//     initrd timestamp, so that systemd-analyze shows the time spent in the initramfs.
//
// MemInfo reads Shmem and Unevictable from /proc/meminfo, so that the caller can log how much
// memory the initramfs held before and after the deletion.
package switchroot
