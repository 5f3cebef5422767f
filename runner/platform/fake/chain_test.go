package fake_test

import (
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/fake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestChain runs the pipeline conformance cases against the fake.
func TestChain(t *testing.T) {
	platformtest.RunChain(t, func(t *testing.T) platform.Chainer {
		p, err := fake.New(fake.Options{InitTimeout: platformtest.S3InitTimeout})
		if err != nil {
			t.Fatal(err)
		}
		return p
	})
}
