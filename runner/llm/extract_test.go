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
		name: "only other languages: whole text",
		text: "```bash\nls\n```",
		want: "```bash\nls\n```\n",
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
