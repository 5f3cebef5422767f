package check

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Comparison rules, the values of Compare.Rule.
const (
	// RuleJSON is exact JSON equality. Numbers compare as numbers, as
	// Python's == does (1 equals 1.0); object key order does not matter.
	RuleJSON = "json"
	// RuleFloat is RuleJSON with numbers equal within Tolerance or
	// RelTolerance, at any depth.
	RuleFloat = "float"
	// RuleUnordered is RuleJSON with every array, at any depth, compared
	// as a multiset.
	RuleUnordered = "unordered"
	// RuleText is RuleJSON with every string compared after normalising
	// its whitespace and, with FoldCase, its case.
	RuleText = "text"
	// RuleImage compares the base64-encoded images at Field with the
	// metric Metric, decoding them with Pillow inside the platform.
	RuleImage = "image"
)

// Image metrics, the values of Compare.Metric.
const (
	MetricPSNR = "psnr" // peak signal-to-noise ratio in dB over 8-bit channels; equal when >= Threshold
	MetricMAD  = "mad"  // mean absolute difference over 8-bit channels; equal when <= Threshold
)

// Defaults used when the corresponding Compare field is zero.
const (
	DefaultTolerance     = 1e-9
	DefaultRelTolerance  = 1e-9
	DefaultPSNRThreshold = 30.0
	DefaultMADThreshold  = 1.0
)

// Compare says how a test's candidate output is compared with the
// reference output. The zero value is exact JSON equality.
//
// In every rule NaN equals NaN and nothing else, and an infinity equals
// only the infinity of the same sign: a candidate that returns what the
// reference returns is correct, even when that is NaN.
type Compare struct {
	// Rule is one of RuleJSON (the default when empty), RuleFloat,
	// RuleUnordered, RuleText and RuleImage.
	Rule string
	// Tolerance and RelTolerance are RuleFloat's bounds: numbers a and b
	// are equal when |a-b| <= Tolerance or |a-b| <= RelTolerance·max(|a|,|b|).
	// Zero means unset: when both are zero, DefaultTolerance and
	// DefaultRelTolerance apply, so a task that sets both to 0 gets the
	// defaults, not exact equality (RuleJSON is exact). When only one is
	// non-zero, it alone bounds the difference.
	Tolerance    float64
	RelTolerance float64
	// FoldCase makes RuleText compare strings case-insensitively (Unicode
	// simple case folding).
	FoldCase bool
	// Field is RuleImage's JSON path of the image in both outputs, such as
	// "$.thumbnail" or "$.images[0]"; empty or "$" means the output itself
	// is the image string. The rest of the outputs is not compared.
	Field string
	// Metric is RuleImage's measure, MetricPSNR (the default) or MetricMAD.
	Metric string
	// Threshold is RuleImage's bound for Metric; zero means
	// DefaultPSNRThreshold or DefaultMADThreshold.
	Threshold float64
}

// Validate reports a rule, metric or bound that cannot be used.
func (c Compare) Validate() error {
	switch c.Rule {
	case "", RuleJSON, RuleUnordered, RuleText:
	case RuleFloat:
		if c.Tolerance < 0 || c.RelTolerance < 0 || math.IsNaN(c.Tolerance) || math.IsNaN(c.RelTolerance) {
			return fmt.Errorf("compare %q: tolerances must be non-negative numbers", c.Rule)
		}
	case RuleImage:
		switch c.Metric {
		case "", MetricPSNR, MetricMAD:
		default:
			return fmt.Errorf("compare %q: unknown metric %q (want %q or %q)", c.Rule, c.Metric, MetricPSNR, MetricMAD)
		}
		if c.Threshold < 0 || math.IsNaN(c.Threshold) {
			return fmt.Errorf("compare %q: threshold must be a non-negative number", c.Rule)
		}
		if _, err := parsePath(c.Field); err != nil {
			return fmt.Errorf("compare %q: field: %w", c.Rule, err)
		}
	default:
		return fmt.Errorf("unknown compare rule %q (want json, float, unordered, text or image)", c.Rule)
	}
	return nil
}

