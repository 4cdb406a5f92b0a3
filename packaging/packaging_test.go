// Package packaging holds the files that install earlyroot into a distribution: Debian's
// kernel hooks, the kernel-install plugin and the Debian package's control files. The
// Makefile's install and deb targets put them in place; this test runs the hooks as the
// kernel packages and kernel-install do.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/earlyroot/earlyroot/initramfs"
	"github.com/earlyroot/earlyroot/internal/fixture"
)

// fakeGenerator is a mkinitramfs that records its arguments and writes its -o file.
const fakeGenerator = `#!/bin/sh
echo "$@" >"$ARGS_LOG"
while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo image >"$2"; exit 0; }; shift; done
exit 3
`

// hook runs a packaging script with env added to a clean environment.
func hook(t *testing.T, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "EARLYROOT_FORCE=1"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The package's postrm removes mkinitramfs's module cache on purge, and only then.
func TestDebianPurgeRemovesCache(t *testing.T) {
	root := t.TempDir()
	entry := filepath.Join(root, "var/cache/earlyroot/modules/ab/x.zst")
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"DPKG_ROOT=" + root}
	for _, action := range []string{"remove", "upgrade"} {
		if out, err := hook(t, "debian/postrm", env, action); err != nil {
			t.Fatalf("postrm %s: %v\n%s", action, err, out)
		}
		if _, err := os.Stat(entry); err != nil {
			t.Fatalf("postrm %s removed the cache: %v", action, err)
		}
	}
	if out, err := hook(t, "debian/postrm", env, "purge"); err != nil {
		t.Fatalf("postrm purge: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "var/cache/earlyroot")); !os.IsNotExist(err) {
		t.Errorf("the cache after purge: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/cache")); err != nil {
		t.Errorf("purge removed more than the cache: %v", err)
	}
}

func TestDebianHooks(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	if err := os.WriteFile(gen, []byte(fakeGenerator), 0o755); err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(dir, "boot")
	if err := os.Mkdir(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	argsLog := filepath.Join(dir, "args")
	env := []string{"EARLYROOT_MKINITRAMFS=" + gen, "ARGS_LOG=" + argsLog, "EARLYROOT_FLAGS=-hostonly=false -v"}
	initrd := filepath.Join(boot, "initrd.img-6.1.0-99-amd64")

	if out, err := hook(t, "kernel/postinst.d/zz-earlyroot", env, "6.1.0-99-amd64", filepath.Join(boot, "vmlinuz-6.1.0-99-amd64")); err != nil {
		t.Fatalf("postinst: %v\n%s", err, out)
	}
	if _, err := os.Stat(initrd); err != nil {
		t.Fatalf("postinst made no image: %v", err)
	}
	args, _ := os.ReadFile(argsLog)
	if want := "-kver 6.1.0-99-amd64 -o " + initrd + " -hostonly=false -v\n"; string(args) != want {
		t.Errorf("generator args = %q, want %q", args, want)
	}

	os.Remove(argsLog)
	if out, err := hook(t, "kernel/postinst.d/zz-earlyroot", append(env, "INITRD=No"), "6.1.0-98-amd64", filepath.Join(boot, "vmlinuz-6.1.0-98-amd64")); err != nil {
		t.Fatalf("postinst with INITRD=No: %v\n%s", err, out)
	}
	if _, err := os.Stat(argsLog); err == nil {
		t.Error("INITRD=No: the generator ran")
	}
	// Without EARLYROOT_FORCE the hooks leave the images to initramfs-tools when it is
	// installed: on this host, the generator runs exactly when update-initramfs is absent.
	fi, err := os.Stat("/usr/sbin/update-initramfs")
	hasUpdate := err == nil && fi.Mode()&0o111 != 0
	os.Remove(argsLog)
	if out, err := hook(t, "kernel/postinst.d/zz-earlyroot", append(env, "EARLYROOT_FORCE="), "6.1.0-97-amd64", filepath.Join(boot, "vmlinuz-6.1.0-97-amd64")); err != nil {
		t.Fatalf("postinst without EARLYROOT_FORCE: %v\n%s", err, out)
	}
	if _, err := os.Stat(argsLog); (err == nil) == hasUpdate {
		t.Errorf("update-initramfs installed %v, yet the generator ran %v", hasUpdate, err == nil)
	}
	if out, err := hook(t, "kernel/postinst.d/zz-earlyroot", env); err == nil {
		t.Errorf("postinst without a version succeeded:\n%s", out)
	}

	if out, err := hook(t, "kernel/postrm.d/zz-earlyroot", env, "6.1.0-99-amd64", filepath.Join(boot, "vmlinuz-6.1.0-99-amd64")); err != nil {
		t.Fatalf("postrm: %v\n%s", err, out)
	}
	if _, err := os.Stat(initrd); !os.IsNotExist(err) {
		t.Errorf("postrm left the image: %v", err)
	}
}

func TestKernelInstallPlugin(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	if err := os.WriteFile(gen, []byte(fakeGenerator), 0o755); err != nil {
		t.Fatal(err)
	}
	entry, staging := filepath.Join(dir, "entry"), filepath.Join(dir, "staging")
	for _, d := range []string{entry, staging} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"EARLYROOT_MKINITRAMFS=" + gen, "ARGS_LOG=" + filepath.Join(dir, "args")}
	plugin := "kernel-install/50-earlyroot.install"
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		want  string // the image made, "" for none
		fails bool
	}{
		{"entry dir", nil, []string{"add", "6.12.1", entry, "/vmlinuz"}, filepath.Join(entry, "initrd"), false},
		{"staging area", []string{"KERNEL_INSTALL_STAGING_AREA=" + staging}, []string{"add", "6.12.1", entry, "/vmlinuz"}, filepath.Join(staging, "initrd"), false},
		{"prebuilt initrd given", nil, []string{"add", "6.12.2", entry, "/vmlinuz", "/prebuilt"}, "", false},
		{"another generator chosen", []string{"KERNEL_INSTALL_INITRD_GENERATOR=dracut"}, []string{"add", "6.12.1", entry, "/vmlinuz"}, "", false},
		{"earlyroot chosen", []string{"KERNEL_INSTALL_INITRD_GENERATOR=earlyroot"}, []string{"add", "6.12.1", entry, "/vmlinuz"}, filepath.Join(entry, "initrd"), false},
		{"kernel is a UKI", []string{"KERNEL_INSTALL_IMAGE_TYPE=uki"}, []string{"add", "6.12.1", entry, "/vmlinuz"}, "", false},
		{"remove", nil, []string{"remove", "6.12.1", entry}, "", false},
		{"no version", nil, []string{"add"}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(filepath.Join(entry, "initrd"))
			os.Remove(filepath.Join(staging, "initrd"))
			out, err := hook(t, plugin, append(env, c.env...), c.args...)
			if (err != nil) != c.fails {
				t.Fatalf("err = %v, want failure %v\n%s", err, c.fails, out)
			}
			for _, p := range []string{filepath.Join(entry, "initrd"), filepath.Join(staging, "initrd")} {
				_, err := os.Stat(p)
				if made := err == nil; made != (p == c.want) {
					t.Errorf("%s made = %v, want %v", p, made, p == c.want)
				}
			}
		})
	}
}

