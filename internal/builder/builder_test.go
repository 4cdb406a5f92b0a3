package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/fixture"
)

func TestRecipesComplete(t *testing.T) {
	scripts, err := fs.Glob(recipeFS, "recipes/*.sh")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	seen := map[string]string{} // every UUID and label → the recipe holding it
	for _, r := range Recipes() {
		if r.Script == "" {
			t.Errorf("%s: no recipes/%s.sh", r.Name, r.Name)
		}
		if r.Doc() == "" {
			t.Errorf("%s: the script has no leading comment saying what the disks hold", r.Name)
		}
		used["recipes/"+r.Name+".sh"] = true
		if len(r.Disks) == 0 {
			t.Errorf("%s: no disks", r.Name)
		}
		names := map[string]bool{}
		for _, d := range r.Disks {
			if d.Name == "" || names[d.Name] || d.SizeMiB <= 0 {
				t.Errorf("%s: bad or repeated disk %+v", r.Name, d)
			}
			names[d.Name] = true
		}
		if r.FSType != "ext4" && r.FSType != "btrfs" {
			t.Errorf("%s: root fstype %q", r.Name, r.FSType)
		}
		for _, v := range []string{r.Name, r.RootUUID, r.RootLabel, r.LUKSUUID, r.MDUUID, r.VG, r.SwapUUID, r.SwapLabel, r.KeyUUID, r.KeyLabel} {
			if v == "" {
				continue
			}
			if other, ok := seen[v]; ok {
				t.Errorf("%s: %q is also %s's", r.Name, v, other)
			}
			seen[v] = r.Name
		}
		if len(r.RootLabel) > 16 || len(r.KeyLabel) > 16 {
			t.Errorf("%s: label longer than ext4's 16 bytes", r.Name)
		}
		// The facts a script uses must be given to it, and the facts given must be used.
		for _, kv := range r.env() {
			if kv[0] != "RECIPE" && kv[0] != "ROOT_UUID" && kv[0] != "ROOT_LABEL" && kv[0] != "LUKS_UUID" && kv[0] != "MD_UUID" &&
				!strings.Contains(r.Script, "$"+kv[0]) {
				t.Errorf("%s: %s is set but the script does not use it", r.Name, kv[0])
			}
		}
		if strings.Contains(r.Script, "luks_format") && r.LUKSUUID == "" {
			t.Errorf("%s: formats LUKS without a LUKS UUID", r.Name)
		}
		if strings.Contains(r.Script, "md_create") && r.MDUUID == "" {
			t.Errorf("%s: creates an array without an MD UUID", r.Name)
		}
		if strings.Contains(r.Script, "$VG") && r.VG == "" {
			t.Errorf("%s: uses $VG without a VG", r.Name)
		}
	}
	for _, s := range scripts {
		if !used[s] {
			t.Errorf("%s belongs to no recipe", s)
		}
	}
	if _, ok := Lookup("md-raid1-1.2"); !ok {
		t.Error("Lookup(md-raid1-1.2) found nothing")
	}
	if _, ok := Lookup("nonesuch"); ok {
		t.Error("Lookup(nonesuch) found a recipe")
	}
}

