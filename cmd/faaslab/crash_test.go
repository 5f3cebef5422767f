package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashResume kills `faaslab run` with SIGKILL at random moments, runs
// the same command again each time, and checks that the final tables hold
// exactly the planned rows: nothing lost, nothing done twice.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a study a dozen times")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("no bubblewrap: the local platform cannot run")
	}
	dir := t.TempDir()
	bin := buildFaaslab(t, dir)
	study, err := filepath.Abs("testdata/crash/study.cue")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "results")
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", study, "--out", out, "--quiet")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd
	}

	// Kill runs until ten kills have landed while work remained. A kill
	// comes after a random number (0 to 30) of new journal records and a
	// random delay of up to 20 ms, so kills fall in every stage, at any
	// point of a record's write, however fast or loaded the machine is.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for attempt := 0; kills < 10 && attempt < 60; attempt++ {
		before := journalLines(out)
		cmd := run()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		records := rng.IntN(31)
		delay := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
		finished := false
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run failed: %v", err)
				}
				finished = true
				break wait
			case <-time.After(time.Millisecond):
				if journalLines(out) >= before+records {
					break wait
				}
			}
		}
		if finished {
			t.Logf("run finished before %d more records: the study is complete", records)
			break
		}
		time.Sleep(delay)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		kills++
		t.Logf("kill %d after %d records and %v", kills, journalLines(out)-before, delay.Round(time.Microsecond))
	}
	if kills < 10 {
		t.Errorf("only %d kills landed while work remained", kills)
	}
	if b, err := run().CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, b)
	}

	tables, _ := filepath.Glob(filepath.Join(out, "crash", "*", "tables"))
	if len(tables) != 1 {
		t.Fatalf("tables dirs: %v", tables)
	}
	// Nothing done twice: the journal itself, not only the tables read back
	// from it, holds each invocation once.
	journal, err := os.ReadFile(filepath.Join(filepath.Dir(tables[0]), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(journal)), "\n") {
		var rec struct {
			Invocation *struct {
				CellID string
				Seq    int
			} `json:"invocation"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		if rec.Invocation != nil {
			made[fmt.Sprintf("%s/%d", rec.Invocation.CellID, rec.Invocation.Seq)]++
		}
	}
	for k, n := range made {
		if n != 1 {
			t.Errorf("invocation %s is in the journal %d times", k, n)
		}
	}
	if len(made) != 6*101 {
		t.Errorf("journal holds %d invocations, want %d", len(made), 6*101)
	}
	invs := readCSV(t, filepath.Join(tables[0], "invocations.csv"))
	// 3 generations (reference long, hand long, hand short) x 2 memory
	// sizes = 6 cells of 101 invocations.
	if len(invs) != 6*101 {
		t.Errorf("%d invocation rows, want %d", len(invs), 6*101)
	}
	seen := map[string]bool{}
	perCell := map[string]int{}
	for _, r := range invs {
		k := r["cell_id"] + "/" + r["seq"]
		if seen[k] {
			t.Errorf("invocation %s twice", k)
		}
		seen[k] = true
		perCell[r["cell_id"]]++
		if r["status"] != "ok" {
			t.Errorf("invocation %s: status %s (%s)", k, r["status"], r["error"])
		}
	}
	for c, n := range perCell {
		for seq := 0; seq < n; seq++ {
			if !seen[fmt.Sprintf("%s/%d", c, seq)] {
				t.Errorf("cell %s misses invocation %d", c, seq)
			}
		}
	}
	if n := len(readCSV(t, filepath.Join(tables[0], "generations.csv"))); n != 3 {
		t.Errorf("%d generation rows, want 3", n)
	}
	if n := len(readCSV(t, filepath.Join(tables[0], "checks.csv"))); n != 6 {
		t.Errorf("%d check rows, want 6", n)
	}
	cells := readCSV(t, filepath.Join(tables[0], "cells.csv"))
	for _, c := range cells {
		if c["n"] != "100" || c["class"] != "OK" {
			t.Errorf("cell %s: n %s class %s", c["cell_id"], c["n"], c["class"])
		}
	}
}

// journalLines counts the records of the crash study's journal under out.
func journalLines(out string) int {
	journals, _ := filepath.Glob(filepath.Join(out, "crash", "*", "journal.jsonl"))
	if len(journals) != 1 {
		return 0
	}
	b, _ := os.ReadFile(journals[0])
	return bytes.Count(b, []byte("\n"))
}

// buildFaaslab builds the command into dir, for tests that signal it.
func buildFaaslab(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "faaslab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestInterrupt sends SIGINT (Ctrl-C), then SIGTERM, during a run: each
// stops it with its exit code (130, 143) and a message that says how to
// resume, and the same command then finishes the run.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("bwrap"); err != nil {
		t.Skip("no bubblewrap: the local platform cannot run")
	}
	dir := t.TempDir()
	bin := buildFaaslab(t, dir)
	study, _ := filepath.Abs("testdata/crash/study.cue")
	for _, tc := range []struct {
		sig  os.Signal
		code int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		out := filepath.Join(dir, fmt.Sprint(tc.code))
		cmd := exec.Command(bin, "run", study, "--out", out)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Signal once the journal shows work under way.
		deadline := time.Now().Add(30 * time.Second)
		for {
			journals, _ := filepath.Glob(filepath.Join(out, "crash", "*", "journal.jsonl"))
			if len(journals) == 1 {
				if st, err := os.Stat(journals[0]); err == nil && st.Size() > 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("no journal after 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(tc.sig)
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
			t.Fatalf("%v: %v, want exit code %d\n%s", tc.sig, err, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "run the same command again to resume") {
			t.Errorf("%v: stderr does not say how to resume:\n%s", tc.sig, stderr.String())
		}
		if b, err := exec.Command(bin, "run", study, "--out", out, "--quiet").CombinedOutput(); err != nil {
			t.Fatalf("resumed run: %v\n%s", err, b)
		}
		tables, _ := filepath.Glob(filepath.Join(out, "crash", "*", "tables"))
		if n := len(readCSV(t, filepath.Join(tables[0], "invocations.csv"))); n != 6*101 {
			t.Errorf("%v: %d invocations after resume, want %d", tc.sig, n, 6*101)
		}
	}
}

// readCSV reads a CSV table as one map per row.
func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}
