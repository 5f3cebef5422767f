// Package schema defines the study file: the closed CUE schema (embedded),
// Go types that mirror it, and Load, which turns a file into a validated
// Study or into errors that name file, line and column.
package schema

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/token"
)

// Source of the schema, printed by `faaslab schema` for users' own `cue vet`.
//
//go:embed study.cue
var CUE []byte

// schemaFile is the name the embedded schema's positions carry.
const schemaFile = "faaslab:schema/study.cue"

// Error is one problem with a study. Pos is "file:line:col" when the
// problem has a place in a file, else empty; Path is the field path.
type Error struct {
	Pos  string
	Path string
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem Load found, in file order. A bad study is reported
// whole, not one error per attempt.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Options adjust Load.
type Options struct {
	// Tags are "key=value" injections for @tag(key) attributes in the study.
	Tags []string
	// Cwd makes positions relative to it; empty leaves them as loaded.
	Cwd string
	// HostArch is the architecture the local platform can run ("x86_64",
	// "arm64"); empty skips that check.
	HostArch string
}

// Load reads, unifies with #Study, and validates the study file at path.
// The returned error is an Errors value for anything wrong with the study,
// or a plain error when the file cannot be read at all.
func Load(path string, opts Options) (*Study, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read study: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	ctx := cuecontext.New()
	insts := load.Instances([]string{filepath.Base(abs)}, &load.Config{Dir: filepath.Dir(abs), Tags: opts.Tags})
	if len(insts) != 1 {
		return nil, fmt.Errorf("load %s: %d instances", path, len(insts))
	}
	if err := insts[0].Err; err != nil {
		return nil, convert(err, opts.Cwd, nil)
	}
	v := ctx.BuildInstance(insts[0])
	if err := v.Err(); err != nil {
		return nil, convert(err, opts.Cwd, nil)
	}
	positions := map[string]string{}
	recordPositions(v, nil, positions, opts.Cwd)
	def := ctx.CompileBytes(CUE, cue.Filename(schemaFile)).LookupPath(cue.ParsePath("#Study"))
	if err := def.Err(); err != nil {
		return nil, fmt.Errorf("faaslab schema: %w", err)
	}
	u := def.Unify(v)
	if err := u.Validate(cue.Concrete(true), cue.Final()); err != nil {
		return nil, convert(err, opts.Cwd, positions)
	}
	var s Study
	if err := u.Decode(&s); err != nil {
		return nil, convert(err, opts.Cwd, positions)
	}
	if pv := u.LookupPath(cue.ParsePath("prices")); pv.Exists() {
		if s.Prices, err = pv.MarshalJSON(); err != nil {
			return nil, convert(err, opts.Cwd, positions)
		}
	}
	s.Source = Source{File: path, Dir: filepath.Dir(abs), Tags: opts.Tags}
	s.positions = positions
	if errs := validate(&s, opts); len(errs) > 0 {
		return nil, errs
	}
	if s.Source.SHA256, err = studyHash(&s, raw); err != nil {
		return nil, err
	}
	return &s, nil
}

// studyHash is the SHA-256 of everything a run of the study reads: the
// study file, its tags, and every file it refers to (prompts, references,
// inputs, the code of "files" models), so that editing any of them makes a
// new run rather than resuming one made with the old files.
func studyHash(s *Study, raw []byte) (string, error) {
	h := sha256.New()
	part := func(b []byte) { fmt.Fprintf(h, "%d:", len(b)); h.Write(b) }
	part(raw)
	for _, t := range s.Source.Tags {
		part([]byte(t))
	}
	paths, _, err := s.Files()
	if err != nil {
		return "", fmt.Errorf("hash study files: %w", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("hash study files: %w", err)
		}
		rel, _ := filepath.Rel(s.Source.Dir, p)
		part([]byte(rel))
		part(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// convert turns CUE's errors into Errors, one per problem, placed at the
// study file rather than at the schema when CUE knows both places. A field
// the study lacks altogether is placed at its nearest parent in positions.
func convert(err error, cwd string, positions map[string]string) Errors {
	var out Errors
	seen := map[string]bool{}
	for _, e := range cueerrors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		path := fieldPath(e.Path())
		pos := ""
		for _, p := range cueerrors.Positions(e) {
			if p.Filename() != schemaFile {
				pos = posString(p, cwd)
				break
			}
		}
		for p := path; pos == "" && p != ""; p = parent(p) {
			pos = positions[p]
		}
		if pos == "" && e.Position().IsValid() {
			pos = posString(e.Position(), cwd)
		}
		if strings.HasPrefix(msg, "incomplete value") {
			msg = "required field is missing or not concrete (" + msg + ")"
		}
		ce := Error{Pos: pos, Path: path, Msg: msg}
		if !seen[ce.Error()] {
			seen[ce.Error()] = true
			out = append(out, ce)
		}
	}
	out = collapseDisjunctions(out)
	sortErrors(out)
	return out
}

var conflicting = regexp.MustCompile(`^conflicting values (.+) and (.+?)( \(mismatched types .*\))?$`)

// collapseDisjunctions rewrites CUE's "N errors in empty disjunction" (one
// line per alternative, defaults included) as what the author needs: the
// value given and the values allowed, or the one bound it broke.
func collapseDisjunctions(es Errors) Errors {
	type group struct {
		allowed []string
		given   string
		pos     string
		other   Errors
	}
	groups := map[string]*group{}
	for _, e := range es {
		if strings.HasSuffix(e.Msg, "errors in empty disjunction:") {
			groups[e.Path] = &group{}
		}
	}
	if len(groups) == 0 {
		return es
	}
	var out Errors
	for _, e := range es {
		g, ok := groups[e.Path]
		switch {
		case !ok:
			out = append(out, e)
		case strings.HasSuffix(e.Msg, "errors in empty disjunction:"):
		case conflicting.MatchString(e.Msg):
			m := conflicting.FindStringSubmatch(e.Msg)
			g.allowed = append(g.allowed, m[1])
			g.given, g.pos = m[2], e.Pos
		default:
			g.other = append(g.other, e)
		}
	}
	for _, path := range SortedKeys(groups) {
		g := groups[path]
		switch {
		case len(g.other) > 0: // a bound broken: the default's conflict is noise
			out = append(out, g.other...)
		case g.given != "":
			out = append(out, Error{Pos: g.pos, Path: path,
				Msg: fmt.Sprintf("%s is not allowed: want one of %s", g.given, strings.Join(g.allowed, ", "))})
		}
	}
	return out
}

// fieldPath writes a CUE error path the way a study author reads it:
// "matrix.memory_mb[1]", without the schema's #Study prefix.
func fieldPath(sel []string) string {
	var b strings.Builder
	for i, s := range sel {
		switch {
		case i == 0 && s == "#Study":
			continue
		case s != "" && strings.Trim(s, "0123456789") == "":
			b.WriteString("[" + s + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strings.Trim(s, `"`))
		}
	}
	return b.String()
}

func posString(p token.Pos, cwd string) string {
	name := p.Filename()
	if cwd != "" && filepath.IsAbs(name) {
		if rel, err := filepath.Rel(cwd, name); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	return fmt.Sprintf("%s:%d:%d", name, p.Line(), p.Column())
}

// sortErrors orders errors by file position (line and column numerically),
// then by path, so output is stable.
func sortErrors(es Errors) {
	key := func(e Error) (string, int, int) {
		parts := strings.Split(e.Pos, ":")
		if len(parts) < 3 {
			return e.Pos, 0, 0
		}
		var line, col int
		fmt.Sscan(parts[len(parts)-2], &line)
		fmt.Sscan(parts[len(parts)-1], &col)
		return strings.Join(parts[:len(parts)-2], ":"), line, col
	}
	sort.SliceStable(es, func(i, j int) bool {
		fi, li, ci := key(es[i])
		fj, lj, cj := key(es[j])
		if fi != fj {
			return fi < fj
		}
		if li != lj {
			return li < lj
		}
		if ci != cj {
			return ci < cj
		}
		return es[i].Path < es[j].Path
	})
}

// recordPositions walks v and stores each field's position under its
// dot-separated path, so validation past CUE can still name file:line:col.
func recordPositions(v cue.Value, path []string, into map[string]string, cwd string) {
	if p := v.Pos(); p.IsValid() && p.Filename() != schemaFile && len(path) > 0 {
		into[strings.Join(path, ".")] = posString(p, cwd)
	}
	switch v.Kind() {
	case cue.StructKind:
		it, err := v.Fields(cue.Optional(false))
		if err != nil {
			return
		}
		for it.Next() {
			recordPositions(it.Value(), append(path, it.Selector().Unquoted()), into, cwd)
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return
		}
		for i := 0; it.Next(); i++ {
			p := append([]string(nil), path...)
			if len(p) > 0 {
				p[len(p)-1] += fmt.Sprintf("[%d]", i)
			}
			recordPositions(it.Value(), p, into, cwd)
		}
	}
}