// compareJSON compares two outputs with c's rule, which must not be
// RuleImage. It returns whether they are equal and, when not, the JSON
// path of the first difference (object keys in sorted order) and what
// differs there.
func compareJSON(c Compare, got, want []byte) (equal bool, path, detail string) {
	w, err := parseValue(want)
	if err != nil {
		return false, "$", "reference output: " + err.Error()
	}
	g, err := parseValue(got)
	if err != nil {
		return false, "$", "output: " + err.Error()
	}
	m := matcher{c: c}
	if c.Rule == RuleFloat && c.Tolerance == 0 && c.RelTolerance == 0 {
		m.c.Tolerance, m.c.RelTolerance = DefaultTolerance, DefaultRelTolerance
	}
	path, detail = m.diff("$", g, w)
	return path == "", path, detail
}

// matcher walks two values in step. Its diff returns an empty path when
// they are equal.
type matcher struct {
	c Compare
}

func (m matcher) diff(path string, got, want any) (string, string) {
	if kind(got) != kind(want) {
		return path, fmt.Sprintf("got %s %s, want %s %s", kind(got), show(got), kind(want), show(want))
	}
	switch want := want.(type) {
	case nil:
		return "", ""
	case bool:
		if got.(bool) != want {
			return path, fmt.Sprintf("got %s, want %s", show(got), show(want))
		}
	case string:
		if !m.stringsEqual(got.(string), want) {
			return path, fmt.Sprintf("got %s, want %s", show(got), show(want))
		}
	case number:
		if !m.numbersEqual(got.(number), want) {
			return path, fmt.Sprintf("got %s, want %s", got.(number).text, want.text)
		}
	case map[string]any:
		return m.diffObject(path, got.(map[string]any), want)
	case []any:
		if m.c.Rule == RuleUnordered {
			return diffMultiset(path, got.([]any), want)
		}
		return m.diffArray(path, got.([]any), want)
	}
	return "", ""
}

func (m matcher) diffObject(path string, got, want map[string]any) (string, string) {
	keys := make([]string, 0, len(want)+len(got))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, inGot := got[k]
		w, inWant := want[k]
		p := path + pathKey(k)
		switch {
		case !inGot:
			return p, "missing key"
		case !inWant:
			return p, "unexpected key"
		}
		if p, d := m.diff(p, g, w); p != "" {
			return p, d
		}
	}
	return "", ""
}

func (m matcher) diffArray(path string, got, want []any) (string, string) {
	for i := range min(len(got), len(want)) {
		if p, d := m.diff(fmt.Sprintf("%s[%d]", path, i), got[i], want[i]); p != "" {
			return p, d
		}
	}
	switch n := min(len(got), len(want)); {
	case len(got) < len(want):
		return fmt.Sprintf("%s[%d]", path, n), fmt.Sprintf("missing element (got length %d, want %d)", len(got), len(want))
	case len(got) > len(want):
		return fmt.Sprintf("%s[%d]", path, n), fmt.Sprintf("unexpected element (got length %d, want %d)", len(got), len(want))
	}
	return "", ""
}

// diffMultiset compares arrays as multisets of their elements'
// canonical forms, in which nested arrays are multisets too.
func diffMultiset(path string, got, want []any) (string, string) {
	counts := map[string]int{}
	for _, w := range want {
		counts[canonical(w)]++
	}
	for i, g := range got {
		k := canonical(g)
		if counts[k] == 0 {
			return fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("element %s not in the reference (or more often than there)", show(g))
		}
		counts[k]--
	}
	if len(got) < len(want) {
		return path, fmt.Sprintf("missing elements (got length %d, want %d)", len(got), len(want))
	}
	return "", ""
}

