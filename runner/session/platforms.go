package session

import (
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// PlatformConfig is what the study's platform name is opened with (see
// platform.Open); a name the study does not define is a platform of that
// kind with no settings.
func PlatformConfig(s *schema.Study, name string) platform.Config {
	pl, ok := s.Platforms[name]
	if !ok {
		return platform.Config{Name: name, Kind: name, Study: s.Name}
	}
	var layers map[string][]string
	for arch, ls := range pl.Layers {
		if layers == nil {
			layers = map[string][]string{}
		}
		for _, l := range ls {
			layers[arch] = append(layers[arch], l.ARN)
		}
	}
	cfg := platform.Config{Name: name, Kind: pl.Kind, Study: s.Name, Region: pl.Region, Role: pl.Role,
		Layers: layers, Concurrency: pl.Concurrency}
	if pl.InitTimeoutS != nil {
		cfg.InitTimeout = time.Duration(*pl.InitTimeoutS * float64(time.Second))
	}
	return cfg
}
