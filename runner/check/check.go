// Package check decides whether a generated function is correct: it
// finds whether there is code at all (NOCODE), compiles it (SE), deploys
// it (INIT), runs it on a task's test
// events and compares each output with the reference implementation's
// (FD, TIMEOUT, CRASH, OK). It also measures the code's static metrics
// with radon and pylint (see Checker.StaticMetrics).
//
// Untrusted code and data are handled only inside the platform's
// sandbox, never on the host: candidates and references run there, and
// so does a small trusted function, deployed by the Checker beside the
// candidates, that compiles code to find syntax errors (with the
// candidate's own runtime), decodes images with Pillow, and runs radon
// and pylint. Compiling runs nothing, so it shares a warm container.
// Pillow's decoders face hostile images: those requests get a cold
// container each (platform.Function.Cold). pylint imports the modules it
// analyses, which may run the candidate's code: each artifact's metrics
// get a container that has run nothing but the tools' own start-up and
// is torn down afterwards (see StaticMetrics). So nothing that untrusted
// code or data does persists into later requests.
package check

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/faaslab/faaslab/runner/platform"
)

// Class is the outcome of checking a function, as the study reports it.
type Class string

// The classes, in the order the checks run. A Report's overall class is
// NOCODE, SE or INIT when those checks fail, otherwise the most severe
// class of its tests, in the order CRASH, TIMEOUT, FD, OK.
const (
	// ClassTruncated is an answer cut at the model's token limit
	// (llm.Result.Truncated). Check never returns it: the engine classes
	// such an answer before checking, and neither checks nor measures it,
	// as it does NOCODE, so that cut code is never taken for the model's.
	ClassTruncated Class = "TRUNCATED"
	// ClassNoCode is an answer without code: no Python file of the
	// candidate holds anything but white space, as when a model refused or
	// answered in prose only (llm.ExtractCode then yields no code).
	ClassNoCode Class = "NOCODE"
	// ClassSE is a syntax error: some module in the code does not compile.
	ClassSE Class = "SE"
	// ClassInit is a failure to import the handler module (an exception at
	// import time, a missing module or handler function).
	ClassInit Class = "INIT"
	// ClassFD is a functional defect: an output differs from the
	// reference's, or the handler raised or returned a value that does not
	// serialise to JSON. The paper folds runtime exceptions into FD;
	// TestResult.ErrorType tells them apart.
	ClassFD Class = "FD"
	// ClassTimeout is a run past the function's timeout.
	ClassTimeout Class = "TIMEOUT"
	// ClassCrash is a runtime process that died: a signal, sys.exit,
	// os._exit or running out of memory.
	ClassCrash Class = "CRASH"
	// ClassOK is every test passing.
	ClassOK Class = "OK"
)

// severity orders the classes a test can have, most severe last.
var severity = map[Class]int{ClassOK: 0, ClassFD: 1, ClassTimeout: 2, ClassCrash: 3, ClassInit: 4}

// Test is one functional test of a task: an event and how to compare the
// candidate's output for it with the reference's.
type Test struct {
	Name    string
	Event   json.RawMessage
	Compare Compare
}

// Report is the outcome of Check.
type Report struct {
	Class Class
	// Detail explains a class other than OK: the syntax error, or the
	// first test that has the report's class and what went wrong there.
	Detail string
	// Tests holds one result per test, in the order given to Check. It is
	// empty for NOCODE and SE, which run no tests. After an INIT failure the tests
	// not run are INIT too, with a detail that says so.
	Tests []TestResult
}

// TestResult is the outcome of one test.
type TestResult struct {
	Name  string
	Class Class
	// Path is the JSON path of the first difference, such as "$.ranks[3]",
	// when Class is FD because the outputs differ.
	Path string
	// Detail says what differs or what failed.
	Detail string
	// ErrorType is the exception's type when the handler raised (FD) or
	// its module failed to import (INIT), such as "ZeroDivisionError".
	ErrorType string
	// Duration is the candidate's time inside the handler, or the round
	// trip when the platform cannot see inside.
	Duration time.Duration
}

// Checker checks candidates against references on one platform. Its
// fields must be set before first use and not changed after. A Checker
// is safe for concurrent use; Close releases what it deployed.
type Checker struct {
	// Platform runs candidates and references.
	Platform platform.Platform
	// Tools runs the checker's own tools: syntax checks, image decoding,
	// radon and pylint. Nil means Platform. A study whose checks run on
	// AWS Lambda keeps them in the local sandbox, which has the tools.
	Tools platform.Platform
	// CacheDir keeps reference outputs across processes; empty keeps them
	// in memory only.
	CacheDir string

	refMu sync.Mutex                 // serialises reference runs, so each runs once
	refs  map[string]json.RawMessage // reference outputs by cache key, under refMu

	toolsMu   sync.Mutex
	tools     map[*toolDeployment]bool       // every tools deployment not yet closed
	idleTools map[toolsKey][]*toolDeployment // shared ones not serving a request

	spares spares // primed single-use containers for StaticMetrics
}

// toolsPlatform is where the checker's tools run.
func (c *Checker) toolsPlatform() platform.Platform {
	if c.Tools != nil {
		return c.Tools
	}
	return c.Platform
}

