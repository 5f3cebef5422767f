package fake_test

import (
	"fmt"
	"os/exec"
	"strings"
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

// TestObjectStorage runs the object storage cases against the fake. Its
// functions run on the host's Python, whose botocore must read
// AWS_ENDPOINT_URL_S3 (1.31 or later).
func TestObjectStorage(t *testing.T) {
	out, err := exec.Command("python3", "-c", "import botocore; print(botocore.__version__)").Output()
	if err != nil {
		t.Skip("no botocore:", err)
	}
	var major, minor int
	fmt.Sscanf(string(out), "%d.%d", &major, &minor)
	if major == 1 && minor < 31 {
		t.Skipf("botocore %s ignores AWS_ENDPOINT_URL_S3", strings.TrimSpace(string(out)))
	}
	platformtest.RunObjectStorage(t, func(t *testing.T) platform.Platform {
		p, err := fake.New(fake.Options{InitTimeout: platformtest.S3InitTimeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
