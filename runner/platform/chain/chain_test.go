package chain_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
	"github.com/faaslab/faaslab/runner/platform/chain"
	"github.com/faaslab/faaslab/runner/platform/fake"
)

func TestStemAndFollows(t *testing.T) {
	for name, want := range map[string]string{"c-0001.png": "c-0001", "p/q/c.x-0001.jpg": "c.x-0001", "noext": "noext"} {
		if got := chain.Stem(name); got != want {
			t.Errorf("Stem(%q) = %q, want %q", name, got, want)
		}
	}
	for _, c := range []struct {
		key, stem string
		want      bool
	}{
		{"1-grey/c-0001.png", "c-0001", true},
		{"1-grey/c-0001.tar.gz", "c-0001", true},
		{"1-grey/c-0001", "c-0001", true},
		{"1-grey/c-00011.png", "c-0001", false},
		{"1-grey/other-0001.png", "c-0001", false},
	} {
		if got := chain.Follows(c.key, c.stem); got != c.want {
			t.Errorf("Follows(%q, %q) = %v", c.key, c.stem, got)
		}
	}
}

func TestDeployRejectsBadChains(t *testing.T) {
	ctx := context.Background()
	fn := platform.Function{Name: "x", CodeDir: t.TempDir(), Handler: "handler.handler"}
	for _, c := range []platform.Chain{
		{Name: "none", Prefixes: []string{"a/"}},
		{Name: "prefixes", Stages: []platform.Function{fn}, Prefixes: []string{"a/"}},
	} {
		if _, err := chain.Deploy(ctx, nil, c); err == nil {
			t.Errorf("chain %s deployed", c.Name)
		}
	}
}

// flaky is a platform whose deployments' first invocation fails as the
// platform's own failure would, counting deployments.
type flaky struct {
	platform.Platform
	deploys, fails atomic.Int32
}

func (f *flaky) Deploy(ctx context.Context, fn platform.Function) (platform.Deployment, error) {
	f.deploys.Add(1)
	d, err := f.Platform.Deploy(ctx, fn)
	return &flakyDep{Deployment: d, f: f}, err
}

type flakyDep struct {
	platform.Deployment
	f *flaky
}

func (d *flakyDep) Invoke(ctx context.Context, event []byte) (platform.Invocation, error) {
	if d.f.fails.Add(-1) >= 0 {
		return platform.Invocation{}, platform.ErrInfrastructure
	}
	return d.Deployment.Invoke(ctx, event)
}

// TestRedeployAfterInfrastructureFailure: a run that hits a platform
// failure is an error wrapping ErrInfrastructure, and the next run
// deploys the failed stage again and succeeds.
func TestRedeployAfterInfrastructureFailure(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3:", err)
	}
	p, err := fake.New(fake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// No boto3: the stage writes its output with the standard library's
	// HTTP client, path-style, as S3's REST API takes it.
	src := `
import json, os, urllib.parse, urllib.request
def handler(event, context):
    key = urllib.parse.unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    out = os.environ["OUTPUT_PREFIX"] + key.rsplit("/", 1)[-1]
    url = os.environ["AWS_ENDPOINT_URL_S3"] + "/" + os.environ["OUTPUT_BUCKET"] + "/" + out
    urllib.request.urlopen(urllib.request.Request(url, data=b"done", method="PUT")).read()
    return out
`
	if err := os.WriteFile(filepath.Join(dir, "handler.py"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &flaky{Platform: p}
	f.fails.Store(1)
	ctx := context.Background()
	d, err := chain.Deploy(ctx, f, platform.Chain{Name: "flaky", Prefixes: []string{"in/", "out/"},
		Stages: []platform.Function{{Name: "flaky-0", CodeDir: dir, Handler: "handler.handler", Runtime: "python3.12", MemoryMB: 128, Timeout: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if _, err := d.Run(ctx, "r-1.txt", []byte("x"), time.Minute); !errors.Is(err, platform.ErrInfrastructure) {
		t.Fatalf("run on a failing platform: %v, want ErrInfrastructure", err)
	}
	run, err := d.Run(ctx, "r-1.txt", []byte("x"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Stages) != 1 || run.Stages[0].Output == nil || run.Stages[0].Output.Key != "out/r-1.txt" {
		t.Fatalf("retried run: %+v", run)
	}
	if n := f.deploys.Load(); n != 2 {
		t.Errorf("%d deployments, want 2 (the failed stage deployed again)", n)
	}
}
