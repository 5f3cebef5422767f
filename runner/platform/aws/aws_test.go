package aws_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/aws"
	"github.com/faaslab/faaslab/runner/platform/aws/lambdafake"
	"github.com/faaslab/faaslab/runner/platform/platformtest"
)

// testRole is a role ARN of the fake's account.
const testRole = "arn:aws:iam::" + lambdafake.Account + ":role/faaslab-test"

func needPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3:", err)
	}
}

// open opens the aws platform on the fake that lambdafake.Start pointed
// the environment at, with short polls and backoffs.
func open(t testing.TB, change func(*aws.Options)) *aws.Platform {
	t.Helper()
	opts := aws.Options{
		Config: platform.Config{Name: "aws", Kind: aws.Kind, Region: lambdafake.Region, Role: testRole, Study: "conformance"},
		Poll:   10 * time.Millisecond, Backoff: 10 * time.Millisecond,
	}
	if change != nil {
		change(&opts)
	}
	p, err := aws.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConformance runs the platform conformance suite against the aws
// platform on the fake Lambda server, in both log formats.
func TestConformance(t *testing.T) {
	needPython(t)
	for _, format := range []string{lambdafake.FormatText, lambdafake.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			s := lambdafake.Start(t, lambdafake.Options{LogFormat: format})
			platformtest.Run(t, func(t *testing.T) platform.Platform { return open(t, nil) })
			t.Cleanup(func() {
				if left := s.Functions(); len(left) > 0 {
					t.Errorf("functions left on the fake: %v", left)
				}
			})
		})
	}
}
