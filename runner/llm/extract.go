package llm

import (
	"regexp"
	"strings"
)

// ExtractCode returns the Python code in a model's response text, or ""
// when the text holds none: a refusal, or an answer in prose only.
//
// The rule, applied after CRLF line ends become LF and the thinking of
// reasoning models is dropped (see stripThinking):
//
//  1. the largest fenced block (```) whose language tag is python, py,
//     python3 or py3 (case-insensitive), as written: the model says it is
//     Python, so a block that does not compile is a syntax error;
//  2. else the largest fenced block without a language tag that reads as
//     Python (see below);
//  3. else the whole text, when it reads as Python;
//  4. else no code: "".
//
// Text reads as Python when one of its lines, indentation aside, is a
// Python statement that a sentence does not look like: a definition (def
// f(, async def f(, class C: or class C(), an import (import a.b as c, from
// a import b), a decorator alone on its line, an assignment (x = …, x += …,
// x.y[0] = …, a, b = …) or a call alone on its line (f(…), a.b(…)). A
// handler module has at least one of them (its def), and broken code
// almost always keeps one, so it stays code: a syntax error, not a missing
// answer. Words that also start prose lines (if, for, with, return, ...)
// are not taken as evidence.
//
// Among blocks of equal size the first wins. The largest, not the first,
// block is taken because models often show a short usage example or a
// command before or after the function itself. A block that is never closed
// (a response cut at the token limit) runs to the end of the text. A fence
// indented by n spaces has up to n spaces removed from its lines. The code
// ends with exactly one newline.
func ExtractCode(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = stripThinking(text)
	var python, untagged *fencedBlock
	for _, b := range fencedBlocks(text) {
		switch {
		case isPythonTag(b.lang):
			if python == nil || len(b.body) > len(python.body) {
				python = &b
			}
		case b.lang == "" && readsAsPython(b.body):
			if untagged == nil || len(b.body) > len(untagged.body) {
				untagged = &b
			}
		}
	}
	switch {
	case python != nil:
		return tidy(python.body)
	case untagged != nil:
		return tidy(untagged.body)
	case readsAsPython(text):
		return tidy(text)
	}
	return ""
}

// pythonStatement matches a line (indentation removed) that is a Python
// statement rather than a sentence; see ExtractCode.
var pythonStatement = regexp.MustCompile(`^(?:` +
	`(?:async\s+)?def\s+[A-Za-z_]\w*\s*\(` + // def f(
	`|class\s+[A-Za-z_]\w*\s*[(:]` + // class C: / class C(
	`|import\s+[A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*(?:\s+as\s+\w+)?)*\s*(?:#.*)?$` + // import a.b as c, d
	`|from\s+\.*[A-Za-z_][\w.]*\s+import\s+\S` + // from a.b import c
	`|@[A-Za-z_][\w.]*(?:\(.*\))?\s*$` + // @decorator
	`|[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_][\w.]*)*\s*(?:[-+*/%&|^@]|//|\*\*|<<|>>)?=[^=]` + // x = …, x += …, a, b = …
	`|[A-Za-z_][\w.]*\(.*\)\s*(?:#.*)?$` + // f(…)
	`)`)

// readsAsPython reports whether some line of text is a Python statement.
func readsAsPython(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if pythonStatement.MatchString(strings.TrimSpace(line)) {
			return true
		}
	}
	return false
}

// thinkSection matches the reasoning a model such as DeepSeek-R1 emits
// before its answer.
var thinkSection = regexp.MustCompile(`(?s)<think>.*?</think>`)

// stripThinking drops the thinking a reasoning model (DeepSeek-R1, Qwen3)
// writes into its answer: every <think>…</think> section; everything
// before a </think> that no <think> opened (chat templates that open the
// section in the prompt); and everything after a <think> never closed (an
// answer cut while thinking).
func stripThinking(text string) string {
	text = thinkSection.ReplaceAllString(text, "")
	if i := strings.LastIndex(text, "</think>"); i >= 0 {
		text = text[i+len("</think>"):]
	}
	if i := strings.Index(text, "<think>"); i >= 0 {
		text = text[:i]
	}
	return text
}

// fencedBlock is one fenced code block of a Markdown text.
type fencedBlock struct {
	lang string // the first word of the info string, lower case
	body string
}

// fencedBlocks returns the backtick-fenced code blocks of text, which has
// LF line ends.
func fencedBlocks(text string) []fencedBlock {
	var blocks []fencedBlock
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		indent, ticks, info, ok := openingFence(lines[i])
		if !ok {
			continue
		}
		var body []string
		for i++; i < len(lines) && !isClosingFence(lines[i], ticks); i++ {
			body = append(body, dedent(lines[i], indent))
		}
		lang := ""
		if f := strings.Fields(info); len(f) > 0 {
			lang = strings.ToLower(f[0])
		}
		blocks = append(blocks, fencedBlock{lang: lang, body: strings.Join(body, "\n")})
	}
	return blocks
}

// openingFence parses a line that opens a code block: up to three spaces,
// three or more backticks, then an info string without backticks.
func openingFence(line string) (indent, ticks int, info string, ok bool) {
	rest := strings.TrimLeft(line, " ")
	indent = len(line) - len(rest)
	ticks = len(rest) - len(strings.TrimLeft(rest, "`"))
	if indent > 3 || ticks < 3 {
		return 0, 0, "", false
	}
	info = strings.TrimSpace(rest[ticks:])
	if strings.Contains(info, "`") {
		return 0, 0, "", false
	}
	return indent, ticks, info, true
}

// isClosingFence reports whether line closes a block opened by ticks
// backticks.
func isClosingFence(line string, ticks int) bool {
	rest := strings.TrimSpace(line)
	return len(rest) >= ticks && strings.Trim(rest, "`") == "" && len(line)-len(strings.TrimLeft(line, " ")) <= 3
}

// dedent removes up to n leading spaces from line.
func dedent(line string, n int) string {
	for i := 0; i < n && strings.HasPrefix(line, " "); i++ {
		line = line[1:]
	}
	return line
}

// isPythonTag reports whether a fence's language tag names Python.
func isPythonTag(lang string) bool {
	switch lang {
	case "python", "py", "python3", "py3":
		return true
	}
	return false
}

// tidy drops blank lines before the code and white space after it, and ends
// non-empty code with one newline.
func tidy(code string) string {
	code = strings.TrimRight(code, " \t\n")
	for {
		line, rest, found := strings.Cut(code, "\n")
		if !found || strings.TrimSpace(line) != "" {
			break
		}
		code = rest
	}
	if strings.TrimSpace(code) == "" {
		return ""
	}
	return code + "\n"
}
