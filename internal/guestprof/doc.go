// Package guestprof is a sampling profiler for a QEMU guest: where the virtual CPU is, at
// intervals, attributed to the kernel's functions and to the functions of a Go program.
//
// Under TCG, timing a boot says how long each phase took, not what ran in it. Guest
// profilers do not help there: perf has no counters in the guest, and Go's own profiler
// would run inside the program it measures, with a clock too coarse for a half-second boot.
// QEMU's gdbstub can stop the guest at any instruction, from outside: Sampler stops it,
// reads the program counter, and lets it go on. Stopping the guest also stops its virtual
// clock, so the guest's own timestamps stay close to an unsampled boot's, while the wall
// time grows (each sample costs the host a round trip on the stub's socket).
//
// The program counter is named with Table: the kernel's from /proc/kallsyms (read once from
// a boot with KASLR off, as the sampled boots must be), a Go program's from its own
// pclntab, which even a stripped binary keeps. Several processes running the same binary
// (PID 1 and the init's helper personalities) share its addresses and its names.
package guestprof
