package llm

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (slash-separated names relative to root).
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFilesLayout(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"pagerank/short.py":                 "single = 1\n",
		"pagerank/long/handler.py":          "long0 = 1\n",
		"pagerank/long/lib/graph.py":        "graph = 1\n",
		"pagerank/long/.DS_Store":           "junk",
		"pagerank/long/.git/config":         "junk",
		"thumb/long/0/handler.py":           "t0 = 1\n",
		"thumb/long/2/handler.py":           "t2 = 1\n",
		"thumb/long/2/requirements.txt":     "pillow\n",
		"thumb/nolib/1/handler.py":          "n1 = 1\n",
		"thumb/nolib/handler.py":            "stray = 1\n",
		"thumb/nohandler/0/main.py":         "m = 1\n",
		"sales/long/handler.py":             "dir wins = 1\n",
		"sales/long.py":                     "file loses = 1\n",
		"pipeline/stage1/0/pkg/handler.py":  "nested = 1\n",
		"pipeline/stage1/0/pkg/__init__.py": "",
	})
	tests := []struct {
		task, variant string
		sample        int
		handler       string
		want          map[string]string
		wantErr       string
	}{
		{task: "pagerank", variant: "short", want: map[string]string{"handler.py": "single = 1\n"}},
		{task: "pagerank", variant: "long", want: map[string]string{"handler.py": "long0 = 1\n", "lib/graph.py": "graph = 1\n"}},
		{task: "thumb", variant: "long", want: map[string]string{"handler.py": "t0 = 1\n"}},
		{task: "thumb", variant: "long", sample: 2, want: map[string]string{"handler.py": "t2 = 1\n", "requirements.txt": "pillow\n"}},
		{task: "sales", variant: "long", want: map[string]string{"handler.py": "dir wins = 1\n"}},
		{task: "pipeline", variant: "stage1", handler: "pkg.handler.main", want: map[string]string{"pkg/handler.py": "nested = 1\n", "pkg/__init__.py": ""}},
		{task: "pagerank", variant: "short", handler: "main.handler", want: map[string]string{"main.py": "single = 1\n"}},
		{task: "thumb", variant: "long", sample: 1, wantErr: "sample 1: want directory " + filepath.Join(root, "thumb", "long", "1")},
		{task: "pagerank", variant: "nolib", wantErr: "want " + filepath.Join(root, "pagerank", "nolib.py") + ", directory"},
		{task: "thumb", variant: "nolib", wantErr: "has sample directories but no 0"},
		{task: "thumb", variant: "nohandler", wantErr: "has no handler module handler.py"},
		{task: "pagerank", variant: "long", handler: "handler", wantErr: "want module.function"},
	}
	gen, err := New("files", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		handler := tt.handler
		if handler == "" {
			handler = "handler.handler"
		}
		req := Request{Model: "chat-ui", Provider: "files", FilesDir: root, Task: tt.task, Variant: tt.variant, Sample: tt.sample, Handler: handler}
		res, err := gen.Generate(context.Background(), req)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s/%s/%d: error %v, want one containing %q", tt.task, tt.variant, tt.sample, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s/%s/%d: %v", tt.task, tt.variant, tt.sample, err)
			continue
		}
		got := map[string]string{}
		for name, content := range res.Files {
			got[name] = string(content)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s/%s/%d: files %q, want %q", tt.task, tt.variant, tt.sample, got, tt.want)
		}
		if res.Raw != "" || res.ModelVersion != "" {
			t.Errorf("%s/%s/%d: Raw %q, ModelVersion %q, want both empty", tt.task, tt.variant, tt.sample, res.Raw, res.ModelVersion)
		}
	}
}

func TestFilesNeedsDir(t *testing.T) {
	gen, _ := New("files", nil, nil)
	_, err := gen.Generate(context.Background(), Request{Model: "chat-ui", Task: "t", Variant: "v", Handler: "handler.handler"})
	if err == nil || !strings.Contains(err.Error(), `model "chat-ui" has no files directory`) {
		t.Errorf("error %v, want one about the missing files directory", err)
	}
}

func TestReference(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "pagerank.py")
	writeTree(t, dir, map[string]string{"pagerank.py": "def handler(e, c):\n    return 0\n"})
	gen, err := New("reference", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gen.Generate(context.Background(), Request{Provider: "reference", Task: "pagerank", ReferenceFile: ref, Handler: "lambda_function.lambda_handler"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"lambda_function.py": []byte("def handler(e, c):\n    return 0\n")}
	if !reflect.DeepEqual(res.Files, want) {
		t.Errorf("files %q, want %q", res.Files, want)
	}

	_, err = gen.Generate(context.Background(), Request{Task: "pagerank", ReferenceFile: filepath.Join(dir, "missing.py"), Handler: "handler.handler"})
	if err == nil || !strings.Contains(err.Error(), "missing.py") {
		t.Errorf("missing reference: error %v, want one naming the file", err)
	}
	_, err = gen.Generate(context.Background(), Request{Task: "pagerank", Handler: "handler.handler"})
	if err == nil || !strings.Contains(err.Error(), `task "pagerank" has no reference file`) {
		t.Errorf("no reference: error %v", err)
	}
	_, err = gen.Generate(context.Background(), Request{Provider: "files", Task: "pagerank", ReferenceFile: ref, Handler: "handler.handler"})
	if err == nil {
		t.Error("a request for another provider succeeded")
	}
}

func TestNewUnknownProvider(t *testing.T) {
	if _, err := New("anthropic-direct", nil, nil); err == nil || !strings.Contains(err.Error(), `"anthropic-direct"`) {
		t.Errorf("error %v, want one naming the provider", err)
	}
}

// TestFilesRefusesLinks keeps a study from pulling the runner's other files
// (its credentials, say) into a function through a link.
func TestFilesRefusesLinks(t *testing.T) {
	root := t.TempDir()
	secret := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(secret, []byte("aws_secret_access_key = not-for-functions"), 0o600)
	os.MkdirAll(filepath.Join(root, "t", "dir"), 0o755)
	os.WriteFile(filepath.Join(root, "t", "dir", "handler.py"), []byte("def handler(e, c): return 1\n"), 0o644)
	os.Symlink(secret, filepath.Join(root, "t", "dir", "creds"))
	os.Symlink(secret, filepath.Join(root, "t", "single.py"))
	g, err := New("files", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"dir", "single"} {
		res, err := g.Generate(context.Background(), Request{Provider: "files", FilesDir: root, Task: "t", Variant: variant, Handler: "handler.handler"})
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("variant %s: err = %v, files %v; want a refusal of the link", variant, err, res.Files)
		}
	}
}
