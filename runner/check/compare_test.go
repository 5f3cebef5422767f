package check

import (
	"strings"
	"testing"
)

var compareTests = []struct {
	name      string
	cmp       Compare
	got, want string
	equal     bool
	path      string // of the first difference
	detail    string // a substring of the detail
}{
	// json: exact equality, numbers as numbers.
	{"json/equal scalars", Compare{}, `1`, `1`, true, "", ""},
	{"json/int equals float", Compare{Rule: RuleJSON}, `{"a":1}`, `{"a":1.0}`, true, "", ""},
	{"json/exponent", Compare{}, `100`, `1e2`, true, "", ""},
	{"json/negative zero", Compare{}, `-0.0`, `0`, true, "", ""},
	{"json/big ints exact", Compare{}, `123456789012345678901234567890`, `123456789012345678901234567890`, true, "", ""},
	{"json/big ints differ", Compare{}, `123456789012345678901234567891`, `123456789012345678901234567890`, false, "$", "got 123456789012345678901234567891"},
	{"json/int beyond float53", Compare{}, `9007199254740993`, `9007199254740992.0`, false, "$", ""},
	{"json/float last bit", Compare{}, `0.30000000000000004`, `0.3`, false, "$", "want 0.3"},
	{"json/key order", Compare{}, `{"b":2,"a":1}`, `{"a":1,"b":2}`, true, "", ""},
	{"json/whitespace", Compare{}, " {\n\"a\" : [ 1 , 2 ] }\n", `{"a":[1,2]}`, true, "", ""},
	{"json/nested difference", Compare{}, `{"ranks":[0.1,0.2,0.3,0.5]}`, `{"ranks":[0.1,0.2,0.3,0.4]}`, false, "$.ranks[3]", "got 0.5, want 0.4"},
	{"json/missing key", Compare{}, `{"a":1}`, `{"a":1,"size":2}`, false, "$.size", "missing key"},
	{"json/extra key", Compare{}, `{"a":1,"extra":true}`, `{"a":1}`, false, "$.extra", "unexpected key"},
	{"json/first difference in key order", Compare{}, `{"b":0,"a":0}`, `{"a":1,"b":1}`, false, "$.a", ""},
	{"json/odd key", Compare{}, `{"a b":1}`, `{"a b":2}`, false, `$["a b"]`, ""},
	{"json/type mismatch", Compare{}, `{"a":"1"}`, `{"a":1}`, false, "$.a", "got string"},
	{"json/bool is not number", Compare{}, `true`, `1`, false, "$", "got boolean"},
	{"json/null vs object", Compare{}, `null`, `{}`, false, "$", "got null"},
	{"json/shorter array", Compare{}, `[1,2]`, `[1,2,3]`, false, "$[2]", "missing element"},
	{"json/longer array", Compare{}, `[1,2,3,4]`, `[1,2,3]`, false, "$[3]", "unexpected element"},
	{"json/array order matters", Compare{}, `[2,1]`, `[1,2]`, false, "$[0]", ""},
	{"json/NaN equals NaN", Compare{}, `[NaN]`, `[NaN]`, true, "", ""},
	{"json/NaN is not a number", Compare{}, `NaN`, `1`, false, "$", ""},
	{"json/infinities", Compare{}, `[Infinity,-Infinity]`, `[Infinity,-Infinity]`, true, "", ""},
	{"json/infinity sign", Compare{}, `Infinity`, `-Infinity`, false, "$", ""},
	{"json/unicode strings", Compare{}, `"na\u00efve \ud83d\ude00"`, `"naïve 😀"`, true, "", ""},
	{"json/strings exact", Compare{}, `"a "`, `"a"`, false, "$", ""},
	{"json/invalid output", Compare{}, `{"a":}`, `{"a":1}`, false, "$", "output: invalid JSON"},
	{"json/trailing garbage", Compare{}, `1 2`, `1`, false, "$", "invalid JSON"},
	{"json/empty output", Compare{}, ``, `1`, false, "$", "invalid JSON"},

	// float: tolerances, inclusive, recursive.
	{"float/default tolerance", Compare{Rule: RuleFloat}, `0.30000000000000004`, `0.3`, true, "", ""},
	{"float/default rejects", Compare{Rule: RuleFloat}, `0.3001`, `0.3`, false, "$", ""},
	{"float/absolute inside", Compare{Rule: RuleFloat, Tolerance: 0.01}, `1.005`, `1`, true, "", ""},
	{"float/absolute boundary", Compare{Rule: RuleFloat, Tolerance: 0.5}, `1.5`, `1`, true, "", ""},
	{"float/absolute outside", Compare{Rule: RuleFloat, Tolerance: 0.01}, `1.02`, `1`, false, "$", "got 1.02, want 1"},
	{"float/relative inside", Compare{Rule: RuleFloat, RelTolerance: 1e-3}, `1000.9`, `1000`, true, "", ""},
	{"float/relative boundary", Compare{Rule: RuleFloat, RelTolerance: 0.5}, `2`, `1`, true, "", ""},
	{"float/relative outside", Compare{Rule: RuleFloat, RelTolerance: 1e-3}, `1002`, `1000`, false, "$", ""},
	{"float/relative near zero", Compare{Rule: RuleFloat, RelTolerance: 1e-3}, `1e-12`, `0`, false, "$", ""},
	{"float/either bound", Compare{Rule: RuleFloat, Tolerance: 1e-9, RelTolerance: 1e-3}, `1e-12`, `0`, true, "", ""},
	{"float/nested", Compare{Rule: RuleFloat, Tolerance: 1e-6}, `{"r":[[0.1000001,2],{"x":3.0}]}`, `{"r":[[0.1,2],{"x":3}]}`, true, "", ""},
	{"float/nested outside", Compare{Rule: RuleFloat, Tolerance: 1e-6}, `{"r":[[0.1,2],{"x":3.1}]}`, `{"r":[[0.1,2],{"x":3}]}`, false, "$.r[1].x", ""},
	{"float/NaN equals NaN", Compare{Rule: RuleFloat, Tolerance: 1}, `NaN`, `NaN`, true, "", ""},
	{"float/NaN never near", Compare{Rule: RuleFloat, Tolerance: 1e300}, `NaN`, `0`, false, "$", ""},
	{"float/infinity equals itself", Compare{Rule: RuleFloat}, `Infinity`, `Infinity`, true, "", ""},
	{"float/infinity not near big", Compare{Rule: RuleFloat, RelTolerance: 1}, `Infinity`, `1e308`, false, "$", ""},
	{"float/strings still exact", Compare{Rule: RuleFloat, Tolerance: 1}, `"1.0"`, `"1"`, false, "$", ""},
	{"float/type mismatch", Compare{Rule: RuleFloat, Tolerance: 1}, `"1"`, `1`, false, "$", "got string"},
	{"float/missing key", Compare{Rule: RuleFloat}, `{}`, `{"x":1}`, false, "$.x", "missing key"},

	// unordered: every array, at any depth, is a multiset.
	{"unordered/permutation", Compare{Rule: RuleUnordered}, `[3,1,2]`, `[1,2,3]`, true, "", ""},
	{"unordered/duplicates", Compare{Rule: RuleUnordered}, `[1,2,1]`, `[1,1,2]`, true, "", ""},
	{"unordered/duplicate counts", Compare{Rule: RuleUnordered}, `[1,2,2]`, `[1,1,2]`, false, "$[2]", "not in the reference"},
	{"unordered/missing", Compare{Rule: RuleUnordered}, `[2,1]`, `[1,2,3]`, false, "$", "missing elements"},
	{"unordered/extra", Compare{Rule: RuleUnordered}, `[3,2,1,4]`, `[1,2,3]`, false, "$[3]", ""},
	{"unordered/numbers as numbers", Compare{Rule: RuleUnordered}, `[2.0,1]`, `[1.0,2]`, true, "", ""},
	{"unordered/nested arrays too", Compare{Rule: RuleUnordered}, `[[2,1],[4,3]]`, `[[3,4],[1,2]]`, true, "", ""},
	{"unordered/objects in arrays", Compare{Rule: RuleUnordered}, `[{"b":[2,1],"a":1},{"a":0}]`, `[{"a":0},{"a":1,"b":[1,2]}]`, true, "", ""},
	{"unordered/inside objects", Compare{Rule: RuleUnordered}, `{"items":["b","a"],"n":2}`, `{"n":2,"items":["a","b"]}`, true, "", ""},
	{"unordered/object value differs", Compare{Rule: RuleUnordered}, `{"items":["b","c"]}`, `{"items":["a","b"]}`, false, "$.items[1]", `"c"`},
	{"unordered/type matters", Compare{Rule: RuleUnordered}, `["1",2]`, `[1,2]`, false, "$[0]", ""},
	{"unordered/NaN multiset", Compare{Rule: RuleUnordered}, `[NaN,1]`, `[1,NaN]`, true, "", ""},

	// text: whitespace and newlines normalised, optional case folding.
	{"text/trim", Compare{Rule: RuleText}, `"  hello world \n"`, `"hello world"`, true, "", ""},
	{"text/collapse", Compare{Rule: RuleText}, `"hello \t  world"`, `"hello world"`, true, "", ""},
	{"text/newlines", Compare{Rule: RuleText}, `"a\r\nb\rc"`, `"a\nb\nc"`, true, "", ""},
	{"text/trailing spaces per line", Compare{Rule: RuleText}, `"a  \n  b"`, `"a\nb"`, true, "", ""},
	{"text/blank lines at ends", Compare{Rule: RuleText}, `"\n\na\nb\n\n"`, `"a\nb"`, true, "", ""},
	{"text/line breaks matter", Compare{Rule: RuleText}, `"a b"`, `"a\nb"`, false, "$", ""},
	{"text/no-break space", Compare{Rule: RuleText}, `"a\u00a0b"`, `"a b"`, true, "", ""},
	{"text/case kept by default", Compare{Rule: RuleText}, `"Hello"`, `"hello"`, false, "$", ""},
	{"text/fold case", Compare{Rule: RuleText, FoldCase: true}, `"HELLO Wörld"`, `"hello wÖrld"`, true, "", ""},
	{"text/fold greek", Compare{Rule: RuleText, FoldCase: true}, `"ΣΊΣΥΦΟΣ"`, `"σίσυφος"`, true, "", ""},
	{"text/unicode differs", Compare{Rule: RuleText}, `"café"`, `"cafe"`, false, "$", ""},
	{"text/inside structures", Compare{Rule: RuleText}, `{"lines":[" a ","b  c"]}`, `{"lines":["a","b c"]}`, true, "", ""},
	{"text/numbers stay exact", Compare{Rule: RuleText}, `{"n":1.5}`, `{"n":1.25}`, false, "$.n", ""},
}

