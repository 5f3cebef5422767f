package report

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/faaslab/faaslab/exporters/rows"
)

func TestPicks(t *testing.T) {
	// By hand: max cost 10, max time 400. Scores 0.5·c/10 + 0.5·t/400:
	// 128 MB: 0.15 + 0.5 = 0.65; 512 MB: 0.2 + 0.25 = 0.45;
	// 1024 MB: 0.3 + 0.1625 = 0.4625; 3008 MB: 0.5 + 0.0625 = 0.5625.
	points := []sweepPoint{{128, 400, 400, 3}, {512, 200, 200, 4}, {1024, 130, 130, 6}, {3008, 50, 50, 10}}
	ch, fa, ba := picks(points)
	if ch != 0 || fa != 3 || ba != 1 {
		t.Errorf("picks = cheapest %d, fastest %d, balanced %d; want 0, 3, 1", ch, fa, ba)
	}
	// Without prices only the fastest is defined.
	points = []sweepPoint{{128, 400, 400, math.NaN()}, {512, 200, 200, math.NaN()}}
	if ch, fa, ba := picks(points); ch != -1 || fa != 1 || ba != -1 {
		t.Errorf("unpriced picks = %d, %d, %d; want -1, 1, -1", ch, fa, ba)
	}
}

func TestFindTables(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"out/s1/runA/tables", "out/s1/runB/tables", "out/s2/runC/tables", "out/s1/.tables-tmp", "loose"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, marker), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		paths []string
		want  []string
	}{
		{[]string{"out/s1/runA"}, []string{"out/s1/runA/tables"}},
		{[]string{"out/s1/runA/tables"}, []string{"out/s1/runA/tables"}},
		{[]string{"out/s1"}, []string{"out/s1/runA/tables", "out/s1/runB/tables"}},
		{[]string{"out"}, []string{"out/s1/runA/tables", "out/s1/runB/tables", "out/s2/runC/tables"}},
		{[]string{"out/s1/runB", "out/s1"}, []string{"out/s1/runB/tables", "out/s1/runA/tables"}},
		{[]string{"loose"}, []string{"loose"}},
	}
	for _, tt := range tests {
		got, err := FindTables(dir, tt.paths)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FindTables(%v) = %v, %v; want %v", tt.paths, got, err, tt.want)
		}
	}
	if _, err := FindTables(dir, []string{"out/s1/.tables-tmp/.."}); err != nil {
		t.Errorf("a path with .. : %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "empty/a/b/c/d"), 0o755)
	if _, err := FindTables(dir, []string{"empty"}); !errors.Is(err, ErrNoTables) || !strings.Contains(err.Error(), "results empty:") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := FindTables(dir, []string{"nothere"}); err == nil || err.Error() != "results nothere: no such directory" {
		t.Errorf("missing directory: %v", err)
	}
}

// TestColumnsExist checks that every column the report reads by name is a
// column of the table's row type, so a renamed column cannot go unnoticed
// (cpu_match comes from the aws engine's branch).
func TestColumnsExist(t *testing.T) {
	names := func(typ reflect.Type) []string {
		var out []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("parquet"), ",")
			out = append(out, name)
		}
		return out
	}
	have := names(reflect.TypeFor[rows.Invocation]())
	for _, c := range names(reflect.TypeFor[invocation]()) {
		if !slices.Contains(have, c) && c != "cpu_match" {
			t.Errorf("invocations column %q is not in rows.Invocation", c)
		}
	}
}

// TestMeasured checks which calls a cell's statistics are of: not
// warm-ups, not failed, not on a CPU the filter dropped, and warm unless
// every measured call was cold (a study that forces cold starts).
func TestMeasured(t *testing.T) {
	d := &Data{Samples: map[Key]*Samples{}}
	no := false
	for _, inv := range []invocation{
		{Model: "m", Status: "ok", Warmup: true, Cold: true, DurationMS: 900},
		{Model: "m", Status: "ok", DurationMS: 10},
		{Model: "m", Status: "ok", DurationMS: 11},
		{Model: "m", Status: "ok", DurationMS: 99, CPUMatch: &no},
		{Model: "m", Status: "error", DurationMS: 98},
		{Model: "m", Status: "ok", Cold: true, DurationMS: 500},
		{Model: "c", Status: "ok", Warmup: true, Cold: true, DurationMS: 900},
		{Model: "c", Status: "ok", Cold: true, DurationMS: 400},
		{Model: "c", Status: "ok", Cold: true, DurationMS: 410},
	} {
		d.add(&inv)
	}
	m, c := d.Samples[Key{Model: "m"}], d.Samples[Key{Model: "c"}]
	if got := m.Measured(); !reflect.DeepEqual(got, []float64{10, 11}) || m.Failed != 1 || m.Calls != 6 || len(m.ColdRT) != 2 || len(m.WarmRT) != 3 {
		t.Errorf("warm cell: measured %v, %+v", got, m)
	}
	if got := c.Measured(); !reflect.DeepEqual(got, []float64{400, 410}) {
		t.Errorf("cold cell: measured %v", got)
	}
}
