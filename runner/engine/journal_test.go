package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/exporters/rows"
)

func TestJournalResumeDropsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq < 3; seq++ {
		if err := j.Append(Record{Invocation: &rows.Invocation{CellID: "c1", Seq: int32(seq)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Append(Record{Generation: &GenerationRecord{ID: "g1", Key: "k"}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// A crash in the middle of a write leaves a torn last line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026-01-01T00:00:00Z","invocation":{"CellID":"c1","Se`)
	f.Close()

	j, err = OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.View(func(s *State) {
		if s.Made["c1"] != 3 || s.Generations["g1"].Key != "k" {
			t.Errorf("state after reopen: %d invocations, generation %+v", s.Made["c1"], s.Generations["g1"])
		}
	})
	if err := j.Append(Record{Invocation: &rows.Invocation{CellID: "c1", Seq: 3}}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 5 || strings.Contains(string(b), `"Se`+"\n") {
		t.Fatalf("journal after resume has %d lines:\n%s", len(lines), b)
	}
	j, _ = OpenJournal(path)
	defer j.Close()
	j.View(func(s *State) {
		if s.Made["c1"] != 4 {
			t.Errorf("%d invocations after append, want 4", s.Made["c1"])
		}
	})
}

func TestJournalNeverCountsAnInvocationTwice(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, seq := range []int32{0, 1, 1, 3, 2} {
		j.Append(Record{Invocation: &rows.Invocation{CellID: "c", Seq: seq}})
	}
	j.View(func(s *State) {
		if n := s.Made["c"]; n != 3 {
			t.Errorf("%d invocations, want 3 (0, 1, 2)", n)
		}
	})
}

func TestJournalDamagedLineIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	os.WriteFile(path, []byte("{\"time\":\"2026-01-01T00:00:00Z\"}\nnot json\n{}\n"), 0o644)
	_, err := OpenJournal(path)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s line 2", err, path)
	}
}

var statsTests = []struct {
	name                  string
	ms                    []float64
	mean, sd, median, p95 float64
}{
	{"one", []float64{5}, 5, 0, 5, 5},
	{"two", []float64{1, 3}, 2, 1.4142135623730951, 2, 2.9},
	{"ten", []float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5.5, 3.0276503540974917, 5.5, 9.55},
}

func TestSummarize(t *testing.T) {
	for _, tt := range statsTests {
		var c rows.Cell
		summarize(&c, tt.ms)
		if int(c.N) != len(tt.ms) || *c.MeanMS != tt.mean || *c.SDMS != tt.sd || *c.MedianMS != tt.median || abs(*c.P95MS-tt.p95) > 1e-12 {
			t.Errorf("%s: n %d mean %v sd %v median %v p95 %v", tt.name, c.N, *c.MeanMS, *c.SDMS, *c.MedianMS, *c.P95MS)
		}
	}
	var empty rows.Cell
	summarize(&empty, nil)
	if empty.N != 0 || empty.MeanMS != nil {
		t.Errorf("no measurements must leave nulls, got %+v", empty)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestJournalIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJournal(path); !errors.Is(err, ErrBusy) {
		t.Fatalf("second open: %v, want ErrBusy", err)
	}
	// Reading (as `faaslab export` does) needs no lock.
	j.Append(Record{Generation: &GenerationRecord{ID: "g"}})
	st, err := ReadJournal(path)
	if err != nil || len(st.Generations) != 1 {
		t.Fatalf("ReadJournal beside a live journal: %v, %d generations", err, len(st.Generations))
	}
	j.Close()
	j, err = OpenJournal(path)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	j.Close()
}

func TestJournalRefusesRecordsAfterAFailedWrite(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	j.f.Close() // every write fails from now on
	if err := j.Append(Record{Generation: &GenerationRecord{ID: "g1"}}); err == nil {
		t.Fatal("append to a closed file succeeded")
	}
	if err := j.Append(Record{Generation: &GenerationRecord{ID: "g2"}}); err == nil {
		t.Fatal("a broken journal took another record")
	}
	j.View(func(s *State) {
		if len(s.Generations) != 0 {
			t.Errorf("records that failed to write count as done: %v", s.Generations)
		}
	})
}

func TestSessionsBecomeManifestRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := OpenJournal(path)
	j.Append(Record{Session: &SessionRecord{Facts: &rows.Manifest{Host: "a"}}})
	j.Append(Record{Session: &SessionRecord{Outcome: "interrupted"}})
	j.Append(Record{Session: &SessionRecord{Facts: &rows.Manifest{Host: "b"}}}) // then killed
	j.Close()
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 2 || st.Sessions[0].Host != "a" || st.Sessions[0].FinishedAt == nil ||
		st.Sessions[1].Host != "b" || st.Sessions[1].FinishedAt != nil || st.Sessions[1].StartedAt.IsZero() {
		t.Errorf("sessions %+v", st.Sessions)
	}
}

func TestEachInvocationStopsWhereTheStateWasRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j, _ := OpenJournal(path)
	defer j.Close()
	for seq := 0; seq < 2; seq++ {
		j.Append(Record{Invocation: &rows.Invocation{CellID: "c", Seq: int32(seq)}})
	}
	st, err := ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Append(Record{Invocation: &rows.Invocation{CellID: "c", Seq: 2}}) // a live run goes on
	j.Append(Record{Invocation: &rows.Invocation{CellID: "c", Seq: 1}}) // and a duplicate
	var seqs []int32
	err = EachInvocation(path, st, func(inv rows.Invocation) error {
		seqs = append(seqs, inv.Seq)
		return nil
	})
	if err != nil || len(seqs) != 2 || seqs[0] != 0 || seqs[1] != 1 {
		t.Errorf("EachInvocation gave %v, %v; want [0 1] as counted by the state", seqs, err)
	}
}
