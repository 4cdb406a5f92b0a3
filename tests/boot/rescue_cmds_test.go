package boot

import (
	"testing"
	"time"

	"github.com/earlyroot/earlyroot/internal/vm"
)

// The init's own rescue commands take their arguments: at the rd.break=pre-mount prompt,
// `modprobe vfat` loads a module of the image that nothing else asked for (lsmod and
// /proc/modules then list it), and `wait UUID=…` finds the root disk and prints it as blkid
// does.
func TestRescueCommands(t *testing.T) {
	t.Parallel()
	uuid := uuidFor(76)
	v := bootVM(t, vm.Config{
		Append: "root=UUID=" + uuid + " rd.break=pre-mount",
		Drives: []vm.Drive{{Path: wholeDisk(t, rootFS(t, "ext4", uuid, "cmds")), Bus: vm.BusVirtioBlk}},
	})
	expect(t, v, `rd.break=pre-mount: stopped`, promptWait)
	expect(t, v, `earlyroot# `, 20*time.Second)

	send(t, v, "modprobe vfat")
	expect(t, v, `(^|# )vfat: loaded`, 30*time.Second)
	send(t, v, "lsmod")
	expect(t, v, `(^|# )vfat {2,}\d+`, 20*time.Second)
	send(t, v, "cat /proc/modules")
	expect(t, v, `(^|# )vfat \d+ \d+ .*Live`, 20*time.Second)

	send(t, v, "wait UUID="+uuid)
	expect(t, v, `(^|# )/dev/vda: LABEL="cmds" UUID="`+uuid+`" TYPE="ext4"`, 20*time.Second)
	send(t, v, "wait LABEL=nowhere-to-be-seen")
	expect(t, v, `earlyroot: wait: wait for LABEL=nowhere-to-be-seen: context deadline exceeded`, 40*time.Second)

	send(t, v, "continue")
	bootedOn(t, facts(t, v), "/dev/vda", "ext4")
}
