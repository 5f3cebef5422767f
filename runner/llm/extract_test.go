package llm

import "testing"

var extractTests = []struct {
	name string
	text string
	want string
}{
	{
		name: "no fence",
		text: "\n\ndef handler(event, context):\n    return 1   \n\n",
		want: "def handler(event, context):\n    return 1\n",
	},
	{
		name: "python fence with prose",
		text: "Here is the function:\n\n```python\ndef handler(event, context):\n    return 1\n```\n\nIt returns 1.",
		want: "def handler(event, context):\n    return 1\n",
	},
	{
		name: "fence without language",
		text: "Sure.\n```\nimport json\n```\n",
		want: "import json\n",
	},
	{
		name: "largest of several python blocks",
		text: "Usage:\n```python\nhandler({}, None)\n```\nCode:\n```python\ndef handler(event, context):\n    return {}\n```\nTest:\n```py\nprint(1)\n```\n",
		want: "def handler(event, context):\n    return {}\n",
	},
	{
		name: "python block beats larger blocks of other languages",
		text: "```bash\npip install numpy pillow requests boto3 --target ./package\n```\n```python\nx = 1\n```\n",
		want: "x = 1\n",
	},
	{
		name: "python block beats larger untagged block",
		text: "```\nsome long untagged text that is not the answer at all\n```\n```python\nx = 1\n```\n",
		want: "x = 1\n",
	},
	{
		name: "equal sizes: first wins",
		text: "```python\na = 1\n```\n```python\nb = 2\n```\n",
		want: "a = 1\n",
	},
	{
		name: "only other languages: no code",
		text: "```bash\nls\n```",
		want: "",
	},
	{
		name: "another language's block around Python: whole text",
		text: "```javascript\ndef handler(event, context):\n    return 1\n```",
		want: "```javascript\ndef handler(event, context):\n    return 1\n```\n",
	},
	{
		name: "refusal: no code",
		text: "I'm sorry, but I can't help with that request.",
		want: "",
	},
	{
		name: "prose only: no code",
		text: "To compute PageRank, start every node at 1/N.\nThen, for each iteration, spread each node's rank over its out-links (see the paper).\nif you want: use networkx.\nreturn the ranks as a dict.\n",
		want: "",
	},
	{
		name: "prose in an untagged block: no code",
		text: "I cannot write that function.\n```\nThe request asks for a port scanner.\n```\n",
		want: "",
	},
	{
		name: "untagged prose block and untagged code block: the code",
		text: "```\nThis is a long explanation of what the function will do, longer than the code.\n```\n```\nx = compute(1)\n```\n",
		want: "x = compute(1)\n",
	},
	{
		name: "think section closed but not opened (the template opened it): skipped",
		text: "Draft:\n```python\ndef handler(event, context):\n    # a long first draft that is not the answer\n    pass\n```\n</think>\n```python\ndef handler(e, c):\n    return 2\n```",
		want: "def handler(e, c):\n    return 2\n",
	},
	{
		name: "think section never closed (cut while thinking): no code",
		text: "<think>\nDraft:\n```python\ndef handler(event, context):\n    pass\n```\n",
		want: "",
	},
	{
		name: "two think sections: both skipped",
		text: "<think>a</think>```python\nx = 1\n```<think>\n```python\ndef long_draft():\n    pass\n```\n</think>",
		want: "x = 1\n",
	},
	{
		name: "only a think section: no code",
		text: "<think>\n```python\ndef handler(e, c):\n    pass\n```\n</think>\nI won't do this.",
		want: "",
	},
	{
		name: "unfenced broken code stays code",
		text: "def handler(event, context)\n    return {'n': event['n'] ** 2\n",
		want: "def handler(event, context)\n    return {'n': event['n'] ** 2\n",
	},
	{
		name: "unfenced code with a sentence before it",
		text: "Here you go.\nimport json\n\nhandler = lambda e, c: json.dumps(e)\n",
		want: "Here you go.\nimport json\n\nhandler = lambda e, c: json.dumps(e)\n",
	},
	{
		name: "python block holding prose is code as written",
		text: "```python\nSorry, no.\n```",
		want: "Sorry, no.\n",
	},
	{
		name: "CRLF line ends",
		text: "Code:\r\n```python\r\nimport os\r\n\r\ndef handler(e, c):\r\n    return os.sep\r\n```\r\n",
		want: "import os\n\ndef handler(e, c):\n    return os.sep\n",
	},
	{
		name: "tag case and info string",
		text: "```Python3 title=\"handler.py\"\nx = 1\n```",
		want: "x = 1\n",
	},
	{
		name: "think section skipped",
		text: "<think>\nDraft:\n```python\ndef handler(event, context):\n    # a long first draft that is not the answer\n    pass\n```\n</think>\n```python\ndef handler(e, c):\n    return 2\n```",
		want: "def handler(e, c):\n    return 2\n",
	},
	{
		name: "unclosed fence runs to the end",
		text: "```python\ndef handler(e, c):\n    return [1,",
		want: "def handler(e, c):\n    return [1,\n",
	},
	{
		name: "indented fence in a list",
		text: "1. Write this:\n   ```python\n   def handler(e, c):\n       return 3\n   ```\n",
		want: "def handler(e, c):\n    return 3\n",
	},
	{
		name: "longer fence holds a shorter one",
		text: "````python\ns = \"\"\"\n```\n\"\"\"\n````\n",
		want: "s = \"\"\"\n```\n\"\"\"\n",
	},
	{
		name: "empty fence",
		text: "```python\n```",
		want: "",
	},
	{
		name: "empty text",
		text: "",
		want: "",
	},
}

