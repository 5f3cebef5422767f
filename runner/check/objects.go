package check

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// RuleBytes compares two objects byte for byte (ObjectTest only).
const RuleBytes = "bytes"

// ObjectTest is one test of a function whose output is an object it
// writes to storage rather than its return value: a pipeline stage.
type ObjectTest struct {
	Name string
	// InputName and Input are the object the test uploads, which
	// triggers the candidate: its file name (its stem names the test's
	// objects) and contents.
	InputName string
	Input     []byte
	// Want is the object the reference wrote for the same input.
	Want []byte
	// Compare is RuleImage (Metric and Threshold; Field is ignored) or
	// RuleBytes.
	Compare Compare
}

// objectPrefixes are the key prefixes of the one-stage chain that
// CheckObjects deploys: the candidate reads the first, writes the second.
var objectPrefixes = []string{"in/", "out/"}

// CheckObjects classifies cand as Check does, on tests whose outputs are
// objects: NOCODE, SE, then one run per test of cand as a one-stage chain
// (platform.Chainer) on the checker's platform, triggered by the upload
// of the test's input object; the object it writes is compared with the
// reference's (a missing object is FD). Images are compared in the sandbox
// like Check's. The same errors as Check's are returned.
func (c *Checker) CheckObjects(ctx context.Context, cand platform.Function, tests []ObjectTest) (Report, error) {
	if len(tests) == 0 {
		return Report{}, errors.New("check: no tests")
	}
	for _, t := range tests {
		if t.Compare.Rule != RuleBytes {
			cmp := t.Compare
			cmp.Field = ""
			if cmp.Rule != RuleImage {
				return Report{}, fmt.Errorf("check: test %q: objects compare by %q or %q, not %q", t.Name, RuleImage, RuleBytes, cmp.Rule)
			}
			if err := cmp.Validate(); err != nil {
				return Report{}, fmt.Errorf("check: test %q: %w", t.Name, err)
			}
		}
	}
	chainer, ok := c.Platform.(platform.Chainer)
	if !ok {
		return Report{}, fmt.Errorf("check: platform %s cannot run pipeline stages: it does not deploy chained functions (platform.Chainer)", c.Platform.Name())
	}
	if has, err := hasCode(cand.CodeDir); err != nil {
		return Report{}, err
	} else if !has {
		return Report{Class: ClassNoCode, Detail: "no code: the candidate's Python files are empty"}, nil
	}
	if msg, err := c.syntaxError(ctx, cand); err != nil {
		return Report{}, err
	} else if msg != "" {
		return Report{Class: ClassSE, Detail: msg}, nil
	}
	if cand.Name == "" {
		cand.Name = uniqueName("check")
	}
	dep, err := chainer.DeployChain(ctx, platform.Chain{Name: cand.Name, Stages: []platform.Function{cand},
		Prefixes: objectPrefixes, Tags: cand.Tags})
	if err != nil {
		return Report{}, fmt.Errorf("check: deploy candidate: %w", err)
	}
	rep, err := c.runObjectTests(ctx, cand, dep, tests)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := dep.Close(closeCtx); cerr != nil && err == nil {
		return rep, fmt.Errorf("check: close candidate: %w", cerr)
	}
	return rep, err
}

// objectRunTimeout bounds one test's run: the candidate's own timeout
// ends a hanging handler first; the rest allows for cold starts on a busy
// host and for the output's arrival. It guards against lost events.
func objectRunTimeout(cand platform.Function) time.Duration {
	return cand.Timeout + 10*time.Minute
}

func (c *Checker) runObjectTests(ctx context.Context, cand platform.Function, dep platform.ChainDeployment, tests []ObjectTest) (Report, error) {
	rep := Report{Class: ClassOK}
	initFailed := false
	for _, t := range tests {
		if initFailed {
			rep.Tests = append(rep.Tests, TestResult{Name: t.Name, Class: ClassInit, Detail: "not run: the handler module failed to import"})
			continue
		}
		// The chain re-invokes after an init past Lambda's 10 s limit, as
		// Lambda does: a busy host's slow imports (boto3's) do not make
		// the code TIMEOUT at once.
		run, err := dep.Run(ctx, t.InputName, t.Input, objectRunTimeout(cand))
		if err != nil {
			return Report{}, fmt.Errorf("check: run candidate on test %q: %w", t.Name, err)
		}
		if len(run.Stages) == 0 {
			return Report{}, fmt.Errorf("check: test %q: candidate not invoked within %s: %w", t.Name, objectRunTimeout(cand), platform.ErrInfrastructure)
		}
		st := run.Stages[0]
		inv := st.Invocation
		r := TestResult{Name: t.Name, Duration: inv.Duration}
		if r.Duration == 0 {
			r.Duration = inv.RoundTrip
		}
		switch inv.Status {
		case platform.StatusOK:
			r.Class = ClassOK
			if st.Output == nil {
				r.Class, r.Detail = ClassFD, "returned without writing an object under its output prefix"
				break
			}
			got, err := dep.Get(ctx, st.Output.Key)
			if err != nil {
				return Report{}, fmt.Errorf("check: test %q: read output: %w", t.Name, err)
			}
			equal, detail, err := c.compareObjects(ctx, cand, t.Compare, got, t.Want)
			if err != nil {
				return Report{}, fmt.Errorf("check: compare test %q: %w", t.Name, err)
			}
			if !equal {
				r.Class, r.Detail = ClassFD, "output object: "+detail
			}
		default:
			var ok bool
			if r.Class, r.ErrorType, r.Detail, ok = failed(inv); !ok {
				return Report{}, fmt.Errorf("check: test %q: platform returned unknown status %q", t.Name, inv.Status)
			}
			initFailed = r.Class == ClassInit
		}
		rep.Tests = append(rep.Tests, r)
		if severity[r.Class] > severity[rep.Class] {
			rep.Class, rep.Detail = r.Class, fmt.Sprintf("test %q: %s", r.Name, r.Detail)
		}
	}
	return rep, nil
}

// CompareObjects compares a candidate's object with the reference's by
// cmp (RuleImage or RuleBytes), decoding images in a cold tools container
// of like's runtime and architecture. It returns whether they are equal
// and, when not, what differs.
func (c *Checker) CompareObjects(ctx context.Context, like platform.Function, cmp Compare, got, want []byte) (bool, string, error) {
	return c.compareObjects(ctx, like, cmp, got, want)
}

func (c *Checker) compareObjects(ctx context.Context, like platform.Function, cmp Compare, got, want []byte) (bool, string, error) {
	if bytes.Equal(got, want) {
		return true, "", nil
	}
	if cmp.Rule == RuleBytes {
		return false, fmt.Sprintf("%d bytes differ from the reference's %d bytes", len(got), len(want)), nil
	}
	cmp.Field = "$"
	b64 := func(b []byte) json.RawMessage {
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
		return s
	}
	equal, _, detail, err := c.compareImages(ctx, like, cmp, b64(got), b64(want))
	return equal, detail, err
}