// canonical renders a value so that two values have the same rendering
// exactly when RuleUnordered finds them equal: numbers by value, object
// keys sorted, array elements sorted.
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case string:
		return strconv.Quote(v)
	case number:
		return v.canonical()
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = canonical(e)
		}
		slices.Sort(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		parts := make([]string, 0, len(v))
		for k, e := range v {
			parts = append(parts, strconv.Quote(k)+":"+canonical(e))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("%T", v)
}

func (m matcher) numbersEqual(a, b number) bool {
	if m.c.Rule != RuleFloat {
		return a.canonical() == b.canonical()
	}
	x, y := a.float(), b.float()
	switch {
	case math.IsNaN(x) || math.IsNaN(y):
		return math.IsNaN(x) && math.IsNaN(y)
	case math.IsInf(x, 0) || math.IsInf(y, 0):
		return x == y
	}
	d := math.Abs(x - y)
	return d <= m.c.Tolerance || d <= m.c.RelTolerance*math.Max(math.Abs(x), math.Abs(y))
}

func (m matcher) stringsEqual(a, b string) bool {
	if m.c.Rule != RuleText {
		return a == b
	}
	a, b = normalizeText(a), normalizeText(b)
	if m.c.FoldCase {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// normalizeText makes "\r\n" and "\r" newlines "\n", collapses each run
// of other whitespace (Unicode's, including no-break spaces) to one
// space, trims every line and drops blank lines at both ends. Line
// breaks inside the text are kept: they are part of what a text says.
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		lines[i] = strings.Join(strings.FieldsFunc(line, unicode.IsSpace), " ")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// pathKey renders an object key as a JSON path step: .key for
// identifiers, ["key"] for anything else.
func pathKey(k string) string {
	if identifier.MatchString(k) {
		return "." + k
	}
	return "[" + strconv.Quote(k) + "]"
}

// pathStep is one step of a parsed path: an object key or an array index.
type pathStep struct {
	key   string
	index int // used when key is ""
	isKey bool
}

// parsePath parses the paths that pathKey and diffArray write: "$", then
// .key, ["key"] or [index] steps. An empty path is "$".
func parsePath(path string) ([]pathStep, error) {
	if path == "" || path == "$" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "$") {
		return nil, fmt.Errorf("path %q does not start with $", path)
	}
	var steps []pathStep
	rest := path[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			if key == "" {
				return nil, fmt.Errorf("path %q: empty key", path)
			}
			steps = append(steps, pathStep{key: key, isKey: true})
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if strings.HasPrefix(rest, `["`) {
				q, err := strconv.QuotedPrefix(rest[1:])
				if err != nil {
					return nil, fmt.Errorf("path %q: bad quoted key", path)
				}
				key, _ := strconv.Unquote(q)
				end = 1 + len(q)
				if end >= len(rest) || rest[end] != ']' {
					return nil, fmt.Errorf("path %q: expected ]", path)
				}
				steps = append(steps, pathStep{key: key, isKey: true})
				rest = rest[end+1:]
				continue
			}
			if end < 0 {
				return nil, fmt.Errorf("path %q: expected ]", path)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("path %q: bad index %q", path, rest[1:end])
			}
			steps = append(steps, pathStep{index: i})
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", path, rest[0])
		}
	}
	return steps, nil
}

// lookup follows path into v and returns what it finds there.
func lookup(v any, path string) (any, error) {
	steps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		if s.isKey {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: want an object, got %s", path, kind(v))
			}
			if v, ok = m[s.key]; !ok {
				return nil, fmt.Errorf("%s: key %q missing", path, s.key)
			}
			continue
		}
		a, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: want an array, got %s", path, kind(v))
		}
		if s.index >= len(a) {
			return nil, fmt.Errorf("%s: index %d out of range (length %d)", path, s.index, len(a))
		}
		v = a[s.index]
	}
	return v, nil
}
