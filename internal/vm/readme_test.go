package vm

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeListsBuses keeps README.md's "Tested hardware" table in step with the buses the
// boot tests use.
func TestReadmeListsBuses(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "## Tested hardware")
	if !ok {
		t.Fatal(`README.md has no "## Tested hardware" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, bus := range Buses {
		if !strings.Contains(section, "`"+bus+"`") {
			t.Errorf("README.md's Tested hardware table lacks the %s bus", bus)
		}
	}
}
