package lambdafake

import (
	"path/filepath"
	"testing"
)

// Start starts a fake for the test and points the AWS SDK at it through
// the process's environment: AWS_ENDPOINT_URL, fake credentials
// (AccessKeyID, SecretAccessKey), Region, and configuration files that do
// not exist, so nothing of the host's own AWS setup is read. The test
// must not be parallel (its subtests may be); the fake closes when it
// ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	for k, v := range s.Environ(tb.TempDir()) {
		tb.Setenv(k, v)
	}
	return s
}

// Environ is the environment that points the AWS SDK at s with fake
// credentials, reading no configuration file (those named are under
// dir and do not exist).
func (s *Server) Environ(dir string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":            s.URL,
		"AWS_ACCESS_KEY_ID":           AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       SecretAccessKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_REGION":                  Region,
		"AWS_DEFAULT_REGION":          Region,
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}
