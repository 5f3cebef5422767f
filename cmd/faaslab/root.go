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

	"github.com/faaslab/faaslab/internal/buildinfo"
	"github.com/faaslab/faaslab/runner/plan"
	"github.com/faaslab/faaslab/runner/platform"
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
var errOverBudget = errors.New("over budget")

// State is the process state every command reads: nothing below the
// command layer touches os.Stdout, os.Getenv or the working directory.
type State struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Cwd            string
	HostArch       string
}

// Main runs faaslab with the process's arguments and returns the exit code.
func Main() int {
	cwd, _ := os.Getwd()
	st := &State{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Cwd: cwd, HostArch: platform.HostArch()}
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
		newStageCmd(st, "measure", "Generate, check, then measure every cell, without exporting tables"))
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
	case errors.As(err, &es):
		return exitBadStudy
	case errors.Is(err, errOverBudget):
		return exitOverBudget
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitFailure
}

// loadPlan loads the study named on the command line with the -t tags and
// expands it.
func loadPlan(st *State, path string, tags []string) (*plan.Plan, error) {
	s, err := schema.Load(path, schema.Options{Tags: tags, Cwd: st.Cwd, HostArch: st.HostArch})
	if err != nil {
		return nil, err
	}
	return plan.New(s)
}