func TestKey(t *testing.T) {
	r, _ := Lookup("lvm-linear")
	base := key(keyInputs(r, "6.1.0-57-amd64", []byte("root")))
	if again := key(keyInputs(r, "6.1.0-57-amd64", []byte("root"))); again != base {
		t.Fatalf("key not stable: %s, then %s", base, again)
	}
	if len(base) != 16 {
		t.Errorf("key %q: want 16 hex digits", base)
	}
	script, size, disk, fact, cpus := r, r, r, r, r
	cpus.CPUs = 4
	script.Script += "\ntrue\n"
	size.Disks = []DiskSpec{{"pv0", 65}}
	disk.Disks = []DiskSpec{{"pv", 64}}
	fact.RootUUID = uuid("f500", 99)
	other, _ := Lookup("lvm-striped")
	for _, c := range []struct {
		what string
		r    Recipe
		kver string
		root string
	}{
		{"script", script, "6.1.0-57-amd64", "root"},
		{"disk size", size, "6.1.0-57-amd64", "root"},
		{"disk name", disk, "6.1.0-57-amd64", "root"},
		{"fact", fact, "6.1.0-57-amd64", "root"},
		{"cpus", cpus, "6.1.0-57-amd64", "root"},
		{"recipe", other, "6.1.0-57-amd64", "root"},
		{"kernel", r, "6.1.0-58-amd64", "root"},
		{"test root", r, "6.1.0-57-amd64", "root2"},
	} {
		if k := key(keyInputs(c.r, c.kver, []byte(c.root))); k == base {
			t.Errorf("changing the %s leaves the key %s", c.what, k)
		}
	}
	in := strings.Join(keyInputs(r, "k", nil), "\n")
	for _, want := range []string{"builder ", "kernel k", "init ", "lib ", "script ", "disk pv0 64MiB", "env "} {
		if !strings.Contains(in, want) {
			t.Errorf("key inputs lack %q:\n%s", want, in)
		}
	}
}

func TestSharedObjects(t *testing.T) {
	cs, err := hostPath("cryptsetup")
	if err != nil {
		t.Skipf("skipping: %v (cryptsetup-bin)", err)
	}
	objs, err := sharedObjects([]string{cs}, libDirs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for dst, src := range objs {
		if _, err := os.Stat(src); err != nil {
			t.Errorf("%s → %s: %v", dst, src, err)
		}
		names = append(names, filepath.Base(dst))
	}
	for _, want := range []string{"libcryptsetup.so.12", "libc.so.6", "libdevmapper.so.1.02.1", "ld-linux-x86-64.so.2",
		"libpcre2-8.so.0"} { // the last through libselinux: needed recursively
		if !slices.Contains(names, want) {
			t.Errorf("cryptsetup: %s missing from %v", want, names)
		}
	}
	if _, err := sharedObjects([]string{cs}, []string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "cryptsetup needs lib") {
		t.Errorf("no library directory: error %v, want one naming the missing library", err)
	}
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if _, err := sharedObjects([]string{notELF}, libDirs); err == nil {
		t.Error("a shell script: no error")
	}
	if bb, err := hostPath("busybox"); err == nil {
		if interp, needed, err := elfNeeds(bb); err == nil && interp == "" && len(needed) == 0 {
			objs, err := sharedObjects([]string{bb}, libDirs)
			if err != nil || len(objs) != 0 {
				t.Errorf("static busybox: %v, %v; want nothing", objs, err)
			}
		}
	}
}

func TestTarTree(t *testing.T) {
	mk := func(umask int) string {
		old := syscall.Umask(umask)
		defer syscall.Umask(old)
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "sbin"), 0o777)
		os.Mkdir(filepath.Join(dir, "tmp"), 0o777)
		os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky)
		os.WriteFile(filepath.Join(dir, "sbin", "init"), []byte("ELF"), 0o777)
		os.WriteFile(filepath.Join(dir, "hostname"), []byte("h\n"), 0o666)
		os.Symlink("sbin/init", filepath.Join(dir, "init"))
		return dir
	}
	a, err := tarTree(mk(0o022))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarTree(mk(0o077))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the archive depends on the umask")
	}
	want := map[string]string{"hostname": "-rw-r--r--", "init": "Lrwxrwxrwx", "sbin/": "drwxr-xr-x",
		"sbin/init": "-rwxr-xr-x", "tmp/": "dtrwxrwxrwx"}
	tr := tar.NewReader(bytes.NewReader(a))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(payloadTime) {
			t.Errorf("%s: owner %d:%d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		got[h.Name] = h.FileInfo().Mode().String()
	}
	for n, m := range want {
		if got[n] != m {
			t.Errorf("%s: mode %q, want %q", n, got[n], m)
		}
	}
	fifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifo, "p"), 0o644); err != nil {
		t.Skip(err)
	}
	if _, err := tarTree(fifo); err == nil {
		t.Error("a FIFO in the tree: no error")
	}
}

