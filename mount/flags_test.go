package mount

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		flags   string
		rw      bool
		want    Flags
		wantErr bool
	}{
		{flags: "", rw: false, want: Flags{Flags: unix.MS_RDONLY}},
		{flags: "", rw: true, want: Flags{}},
		{flags: "rw", rw: false, want: Flags{}},
		{flags: "ro", rw: true, want: Flags{Flags: unix.MS_RDONLY}},
		{flags: "ro,rw", rw: false, want: Flags{}},
		{flags: "rw,ro", rw: true, want: Flags{Flags: unix.MS_RDONLY}},
		{flags: "noatime,nodev,nosuid,noexec", rw: true, want: Flags{Flags: unix.MS_NOATIME | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC}},
		{flags: "noatime,atime", rw: true, want: Flags{}},
		{flags: "relatime,norelatime,strictatime", rw: true, want: Flags{Flags: unix.MS_STRICTATIME}},
		{flags: "sync,dirsync,lazytime,silent", rw: true, want: Flags{Flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC | unix.MS_LAZYTIME | unix.MS_SILENT}},
		{flags: "sync,async,lazytime,nolazytime", rw: true, want: Flags{}},
		{flags: "defaults", rw: false, want: Flags{Flags: unix.MS_RDONLY}},
		{flags: "subvol=@,compress=zstd:3,noatime", rw: true, want: Flags{Flags: unix.MS_NOATIME, Data: "subvol=@,compress=zstd:3"}},
		{flags: "data=journal,,errors=remount-ro", rw: true, want: Flags{Data: "data=journal,errors=remount-ro"}},
		{flags: `context="system_u:object_r:root_t:s0:c1,c2",ro`, rw: true, want: Flags{Flags: unix.MS_RDONLY, Data: `context="system_u:object_r:root_t:s0:c1,c2"`}},
		{flags: `context="x`, wantErr: true},
		{flags: "bogus", rw: true, want: Flags{Data: "bogus"}},
		{flags: "defaults,nofail,x-systemd.device-timeout=5,_netdev,noauto,discard", rw: true, want: Flags{Data: "discard"}},
		{flags: "iversion,nosymfollow", rw: true, want: Flags{Flags: unix.MS_I_VERSION | unix.MS_NOSYMFOLLOW}},
		{flags: "remount", wantErr: true},
		{flags: "bind", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFlags(tt.flags, tt.rw)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFlags(%q, %v) error = %v", tt.flags, tt.rw, err)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseFlags(%q, %v) = %#x %q, want %#x %q", tt.flags, tt.rw, got.Flags, got.Data, tt.want.Flags, tt.want.Data)
		}
	}
}

func TestFlagsString(t *testing.T) {
	tests := []struct {
		f    Flags
		want string
	}{
		{Flags{Flags: unix.MS_RDONLY | unix.MS_NOATIME}, "ro,noatime"},
		{Flags{}, "rw"},
		{Flags{Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "subvol=@"}, "rw,nosuid,nodev,subvol=@"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("%#x.String() = %q, want %q", tt.f.Flags, got, tt.want)
		}
	}
}

type mountCall struct {
	fstype string
	flags  uintptr
	data   string
}

