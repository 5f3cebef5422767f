package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// dash stands for a number that does not exist (no data, or undefined).
const dash = "–"

// num formats a measurement with about four significant digits, without
// an exponent for the sizes function times and costs take.
func num(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return dash
	case a >= 1000:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case a == 0:
		return "0"
	case a >= 0.001:
		return strconv.FormatFloat(x, 'f', 4, 64)
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// pct formats a percentage with two decimals, as Table 4 prints them.
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return dash
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// pval formats a p-value.
func pval(p float64) string {
	switch {
	case math.IsNaN(p):
		return dash
	case p < 0.001:
		return "<0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

// interval formats a confidence interval as "low–high".
func interval(lo, hi float64, ok bool) string {
	if !ok {
		return dash
	}
	return num(lo) + "–" + num(hi)
}

func itoa[T ~int | ~int32 | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func ptrOr(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// variantOrder sorts prompt variants as the studies list them.
var variantOrder = map[string]int{"long": 0, "short": 1, "nolib_long": 2, "nolib_short": 3}

func compareVariants(a, b string) int {
	oa, okA := variantOrder[a]
	ob, okB := variantOrder[b]
	switch {
	case okA && okB:
		return cmp.Compare(oa, ob)
	case okA:
		return -1
	case okB:
		return 1
	}
	return strings.Compare(a, b)
}

// prompt is a task and one of its variants.
type prompt struct{ Task, Variant string }

func comparePrompts(a, b prompt) int {
	if c := strings.Compare(a.Task, b.Task); c != 0 {
		return c
	}
	return compareVariants(a.Variant, b.Variant)
}

// label names a prompt as Table 4 does: the task alone when it has one
// variant.
func (p prompt) label(single map[string]bool) string {
	if single[p.Task] {
		return p.Task
	}
	return p.Task + " " + p.Variant
}

// config is where a cell ran.
type config struct {
	Platform, Arch string
	MemoryMB       int32
}

func (c config) String() string { return fmt.Sprintf("%s %s %d MB", c.Platform, c.Arch, c.MemoryMB) }

func compareConfigs(a, b config) int {
	return cmp.Or(strings.Compare(a.Platform, b.Platform), strings.Compare(a.Arch, b.Arch), cmp.Compare(a.MemoryMB, b.MemoryMB))
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }

func sortedFunc[K comparable, V any](m map[K]V, f func(a, b K) int) []K {
	return slices.SortedFunc(maps.Keys(m), f)
}
