package report

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/faaslab/faaslab/report/reporttest"
)

var update = flag.Bool("update", os.Getenv("FAASLAB_UPDATE") == "1", "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update
// (or FAASLAB_UPDATE=1).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, diffLines(string(want), string(got)))
	}
}

// diffLines shows the first lines that differ.
func diffLines(want, got string) string {
	w, g := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var out bytes.Buffer
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var a, b []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !bytes.Equal(a, b) {
			out.WriteString("line " + itoa(i+1) + ":\n- " + string(a) + "\n+ " + string(b) + "\n")
			shown++
		}
	}
	return out.String()
}

// fixture writes the made-up run r into a temporary run directory and
// reads it back.
func fixture(t testing.TB, r reporttest.Run) (*Data, string) {
	t.Helper()
	run := filepath.Join(t.TempDir(), "wosc25", r.ID)
	if _, err := reporttest.Write(context.Background(), run, r); err != nil {
		t.Fatal(err)
	}
	dirs, err := FindTables("", []string{run})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Read(context.Background(), "", dirs)
	if err != nil {
		t.Fatal(err)
	}
	d.Dirs = []string{"wosc25/" + r.ID + "/tables"} // stable in the golden files
	return d, run
}

func TestReportGolden(t *testing.T) {
	d, _ := fixture(t, reporttest.Run{ID: "run-a"})
	r := Build(d, Options{})
	var text, md bytes.Buffer
	if err := WriteText(&text, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", text.Bytes())
	golden(t, "report.md", md.Bytes())
}

func TestCompareGolden(t *testing.T) {
	a, _ := fixture(t, reporttest.Run{ID: "run-a"})
	b, _ := fixture(t, reporttest.Run{ID: "run-b", B: true})
	var text bytes.Buffer
	if err := WriteText(&text, Compare(a, b, "run-a", "run-b")); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.txt", text.Bytes())
}
