package guestprof

// Names turns program counters into function names.
type Names struct {
	Kernel  *Table // ParseKallsyms
	Program *Table // GoTable of the program whose processes are sampled
}

// The names of addresses neither table covers.
const (
	KernelModule = "[kernel module]" // the module mapping space: modules' own code
	KernelOther  = "[kernel]"        // kernel addresses outside the table
	UserOther    = "[user]"          // user space outside the program: another program
)

// kernelSpace is where x86-64's kernel half of the address space starts.
const kernelSpace = 0xffff800000000000

// Kernel reports whether pc is a kernel address.
func Kernel(pc uint64) bool { return pc >= kernelSpace }

// Name names pc: the kernel or program function holding it, else one of the names above.
func (n Names) Name(pc uint64) string {
	if Kernel(pc) {
		if name, ok := n.Kernel.Lookup(pc); ok {
			return name
		}
		if pc >= kernelTextEnd {
			return KernelModule
		}
		return KernelOther
	}
	if name, ok := n.Program.Lookup(pc); ok {
		return name
	}
	return UserOther
}
