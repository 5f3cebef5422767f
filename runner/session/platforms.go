package session

import (
	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/schema"
)

// PlatformConfig is what the study's platform name is opened with (see
// platform.Open); a name the study does not define is a platform of that
// kind with no settings.
func PlatformConfig(s *schema.Study, name string) platform.Config {
	return config(s, name)
}
