package exporterstest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"

	"github.com/faaslab/faaslab/exporters/rows"
)

// Reader reads back the files that one exporter wrote. The readers here
// share no code with the writers they check.
type Reader struct {
	// Tables reads every table from the files in dir.
	Tables func(dir string) (*rows.Tables, error)

	// Columns returns the column names stored in the file at path, in
	// order, whether or not the file holds rows.
	Columns func(path string) ([]string, error)
}

// tableFiles lists where each table of t goes, as a pointer to its slice.
func tableFiles(t *rows.Tables) []struct {
	name string
	dst  any
} {
	return []struct {
		name string
		dst  any
	}{
		{"generations", &t.Generations},
		{"checks", &t.Checks},
		{"invocations", &t.Invocations},
		{"cells", &t.Cells},
		{"manifest", &t.Manifest},
		{"endpoints", &t.Endpoints},
		{"stages", &t.Stages},
		{"pipelines", &t.Pipelines},
		{"pipeline_cells", &t.PipelineCells},
		{"models", &t.Models},
	}
}

// ReadTables reads <dir>/<table>.<ext> for every table with readFile, which
// fills dst, a pointer to a slice of row values.
func ReadTables(dir, ext string, readFile func(path string, dst any) error) (*rows.Tables, error) {
	var t rows.Tables
	for _, f := range tableFiles(&t) {
		path := filepath.Join(dir, f.name+"."+ext)
		if err := readFile(path, f.dst); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	return &t, nil
}

// columnFields maps the column names of a row type, from its `parquet`
// tags, to field indexes.
func columnFields(t reflect.Type) map[string]int {
	m := make(map[string]int)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("parquet"), ",")
		m[name] = i
	}
	return m
}

// ColumnNames returns the column names of the row type T, in field order.
func ColumnNames[T any]() []string {
	t := reflect.TypeFor[T]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("parquet"), ",")
	}
	return names
}

// ParquetReader reads Parquet files row by row with parquet-go's untyped
// reader, converting each value by the type of the row field its column
// names. (parquet-go's typed reader turns a timestamp into time.Time through
// nanoseconds, which overflow before 1677 and after 2262.)
func ParquetReader() Reader {
	open := func(path string, fn func(*parquet.File) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			return err
		}
		return fn(pf)
	}
	return Reader{
		Tables: func(dir string) (*rows.Tables, error) {
			return ReadTables(dir, "parquet", func(path string, dst any) error {
				return open(path, func(pf *parquet.File) error { return readParquet(pf, dst) })
			})
		},
		Columns: func(path string) (names []string, err error) {
			err = open(path, func(pf *parquet.File) error {
				for _, field := range pf.Schema().Fields() {
					names = append(names, field.Name())
				}
				return nil
			})
			return names, err
		},
	}
}

// readParquet appends the rows of pf to *dst, a pointer to a slice of a row
// type, matching columns to fields by name.
func readParquet(pf *parquet.File, dst any) error {
	slice := reflect.ValueOf(dst).Elem()
	rowType := slice.Type().Elem()
	byName := columnFields(rowType)
	var fields []int // field index of each leaf column
	for _, col := range pf.Schema().Fields() {
		fi, ok := byName[col.Name()]
		if !ok {
			return fmt.Errorf("column %s is not a field of %s", col.Name(), rowType)
		}
		fields = append(fields, fi)
	}
	buf := make([]parquet.Row, 100)
	for _, rg := range pf.RowGroups() {
		rs := rg.Rows()
		for {
			n, err := rs.ReadRows(buf)
			for _, r := range buf[:n] {
				row := reflect.New(rowType).Elem()
				for _, v := range r {
					if err := setParquetField(row.Field(fields[v.Column()]), v); err != nil {
						rs.Close()
						return fmt.Errorf("column %s: %w", rowType.Field(fields[v.Column()]).Name, err)
					}
				}
				slice.Set(reflect.Append(slice, row))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rs.Close()
				return err
			}
		}
		if err := rs.Close(); err != nil {
			return err
		}
	}
	return nil
}

func setParquetField(f reflect.Value, v parquet.Value) error {
	if v.IsNull() {
		if f.Kind() != reflect.Pointer {
			return errors.New("null in a required field")
		}
		return nil
	}
	var x any
	switch t := f.Type(); {
	case t == reflect.TypeFor[time.Time]() || t == reflect.TypeFor[*time.Time]():
		x = time.UnixMicro(v.Int64()).UTC() // the exporter writes microseconds
	default:
		switch deref(t).Kind() {
		case reflect.String:
			x = string(v.ByteArray())
		case reflect.Bool:
			x = v.Boolean()
		case reflect.Int32:
			x = v.Int32()
		case reflect.Int64:
			x = v.Int64()
		case reflect.Float64:
			x = v.Double()
		default:
			return fmt.Errorf("unexpected field type %s", t)
		}
	}
	return setField(f, reflect.ValueOf(x))
}

