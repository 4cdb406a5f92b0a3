package boot

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
	"github.com/u-root/u-root/pkg/cpio"
)

// Each fault ends in a clear message and either a boot or the rescue shell: never a kernel
// panic from PID 1 exiting, never a hang without output.
func TestFaults(t *testing.T) {
	long := strings.Repeat("x", 1500) // the x86 kernel keeps 2048 bytes of command line
	cases := []struct {
		name   string
		disk   func(t *testing.T, uuid string) string
		append string
		image  func(t *testing.T) string
		// rescue is the diagnosis expected before the prompt; "" means the boot succeeds.
		rescue string
		diag   string // a line of the diagnosis after it
		log    string // a log line expected on the way (either outcome)
		// each are the names that must each appear in a line matching log
		each []string
		// warns are the command-line warnings expected, in order: each names the malformed
		// value and the default used instead.
		warns []string
	}{
		{
			name:   "zeroed-superblock",
			disk:   func(t *testing.T, uuid string) string { return damaged(t, uuid, 1024, make([]byte, 1024)) },
			append: "root=/dev/vda", rescue: `root /dev/vda: no filesystem recognised`,
		},
		{
			// The superblock is intact (the prober says ext4) but the group descriptors
			// behind it are garbage: the kernel refuses the mount.
			name:   "corrupted-metadata",
			disk:   func(t *testing.T, uuid string) string { return damaged(t, uuid, 2048, randomBytes(t, 6144)) },
			append: "root=/dev/vda", rescue: `mount /dev/vda on /newroot \(ext4`,
		},
		{
			name:   "wrong-rootfstype",
			append: "rootfstype=xfs", rescue: `mount /dev/vda on /newroot \(xfs`,
		},
		{
			name:   "unknown-rootflags",
			append: "rootflags=bogus_option", rescue: `mount /dev/vda on /newroot \(ext4.*bogus_option|bogus_option.*invalid argument`,
		},
		{
			name:   "init-missing",
			append: "init=/sbin/nowhere", rescue: `/newroot/sbin/nowhere: no such file`,
		},
		{
			name:   "blacklisted-root-driver",
			append: "module_blacklist=virtio_blk rd.timeout=5", rescue: `did not appear within 5s`,
			diag: `virtio_blk: (blacklisted|.*operation not permitted)`,
		},
		{
			name:   "blacklisted-other-driver",
			append: "module_blacklist=ahci",
		},
		{
			name:   "garbage-command-line",
			append: `rootdelay=abc rd.timeout=-5 "unterminated rootflags= = == x.y=" loglevel=zz foo.bar.baz=1 =x earlyroot.log=nowhere junk=` + long,
			warns: []string{
				`rootdelay=abc: .*using 0s`,
				`rd.timeout=-5: .*using 30s`,
				`earlyroot.log=nowhere: .*using both`,
			},
		},
		{
			name:  "truncated-and-non-elf-modules",
			image: brokenModulesImage,
			// libahci.ko is not an ELF and udf.ko is cut short: both fail with a clear
			// message, ahci fails with libahci, the boot goes on. Both are asked for by
			// name: as a device's driver ahci's load could be deferred once the root is
			// found.
			append: "modules_load=ahci,udf",
			log:    `load (libahci|udf): finit_module \S+\.ko: exec format error`,
			each:   []string{"libahci", "udf"},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			uuid := uuidFor(1100 + i)
			disk := ""
			if c.disk != nil {
				disk = c.disk(t, uuid)
			} else {
				disk = wholeDisk(t, rootFS(t, "ext4", uuid, ""))
			}
			cfg := vm.Config{
				Append: "root=UUID=" + uuid + " " + c.append,
				Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}},
			}
			if c.image != nil {
				cfg.Initrd = c.image(t)
			}
			v := bootVM(t, cfg)
			for _, w := range c.warns {
				expect(t, v, `earlyroot: (warning: )?command line: `+w, promptWait)
			}
			if c.log != "" {
				expect(t, v, c.log, promptWait)
			}
			if c.rescue == "" {
				bootedOn(t, facts(t, v), "/dev/vda", "ext4")
				lines := strings.Join(regexp.MustCompile(c.log).FindAllString(v.Output(), -1), "\n")
				for _, name := range c.each {
					if !strings.Contains(lines, "load "+name+":") {
						t.Errorf("no line matching %q names %s", c.log, name)
					}
				}
				return
			}
			expect(t, v, `the boot stopped: .*(`+c.rescue+`)`, promptWait)
			if c.diag != "" {
				expect(t, v, c.diag, 10*time.Second)
			}
			expect(t, v, `earlyroot# `, 30*time.Second)
		})
	}
}

// A root mounted read-only stays byte-for-byte unmodified by a boot.
func TestReadOnlyRootUnmodified(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(1200)
	disk := wholeDisk(t, rootFS(t, "ext4", uuid, ""))
	noise := filepath.Join(t.TempDir(), "noise.img")
	if err := os.WriteFile(noise, randomBytes(t, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, disk)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " ro",
		Drives: []vm.Drive{{Path: noise, Bus: vm.BusVirtioBlk}, {Path: disk, Bus: vm.BusVirtioBlk}},
	})
	f := facts(t, v)
	bootedOn(t, f, "", "ext4") // two virtio disks: either may be vda
	exited(t, v, factsTimeout)
	if after := fileSum(t, disk); after != before {
		t.Errorf("the read-only root's image changed during the boot")
	}
}

// damaged is an ext4 root disk with bytes overwritten at off.
func damaged(t *testing.T, uuid string, off int64, data []byte) string {
	t.Helper()
	disk := wholeDisk(t, rootFS(t, "ext4", uuid, ""))
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	return disk
}

// brokenModulesImage is the generic image with plain .ko modules in an uncompressed archive,
// patched in place: libahci.ko overwritten with text (not an ELF file; ahci needs it for the
// q35 SATA controller every test VM has) and the second half of crc32c-intel.ko zeroed (a
// truncated module; ext4's softdep loads it). The module index still lists both, so the
// loader meets them at boot.
func brokenModulesImage(t *testing.T) string {
	t.Helper()
	src := tb.image(t, "plain-uncompressed", "-compress", "none", "-initcompress", "none", "-modcompress", "none", "-microcode=false")
	img, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	udf := cpioData(t, img, "kernel/fs/udf/udf.ko")
	clear(udf[len(udf)/2:])
	libahci := cpioData(t, img, "kernel/drivers/ata/libahci.ko")
	copy(libahci, bytes.Repeat([]byte("not a kernel module\n"), len(libahci)/20+1))
	out := filepath.Join(t.TempDir(), "broken-modules.img")
	if err := os.WriteFile(out, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// cpioData returns the data of the newc archive entry whose name ends in suffix, as a slice
// of archive (so that writing to it patches the archive). The archive is one newc archive (no
// early microcode in front), read with u-root's reader, the library initramfs.Archive writes
// with.
func cpioData(t *testing.T, archive []byte, suffix string) []byte {
	t.Helper()
	rr := cpio.Newc.Reader(bytes.NewReader(archive))
	for {
		rec, err := rr.ReadRecord()
		if err != nil {
			t.Fatalf("no %s in the archive: %v", suffix, err)
		}
		if !strings.HasSuffix(rec.Name, suffix) {
			continue
		}
		sr, ok := rec.ReaderAt.(*io.SectionReader)
		if !ok {
			t.Fatalf("%s: record data is a %T, not a section of the archive", rec.Name, rec.ReaderAt)
		}
		_, off, n := sr.Outer()
		return archive[off : off+n]
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