func TestExtractCode(t *testing.T) {
	for _, tt := range extractTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExtractCode(tt.text); got != tt.want {
				t.Errorf("ExtractCode(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestHandlerFile(t *testing.T) {
	tests := []struct {
		handler, want string
		wantErr       bool
	}{
		{handler: "handler.handler", want: "handler.py"},
		{handler: "lambda_function.lambda_handler", want: "lambda_function.py"},
		{handler: "pkg.app.main", want: "pkg/app.py"},
		{handler: "src/app.main", want: "src/app.py"},
		{handler: "handler", wantErr: true},
		{handler: ".handler", wantErr: true},
		{handler: "handler.", wantErr: true},
		{handler: "a..b.handler", wantErr: true},
		{handler: "/etc/passwd.x", wantErr: true},
		{handler: "../up.handler", wantErr: true},
		{handler: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := HandlerFile(tt.handler)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("HandlerFile(%q) = %q, %v; want %q, error %v", tt.handler, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadsAsPython(t *testing.T) {
	code := []string{
		"def handler(event, context):", "    async def fetch(url):", "class Graph:", "class Graph(object):",
		"import json", "import numpy as np, os.path", "from PIL import Image", "from .util import x",
		"@functools.cache", "x = 1", "ranks[node] += share", "a, b = b, a", "self.n //= 2",
		"print(handler({}, None))", "main()", "handler = lambda e, c: e",
	}
	prose := []string{
		"I'm sorry, but I can't help with that.", "Here is the function you asked for:", "Import the module first.",
		"if you want, use networkx:", "return the ranks as a dict.", "The result (a dict) maps nodes to ranks.",
		"for each node in the graph:", "x == 1 holds", "Note: call handler(event) to test it.", "",
		"importance of each node", "from the paper, we know that", "```bash",
	}
	for _, line := range code {
		if !readsAsPython(line) {
			t.Errorf("readsAsPython(%q) = false, want true", line)
		}
	}
	for _, line := range prose {
		if readsAsPython(line) {
			t.Errorf("readsAsPython(%q) = true, want false", line)
		}
	}
}
