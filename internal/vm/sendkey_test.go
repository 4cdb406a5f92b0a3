package vm

import (
	"reflect"
	"testing"
)

func TestUSKeys(t *testing.T) {
	got, err := usKeys("aZ/-?_1!\n")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a"}, {"shift", "z"}, {"slash"}, {"minus"}, {"shift", "slash"}, {"shift", "minus"}, {"1"}, {"shift", "1"}, {"ret"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("usKeys = %q\nwant %q", got, want)
	}
	for _, s := range []string{"ä", "\x01"} {
		if _, err := usKeys(s); err == nil {
			t.Errorf("usKeys(%q) found a key", s)
		}
	}
}