// Check classifies cand by running it on tests and comparing its outputs
// with ref's. Reference outputs are computed once per reference code,
// runtime and event, and cached. The functions' Name fields may be empty;
// Check then names the deployments itself. Check also starts, without
// waiting for it, the container that a StaticMetrics call for cand's
// runtime and architecture will use, so that its start-up overlaps the
// tests.
//
// Check returns an error only when it cannot classify cand: the platform
// failed (errors.Is(err, platform.ErrInfrastructure) says whether a retry
// may cure it), a test is malformed, or the reference itself fails. When
// only tearing cand's deployment down fails, Check returns the complete
// Report together with the error.
func (c *Checker) Check(ctx context.Context, cand, ref platform.Function, tests []Test) (Report, error) {
	if err := validateTests(tests); err != nil {
		return Report{}, err
	}
	if cand.CodeDir == "" || cand.Handler == "" {
		return Report{}, errors.New("check: candidate needs CodeDir and Handler")
	}
	if has, err := hasCode(cand.CodeDir); err != nil {
		return Report{}, err
	} else if !has {
		return Report{Class: ClassNoCode, Detail: "no code: the candidate's Python files are empty"}, nil
	}
	c.prepareSpare(cand)
	return c.check(ctx, cand, ref, tests)
}

// check is Check after validating its arguments.
func (c *Checker) check(ctx context.Context, cand, ref platform.Function, tests []Test) (Report, error) {
	if msg, err := c.syntaxError(ctx, cand); err != nil {
		return Report{}, err
	} else if msg != "" {
		return Report{Class: ClassSE, Detail: msg}, nil
	}
	wants, err := c.referenceOutputs(ctx, ref, tests)
	if err != nil {
		return Report{}, err
	}
	if cand.Name == "" {
		cand.Name = uniqueName("check")
	}
	dep, err := c.Platform.Deploy(ctx, cand)
	if err != nil {
		return Report{}, fmt.Errorf("check: deploy candidate: %w", err)
	}
	rep, err := c.runTests(ctx, cand, dep, tests, wants)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := dep.Close(closeCtx); cerr != nil && err == nil {
		return rep, fmt.Errorf("check: close candidate: %w", cerr)
	}
	return rep, err
}

// runTests invokes the deployed candidate on every test and classifies
// the outcomes.
func (c *Checker) runTests(ctx context.Context, cand platform.Function, dep platform.Deployment, tests []Test, wants []json.RawMessage) (Report, error) {
	rep := Report{Class: ClassOK, Tests: make([]TestResult, 0, len(tests))}
	initFailed := false
	for i, t := range tests {
		if initFailed {
			rep.Tests = append(rep.Tests, TestResult{Name: t.Name, Class: ClassInit, Detail: "not run: the handler module failed to import"})
			continue
		}
		inv, err := dep.Invoke(ctx, compactEvent(t.Event))
		if err != nil {
			return Report{}, fmt.Errorf("check: invoke candidate on test %q: %w", t.Name, err)
		}
		r := TestResult{Name: t.Name, Duration: inv.Duration}
		if r.Duration == 0 {
			r.Duration = inv.RoundTrip
		}
		switch inv.Status {
		case platform.StatusOK:
			equal, path, detail, err := c.compare(ctx, cand, t.Compare, inv.Result, wants[i])
			if err != nil {
				return Report{}, fmt.Errorf("check: compare test %q: %w", t.Name, err)
			}
			r.Class, r.Path, r.Detail = ClassOK, path, detail
			if !equal {
				r.Class = ClassFD
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
			if r.Path != "" {
				rep.Detail = fmt.Sprintf("test %q: %s: %s", r.Name, r.Path, r.Detail)
			}
		}
	}
	return rep, nil
}

// compare applies cmp to a candidate's output and the reference's.
func (c *Checker) compare(ctx context.Context, cand platform.Function, cmp Compare, got, want json.RawMessage) (bool, string, string, error) {
	if cmp.Rule == RuleImage {
		return c.compareImages(ctx, cand, cmp, got, want)
	}
	equal, path, detail := compareJSON(cmp, got, want)
	return equal, path, detail, nil
}

// failed classifies an invocation that did not return a value: its class,
// error type and one-line detail; false for a status it does not know.
func failed(inv platform.Invocation) (class Class, errorType, detail string, ok bool) {
	switch inv.Status {
	case platform.StatusError:
		return ClassFD, inv.ErrorType, failure("raised", inv), true
	case platform.StatusInitError:
		return ClassInit, inv.ErrorType, failure("import failed", inv), true
	case platform.StatusTimeout:
		return ClassTimeout, "", failure("timed out", inv), true
	case platform.StatusCrash:
		return ClassCrash, inv.ErrorType, failure("crashed", inv), true
	}
	return "", "", "", false
}

// failure describes a failed invocation in one line.
func failure(what string, inv platform.Invocation) string {
	s := what
	switch {
	case inv.ErrorType != "" && inv.ErrorMessage != "":
		s += ": " + inv.ErrorType + ": " + inv.ErrorMessage
	case inv.ErrorType != "" || inv.ErrorMessage != "":
		s += ": " + inv.ErrorType + inv.ErrorMessage
	}
	const limit = 500
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

func validateTests(tests []Test) error {
	if len(tests) == 0 {
		return errors.New("check: no tests")
	}
	seen := map[string]bool{}
	for i, t := range tests {
		if t.Name == "" {
			return fmt.Errorf("check: test %d has no name", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("check: two tests named %q", t.Name)
		}
		seen[t.Name] = true
		if !json.Valid(t.Event) {
			return fmt.Errorf("check: test %q: event is not valid JSON", t.Name)
		}
		if err := t.Compare.Validate(); err != nil {
			return fmt.Errorf("check: test %q: %w", t.Name, err)
		}
	}
	return nil
}

// compactEvent returns the event without insignificant whitespace, so
// that formatting does not change cache keys. The event must be valid.
func compactEvent(event json.RawMessage) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, event); err != nil {
		return event
	}
	return b.Bytes()
}

// uniqueName returns prefix and a random suffix, unique among live
// deployments.
func uniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return prefix + "-" + hex.EncodeToString(b)
}