func TestKeepEnds(t *testing.T) {
	for _, size := range []int{6 << 20, 512 << 10} {
		dir := t.TempDir()
		img := filepath.Join(dir, "d.img")
		data := make([]byte, size)
		for i := range data {
			if i%(1<<16) < 1000 { // zero runs, to exercise the holes
				data[i] = byte(i*7 + i/4096)
			}
		}
		os.WriteFile(img, data, 0o644)
		if err := keepEnds(img, img+".head", img+".tail"); err != nil {
			t.Fatal(err)
		}
		head, _ := os.ReadFile(img + ".head")
		tail, _ := os.ReadFile(img + ".tail")
		if !bytes.Equal(head, data[:min(size, HeadBytes)]) {
			t.Errorf("size %d: head differs (%d bytes)", size, len(head))
		}
		if !bytes.Equal(tail, data[max(0, size-TailBytes):]) {
			t.Errorf("size %d: tail differs (%d bytes)", size, len(tail))
		}
	}
}

func TestEnvScript(t *testing.T) {
	r := Recipe{Name: "x", RootUUID: "u", VG: "it's", Disks: []DiskSpec{{Name: "a"}, {Name: "b"}}}
	s := string(envScript(r))
	for _, want := range []string{"export RECIPE='x'\n", "export ROOT_UUID='u'\n", `export VG='it'\''s'` + "\n",
		"export DISKS='/dev/vda /dev/vdb'\n", "export ROOT_TAR='/dev/vdc'\n", "export PASS='" + Passphrase + "'\n",
		"printf %s '" + KeyfileContent + "' >/tmp/keyfile\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("env.sh lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "LUKS_UUID") {
		t.Errorf("env.sh sets a fact the recipe does not have:\n%s", s)
	}
}

func TestPrune(t *testing.T) {
	cache := t.TempDir()
	r, _ := Lookup("md-raid1-1.2")
	o := Options{Kernel: fixtureKernel("6.1.0-57-amd64"), CacheDir: cache, RootTar: []byte("root")}
	cur := filepath.Base(setDir(r, o))
	names := []string{cur, cur + ".lock", "md-raid1-1.2-0123456789abcdef", "md-raid1-1.2-0123456789abcdef.lock",
		"md-raid1-1.2-0123456789abcdef.failed.log", "md-raid1-1.1-0123456789abcdef", "md-raid1-1.2-extra", ".build-md-raid1-1.2-1",
		".build-md-raid1-1.2-2", ".build-md-raid1-1.1-3",
		"md-raid1-1.2-fedcba9876543210", "md-raid1-1.2-fedcba9876543210.lock"} // another checkout's, in use
	for _, n := range names {
		os.MkdirAll(filepath.Join(cache, "disks"), 0o755)
		os.WriteFile(filepath.Join(cache, "disks", n), nil, 0o644)
	}
	old, older := time.Now().Add(-time.Hour), time.Now().Add(-2*pruneAfter)
	for _, n := range []string{".build-md-raid1-1.2-2", ".build-md-raid1-1.1-3"} { // killed builds
		os.Chtimes(filepath.Join(cache, "disks", n), old, old)
	}
	for _, n := range []string{cur, "md-raid1-1.2-0123456789abcdef", "md-raid1-1.2-0123456789abcdef.lock",
		"md-raid1-1.2-0123456789abcdef.failed.log", "md-raid1-1.1-0123456789abcdef", "md-raid1-1.2-fedcba9876543210.lock"} {
		os.Chtimes(filepath.Join(cache, "disks", n), older, older)
	}
	removed, err := Prune(r, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".build-md-raid1-1.2-2", "md-raid1-1.2-0123456789abcdef", "md-raid1-1.2-0123456789abcdef.failed.log",
		"md-raid1-1.2-0123456789abcdef.lock"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, n := range names {
		_, err := os.Stat(filepath.Join(cache, "disks", n))
		if gone := err != nil; gone != slices.Contains(want, n) {
			t.Errorf("%s: removed %v", n, gone)
		}
	}
}

func fixtureKernel(release string) fixture.Kernel {
	return fixture.Kernel{Image: "/nonexistent/vmlinuz-" + release, Release: release}
}

// TestLibPrefersRealTools runs lib.sh in the host's busybox shell: the tools in /usr/sbin
// must win over busybox's applets of the same name.
func TestLibPrefersRealTools(t *testing.T) {
	bb, err := hostPath("busybox")
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	if _, err := os.Stat("/usr/sbin/mkswap"); err != nil {
		t.Skipf("skipping: %v", err)
	}
	lib := filepath.Join(t.TempDir(), "lib.sh")
	os.WriteFile(lib, []byte(guestLib), 0o644)
	out, err := exec.Command(bb, "sh", "-c", ". "+lib+" 2>/dev/null; type mkswap; type mkroot").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), "mkswap is a function") || !strings.Contains(string(out), "mkroot is a function") {
		t.Errorf("mkswap is not the real tool's wrapper:\n%s", out)
	}
}

