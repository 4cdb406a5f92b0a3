package deps
import (
 _ "golang.org/x/sys/unix"
 _ "github.com/u-root/u-root/pkg/cpio"
 _ "github.com/u-root/u-root/pkg/mount"
 _ "github.com/pilebones/go-udev/netlink"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/ulikunitz/xz"
 _ "github.com/pierrec/lz4/v4"
)
