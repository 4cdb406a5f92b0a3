// Package host holds the two small things about the running machine that several programs
// print: the kernel release (uname -r), which names the module directory, and byte counts in
// binary units. One copy of each keeps the init's diagnosis, mkinitramfs's summary and the
// test init's report in the same words.
package host

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelRelease is uname -r: "6.1.0-56-amd64".
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// Size formats a byte count in binary units with one decimal: "512 B", "1.5 KiB",
// "12.7 MiB", "3.0 GiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit || v <= -unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
