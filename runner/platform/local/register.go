package local

import (
	"context"

	"github.com/faaslab/faaslab/runner/platform"
)

// Kind is the platform kind a study names to run on this sandbox.
const Kind = "local"

// init registers the sandbox as the "local" kind: a program that imports
// this package can open it with platform.Open. The study's platform
// settings (region, role, layers) mean nothing here; the sandbox takes
// its defaults, but for the init limit (cfg.InitTimeout), and reports its
// warnings to cfg.Log.
func init() {
	platform.Register(Kind, func(ctx context.Context, cfg platform.Config) (platform.Platform, error) {
		p, err := New(Options{Logger: cfg.Log, InitTimeout: cfg.InitTimeout})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return p, nil
	})
}
