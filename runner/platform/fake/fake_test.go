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

// TestObjectStorage runs the object storage cases against the fake.
func TestObjectStorage(t *testing.T) {
	platformtest.RunObjectStorage(t, func(t *testing.T) platform.Platform {
		p, err := fake.New(fake.Options{InitTimeout: platformtest.S3InitTimeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}

// TestObjectStorageDebianPython runs them on Debian's Python, whose
// botocore (1.29 in Debian 12) predates AWS_ENDPOINT_URL_S3.
func TestObjectStorageDebianPython(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import boto3").Run(); err != nil {
		t.Skip("no boto3 for", python, err)
	}
	platformtest.RunObjectStorage(t, func(t *testing.T) platform.Platform {
		p, err := fake.New(fake.Options{Python: python, InitTimeout: platformtest.S3InitTimeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
