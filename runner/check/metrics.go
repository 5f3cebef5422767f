package check

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faaslab/faaslab/runner/platform"
)

// Metrics are a function's static code metrics, as the paper's Fig. 3
// reports them. A nil metric could not be measured; Note says why.
type Metrics struct {
	// Cyclomatic is radon's cyclomatic complexity averaged over every
	// function and method (classes themselves are not counted).
	Cyclomatic *float64
	// Halstead is radon's Halstead difficulty of each file as a whole
	// (radon's "total", not per function), averaged over the files.
	Halstead *float64
	// Maintainability is radon's maintainability index (0–100),
	// averaged over the files.
	Maintainability *float64
	// PylintScore is pylint's global evaluation, 0–10, over all files,
	// with pylint's default configuration.
	PylintScore *float64
	// Note lists, one per line, why metrics are missing.
	Note string
}

// metricsResult is the tools' answer to a metrics request.
type metricsResult struct {
	Cyclomatic      *float64 `json:"cyclomatic"`
	Halstead        *float64 `json:"halstead"`
	Maintainability *float64 `json:"maintainability"`
	PylintScore     *float64 `json:"pylint"`
	Notes           []string `json:"notes"`
	// Retire asks that the zygote that measured serve no more.
	Retire bool `json:"retire"`
}

// StaticMetrics measures the Python code in fn.CodeDir with radon and
// pylint. Both run inside the platform's sandbox, in a tools function
// for fn's runtime and architecture (fn's memory size and timeout do not
// matter), and never on the host: pylint imports the modules it analyses,
// so the candidate's code may run. That code must reach no other
// artifact's checks; it can only spoil its own metrics. So each
// measurement runs either in a zygote (see zygote.go), in a process of
// its own confined to a new directory, forked from one that never saw a
// candidate's code, and killed with all it started afterwards; or, where
// the sandbox's kernel cannot confine it, in a container of its own that
// has run only the tools' trusted start-up (radon and pylint imported,
// ahead of time) and is torn down right after (a spare).
//
// The code is sent in one request, so at most maxSourceBytes of it. A
// metric that cannot be measured (the code is too large or does not
// parse, a tool is missing, fails or times out, the platform fails) is
// nil with a reason in Note; no number is ever made up.
func (c *Checker) StaticMetrics(ctx context.Context, fn platform.Function) Metrics {
	files, err := readSources(fn.CodeDir)
	switch {
	case err != nil:
		return Metrics{Note: err.Error()}
	case len(files) == 0:
		return Metrics{Note: fmt.Sprintf("no Python files in %s", fn.CodeDir)}
	}
	if has, err := hasCode(fn.CodeDir); err != nil {
		return Metrics{Note: err.Error()}
	} else if !has {
		return Metrics{Note: "no code to measure: the Python files are empty"}
	}
	zygote, err := c.takeZygote(ctx, fn)
	if err != nil {
		return Metrics{Note: "metrics: " + err.Error()}
	}
	event, err := json.Marshal(map[string]any{"op": "metrics", "files": files, "confined": zygote != nil})
	if err != nil {
		if zygote != nil {
			c.releaseZygote(zygote)
		}
		return Metrics{Note: "metrics: " + err.Error()}
	}
	if zygote != nil {
		return c.measureInZygote(ctx, zygote, event)
	}
	td, err := c.takeSpare(ctx, fn)
	if err != nil {
		return Metrics{Note: "metrics: " + err.Error()}
	}
	var res metricsResult
	inv, err := td.invoke(ctx, event, &res)
	// The container may have run the candidate's code: no later request
	// may reach it.
	c.retireSpare(td)
	return metricsFrom(inv, err, res)
}

// metricsFrom turns the tools' answer to a metrics request into Metrics.
func metricsFrom(inv platform.Invocation, err error, res metricsResult) Metrics {
	switch {
	case err != nil:
		return Metrics{Note: "metrics: " + err.Error()}
	case inv.Status != platform.StatusOK:
		return Metrics{Note: failure("metrics: the tools function ended with "+string(inv.Status), inv)}
	}
	return Metrics{
		Cyclomatic:      res.Cyclomatic,
		Halstead:        res.Halstead,
		Maintainability: res.Maintainability,
		PylintScore:     res.PylintScore,
		Note:            strings.Join(res.Notes, "\n"),
	}
}
