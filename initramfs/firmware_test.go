package initramfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func TestReadKernelConfig(t *testing.T) {
	cases := []struct {
		name, config string
		want         FirmwareLoading
	}{
		{"debian 12", "CONFIG_FW_LOADER=y\nCONFIG_FW_LOADER_COMPRESS=y\nCONFIG_FW_LOADER_COMPRESS_XZ=y\n# CONFIG_FW_LOADER_COMPRESS_ZSTD is not set\n", FirmwareLoading{XZ: true}},
		{"both", "CONFIG_FW_LOADER_COMPRESS=y\nCONFIG_FW_LOADER_COMPRESS_XZ=y\nCONFIG_FW_LOADER_COMPRESS_ZSTD=y\n", FirmwareLoading{XZ: true, Zstd: true}},
		{"zstd only", "CONFIG_FW_LOADER_COMPRESS=y\n# CONFIG_FW_LOADER_COMPRESS_XZ is not set\nCONFIG_FW_LOADER_COMPRESS_ZSTD=y\n", FirmwareLoading{Zstd: true}},
		{"before 5.19: xz", "CONFIG_FW_LOADER_COMPRESS=y\n", FirmwareLoading{XZ: true}},
		{"no compression", "# CONFIG_FW_LOADER_COMPRESS is not set\n", FirmwareLoading{}},
		{"options without the switch", "CONFIG_FW_LOADER_COMPRESS_XZ=y\n", FirmwareLoading{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config")
			os.WriteFile(p, []byte(c.config), 0o644)
			got, err := ReadKernelConfig(p)
			if err != nil || got.Firmware != c.want {
				t.Errorf("got %+v, %v; want %+v", got.Firmware, err, c.want)
			}
		})
	}
	if _, err := ReadKernelConfig("/nonexistent/config"); err == nil {
		t.Error("missing config: no error")
	}
}

func TestKernelConfigPath(t *testing.T) {
	const kver = "0.0.0-earlyroot-test"
	dir := t.TempDir()
	for _, moddir := range []string{"lib/modules/" + kver, "usr/lib/modules/" + kver} {
		if got := kernelConfigPath(filepath.Join(dir, moddir), kver); got != "" {
			t.Errorf("%s without a config: %q", moddir, got)
		}
	}
	writeTree(t, dir, map[string]string{"boot/config-" + kver: "CONFIG_FW_LOADER=y\n"})
	for _, moddir := range []string{"lib/modules/" + kver, "usr/lib/modules/" + kver} {
		if got, want := kernelConfigPath(filepath.Join(dir, moddir), kver), filepath.Join(dir, "boot/config-"+kver); got != want {
			t.Errorf("%s: %q, want %q", moddir, got, want)
		}
	}
}

func TestFindFirmware(t *testing.T) {
	const kver = "6.1.0-1-amd64"
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.bin.xz":                   "top xz",
		"a.bin":                      "top plain",
		"updates/a.bin.zst":          "updates zst",
		"b.bin":                      "top plain",
		"updates/" + kver + "/b.bin": "updates kver",
		"updates/b.bin":              "updates",
		"c/d.fw.xz":                  "top xz",
		"c/d.fw.zst":                 "top zst",
		"dir.bin/x":                  "a directory is not firmware",
	})
	cases := []struct{ name, src, suffix string }{
		{"a.bin", "a.bin", ""}, // a plain file anywhere before a compressed one
		{"b.bin", "updates/" + kver + "/b.bin", ""},
		{"c/d.fw", "c/d.fw.zst", ".zst"},
		{"dir.bin", "", ""},
		{"missing.bin", "", ""},
	}
	for _, c := range cases {
		f, ok := findFirmware(dir, kver, c.name)
		if ok != (c.src != "") {
			t.Errorf("%s: found %v", c.name, ok)
			continue
		}
		if ok && (f.src != filepath.Join(dir, c.src) || f.suffix != c.suffix || f.name != c.name) {
			t.Errorf("%s: %+v, want %s (%q)", c.name, f, c.src, c.suffix)
		}
	}
	for _, bad := range []string{"../etc/shadow", "/etc/shadow", "a/../../b", ""} {
		if validFirmwareName(bad) {
			t.Errorf("validFirmwareName(%q) = true", bad)
		}
	}
}

