package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/buildinfo"
	"github.com/faaslab/faaslab/runner/engine"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
	_ "github.com/faaslab/faaslab/runner/platform/aws"   // registers the "aws" kind
	_ "github.com/faaslab/faaslab/runner/platform/local" // registers the "local" kind
	"github.com/faaslab/faaslab/runner/session"
	"github.com/faaslab/faaslab/schema"
)

// Exit codes, decided in one place (exitCode).
const (
	exitOK          = 0
	exitFailure     = 1
	exitBadStudy    = 2
	exitOverBudget  = 3
	exitInterrupted = 130 // 128 + SIGINT
	exitTerminated  = 143 // 128 + SIGTERM
)

// errOverBudget marks a plan whose estimate exceeds the study's budget.
var errOverBudget = session.ErrOverBudget

// State is the process state every command reads: nothing below the
// command layer touches os.Stdout, os.Getenv or the working directory.
type State struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Cwd            string
	HostArch       string
	// Executable is faaslab's own file, which identifies the build.
	Executable string
	// OpenPlatform and CanOpen replace the platform registry when set
	// (tests use a fake platform); see session.Env.
	OpenPlatform func(ctx context.Context, cfg platform.Config) (platform.Platform, error)
	CanOpen      func(kind string) bool
}

// platforms, when set, replaces the platform registry for every command:
// the test binary sets it to open a fake platform for the kind "local".
// Production builds never set it.
var platforms struct {
	open    func(ctx context.Context, cfg platform.Config) (platform.Platform, error)
	canOpen func(kind string) bool
}

// Main runs faaslab with the process's arguments and returns the exit code.
func Main() int {
	cwd, _ := os.Getwd()
	exe, _ := os.Executable()
	st := &State{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Cwd: cwd, HostArch: platform.HostArch(),
		Executable: exe, OpenPlatform: platforms.open, CanOpen: platforms.canOpen}
	ctx, stop := signalContext()
	defer stop()
	code := run(ctx, st, os.Args[1:])
	if code == exitInterrupted && errors.Is(context.Cause(ctx), errTerminated) {
		code = exitTerminated
	}
	return code
}

// errTerminated is the cause of a context cancelled by SIGTERM.
var errTerminated = errors.New("terminated")

// signalContext is cancelled by SIGINT or SIGTERM, with errTerminated as
// the cause for SIGTERM, so the exit code can tell them apart.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			cause := context.Canceled
			if sig == syscall.SIGTERM {
				cause = errTerminated
			}
			cancel(cause)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel(nil) }
}

// run executes one command line and prints its error once, at the top.
func run(ctx context.Context, st *State, args []string) int {
	root := &cobra.Command{
		Use:           "faaslab",
		Short:         "Run studies of LLM-generated serverless functions",
		Version:       buildinfo.Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(st.Stdout)
	root.SetErr(st.Stderr)
	root.SetArgs(args)
	root.AddCommand(newPlanCmd(st), newSchemaCmd(st), newRunCmd(st), newExportCmd(st),
		newStageCmd(st, "generate", "Generate (or import) the code of every generation"),
		newStageCmd(st, "check", "Generate, then check every generation against the reference"),
		newStageCmd(st, "measure", "Generate, check, then measure every cell, without exporting tables"),
		newLockCmd(st), newDestroyCmd(st))
	root.AddCommand(newReportCmd(st), newCompareCmd(st))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(st.Stderr, errorText(err))
	return exitCode(err)
}

func errorText(err error) string {
	var es schema.Errors
	if errors.As(err, &es) {
		return es.Error()
	}
	return "faaslab: " + err.Error()
}

func exitCode(err error) int {
	var es schema.Errors
	switch {
	case errors.As(err, &es), errors.Is(err, platform.ErrNotBuilt):
		return exitBadStudy
	case errors.Is(err, errOverBudget), errors.Is(err, engine.ErrSpendLimit):
		return exitOverBudget
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitFailure
}

// env is the session's view of the process state.
func (st *State) env() *session.Env {
	return &session.Env{
		Stdout: st.Stdout, Stderr: st.Stderr, Getenv: st.Getenv, Cwd: st.Cwd, HostArch: st.HostArch,
		OpenPlatform: st.OpenPlatform, CanOpen: st.CanOpen, Executable: st.Executable,
		Facts: func(ctx context.Context, s *schema.Study) rows.Manifest { return hostFacts(ctx, s, st) },
	}
}

// loadPlan loads the study named on the command line with the -t tags and
// expands it.
func loadPlan(st *State, path string, tags []string) (*plan.Plan, error) {
	return session.Load(st.env(), path, tags)
}
