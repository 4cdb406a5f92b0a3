package vm

import (
	"regexp"
	"testing"
	"time"
)

func TestZZDebugMptsas(t *testing.T) {
	k := NeedKernel(t)
	dt := newDepTree(t, k)
	img8 := emptyImage(t, 8)
	initrd := guestInitramfs(t, dt, busModules[BusMPTSAS], "disks 1 30\necho GUEST-DONE\npoweroff -f\n")
	variants := map[string][]string{
		"pc-noid": {"-machine", "pc", "-drive", "file=" + img8 + ",if=none,id=x0,format=raw", "-device", "mptsas1068,id=m0", "-device", "scsi-hd,bus=m0.0,drive=x0"},
		"q35-id2": {"-drive", "file=" + img8 + ",if=none,id=x0,format=raw", "-device", "mptsas1068,id=m0", "-device", "scsi-hd,bus=m0.0,scsi-id=2,drive=x0"},
	}
	for name, extra := range variants {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := Boot(t, Config{Kernel: k.Image, Initrd: initrd, Append: "panic=-1 loglevel=7", ExtraArgs: extra})
			if _, err := v.Expect(regexp.MustCompile(`^GUEST-DONE`), 3*time.Minute); err != nil {
				t.Fatal(err)
			}
			t.Log(regexp.MustCompile(`(?m)^(DISK.*|DISKS-MISSING.*)$`).FindAllString(v.Output(), -1))
		})
	}
}
