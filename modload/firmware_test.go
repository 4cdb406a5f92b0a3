package modload

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestParseModinfoFirmware(t *testing.T) {
	mi, err := parseModinfo([]byte("firmware=qlogic/12160.bin\x00name=qla1280\x00firmware=\x00firmware=qlogic/1280.bin\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"qlogic/12160.bin", "qlogic/1280.bin"}; !slices.Equal(mi.Firmware, want) {
		t.Errorf("firmware %q, want %q", mi.Firmware, want)
	}
}

func TestFirmwareDebian(t *testing.T) {
	dir := needKernel(t)
	got, err := Firmware(filepath.Join(dir, "kernel/drivers/scsi/qla1280.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"qlogic/12160.bin", "qlogic/1280.bin", "qlogic/1040.bin"}; !slices.Equal(got, want) {
		t.Errorf("qla1280 firmware %q, want %q", got, want)
	}
	got, err = Firmware(filepath.Join(dir, "kernel/drivers/block/virtio_blk.ko"))
	if err != nil || len(got) != 0 {
		t.Errorf("virtio_blk firmware %q, %v", got, err)
	}
	if _, err := Firmware(filepath.Join(dir, "modules.builtin")); err == nil {
		t.Error("a text file gave no error")
	}
}
