package builder

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// These tests check the built sets from the host, with the real tools where they work on
// plain files (cryptsetup, mdadm, btrfs): each needs its set built (make disks), or builds it.

// hostTool returns the path of a host tool or skips the test.
func hostTool(t *testing.T, name string) string {
	t.Helper()
	p, err := hostPath(name)
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	return p
}

// run runs a tool with stdin and returns its combined output and whether it succeeded.
func run(stdin string, name string, args ...string) (string, bool) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// hexOnly keeps the hex digits of a UUID, however a tool prints it.
func hexOnly(s string) string {
	return strings.ToLower(regexp.MustCompile(`[^0-9a-fA-F]`).ReplaceAllString(s, ""))
}

func TestLUKSSets(t *testing.T) {
	cs := hostTool(t, "cryptsetup")
	for _, c := range []struct {
		recipe string
		dump   []string   // in luksDump's output
		open   []string   // options with which Passphrase opens the volume
		refuse [][]string // options with which it must not
	}{
		{"luks2-argon2id", []string{"Version:       \t2", "PBKDF:      argon2id", "Memory:     32768", "Time cost:  4", "Threads:    4"}, nil, nil},
		{"luks2-pbkdf2", []string{"Version:       \t2", "sector: 4096 [bytes]", "PBKDF:      pbkdf2"}, nil, nil},
		{"luks1", []string{"Version:       \t1", "Cipher name:   \taes", "Cipher mode:   \txts-plain64", "Hash spec:     \tsha256"}, nil, nil},
		{"luks2-serpent", []string{"cipher: serpent-xts-plain64"}, nil, nil},
		{"luks2-keyslot3", []string{"  3: luks2", "  1: luks2", "PBKDF:      argon2i"},
			[]string{"--key-slot", "3"}, [][]string{{"--key-slot", "0"}, {"--key-slot", "1"}, {"--key-slot", "2"}}},
		{"luks2-keyfile", []string{"  0: luks2", "  1: luks2"}, []string{"--key-slot", "1"}, [][]string{{"--key-slot", "0"}}},
		{"lvm-on-luks", []string{"PBKDF:      argon2id"}, nil, nil},
	} {
		t.Run(c.recipe, func(t *testing.T) {
			s := Disk(t, c.recipe)
			img := s.Path("luks")
			for _, f := range []string{img, s.Heads[0]} {
				out, ok := run("", cs, "luksDump", f)
				if !ok {
					t.Fatalf("luksDump %s: %s", f, out)
				}
				for _, want := range append(c.dump, "UUID:          \t"+s.Recipe.LUKSUUID) {
					if !strings.Contains(out, want) {
						t.Errorf("luksDump %s lacks %q:\n%s", f, want, out)
					}
				}
			}
			test := func(pass string, extra ...string) (string, bool) {
				return run(pass, cs, append(append([]string{"open", "--test-passphrase", "--key-file=-"}, extra...), img)...)
			}
			if out, ok := test(Passphrase, c.open...); !ok {
				if strings.Contains(out, "Cannot use") {
					t.Skipf("skipping the passphrase check: the host kernel lacks the cipher (tests/boot TestLUKS opens the set under the test kernel): %s", out)
				}
				t.Errorf("the test passphrase does not open %s: %s", img, out)
			}
			if _, ok := test("wrong-passphrase"); ok {
				t.Errorf("a wrong passphrase opens %s", img)
			}
			for _, r := range c.refuse {
				if _, ok := test(Passphrase, r...); ok {
					t.Errorf("the test passphrase opens %s with %v", img, r)
				}
			}
		})
	}
	t.Run("keyslot3-others", func(t *testing.T) {
		s := Disk(t, "luks2-keyslot3")
		for i, p := range OtherPassphrases {
			if out, ok := run(p, cs, "open", "--test-passphrase", "--key-file=-", "--key-slot", string(rune('0'+i)), s.Disks[0]); !ok {
				t.Errorf("%q does not open keyslot %d: %s", p, i, out)
			}
		}
	})
	t.Run("keyfile", func(t *testing.T) {
		s := Disk(t, "luks2-keyfile")
		kf := filepath.Join(t.TempDir(), "key")
		os.WriteFile(kf, []byte(KeyfileContent), 0o600)
		if out, ok := run("", cs, "open", "--test-passphrase", "--key-file", kf, "--key-slot", "0", s.Path("luks")); !ok {
			t.Errorf("the key file does not open keyslot 0: %s", out)
		}
		// The key disk is a plain ext4 image holding the key file.
		if out, ok := run("", hostTool(t, "debugfs"), "-R", "cat "+KeyfileName, s.Path("keys")); !ok || !strings.Contains(out, KeyfileContent) {
			t.Errorf("key disk: %s", out)
		}
		if out, _ := run("", hostTool(t, "blkid"), "-p", "-o", "export", s.Path("keys")); !strings.Contains(out, "UUID="+s.Recipe.KeyUUID) ||
			!strings.Contains(out, "LABEL="+s.Recipe.KeyLabel) {
			t.Errorf("key disk blkid:\n%s", out)
		}
	})
}

