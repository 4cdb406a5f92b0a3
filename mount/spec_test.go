package mount

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr bool
	}{
		{in: "/dev/vda1", want: Spec{Kind: KindPath, Value: "/dev/vda1"}},
		{in: "/dev/mapper/root", want: Spec{Kind: KindPath, Value: "/dev/mapper/root"}},
		{in: "vda1", want: Spec{Kind: KindPath, Value: "/dev/vda1"}},
		{in: "UUID=4E8F1C5A-3333-4B5B-9B0E-0123456789AB", want: Spec{Kind: KindUUID, Value: "4e8f1c5a-3333-4b5b-9b0e-0123456789ab"}},
		{in: "uuid=1234-ABCD", want: Spec{Kind: KindUUID, Value: "1234-abcd"}},
		{in: `UUID="1234-ABCD"`, want: Spec{Kind: KindUUID, Value: "1234-abcd"}},
		{in: `"UUID=1234-ABCD"`, want: Spec{Kind: KindUUID, Value: "1234-abcd"}},
		{in: "LABEL=root", want: Spec{Kind: KindLabel, Value: "root"}},
		{in: `LABEL="root fs"`, want: Spec{Kind: KindLabel, Value: "root fs"}},
		{in: "LABEL=root fs", want: Spec{Kind: KindLabel, Value: "root fs"}},
		{in: "LABEL=Root", want: Spec{Kind: KindLabel, Value: "Root"}},
		{in: "PARTUUID=11111111-2222-4333-8444-555555555555", want: Spec{Kind: KindPartUUID, Value: "11111111-2222-4333-8444-555555555555"}},
		{in: "PARTUUID=12345678-01", want: Spec{Kind: KindPartUUID, Value: "12345678-01"}},
		{in: "PARTUUID=ABCDEF00-02/PARTNROFF=1", want: Spec{Kind: KindPartUUID, Value: "abcdef00-02", PartNrOff: 1}},
		{in: "PARTUUID=abcdef00-02/PARTNROFF=-1", want: Spec{Kind: KindPartUUID, Value: "abcdef00-02", PartNrOff: -1}},
		{in: "PARTUUID=abcdef00-02/PARTNROFF=x", wantErr: true},
		{in: "PARTUUID=abcdef00-02/FOO=1", wantErr: true},
		{in: "PARTLABEL=root x86-64", want: Spec{Kind: KindPartLabel, Value: "root x86-64"}},
		{in: "8:1", want: Spec{Kind: KindDevNum, Major: 8, Minor: 1}},
		{in: "253:0", want: Spec{Kind: KindDevNum, Major: 253, Minor: 0}},
		{in: "8:x", wantErr: true},
		{in: "b302", want: Spec{Kind: KindDevNum, Major: 179, Minor: 2}},
		{in: "0801", want: Spec{Kind: KindDevNum, Major: 8, Minor: 1}},
		{in: "fe00", want: Spec{Kind: KindDevNum, Major: 254, Minor: 0}},
		{in: "10080f", want: Spec{Kind: KindDevNum, Major: 8, Minor: 271}},
		{in: "1080f", want: Spec{Kind: KindDevNum, Major: 264, Minor: 15}},
		{in: "/dev/disk/by-uuid/4e8f1c5a-3333-4b5b-9b0e-0123456789ab", want: Spec{Kind: KindUUID, Value: "4e8f1c5a-3333-4b5b-9b0e-0123456789ab"}},
		{in: `/dev/disk/by-label/root\x20fs`, want: Spec{Kind: KindLabel, Value: "root fs"}},
		{in: `/dev/disk/by-label/a\x2fb`, want: Spec{Kind: KindLabel, Value: "a/b"}},
		{in: "/dev/disk/by-partuuid/12345678-01", want: Spec{Kind: KindPartUUID, Value: "12345678-01"}},
		{in: "/dev/disk/by-partlabel/ESP", want: Spec{Kind: KindPartLabel, Value: "ESP"}},
		{in: "/dev/disk/by-id/virtio-root", want: Spec{Kind: KindPath, Value: "/dev/disk/by-id/virtio-root"}},
		{in: "/dev/disk/by-path/pci-0000:00:04.0", want: Spec{Kind: KindPath, Value: "/dev/disk/by-path/pci-0000:00:04.0"}},
		{in: "", wantErr: true},
		{in: `""`, wantErr: true},
		{in: "UUID=", wantErr: true},
		{in: "LABEL=\"\"", wantErr: true},
		{in: "/", wantErr: true},
		{in: "foo=bar", wantErr: true},
		{in: "LABEL=nfs:x", want: Spec{Kind: KindLabel, Value: "nfs:x"}},
		{in: "/dev/nfsd", want: Spec{Kind: KindPath, Value: "/dev/nfsd"}},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSpec(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseSpec(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// The root= forms of network roots, ZFS datasets and live images fail at once with
// ErrNotLocal, which names what they are; the rest of the parser's errors do not.
func TestParseSpecNotLocal(t *testing.T) {
	for _, tt := range []struct{ in, what string }{
		{"/dev/nfs", "the kernel's NFS root"},
		{"nfs", "the kernel's NFS root"},
		{`"/dev/nfs"`, "the kernel's NFS root"},
		{"nfs:10.0.0.1:/srv/root", "an NFS share"},
		{"NFS4:server:/root:vers=4.2", "an NFS share"},
		{"10.0.0.1:/srv/root", "an NFS share (SERVER:/PATH)"},
		{"dhcp", "a network root found by DHCP"},
		{"dhcp6", "a network root found by DHCP"},
		{"cifs://user@server/share", "a CIFS share"},
		{"iscsi:192.168.1.2::::iqn.2009-06.dracut:target0", "an iSCSI target"},
		{"nbd:server:2000", "a network block device"},
		{"live:CDLABEL=Fedora-Live", "a live image"},
		{"zfs:rpool/ROOT/debian", "a ZFS dataset"},
		{"ZFS=rpool/ROOT/debian", "a ZFS dataset"},
	} {
		_, err := ParseSpec(tt.in)
		if !errors.Is(err, ErrNotLocal) || !strings.Contains(err.Error(), "names "+tt.what+":") {
			t.Errorf("ParseSpec(%q) = %v, want ErrNotLocal naming %s", tt.in, err, tt.what)
		}
	}
	for _, in := range []string{"8:x", "foo=bar", "/", "UUID="} {
		if _, err := ParseSpec(in); err == nil || errors.Is(err, ErrNotLocal) {
			t.Errorf("ParseSpec(%q) = %v, want another error", in, err)
		}
	}
}

func TestSpecString(t *testing.T) {
	for _, in := range []string{"UUID=abcd-ef01", "LABEL=root", "PARTUUID=12345678-01/PARTNROFF=2", "PARTLABEL=ESP", "8:1", "/dev/vda"} {
		s, err := ParseSpec(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != in {
			t.Errorf("String() = %q, want %q", got, in)
		}
	}
}

func TestEscapeUdev(t *testing.T) {
	tests := []struct{ in, want string }{
		{"root", "root"},
		{"root fs", `root\x20fs`},
		{"a/b", `a\x2fb`},
		{`back\slash`, `back\x5cslash`},
		{"dätä", "dätä"},
		{"x\xffy", `x\xffy`},
		{"#+-.:=@_", "#+-.:=@_"},
	}
	for _, tt := range tests {
		if got := escapeUdev(tt.in); got != tt.want {
			t.Errorf("escapeUdev(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := unescapeUdev(escapeUdev(tt.in)); got != tt.in {
			t.Errorf("unescapeUdev(escapeUdev(%q)) = %q", tt.in, got)
		}
	}
	if got := LinkName(".."); strings.Contains(got, "..") {
		t.Errorf("LinkName(..) = %q", got)
	}
}

func TestIsDeviceSource(t *testing.T) {
	for s, want := range map[string]bool{
		"/dev/vda": true, "UUID=1": true, "label=x": true, "PARTUUID=1": true, "PARTLABEL=a=b": true,
		"tmpfs": false, "srv:/x": false, "/srv/data": false, "//host/share": false, "ID=1": false, "": false,
	} {
		if got := IsDeviceSource(s); got != want {
			t.Errorf("IsDeviceSource(%q) = %v, want %v", s, got, want)
		}
	}
}
