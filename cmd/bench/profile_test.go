package main

import (
	"strings"
	"testing"

	"github.com/earlyroot/earlyroot/internal/guestprof"
)

func TestPhaseTracker(t *testing.T) {
	var p phaseTracker
	steps := []struct {
		write string
		want  int
	}{
		{"[ 0.9] Trying to unpack rootfs image as initramfs...\n", 1},
		{"[ 1.0] Freeing initrd memory: 10088K\n[ 1.0] Freeing unused kernel memory\n[ 1.1] Run /in", 2},
		{"it as init process\n", 3},
		{"[ 1.2] earlyroot: waiting up to 30s\n", 3}, // not the next mark: the init's phases go in order
		{"[ 1.2] earlyroot: earlyroot starting (kernel 6.1)\r\n[ 1.3] earlyroot: waiting up to 30s for root=UUID=x\n", 5},
		{"[ 1.5] earlyroot: wait for root took 99 ms\n[ 1.6] earlyroot: root /dev/vda mounted; switching to /sbin/init\n", 7},
		{"Run /init as init process\n", 7},
	}
	for _, s := range steps {
		p.Write([]byte(s.write))
		if got := p.current(); got != s.want {
			t.Fatalf("after %q: phase %d, want %d", s.write, got, s.want)
		}
	}
}

// A kernel that prints neither unpacking message (no initramfs message, or a quieter
// kernel) still gets the init's phases: the tracker passes over the kernel's marks.
func TestPhaseTrackerWithoutKernelMarks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines string
		want  int
	}{
		{"neither", "[ 1.1] Run /init as init process\n", 3},
		{"no unpack start", "[ 1.0] Freeing initrd memory: 676K\n", 2},
		{"no unpack end", "[ 0.9] Trying to unpack rootfs image as initramfs...\n[ 1.1] Run /init as init process\n", 3},
		{"an init mark first", "[ 1.2] earlyroot: earlyroot starting\n", 0},
	} {
		var p phaseTracker
		p.Write([]byte(tc.lines))
		if got := p.current(); got != tc.want {
			t.Errorf("%s: phase %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kernel bool
		want   string
	}{
		{"sha256_update", true, classSignature},
		{"mpihelp_submul_1", true, classSignature},
		{"load_module", true, classKernel},
		{"rsa_verify", true, classSignature},
		{"pkcs1pad_verify", true, classSignature},
		{"vli_mmod_fast.isra.0", true, classSignature},
		{"ecdsa_verify", true, classSignature},
		{"xz_dec_lzma2_run", true, classDecompress},
		{"lzma_main", true, classDecompress},
		{"dict_repeat", true, classDecompress},
		{"ZSTD_decompressSequences", true, classDecompress},
		{"universal_handler", true, classKernel}, // "rsa" inside a word is not RSA
		{guestprof.KernelModule, true, classModuleCode},
		{guestprof.KernelOther, true, classKernel},
		{"runtime.mallocgc", false, classRuntime},
		{"internal/runtime/maps.NewMap", false, classRuntime},
		{"github.com/earlyroot/earlyroot/modload.unmarshal", false, classEarlyroot},
		{"fmt.(*pp).doPrintf", false, classLibrary},
		{"github.com/klauspost/compress/zstd.(*Decoder).DecodeAll", false, classLibrary},
		{guestprof.UserOther, false, classOther},
	} {
		if got := classify(tc.name, tc.kernel); got != tc.want {
			t.Errorf("classify(%q, %v) = %q, want %q", tc.name, tc.kernel, got, tc.want)
		}
	}
}

// testKernelNames names three kernel functions: _text, sha256_update at 0xffffffff81100000
// and load_module at 0xffffffff81200000.
func testKernelNames(t *testing.T) guestprof.Names {
	t.Helper()
	kernel, err := guestprof.ParseKallsyms(strings.NewReader(
		"ffffffff81000000 T _text\nffffffff81100000 T sha256_update\nffffffff81200000 T load_module\n"))
	if err != nil {
		t.Fatal(err)
	}
	return guestprof.Names{Kernel: kernel}
}

func TestProfileTable(t *testing.T) {
	names := testKernelNames(t)
	p := newImageProfile("generic")
	// Two boots: the kernel's unpacking (phase 1) has 3 samples in load_module, counted in
	// its own row but not in the init stage's total; phase 3 (exec…) has 4 samples, 2 in
	// sha256_update, 1 in load_module, 1 in user space outside the program; phase 6
	// (mount) has 4 samples in sha256_update. Samples before the first mark (phase 0)
	// and after the last (7) are not counted.
	for range 2 {
		p.add([]guestprof.Sample{
			{PC: 0xffffffff81000010, Phase: 0},
			{PC: 0xffffffff81200010, Phase: 1}, {PC: 0xffffffff81200010, Phase: 1}, {PC: 0xffffffff81200010, Phase: 1},
			{PC: 0xffffffff81100010, Phase: 3}, {PC: 0xffffffff81100020, Phase: 3},
			{PC: 0xffffffff81200010, Phase: 3}, {PC: 0x401000, Phase: 3},
			{PC: 0xffffffff81100010, Phase: 6}, {PC: 0xffffffff81100010, Phase: 6},
			{PC: 0xffffffff81100010, Phase: 7},
		}, names)
	}
	p.errs = []string{"boot 3: console never showed it"}
	out := ProfileTable([]*imageProfile{p})
	for _, want := range []string{
		"## generic (2 boots)",
		"- failed: boot 3: console never showed it",
		"| kernel: unpacking the image | 3 | 0% | 0% | 0% | 100% | 0% | 0% | 0% | 0% |",
		"| kernel: after the unpacking, until /init | 0 | – |",
		"| exec, Go runtime start, API mounts, log | 4 | 50% | 0% | 0% | 25% | 0% | 0% | 0% | 25% |",
		"| module index, discovery start | 0 | – |",
		"| mount (the filesystem's modules, mount) | 2 | 100% | 0% | 0% |",
		"| **/init to switch_root** | 6 | 67% | 0% | 0% | 17% | 0% | 0% | 0% | 17% |",
		"| `sha256_update` | " + classSignature + " | 67% |",
		"| `load_module` | " + classKernel + " | 17% |",
		"- kernel: unpacking the image: `load_module` 100%\n",
		"- exec, Go runtime start, API mounts, log: `sha256_update` 50%, `[user]` 25%, `load_module` 25%\n",
		"- module index, discovery start: no samples\n",
		"- mount (the filesystem's modules, mount): `sha256_update` 100%\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("profile.md lacks %q:\n%s", want, out)
		}
	}
}

