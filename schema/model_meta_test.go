package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelVendorAndDates: a model's vendor, release date and update date
// are decoded, and a date not written YYYY-MM-DD is refused naming the field.
func TestModelVendorAndDates(t *testing.T) {
	path := writeStudy(t, "", "")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(string(src), `models: reference: provider: "reference"`,
		`models: reference: {provider: "reference", vendor: "OpenAI", release_date: "2024-05-13", updated: "2025-03-26"}`, 1)
	if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Models["reference"]; m.Vendor != "OpenAI" || m.ReleaseDate != "2024-05-13" || m.Updated != "2025-03-26" {
		t.Errorf("model decoded as %+v", m)
	}

	bad := strings.Replace(good, `"2024-05-13"`, `"05/13/24"`, 1)
	badPath := filepath.Join(filepath.Dir(path), "bad.cue")
	if err := os.WriteFile(badPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(badPath, Options{})
	if err == nil || !strings.Contains(err.Error(), "release_date") || !strings.Contains(err.Error(), "bad.cue:2") {
		t.Errorf("a date as 05/13/24: got %v, want an error naming bad.cue:2 and release_date", err)
	}
}
