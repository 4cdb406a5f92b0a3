package modload

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation to a benchmark's report: on a
// loaded machine it is steadier than the elapsed time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// Modaliases a QEMU q35 guest announces, plus aliases request_module uses.
var benchAliases = []string{
	"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
	"pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00",
	"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
	"pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30",
	"virtio:d00000002v00001AF4",
	"virtio:d00000001v00001AF4",
	"acpi:PNP0303:",
	"acpi:QEMU0002:",
	"platform:serial8250",
	"serio:ty01pr00id00ex00",
	"cpu:type:x86,ven0000fam0006mod003D:feature:,0000,0001,0002,0003,0004,0005,0006,0007,0008,0009,000B,000C,000D,000E,000F,0010,0011,0013,0015,0016,0017,0018,0019,001A,001B,001C,001D,001F,002B,0034,003A,003B,003D,0068,006F,0070,0072,0074,0075,0076,0079,0080,0081,0089,008C,008D,0091,0093,0094,0095,0096,0097,0098,0099,009A,009B,009C,009D,009E,00C0,00C5,00E1,00E3,00E4,00E6,00E7,00EB,00EC,00F0,00F1,00F3,00F5,00F6,00F9,00FA,00FB,00FD,00FF,0120,0123,0125,0127,0128,0129,012A,012D,0140,0160,0165,024A",
	"input:b0011v0001p0001eAB41-e0,1,4,11,14,k71,72,73,74,75,76,77,79,7A,7B,7C,7D,7E,7F,80,8C,8E,8F,9B,9C,9D,9E,9F,A3,A4,A5,A6,AC,AD,B7,B8,B9,D9,E2,ram4,l0,1,2,sfw",
	"usb:v1D6Bp0002d0601dc09dsc00dp03ic09isc00ip00in00",
	"fs-ext4",
	"crypto-crc32c",
	"block-major-8-0",
	"scsi:t-0x00",
}

func benchIndex(b *testing.B) *Index {
	b.Helper()
	ix, err := Build(depmodDir(b))
	if err != nil {
		b.Fatal(err)
	}
	return ix
}

func BenchmarkLookup(b *testing.B) {
	ix := benchIndex(b)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		ix.Lookup(benchAliases[i%len(benchAliases)])
	}
}

func BenchmarkLookupLinear(b *testing.B) {
	ix := benchIndex(b)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; b.Loop(); i++ {
		ix.lookupLinear(benchAliases[i%len(benchAliases)])
	}
}

// BenchmarkBuildModinfo builds from the .modinfo of every real module.
func BenchmarkBuildModinfo(b *testing.B) {
	dir := needKernel(b)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := Build(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildDepmod builds from depmod's text files.
func BenchmarkBuildDepmod(b *testing.B) {
	dir := depmodDir(b)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := Build(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen reads the compact index of the full tree.
func BenchmarkOpen(b *testing.B) {
	ix := benchIndex(b)
	p := filepath.Join(b.TempDir(), IndexFile)
	if err := ix.WriteFile(p); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := ReadIndexFile(p); err != nil {
			b.Fatal(err)
		}
	}
}
