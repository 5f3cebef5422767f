// Package report turns the exported tables of one or more runs into the
// tables and figures of the studies faaslab reproduces (Table 4 and
// Figures 1–3, 6 and 7 of the WoSC '25 study; per-stage and end-to-end
// pipeline statistics across architectures; cold against warm calls and
// memory sweeps; LLM endpoints), and compares two runs cell by cell. It
// reads the Parquet tables only (Read), builds a Report of sections
// (Build, Compare) and writes it as terminal text, Markdown or one
// self-contained HTML file with inline SVG charts.
//
// A Report is plain data: building one does no I/O, and writing one does
// not change it.
package report

// Report is a document of sections, each shown only when the data has
// what it needs.
type Report struct {
	Title    string
	Notes    []string // under the title: what was read
	Sections []Section
}

// Section is one part of a report: a heading, notes that say how to read
// it, and its tables and charts in order.
type Section struct {
	ID     string // anchor in HTML
	Title  string
	Notes  []string
	Blocks []Block
}

// Block is a *Table, *BarChart, *BoxChart or *LineChart.
type Block interface{ block() }

// Table is a table of text cells. The first Left columns are left-aligned
// labels; the others are right-aligned numbers or marks.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
	Left    int
}

// BarChart draws one bar per label and series: grouped bars when there are
// several series. A NaN value draws no bar.
type BarChart struct {
	Title, Unit string
	Labels      []string
	Series      []Series
	Log         bool
}

// Series is one named set of values, one per label of its chart.
type Series struct {
	Name   string
	Values []float64
}

// BoxChart draws one box plot per box, on a log scale when Log.
type BoxChart struct {
	Title, Unit string
	Boxes       []LabeledBox
	Log         bool
}

// LabeledBox is a box plot's five numbers under a label.
type LabeledBox struct {
	Label                                   string
	N                                       int
	LowWhisker, Q1, Median, Q3, HighWhisker float64
	Outliers                                []float64
}

// LineChart draws curves of y against x, one per line, with a mark on each
// point and an optional highlighted point per line.
type LineChart struct {
	Title, XUnit, YUnit string
	Lines               []Line
}

// Line is one curve of a LineChart; Mark, when not negative, is the index
// of a point to highlight (a memory size the sweep picked).
type Line struct {
	Name string
	X, Y []float64
	Mark int
}

func (*Table) block()     {}
func (*BarChart) block()  {}
func (*BoxChart) block()  {}
func (*LineChart) block() {}
