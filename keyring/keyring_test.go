package keyring

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckLogonDescription(t *testing.T) {
	for _, tc := range []struct {
		desc string
		ok   bool
	}{
		{"cryptsetup:0b2c3a9e-1111-4e3c-9d7a-000000000000-d0", true},
		{"a:", true},
		{"earlyroot:x:y", true},
		{"", false},
		{"nocolon", false},
		{":leading", false},
		{"has space:x", false},
		{"tab:\tx", false},
		{"nul:\x00", false},
	} {
		err := checkLogonDescription(tc.desc)
		if (err == nil) != tc.ok {
			t.Errorf("checkLogonDescription(%q) = %v, want ok=%v", tc.desc, err, tc.ok)
		}
	}
}

// secret is recognisable in any error text that would leak it.
var secret = []byte("SECRET-KEY-BYTES-0123456789abcdef")

func TestAddLogonRejectsBeforeSyscall(t *testing.T) {
	for _, tc := range []struct {
		name, desc string
		payload    []byte
		want       string
	}{
		{"no prefix", "plain", secret, "prefix"},
		{"empty payload", "t:x", nil, "payload of 0 bytes"},
		{"huge payload", "t:x", make([]byte, maxPayload+1), "payload of 32768 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := addLogon(tc.desc, tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("addLogon: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("error leaks the payload: %v", err)
			}
		})
	}
}

// needKeyring skips when the kernel or a seccomp filter (container runtimes commonly
// block the keyring syscalls) refuses keyctl.
func needKeyring(t *testing.T) {
	t.Helper()
	if _, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, threadRing, 1, 0, 0); err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			t.Skipf("skipping: kernel keyring not usable here: %v", err)
		}
		t.Fatalf("thread keyring: %v", err)
	}
}

// TestWithLogonKey uses the host kernel's keyring: the key is findable in the thread
// keyring while fn runs, is a logon key whose payload user space cannot read, and is gone
// (revoked and unlinked) afterwards, whatever fn returned.
func TestWithLogonKey(t *testing.T) {
	needKeyring(t)
	for _, fnErr := range []error{nil, errors.New("table load failed")} {
		desc := fmt.Sprintf("earlyroot-test:%d-%v", os.Getpid(), fnErr != nil)
		var id int
		err := WithLogonKey(desc, secret, func() error {
			var err error
			id, err = unix.KeyctlSearch(threadRing, "logon", desc, 0)
			if err != nil {
				t.Errorf("key not in the thread keyring during fn: %v", err)
				return fnErr
			}
			d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
			if err != nil || !strings.HasPrefix(d, "logon;") || !strings.HasSuffix(d, ";"+desc) {
				t.Errorf("describe %d = %q, %v", id, d, err)
			}
			buf := make([]byte, 64)
			if n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err == nil {
				t.Errorf("read a logon key's payload from user space: %d bytes", n)
			}
			return fnErr
		})
		if !errors.Is(err, fnErr) || (fnErr == nil) != (err == nil) {
			t.Errorf("WithLogonKey = %v, want %v", err, fnErr)
		}
		if _, err := unix.KeyctlSearch(threadRing, "logon", desc, 0); err == nil {
			t.Errorf("key %q still in the thread keyring after WithLogonKey", desc)
		}
		if id != 0 {
			if _, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id); err == nil {
				t.Errorf("key %d still usable after WithLogonKey", id)
			}
		}
	}
}