func TestMDSets(t *testing.T) {
	md := hostTool(t, "mdadm")
	for _, c := range []struct {
		recipe, version, level string
		tail                   bool // the superblock is at the end
	}{
		{"md-raid1-1.2", "1.2", "raid1", false},
		{"md-raid1-1.1", "1.1", "raid1", false},
		{"md-raid1-1.0", "1.0", "raid1", true},
		{"md-raid1-0.90", "0.90", "raid1", true},
		{"md-raid5", "1.2", "raid5", false},
		{"luks-on-md", "1.2", "raid1", false},
		{"lvm-on-md", "1.2", "raid1", false},
	} {
		t.Run(c.recipe, func(t *testing.T) {
			s := Disk(t, c.recipe)
			for i, img := range s.Disks {
				out, ok := run("", md, "--examine", img)
				if !ok {
					t.Fatalf("mdadm --examine %s: %s", img, out)
				}
				m := regexp.MustCompile(`(?m)^\s*(?:Array )?UUID : (\S+)`).FindStringSubmatch(out)
				if m == nil || hexOnly(m[1]) != hexOnly(s.Recipe.MDUUID) {
					t.Errorf("%s: array UUID %v, want %s:\n%s", img, m, s.Recipe.MDUUID, out)
				}
				for _, want := range []string{"Version : " + c.version, "Raid Level : " + c.level, "State : clean"} {
					if !strings.Contains(out, want) {
						t.Errorf("%s lacks %q:\n%s", img, want, out)
					}
				}
				// The kept head or tail holds the superblock (its magic, little-endian for
				// 1.x; 0.90 here too, as the guest is little-endian).
				part, region := s.Heads[i], [2]int{0, 8192}
				if c.tail {
					part, region = s.Tails[i], [2]int{TailBytes - 128<<10, TailBytes}
				}
				b, err := os.ReadFile(part)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(b[region[0]:region[1]], []byte{0xfc, 0x4e, 0x2b, 0xa9}) {
					t.Errorf("%s: no MD superblock magic in bytes %d-%d", part, region[0], region[1])
				}
			}
		})
	}
}

func TestLVMSets(t *testing.T) {
	for _, name := range []string{"lvm-linear", "lvm-striped", "lvm-thin", "lvm-raid1", "lvm-snapshot"} {
		t.Run(name, func(t *testing.T) {
			s := Disk(t, name)
			for _, h := range s.Heads {
				b, err := os.ReadFile(h)
				if err != nil {
					t.Fatal(err)
				}
				// The PV label is in sector 1; the metadata area after it names the VG.
				if !bytes.Equal(b[512:520], []byte("LABELONE")) {
					t.Errorf("%s: no LVM label in sector 1", h)
				}
				if !bytes.Contains(b[:1<<20], []byte(s.Recipe.VG+" {")) {
					t.Errorf("%s: no metadata of VG %s in the first MiB", h, s.Recipe.VG)
				}
			}
		})
	}
}

func TestBtrfsSet(t *testing.T) {
	bt := hostTool(t, "btrfs")
	s := Disk(t, "btrfs-raid1")
	for _, img := range s.Disks {
		out, ok := run("", bt, "inspect-internal", "dump-super", img)
		if !ok {
			t.Fatalf("dump-super %s: %s", img, out)
		}
		for _, want := range []string{"fsid\t\t\t" + s.Recipe.RootUUID, "label\t\t\t" + s.Recipe.RootLabel, "num_devices\t\t2"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", img, want, out)
			}
		}
	}
}
