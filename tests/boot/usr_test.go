package boot

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// A root whose /usr is another filesystem, as its /etc/fstab says, with the real init on it
// (/sbin/init -> /usr/lib/testinit, as a merged /usr has systemd there): the initramfs mounts
// /usr, loading its filesystem's module (xfs beside the root's ext4), read-only as the root,
// before it looks for the init.
func TestUsrOnOwnPartition(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(1210)
	root := t.TempDir()
	if err := vm.RootDir(root, ""); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "etc/fstab"), "# <file system> <mount point> <type> <options> <dump> <pass>\n"+
		"UUID="+uuid+" / ext4 errors=remount-ro 0 1\n"+
		"PARTLABEL=usr /usr xfs defaults 0 2\n")
	if err := os.Mkdir(filepath.Join(root, "usr"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/lib/testinit", filepath.Join(root, "sbin/init")); err != nil {
		t.Fatal(err)
	}
	usr := t.TempDir()
	writeFile(t, filepath.Join(usr, "lib/testinit"), testinitBytes(t))
	if err := os.Chmod(filepath.Join(usr, "lib/testinit"), 0o755); err != nil {
		t.Fatal(err)
	}
	disk := makeDisk(t, "usr", vm.Disk{Table: "gpt", Parts: []vm.Part{
		{FS: &vm.FS{Type: "ext4", UUID: uuid, SrcDir: root}, Name: "root"},
		{FS: &vm.FS{Type: "xfs", SrcDir: usr}, Name: "usr"},
	}})
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid,
		Drives: []vm.Drive{{Path: disk, Bus: vm.BusVirtioBlk}},
	})
	f := facts(t, v)
	bootedOn(t, f, "/dev/vda1", "ext4")
	if len(f.Argv) == 0 || f.Argv[0] != "/sbin/init" {
		t.Errorf("argv %q, want the init found through /usr", f.Argv)
	}
	if !strings.Contains(" "+f.Extra["mounts"]+" ", " /usr:xfs ") {
		t.Errorf("mounts handed over: %s, want /usr:xfs", f.Extra["mounts"])
	}
	if !regexp.MustCompile(`earlyroot: /usr \(PARTLABEL=usr, /etc/fstab line 3\): /dev/vda2 \(xfs\) mounted on /usr \(ro\)`).MatchString(v.Output()) {
		t.Errorf("no log line of the /usr mount:\n%s", v.Output())
	}
}
