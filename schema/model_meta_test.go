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

// TestPlatformMode: a platform's mode overrides the matrix's for its cells,
// and a mode other than warm or cold is refused naming the field.
func TestPlatformMode(t *testing.T) {
	path := writeStudy(t, `mode: "warm"`, "")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	two := strings.Replace(string(src), `platforms: local: kind: "local"`,
		`platforms: {local: kind: "local", "local-cold": {kind: "local", mode: "cold"}}`, 1)
	if err := os.WriteFile(path, []byte(two), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ModeOf("local-cold"); got != "cold" {
		t.Errorf("ModeOf(local-cold) = %q, want cold", got)
	}
	if got := s.ModeOf("local"); got != "warm" {
		t.Errorf("ModeOf(local) = %q, want the matrix's warm", got)
	}

	bad := strings.Replace(two, `mode: "cold"`, `mode: "frozen"`, 1)
	badPath := filepath.Join(filepath.Dir(path), "bad.cue")
	if err := os.WriteFile(badPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(badPath, Options{}); err == nil || !strings.Contains(err.Error(), "mode") || !strings.Contains(err.Error(), "bad.cue:") {
		t.Errorf("mode frozen: got %v, want an error naming bad.cue and mode", err)
	}
}
