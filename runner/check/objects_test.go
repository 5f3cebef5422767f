package check

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// objectStage is a fake stage's behaviour: what it does with an input
// object, and the object it writes (nil for none).
type objectStage func(in []byte) (platform.Invocation, []byte)

// chainPlatform is the checks' fake platform that also deploys one-stage
// chains whose stage is an objectStage, by the stage's Handler.
type chainPlatform struct {
	*fakePlatform
	stages map[string]objectStage
	runs   int
}

func (p *chainPlatform) DeployChain(_ context.Context, c platform.Chain) (platform.ChainDeployment, error) {
	return &fakeChain{p: p, stage: p.stages[c.Stages[0].Handler], prefix: c.Prefixes[1], objects: map[string][]byte{}}, nil
}

type fakeChain struct {
	p       *chainPlatform
	stage   objectStage
	prefix  string
	objects map[string][]byte
}

func (c *fakeChain) Run(_ context.Context, name string, data []byte, _ time.Duration) (platform.ChainRun, error) {
	c.p.runs++
	inv, out := c.stage(data)
	st := platform.ChainStage{Invocation: inv}
	if out != nil {
		key := c.prefix + name
		c.objects[key] = out
		st.Output = &platform.Object{Key: key, Size: int64(len(out)), Modified: time.Now()}
	}
	return platform.ChainRun{Uploaded: time.Now(), Stages: []platform.ChainStage{st}}, nil
}

func (c *fakeChain) Get(_ context.Context, key string) ([]byte, error) { return c.objects[key], nil }
func (c *fakeChain) Close(context.Context) error                       { return nil }

func TestCheckObjects(t *testing.T) {
	ok := platform.Invocation{Status: platform.StatusOK, Duration: time.Millisecond}
	p := &chainPlatform{fakePlatform: newFakePlatform(t, nil), stages: map[string]objectStage{
		"upper.handler":  func(in []byte) (platform.Invocation, []byte) { return ok, bytes.ToUpper(in) },
		"lower.handler":  func(in []byte) (platform.Invocation, []byte) { return ok, bytes.ToLower(in) },
		"silent.handler": func([]byte) (platform.Invocation, []byte) { return ok, nil },
		"raise.handler": func([]byte) (platform.Invocation, []byte) {
			return platform.Invocation{Status: platform.StatusError, ErrorType: "ValueError", ErrorMessage: "bad image"}, nil
		},
		"init.handler": func([]byte) (platform.Invocation, []byte) {
			return platform.Invocation{Status: platform.StatusInitError, ErrorType: "ModuleNotFoundError", ErrorMessage: "No module named 'PIL'"}, nil
		},
	}}
	c := &Checker{Platform: p}
	t.Cleanup(func() { c.Close(context.Background()) })
	tests := []ObjectTest{
		{Name: "pipeline", InputName: "pipeline.txt", Input: []byte("abc"), Want: []byte("ABC"), Compare: Compare{Rule: RuleBytes}},
		{Name: "more", InputName: "more.txt", Input: []byte("xy"), Want: []byte("XY"), Compare: Compare{Rule: RuleBytes}},
	}
	for _, tc := range []struct {
		handler string
		class   Class
		detail  string
		runs    int
	}{
		{"upper.handler", ClassOK, "", 2},
		{"lower.handler", ClassFD, `test "pipeline": output object: 3 bytes differ`, 2},
		{"silent.handler", ClassFD, "returned without writing an object", 2},
		{"raise.handler", ClassFD, "bad image", 2},
		// After an init error the other tests are not run.
		{"init.handler", ClassInit, "No module named", 1},
	} {
		p.runs = 0
		rep, err := c.CheckObjects(context.Background(), function(t, tc.handler, nil), tests)
		if err != nil {
			t.Fatalf("%s: %v", tc.handler, err)
		}
		if rep.Class != tc.class || !strings.Contains(rep.Detail, tc.detail) || len(rep.Tests) != 2 || p.runs != tc.runs {
			t.Errorf("%s: %s %q, %d tests, %d runs; want %s with %q, %d runs", tc.handler, rep.Class, rep.Detail, len(rep.Tests), p.runs, tc.class, tc.detail, tc.runs)
		}
	}
	// A platform that deploys no chains cannot check stages.
	c2 := &Checker{Platform: newFakePlatform(t, nil)}
	t.Cleanup(func() { c2.Close(context.Background()) })
	if _, err := c2.CheckObjects(context.Background(), function(t, "upper.handler", nil), tests); err == nil || !strings.Contains(err.Error(), "platform.Chainer") {
		t.Errorf("CheckObjects on a platform without chains: %v", err)
	}
}
