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
		{"[ 1.0] Freeing unused kernel memory\n[ 1.1] Run /in", 0},
		{"it as init process\n", 1},
		{"[ 1.2] earlyroot: waiting up to 30s\n", 1}, // not the next mark: phases go in order
		{"[ 1.2] earlyroot: earlyroot starting (kernel 6.1)\r\n[ 1.3] earlyroot: waiting up to 30s for root=UUID=x\n", 3},
		{"[ 1.5] earlyroot: wait for root took 99 ms\n[ 1.6] earlyroot: root /dev/vda mounted; switching to /sbin/init\n", 5},
		{"Run /init as init process\n", 5},
	}
	for _, s := range steps {
		p.Write([]byte(s.write))
		if got := p.current(); got != s.want {
			t.Fatalf("after %q: phase %d, want %d", s.write, got, s.want)
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
	// Two boots: phase 1 (exec…) has 4 samples, 2 in sha256_update, 1 in load_module, 1 in
	// user space outside the program; phase 4 (mount) has 4 samples in sha256_update.
	// Samples before the first mark (phase 0) and after the last (5) are not counted.
	for range 2 {
		p.add([]guestprof.Sample{
			{PC: 0xffffffff81000010, Phase: 0},
			{PC: 0xffffffff81100010, Phase: 1}, {PC: 0xffffffff81100020, Phase: 1},
			{PC: 0xffffffff81200010, Phase: 1}, {PC: 0x401000, Phase: 1},
			{PC: 0xffffffff81100010, Phase: 4}, {PC: 0xffffffff81100010, Phase: 4},
			{PC: 0xffffffff81100010, Phase: 5},
		}, names)
	}
	p.errs = []string{"boot 3: console never showed it"}
	out := ProfileTable([]*imageProfile{p})
	for _, want := range []string{
		"## generic (2 boots)",
		"- failed: boot 3: console never showed it",
		"| exec, Go runtime start, API mounts, log | 4 | 50% | 0% | 0% | 25% | 0% | 0% | 0% | 25% |",
		"| module index, discovery start | 0 | – |",
		"| mount (the filesystem's modules, mount) | 2 | 100% | 0% | 0% |",
		"| **all** | 6 | 67% | 0% | 0% | 17% | 0% | 0% | 0% | 17% |",
		"| `sha256_update` | " + classSignature + " | 67% |",
		"| `load_module` | " + classKernel + " | 17% |",
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
	// Two boots; the second has one more load_module sample in phase 1.
	p.add([]guestprof.Sample{{PC: 0xffffffff81100010, Phase: 1}, {PC: 0xffffffff81200010, Phase: 4}}, names)
	p.add([]guestprof.Sample{{PC: 0xffffffff81200010, Phase: 1}, {PC: 0xffffffff81200010, Phase: 1}}, names)
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
