package check

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A parsed output is a tree of nil, bool, string, number, []any and
// map[string]any. Handlers' outputs are parsed by parseValue rather than
// encoding/json because Python's json.dumps writes the non-standard tokens
// NaN, Infinity and -Infinity, which the comparators must see and treat
// explicitly.

// number is a JSON number kept as its text, so that integers of any size
// compare exactly and 1 and 1.0 can be recognised as the same value.
type number struct {
	text string
}

// isInt reports whether the number was written without a fraction or
// exponent, as Python writes ints.
func (n number) isInt() bool {
	return !strings.ContainsAny(n.text, ".eEIN")
}

// float returns the number as a float64, the type of a Python float.
// Integers too large for a float64 become ±Inf.
func (n number) float() float64 {
	switch n.text {
	case "NaN":
		return math.NaN()
	case "Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	f, _ := strconv.ParseFloat(n.text, 64) // the parser accepted only valid numbers; range errors yield ±Inf
	return f
}

// exact returns the number as an exact big.Float, or nil for NaN.
// Python ints are exact integers and Python floats are exact float64
// values, so comparing the results of exact compares what Python's ==
// compares.
func (n number) exact() *big.Float {
	if n.isInt() {
		i, ok := new(big.Int).SetString(n.text, 10)
		if !ok {
			return nil
		}
		return new(big.Float).SetInt(i)
	}
	f := n.float()
	if math.IsNaN(f) {
		return nil
	}
	return big.NewFloat(f)
}

// canonical returns a text that is the same for two numbers exactly when
// they are equal as Python compares them (NaN equals NaN here).
func (n number) canonical() string {
	x := n.exact()
	switch {
	case x == nil:
		return "NaN"
	case x.IsInf():
		return x.String()
	case x.IsInt():
		i, _ := x.Int(nil)
		return i.String()
	default:
		return strconv.FormatFloat(n.float(), 'g', -1, 64)
	}
}

// parseValue parses one JSON document, accepting NaN, Infinity and
// -Infinity as numbers.
func parseValue(data []byte) (any, error) {
	p := &parser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected %q after the value", p.data[p.pos])
	}
	return v, nil
}

// maxDepth bounds nesting so that a hostile output cannot exhaust the stack.
const maxDepth = 1000

type parser struct {
	data []byte
	pos  int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) literal(word string) bool {
	if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case p.literal("null"):
		return nil, nil
	case p.literal("true"):
		return true, nil
	case p.literal("false"):
		return false, nil
	case p.literal("NaN"):
		return number{"NaN"}, nil
	case p.literal("Infinity"):
		return number{"Infinity"}, nil
	case p.literal("-Infinity"):
		return number{"-Infinity"}, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // '{'
	m := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return m, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.pos++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return m, nil
		default:
			return nil, p.errorf("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	p.pos++ // '['
	a := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return a, nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return a, nil
		default:
			return nil, p.errorf("expected ',' or ']'")
		}
	}
}

// string scans a string token and lets encoding/json decode its escapes.
func (p *parser) string() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\\':
			p.pos += 2
			continue
		case '"':
			p.pos++
			var s string
			if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
				return "", fmt.Errorf("invalid JSON string at offset %d: %w", start, err)
			}
			return s, nil
		}
		p.pos++
	}
	return "", p.errorf("unterminated string")
}

// number scans a number token with the JSON grammar.
func (p *parser) number() (any, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.errorf("expected a digit")
	}
	if p.data[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.errorf("leading zero in a number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("expected a digit after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("expected a digit in the exponent")
		}
	}
	return number{string(p.data[start:p.pos])}, nil
}

// kind names a value's JSON type for messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// show renders a value briefly for a difference's detail.
func show(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "null"
	case bool:
		s = strconv.FormatBool(v)
	case string:
		s = strconv.Quote(v)
	case number:
		s = v.text
	case []any:
		s = fmt.Sprintf("array of %d", len(v))
	case map[string]any:
		s = fmt.Sprintf("object with %d keys", len(v))
	}
	const limit = 80
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}