func TestMountRoot(t *testing.T) {
	tests := []struct {
		name    string
		types   []string
		flags   Flags
		errs    map[string]error // per type; missing = success
		roErr   error            // error for read-only retries
		want    string
		calls   []mountCall
		wantErr string
	}{
		{
			name: "first works", types: []string{"ext4"}, flags: Flags{Flags: unix.MS_RDONLY},
			want: "ext4", calls: []mountCall{{"ext4", unix.MS_RDONLY, ""}},
		},
		{
			name: "second works", types: []string{"xfs", "ext4"}, flags: Flags{Data: "x=1"},
			errs: map[string]error{"xfs": unix.EINVAL},
			want: "ext4", calls: []mountCall{{"xfs", 0, "x=1"}, {"ext4", 0, "x=1"}},
		},
		{
			name: "error text", types: []string{"ext4"}, flags: Flags{Flags: unix.MS_RDONLY | unix.MS_NOATIME},
			errs:    map[string]error{"ext4": unix.EINVAL},
			calls:   []mountCall{{"ext4", unix.MS_RDONLY | unix.MS_NOATIME, ""}},
			wantErr: "mount /dev/vda on TARGET (ext4, ro,noatime): invalid argument",
		},
		{
			name: "read-only retry", types: []string{"ext4"}, flags: Flags{},
			errs: map[string]error{"ext4": unix.EACCES}, roErr: nil,
			want: "ext4", calls: []mountCall{{"ext4", 0, ""}, {"ext4", unix.MS_RDONLY, ""}},
		},
		{
			name: "all fail", types: []string{"ext4", "btrfs"}, flags: Flags{Flags: unix.MS_RDONLY},
			errs:    map[string]error{"ext4": unix.EINVAL, "btrfs": unix.ENODEV},
			calls:   []mountCall{{"ext4", unix.MS_RDONLY, ""}, {"btrfs", unix.MS_RDONLY, ""}},
			wantErr: "mount /dev/vda on TARGET (ext4, ro): invalid argument; mount /dev/vda on TARGET (btrfs, ro): no such device",
		},
		{name: "no types", wantErr: "mount /dev/vda on TARGET: no filesystem type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "new", "root")
			var calls []mountCall
			fake := func(src, tgt, fstype string, flags uintptr, data string) error {
				if src != "/dev/vda" || tgt != target {
					t.Errorf("mount(%q, %q)", src, tgt)
				}
				calls = append(calls, mountCall{fstype, flags, data})
				if flags&unix.MS_RDONLY != 0 && len(calls) > 1 && calls[len(calls)-2].fstype == fstype {
					return tt.roErr
				}
				return tt.errs[fstype]
			}
			got, err := MountRoot(fake, "/dev/vda", target, tt.types, tt.flags)
			if tt.wantErr != "" {
				if err == nil || err.Error() != strings.ReplaceAll(tt.wantErr, "TARGET", target) {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				if tt.errs != nil && !errors.Is(err, tt.errs[tt.types[0]]) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.errs[tt.types[0]])
				}
			} else if err != nil || got != tt.want {
				t.Fatalf("MountRoot = %q, %v; want %q", got, err, tt.want)
			}
			if len(calls) != len(tt.calls) {
				t.Fatalf("calls %+v, want %+v", calls, tt.calls)
			}
			for i := range calls {
				if calls[i] != tt.calls[i] {
					t.Errorf("call %d = %+v, want %+v", i, calls[i], tt.calls[i])
				}
			}
			if len(tt.types) > 0 {
				if st, err := os.Stat(target); err != nil || !st.IsDir() {
					t.Errorf("target not created: %v", err)
				}
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		opts string
		want Flags
	}{
		{"", Flags{}},
		{"defaults,ro,rw,nosuid,nodev,,subvol=@,compress=zstd,rbind",
			Flags{Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_BIND | unix.MS_REC, Data: "subvol=@,compress=zstd"}},
		{"remount,ro", Flags{Flags: unix.MS_REMOUNT | unix.MS_RDONLY}},
		{"move", Flags{Flags: unix.MS_MOVE}},
		{"rprivate,noauto,x-systemd.foo,mode=0755", Flags{Flags: unix.MS_PRIVATE | unix.MS_REC, Data: "mode=0755"}},
		{`context="a,b",noatime`, Flags{Flags: unix.MS_NOATIME, Data: `context="a,b"`}},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.opts)
		if err != nil || got != tt.want {
			t.Errorf("ParseOptions(%q) = %#x %q, %v; want %#x %q", tt.opts, got.Flags, got.Data, err, tt.want.Flags, tt.want.Data)
		}
	}
	if _, err := ParseOptions(`context="a`); err == nil {
		t.Error("ParseOptions accepts an unterminated quote")
	}
}
