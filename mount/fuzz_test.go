package mount

import "testing"

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"/dev/vda1", "vda1", "UUID=4E8F1C5A-3333-4B5B-9B0E-0123456789AB", `LABEL="root fs"`,
		"PARTUUID=abcdef00-02/PARTNROFF=1", "PARTLABEL=root x86-64", "8:1", "b302", "10080f",
		`/dev/disk/by-label/root\x20fs`, "/dev/disk/by-partuuid/12345678-01", "/dev/disk/by-id/x", `"UUID=1"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		switch sp.Kind {
		case KindDevNum:
			again, err := ParseSpec(sp.String())
			if err != nil || again != sp {
				t.Fatalf("%q → %+v → %q → %+v, %v", s, sp, sp.String(), again, err)
			}
		case KindPath, KindUUID, KindLabel, KindPartUUID, KindPartLabel:
			if sp.Value == "" {
				t.Fatalf("%q: empty value", s)
			}
		default:
			t.Fatalf("%q: bad kind %q", s, sp.Kind)
		}
	})
}

func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{
		"", "ro", "rw,noatime", "subvol=@,compress=zstd:3,noatime", `context="a,b",ro`,
		"data=journal,,errors=remount-ro", "remount", "sync,async,lazytime,strictatime,silent,defaults",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, rw bool) {
		fl, err := ParseFlags(s, rw)
		if err != nil {
			return
		}
		again, err := ParseFlags(fl.String(), false)
		if err != nil || again != fl {
			t.Fatalf("%q → %#x %q → %q → %#x %q, %v", s, fl.Flags, fl.Data, fl.String(), again.Flags, again.Data, err)
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"", "defaults,ro,rw,nosuid", "rbind", "remount,ro", `context="a,b",noatime`, "subvol=@,compress=zstd:3", `"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := ParseOptions(s)
		if err != nil || fl.Data == "" {
			return
		}
		words, err := splitOptions(fl.Data)
		if err != nil {
			t.Fatalf("%q: data %q does not split: %v", s, fl.Data, err)
		}
		for _, w := range words {
			if _, ok := lookupFlagWord(w); ok || w == "" || isUserspaceWord(w) {
				t.Fatalf("%q: data %q holds the option word %q", s, fl.Data, w)
			}
		}
	})
}