// TestHookMakesBootableImage runs the postinst hook with the real generator on the test
// kernel's module tree: the image it leaves is an initramfs holding the init.
func TestHookMakesBootableImage(t *testing.T) {
	k := fixture.NeedKernel(t)
	root, err := fixture.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(root, "build", "mkinitramfs")
	if _, err := os.Stat(filepath.Join(root, "build", "init")); err != nil {
		t.Skipf("skipping: no build/init (make build first): %v", err)
	}
	boot := t.TempDir()
	env := []string{"EARLYROOT_MKINITRAMFS=" + gen,
		"EARLYROOT_FLAGS=-moddir " + k.ModDir + " -config " + t.TempDir() + " -microcode=false -firmware=false"}
	out, err := hook(t, "kernel/postinst.d/zz-earlyroot", env, k.Release, filepath.Join(boot, "vmlinuz-"+k.Release))
	if err != nil {
		t.Fatalf("postinst: %v\n%s", err, out)
	}
	img := filepath.Join(boot, "initrd.img-"+k.Release)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := initramfs.ImageRecords(data)
	if err != nil {
		t.Fatalf("%s: %v", img, err)
	}
	for _, want := range []string{"init", "lib/modules/" + k.Release + "/modules.earlyroot"} {
		if _, ok := recs[want]; !ok {
			t.Errorf("image lacks %s (%d entries)", want, len(recs))
		}
	}
}
