package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faaslab/faaslab/exporters/rows"
	"github.com/faaslab/faaslab/internal/buildinfo"
	"github.com/faaslab/faaslab/runner/session"
	"github.com/faaslab/faaslab/schema"
)

func newExportCmd(st *State) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "export STUDY.cue",
		Short: "Write a run's tables again from its journal (Parquet, Arrow IPC, CSV)",
		Long: `export writes the tables of the study's run from its journal, and prints
the tables directory on stdout. The run must exist: run the study first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return session.Export(cmd.Context(), st.env(), o.session(args[0], nil, true))
		},
	}
	addStudyFlags(cmd, &o)
	addLockedFlag(cmd, &o)
	return cmd
}

// hostFacts describe this host and build, for the manifest row of the
// session about to run.
func hostFacts(ctx context.Context, s *schema.Study, st *State) rows.Manifest {
	host, _ := os.Hostname()
	tags, _ := json.Marshal(tagMap(s.Source.Tags))
	return rows.Manifest{
		FaaslabVersion: buildinfo.Version(),
		GitCommit:      buildinfo.GitCommit(ctx, s.Source.Dir),
		Host:           host,
		OS:             runtime.GOOS,
		HostArch:       st.HostArch,
		CPUModel:       cpuModel(),
		CPUCount:       int32(runtime.NumCPU()),
		PythonVersion:  pythonVersion(ctx),
		Tags:           string(tags),
	}
}

func tagMap(tags []string) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		m[k] = v
	}
	return m
}

func pythonVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