func TestProfileTSV(t *testing.T) {
	names := testKernelNames(t)
	p := newImageProfile("generic")
	// Two boots; the second has one more load_module sample in phase 3.
	p.add([]guestprof.Sample{{PC: 0xffffffff81100010, Phase: 3}, {PC: 0xffffffff81200010, Phase: 6}}, names)
	p.add([]guestprof.Sample{{PC: 0xffffffff81200010, Phase: 3}, {PC: 0xffffffff81200010, Phase: 3}}, names)
	empty := newImageProfile("host-only")
	want := "image\tphase\tfunction\tclass\tsamples per boot\n" +
		"generic\texec, Go runtime start, API mounts, log\tload_module\t" + classKernel + "\t1.00\n" +
		"generic\texec, Go runtime start, API mounts, log\tsha256_update\t" + classSignature + "\t0.50\n" +
		"generic\tmount (the filesystem's modules, mount)\tload_module\t" + classKernel + "\t0.50\n"
	if got := ProfileTSV([]*imageProfile{p, empty}); got != want {
		t.Errorf("ProfileTSV:\n%s\nwant\n%s", got, want)
	}
}

func TestInitArg(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "x", "-init", "build/init"}, "build/init"},
		{[]string{"-init", "build/init", "-v", "-init", "/tmp/old/init"}, "/tmp/old/init"},
		{[]string{"-o", "x", "-init"}, ""},
		{nil, ""},
	} {
		if got := initArg(tc.args); got != tc.want {
			t.Errorf("initArg(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}