func TestUnchanged(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "a.img")
	data := bytes.Repeat([]byte("earlyroot"), 300000) // more than one read
	os.WriteFile(orig, data, 0o644)
	s := &Set{Recipe: Recipe{Disks: []DiskSpec{{"a", 1}}}, Disks: []string{orig}}
	copies := s.Copies(t)
	if err := s.Unchanged(copies); err != nil {
		t.Fatalf("fresh copy: %v", err)
	}
	f, _ := os.OpenFile(copies[0], os.O_WRONLY, 0)
	f.WriteAt([]byte{'X'}, 2000000)
	f.Close()
	if err := s.Unchanged(copies); err == nil || !strings.Contains(err.Error(), "at byte 2000000") {
		t.Errorf("one byte changed: %v", err)
	}
	os.Truncate(copies[0], int64(len(data)-1))
	if err := s.Unchanged(copies); err == nil {
		t.Error("a shorter copy: no error")
	}
	if err := s.Unchanged(nil); err == nil {
		t.Error("no copies: no error")
	}
}

// FuzzElfNeeds feeds arbitrary bytes to the ELF reader behind sharedObjects: an error or an
// answer, never a panic.
func FuzzElfNeeds(f *testing.F) {
	if cs, err := hostPath("cryptsetup"); err == nil {
		if b, err := os.ReadFile(cs); err == nil && len(b) > 0 {
			f.Add(b[:min(len(b), 8192)])
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		elfNeeds(p)
	})
}

// TestCachedSet checks the lookup of a set in the cache: found only when the manifest and
// every file are there, with the paths in recipe order.
func TestCachedSet(t *testing.T) {
	r, _ := Lookup("lvm-striped")
	o := Options{Kernel: fixtureKernel("6.1.0-57-amd64"), CacheDir: t.TempDir(), RootTar: []byte("root")}
	dir := setDir(r, o)
	if _, ok := Cached(r, o); ok {
		t.Fatal("an empty cache has the set")
	}
	os.MkdirAll(dir, 0o755)
	var files []string
	for _, d := range r.Disks {
		for _, ext := range []string{".img", ".head", ".tail"} {
			files = append(files, filepath.Join(dir, d.Name+ext))
		}
	}
	files = append(files, filepath.Join(dir, "build.log"))
	for _, f := range files {
		os.WriteFile(f, nil, 0o644)
	}
	if _, ok := Cached(r, o); ok {
		t.Fatal("a set without a manifest is found")
	}
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"recipe":"lvm-striped","key":"`+key(keyInputs(r, "6.1.0-57-amd64", []byte("root")))+`"}`), 0o644)
	s, err := Build(context.Background(), r, o) // cached: no VM
	if err != nil {
		t.Fatal(err)
	}
	if s.Path("pv1") != filepath.Join(dir, "pv1.img") || s.Disks[0] != filepath.Join(dir, "pv0.img") || s.Key != filepath.Base(dir)[len(r.Name)+1:] {
		t.Errorf("set %+v", s)
	}
	os.Remove(files[4]) // pv1.head
	if _, ok := Cached(r, o); ok {
		t.Error("a set missing a head is found")
	}
}
