package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"faaslab": main})
}

// TestScripts runs testdata/script/*.txtar. Each script starts with the
// files of testdata/fixture (prompts, references) in its work directory.
// FAASLAB_UPDATE=1 rewrites the golden outputs in the scripts.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("FAASLAB_UPDATE") == "1",
		Setup: func(env *testscript.Env) error {
			return os.CopyFS(env.WorkDir, os.DirFS(filepath.Join("testdata", "fixture")))
		},
	})
}
