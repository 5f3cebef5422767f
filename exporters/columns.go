package exporters

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// kind is the type of a column's values, independent of any file format.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt32
	kindInt64
	kindFloat64
	kindTime // time.Time, stored as microseconds since the Unix epoch, UTC
)

var timeType = reflect.TypeFor[time.Time]()

// column describes one column of a row type, read from the `parquet`
// struct tag of one field: the tag's first element is the column name, and
// a pointer field is a nullable column.
type column struct {
	name     string
	field    int // index of the struct field
	kind     kind
	nullable bool
	dict     bool // the tag asks for dictionary encoding
}

// columnsOf describes the columns of the row type T, in field order.
// Fields without a `parquet` tag, or tagged "-", are not columns.
func columnsOf[T any]() ([]column, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("row type %s is not a struct", t)
	}
	var cols []column
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("parquet")
		if !ok || tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		c := column{name: name, field: i}
		for _, opt := range strings.Split(opts, ",") {
			if opt == "dict" {
				c.dict = true
			}
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			c.nullable = true
			ft = ft.Elem()
		}
		switch {
		case ft == timeType:
			c.kind = kindTime
		case ft.Kind() == reflect.String:
			c.kind = kindString
		case ft.Kind() == reflect.Bool:
			c.kind = kindBool
		case ft.Kind() == reflect.Int32:
			c.kind = kindInt32
		case ft.Kind() == reflect.Int64:
			c.kind = kindInt64
		case ft.Kind() == reflect.Float64:
			c.kind = kindFloat64
		default:
			return nil, fmt.Errorf("row type %s: field %s has unsupported type %s", t, f.Name, f.Type)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// value returns the field of c in the struct v, and false when the column is
// nullable and the field is nil.
func (c *column) value(v reflect.Value) (reflect.Value, bool) {
	f := v.Field(c.field)
	if c.nullable {
		if f.IsNil() {
			return reflect.Value{}, false
		}
		f = f.Elem()
	}
	return f, true
}

// unixMicro returns t as microseconds since the Unix epoch; every exporter
// stores times this way, so sub-microsecond digits are dropped everywhere.
func unixMicro(v reflect.Value) int64 {
	return v.Interface().(time.Time).UnixMicro()
}