func deref(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// ArrowReader reads Arrow IPC files with arrow's ipc.FileReader, allocating
// from mem (nil means a Go allocator) and releasing all it allocates.
func ArrowReader(mem memory.Allocator) Reader {
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	open := func(path string, fn func(*ipc.FileReader) error) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
		if err != nil {
			return err
		}
		defer r.Close()
		return fn(r)
	}
	return Reader{
		Tables: func(dir string) (*rows.Tables, error) {
			return ReadTables(dir, "arrow", func(path string, dst any) error {
				return open(path, func(r *ipc.FileReader) error {
					for i := range r.NumRecords() {
						rec, err := r.RecordAt(i)
						if err != nil {
							return err
						}
						err = AppendRecord(dst, rec)
						rec.Release()
						if err != nil {
							return err
						}
					}
					return nil
				})
			})
		},
		Columns: func(path string) (names []string, err error) {
			err = open(path, func(r *ipc.FileReader) error {
				for _, f := range r.Schema().Fields() {
					names = append(names, f.Name)
				}
				return nil
			})
			return names, err
		},
	}
}

// AppendRecord appends the rows of rec to *dst, a pointer to a slice of a
// row type, matching columns to fields by name. It does not keep rec.
func AppendRecord(dst any, rec arrow.Record) error {
	slice := reflect.ValueOf(dst).Elem()
	rowType := slice.Type().Elem()
	fields := columnFields(rowType)
	n := int(rec.NumRows())
	out := reflect.MakeSlice(slice.Type(), n, n)
	for c, col := range rec.Columns() {
		name := rec.ColumnName(c)
		fi, ok := fields[name]
		if !ok {
			return fmt.Errorf("column %s is not a field of %s", name, rowType)
		}
		for i := range n {
			if col.IsNull(i) {
				continue // leaves the pointer nil
			}
			var v any
			switch a := col.(type) {
			case *array.String:
				v = a.Value(i)
			case *array.Boolean:
				v = a.Value(i)
			case *array.Int32:
				v = a.Value(i)
			case *array.Int64:
				v = a.Value(i)
			case *array.Float64:
				v = a.Value(i)
			case *array.Timestamp:
				v = time.UnixMicro(int64(a.Value(i))).UTC()
			default:
				return fmt.Errorf("column %s has unexpected type %s", name, col.DataType())
			}
			if err := setField(out.Index(i).Field(fi), reflect.ValueOf(v)); err != nil {
				return fmt.Errorf("column %s: %w", name, err)
			}
		}
	}
	slice.Set(reflect.AppendSlice(slice, out))
	return nil
}

// setField stores v in f, through a new pointer when f is a pointer field.
func setField(f, v reflect.Value) error {
	if f.Kind() == reflect.Pointer {
		p := reflect.New(f.Type().Elem())
		f.Set(p)
		f = p.Elem()
	}
	if v.Type() != f.Type() {
		return fmt.Errorf("value of type %s for a field of type %s", v.Type(), f.Type())
	}
	f.Set(v)
	return nil
}

// CSVReader reads CSV files with encoding/csv, parsing each field by the
// type of the row field its header names. An empty field of a pointer field
// is null.
func CSVReader() Reader {
	return Reader{
		Tables: func(dir string) (*rows.Tables, error) {
			return ReadTables(dir, "csv", readCSV)
		},
		Columns: func(path string) ([]string, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			return csv.NewReader(f).Read()
		},
	}
}

func readCSV(path string, dst any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return err
	}
	slice := reflect.ValueOf(dst).Elem()
	fields := columnFields(slice.Type().Elem())
	for line := 2; ; line++ {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		row := reflect.New(slice.Type().Elem()).Elem()
		for c, text := range record {
			fi, ok := fields[header[c]]
			if !ok {
				return fmt.Errorf("column %s is not a field", header[c])
			}
			if err := parseCSVField(row.Field(fi), text); err != nil {
				return fmt.Errorf("line %d, column %s: %w", line, header[c], err)
			}
		}
		slice.Set(reflect.Append(slice, row))
	}
}

func parseCSVField(f reflect.Value, text string) error {
	if f.Kind() == reflect.Pointer {
		if text == "" {
			return nil
		}
		f.Set(reflect.New(f.Type().Elem()))
		f = f.Elem()
	}
	if f.Type() == reflect.TypeFor[time.Time]() {
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(text, "Z") {
			return fmt.Errorf("time %q is not in UTC", text)
		}
		f.Set(reflect.ValueOf(t.UTC()))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(text, 10, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unexpected field type %s", f.Type())
	}
	return nil
}
