package rows

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedColumnOrder checks that docs/tables.md lists every table's
// columns in the order of the files, which is the order of the fields
// here.
func TestDocumentedColumnOrder(t *testing.T) {
	doc, err := os.ReadFile("../../docs/tables.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedColumns(string(doc))
	for name, row := range map[string]any{
		"generations": Generation{}, "checks": Check{}, "invocations": Invocation{}, "cells": Cell{}, "manifest": Manifest{},
		"endpoints": Endpoint{}, "stages": Stage{}, "pipelines": Pipeline{}, "pipeline_cells": PipelineCell{},
	} {
		var want []string
		typ := reflect.TypeOf(row)
		for i := range typ.NumField() {
			if tag, ok := typ.Field(i).Tag.Lookup("parquet"); ok && tag != "-" {
				want = append(want, strings.Split(tag, ",")[0])
			}
		}
		if got := documented[name]; !slices.Equal(got, want) {
			t.Errorf("docs/tables.md, ## %s: columns\n%v\nwant (rows.go's order)\n%v", name, got, want)
		}
	}
}

// documentedColumns reads, for each "## name" section, the first column of
// its table, splitting rows that name several columns ("a, b, c").
func documentedColumns(doc string) map[string][]string {
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(s)
			continue
		}
		cells := strings.Split(line, "|")
		if section == "" || len(cells) < 3 || !strings.HasPrefix(line, "| ") {
			continue
		}
		first := strings.TrimSpace(cells[1])
		if first == "column" || strings.HasPrefix(first, "---") {
			continue
		}
		for _, name := range strings.Split(first, ",") {
			out[section] = append(out[section], strings.TrimSpace(name))
		}
	}
	return out
}
