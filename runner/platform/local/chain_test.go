package local

import (
	"testing"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// TestChain runs the pipeline conformance cases against the local
// platform: each stage in its own sandbox, the runner delivering events.
func TestChain(t *testing.T) {
	platformtest.RunChain(t, func(t *testing.T) platform.Chainer {
		return newPlatform(t, Options{InitTimeout: platformtest.S3InitTimeout})
	})
}
