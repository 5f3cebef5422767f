package fake_test

import (
	"os/exec"
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/fake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestConformance runs the platform conformance suite against the fake.
func TestConformance(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3:", err)
	}
	platformtest.Run(t, func(t *testing.T) platform.Platform {
		p, err := fake.New(fake.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
