package builder

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/fixture"
	"github.com/u-root/u-root/pkg/cpio"
)

// TestImage checks the builder initramfs: the tools with their libraries and the loader,
// the modules with kmod's index, the recipe's files in the appended archive.
func TestImage(t *testing.T) {
	k := fixture.NeedKernel(t)
	for _, tl := range guestTools {
		if _, err := hostPath(tl.name); err != nil {
			t.Skipf("skipping: %v (%s; make deps)", err, tl.pkg)
		}
	}
	out := filepath.Join(t.TempDir(), "b.cpio")
	if err := writeImage(out, k, map[string][]byte{"recipe.sh": []byte("echo hi\n")}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]cpio.Record{}
	rr := cpio.Newc.Reader(f)
	// The image is two archives; read both.
	for archives := 0; archives < 2; archives++ {
		recs, err := cpio.ReadAllRecords(rr)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			names[strings.TrimPrefix(r.Name, "/")] = r
		}
	}
	mod := "lib/modules/" + k.Release + "/"
	for _, want := range []string{"init", "lib.sh", "recipe.sh", "bin/busybox", "usr/sbin/cryptsetup",
		"usr/sbin/pvcreate", "usr/sbin/mdadm", "usr/sbin/mkfs.ext4", "sbin/modprobe", "etc/lvm/lvm.conf",
		"lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libcryptsetup.so.12",
		"lib/x86_64-linux-gnu/libgcc_s.so.1", mod + "modules.dep", mod + "modules.alias",
		mod + "kernel/drivers/md/dm-crypt.ko", mod + "kernel/drivers/md/raid456.ko",
		mod + "kernel/crypto/serpent_generic.ko", mod + "kernel/drivers/block/virtio_blk.ko"} {
		if _, ok := names[want]; !ok {
			t.Errorf("builder image lacks %s", want)
		}
	}
	dep, ok := names[mod+"modules.dep"]
	if !ok {
		return
	}
	b, err := io.ReadAll(io.NewSectionReader(dep.ReaderAt, 0, int64(dep.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	// dm-crypt's dependencies are in the image: depmod found them there.
	found := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "kernel/drivers/md/dm-crypt.ko:") {
			found = true
			if !strings.Contains(l, "dm-mod.ko") {
				t.Errorf("modules.dep: %s", l)
			}
		}
	}
	if !found {
		t.Error("modules.dep has no line for dm-crypt")
	}
	if _, ok := names[mod+"kernel/sound/core/snd.ko"]; ok {
		t.Error("builder image has sound modules: the selection is too wide")
	}
}