func xzBytes(t *testing.T, data string) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(data))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// fixtureFirmware is a firmware tree for qla1280 (qlogic/12160.bin,
// qlogic/1280.bin, qlogic/1040.bin): one plain, one .xz, one missing.
func fixtureFirmware(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"qlogic/12160.bin":   "firmware 12160",
		"qlogic/1280.bin.xz": xzBytes(t, "firmware 1280"),
	})
	return dir
}

func TestStageFirmware(t *testing.T) {
	mod := filepath.Join(debianModDir(t), "kernel/drivers/scsi/qla1280.ko")
	fw := fixtureFirmware(t)
	for _, fl := range []FirmwareLoading{{XZ: true}, {}} {
		st, err := stageFirmware(context.Background(), fw, debianKver, fl, []string{"qla1280", "qla1280_again"}, []string{mod, mod}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		var rels []string
		got := map[string]string{}
		for _, f := range st.files {
			rels = append(rels, f.rel)
			b, _ := os.ReadFile(f.src)
			got[f.rel] = string(b)
		}
		want := map[string]string{"qlogic/12160.bin": "firmware 12160"}
		if fl.XZ {
			want["qlogic/1280.bin.xz"] = xzBytes(t, "firmware 1280")
		} else {
			want["qlogic/1280.bin"] = "firmware 1280"
		}
		if len(got) != len(want) || len(st.files) != len(want) {
			t.Errorf("%+v: files %q, want %d", fl, rels, len(want))
		}
		for rel, c := range want {
			if got[rel] != c {
				t.Errorf("%+v: %s = %q, want %q", fl, rel, got[rel], c)
			}
		}
		// One line per module with missing firmware, naming each missing file.
		if len(st.warnings) != 2 || !strings.Contains(st.warnings[0], "qla1280 ") || !strings.HasSuffix(st.warnings[0], ": qlogic/1040.bin") {
			t.Errorf("warnings %q", st.warnings)
		}
	}
}

func TestBuildFirmware(t *testing.T) {
	cfg := hostConfig(t)
	cfg.Modules = []string{"qla1280"}
	cfg.Firmware, cfg.FirmwareDir = true, fixtureFirmware(t)
	cfg.KernelConfig = filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfg.KernelConfig, []byte("CONFIG_FW_LOADER_COMPRESS=y\nCONFIG_FW_LOADER_COMPRESS_XZ=y\n"), 0o644)
	img, res := build(t, cfg)
	if want := []string{"qlogic/12160.bin", "qlogic/1280.bin.xz"}; !slices.Equal(res.Firmware, want) {
		t.Errorf("Result.Firmware %q, want %q", res.Firmware, want)
	}
	recs := readRecords(t, img)
	if r, ok := recs["lib/firmware/qlogic/12160.bin"]; !ok || string(content(t, r)) != "firmware 12160" {
		t.Error("image lacks lib/firmware/qlogic/12160.bin")
	}
	if _, ok := recs["lib/firmware/qlogic/1280.bin.xz"]; !ok {
		t.Error("image lacks lib/firmware/qlogic/1280.bin.xz")
	}
	var fwWarnings []string
	for _, w := range res.Warnings {
		if strings.Contains(w, "firmware") {
			fwWarnings = append(fwWarnings, w)
		}
	}
	if len(fwWarnings) != 1 || !strings.Contains(fwWarnings[0], "qlogic/1040.bin") {
		t.Errorf("firmware warnings %q", fwWarnings)
	}

	// Firmware off: none of it.
	cfg.Firmware = false
	img, res = build(t, cfg)
	if len(res.Firmware) != 0 || readRecords(t, img)["lib/firmware/qlogic/12160.bin"].Name != "" {
		t.Errorf("firmware off: %q", res.Firmware)
	}
}