func TestCompareJSON(t *testing.T) {
	for _, tt := range compareTests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cmp.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			equal, path, detail := compareJSON(tt.cmp, []byte(tt.got), []byte(tt.want))
			if equal != tt.equal || path != tt.path || !strings.Contains(detail, tt.detail) {
				t.Errorf("compareJSON(%s, %s) = %v, %q, %q; want %v, %q, detail with %q",
					tt.got, tt.want, equal, path, detail, tt.equal, tt.path, tt.detail)
			}
			if tt.equal {
				// Equality is symmetric for every rule.
				if equal, path, detail := compareJSON(tt.cmp, []byte(tt.want), []byte(tt.got)); !equal {
					t.Errorf("swapped: not equal at %q: %s", path, detail)
				}
			}
		})
	}
}

func TestCompareValidate(t *testing.T) {
	bad := []Compare{
		{Rule: "fuzzy"},
		{Rule: RuleFloat, Tolerance: -1},
		{Rule: RuleImage, Metric: "ssim"},
		{Rule: RuleImage, Threshold: -3},
		{Rule: RuleImage, Field: "image"},
		{Rule: RuleImage, Field: "$.a[x]"},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	good := []Compare{{}, {Rule: RuleImage, Field: "$.thumb", Metric: MetricMAD, Threshold: 2}, {Rule: RuleImage, Field: `$.out["the image"][0]`}}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

func TestLookup(t *testing.T) {
	v, err := parseValue([]byte(`{"a":{"b c":[10,{"d":"x"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want, err string
	}{
		{"$", "object with 1 keys", ""},
		{"", "object with 1 keys", ""},
		{"$.a", "object with 1 keys", ""},
		{`$.a["b c"][0]`, "10", ""},
		{`$.a["b c"][1].d`, `"x"`, ""},
		{"$.z", "", "missing"},
		{`$.a["b c"][5]`, "", "out of range"},
		{"$.a[0]", "", "want an array"},
	}
	for _, tt := range tests {
		got, err := lookup(v, tt.path)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("lookup(%q) error = %v, want %q", tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || show(got) != tt.want {
			t.Errorf("lookup(%q) = %s, %v; want %s", tt.path, show(got), err, tt.want)
		}
	}
}

func TestParseValueRejects(t *testing.T) {
	for _, s := range []string{`01`, `1.`, `.5`, `-`, `1e`, `[1,]`, `{"a" 1}`, `{1:2}`, `"abc`, `"\x"`, `nul`, `Nan`, `+1`, strings.Repeat("[", maxDepth+2)} {
		if _, err := parseValue([]byte(s)); err == nil {
			t.Errorf("parseValue(%q) succeeded, want an error", s)
		}
	}
}
