package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
)

// LoadOptions configure loading.
type LoadOptions struct {
	// Env is the environment env.NAME reads. Nil means the process
	// environment (os.Environ) at load time.
	Env map[string]string

	// skipSchema runs the typed decoder without the JSON Schema pass;
	// schemaFirst runs the schema pass on every file, before the decoder,
	// as a reference (tests compare the two).
	skipSchema, schemaFirst bool
	// noRecover lets panics through (fuzzing).
	noRecover bool
}

func (o LoadOptions) env() map[string]string {
	if o.Env != nil {
		return o.Env
	}
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// testHook, when set by a test, runs at the start of every Load.
var testHook func(file string)

// LoadFile reads and loads one flow file. See [Load].
func LoadFile(path string, opts LoadOptions) (*Flow, Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, Diagnostics{diag(Pos{File: path}, CodeIO, "%v", ioMessage(err))}
	}
	if info.IsDir() {
		return nil, Diagnostics{diag(Pos{File: path}, CodeIO, "%s is a directory, not a flow file", path)}
	}
	if !info.Mode().IsRegular() {
		// A FIFO or a device would block or never end.
		return nil, Diagnostics{diag(Pos{File: path}, CodeIO, "%s is not a regular file (a pipe, device or socket): flows are read from files", path)}
	}
	tooLarge := func(size int64) Diagnostics {
		return Diagnostics{diag(Pos{File: path, Line: 1, Col: 1}, CodeFileTooLarge,
			"the file is %d bytes; flow files are limited to %d bytes (1 MiB)", size, MaxFileSize)}
	}
	if info.Size() > MaxFileSize {
		return nil, tooLarge(info.Size())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, Diagnostics{diag(Pos{File: path}, CodeIO, "%v", ioMessage(err))}
	}
	defer f.Close()
	// Bounded even if the file grew since Stat.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, Diagnostics{diag(Pos{File: path}, CodeIO, "%v", ioMessage(err))}
	}
	if len(data) > MaxFileSize {
		return nil, tooLarge(int64(len(data)))
	}
	return Load(path, data, opts)
}

// NearbyName is nearbyName for other files flowd reads (scenarios).
func NearbyName(p string) string { return nearbyName(p) }

// nearbyName suggests the entry of p's directory closest to p's name
// (flow/ for flows/, suport.yaml for support.yaml), or "".
func nearbyName(p string) string {
	clean := filepath.Clean(p)
	dir, base := filepath.Split(clean)
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return ""
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	s := suggest(base, names)
	if s == "" {
		return ""
	}
	alt := dir + s
	if strings.HasSuffix(p, "/") || strings.HasSuffix(p, string(filepath.Separator)) {
		alt += string(filepath.Separator)
	}
	return fmt.Sprintf(" (did you mean %s?)", alt)
}

func ioMessage(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return fmt.Sprintf("cannot %s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return err.Error()
}

// Load parses, checks and compiles one flow file's bytes; file names it in
// diagnostics. The flow is returned only when there is no error (warnings
// may accompany it). Diagnostics are sorted by position. Load never panics:
// a bug is reported as an `internal` diagnostic.
func Load(file string, data []byte, opts LoadOptions) (f *Flow, diags Diagnostics) {
	if !opts.noRecover {
		defer func() {
			if r := recover(); r != nil {
				f = nil
				diags = append(diags, diag(Pos{File: file, Line: 1, Col: 1}, CodeInternal,
					"flowd failed on this file (please report it with the file): %v", r))
				if os.Getenv("FLOWD_DEBUG") != "" {
					fmt.Fprintf(os.Stderr, "%s: panic: %v\n%s", file, r, debug.Stack())
				}
				diags.Sort()
			}
		}()
	}
	if testHook != nil {
		testHook(file)
	}
	src := newSource(file, fromUTF16(data))
	root := parseYAML(src, &diags)
	if root == nil {
		diags.Sort()
		return nil, diags
	}
	// The typed decoder and the JSON Schema come from one spec and report
	// the same shape errors at the same places (TestSchemaModelAgreement,
	// FuzzLoad), so the schema pass, a third of validate's time, runs only
	// when the decoder finds a shape error: its report then stands alone,
	// as when it runs first.
	if opts.schemaFirst && !opts.skipSchema {
		if sd := checkSchema(src, root); len(sd) > 0 {
			return nil, dedupe(append(diags, sd...))
		}
	}
	d := &decoder{src: src}
	f = &Flow{}
	d.decodeFlow(root, f)
	if d.failed && hasShapeErrors(d.diags) {
		if !opts.skipSchema && !opts.schemaFirst {
			if sd := checkSchema(src, root); len(sd) > 0 {
				return nil, dedupe(append(diags, sd...))
			}
		}
		return nil, dedupe(append(diags, d.diags...))
	}
	diags = append(diags, d.diags...)
	f.File = file
	sum := sha256.Sum256(data)
	f.Revision = hex.EncodeToString(sum[:])
	f.Source = data
	if d.nameNode != nil {
		f.namePos = src.nodePos(d.nameNode)
	}
	for _, n := range d.numberNodes {
		f.numberPos = append(f.numberPos, src.nodePos(n))
	}
	diags = append(diags, f.repeatedNumbers()...)
	v := &validator{f: f, d: d, src: src, env: opts.env()}
	v.run()
	diags = append(diags, v.diags...)
	diags = dedupe(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return f, diags
}

func hasShapeErrors(ds Diagnostics) bool {
	for _, d := range ds {
		switch d.Code {
		case CodeUnknownKey, CodeMissingKey, CodeWrongType, CodeBadValue, CodeBadAction, CodeUnknownAction:
			return true
		}
	}
	return false
}

// dedupe sorts and removes identical diagnostics.
func dedupe(ds Diagnostics) Diagnostics {
	ds.Sort()
	out := ds[:0]
	for i, d := range ds {
		if i > 0 && d == ds[i-1] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Set is a group of flows loaded together (a deployment's flows directory).
type Set struct {
	// Flows are the flows without errors, sorted by name.
	Flows    []*Flow
	byName   map[string]*Flow
	byNumber map[string]*Flow
}

// ByName returns the flow with the name, or nil.
func (s *Set) ByName(name string) *Flow {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// ByNumber returns the flow that answers calls to the E.164 number, or nil.
func (s *Set) ByNumber(e164 string) *Flow {
	if s == nil {
		return nil
	}
	return s.byNumber[e164]
}

// ExpandPaths turns files, directories (their *.yaml and *.yml files, not
// recursively) and glob patterns into a sorted list of files. Scenario files
// (*.test.yaml / *.test.yml) are left out wherever they come from: named
// too, since a shell expands `flows/*.yaml` into names before flowd sees it.
func ExpandPaths(paths []string) ([]string, Diagnostics) {
	var diags Diagnostics
	var scenarios []string
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			matches, err := filepath.Glob(p)
			if err != nil {
				diags = append(diags, diag(Pos{File: p}, CodeIO, "bad pattern %q: %v", p, err))
				continue
			}
			n := 0
			for _, m := range matches {
				if st, err := os.Stat(m); err == nil && !st.IsDir() && isFlowFile(m) {
					add(m)
					n++
				}
			}
			if n == 0 {
				diags = append(diags, diag(Pos{File: p}, CodeNoFiles, "%q matches no flow file", p))
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			msg := ioMessage(err)
			if errors.Is(err, fs.ErrNotExist) {
				msg += nearbyName(p)
			}
			diags = append(diags, diag(Pos{File: p}, CodeIO, "%s", msg))
			continue
		}
		if !st.IsDir() {
			if IsScenarioFile(p) {
				scenarios = append(scenarios, p)
				continue
			}
			add(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			diags = append(diags, diag(Pos{File: p}, CodeIO, "%s", ioMessage(err)))
			continue
		}
		n := 0
		var tests, subdirs []string
		for _, e := range entries {
			switch {
			case !e.IsDir() && isFlowFile(e.Name()):
				add(filepath.Join(p, e.Name()))
				n++
			case !e.IsDir() && IsScenarioFile(e.Name()):
				tests = append(tests, e.Name())
			case e.IsDir() && !strings.HasPrefix(e.Name(), "."):
				subdirs = append(subdirs, filepath.Join(p, e.Name()))
			}
		}
		if n == 0 {
			msg := fmt.Sprintf("directory %s holds no *.yaml or *.yml flow file", p)
			switch {
			case len(tests) > 0:
				msg += fmt.Sprintf(", only scenario files (%s), which flowd test runs", strings.Join(tests, ", "))
			case len(subdirs) > 0:
				msg += fmt.Sprintf("; subdirectories are not read: name them (%s)", strings.Join(subdirs, " "))
			}
			diags = append(diags, diag(Pos{File: p}, CodeNoFiles, "%s", msg))
		}
	}
	if len(out) == 0 && len(diags) == 0 && len(scenarios) > 0 {
		diags = append(diags, diag(Pos{File: scenarios[0]}, CodeNoFiles, "only scenario files were named (%s); flowd test runs them", strings.Join(scenarios, ", ")))
	}
	sort.Strings(out)
	return out, diags
}

func isFlowFile(name string) bool {
	base := strings.ToLower(filepath.Base(name))
	if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") {
		return false
	}
	return !IsScenarioFile(name)
}

// IsScenarioFile reports whether name is a scenario file for flowd test
// (NAME.test.yaml, in any letter case), which validate skips: one rule for
// both commands, so a file is always one or the other.
func IsScenarioFile(name string) bool {
	base := strings.ToLower(filepath.Base(name))
	return strings.HasSuffix(base, ".test.yaml") || strings.HasSuffix(base, ".test.yml")
}

// LoadSet loads flow files in parallel from files, directories and globs
// (see [ExpandPaths]) and checks them against each other: two files may not
// declare the same flow name or the same number (the second one is in error,
// naming the first). The Set holds every flow that loaded without error and
// is never nil; callers decide what errors mean to them with
// diags.HasErrors().
func LoadSet(paths []string, opts LoadOptions) (*Set, Diagnostics) {
	files, diags := ExpandPaths(paths)
	if opts.Env == nil {
		opts.Env = opts.env() // read the environment once
	}
	type result struct {
		f     *Flow
		diags Diagnostics
	}
	results := make([]result, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, file := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f, ds := LoadFile(file, opts)
			results[i] = result{f, ds}
		}()
	}
	wg.Wait()
	set := &Set{byName: map[string]*Flow{}, byNumber: map[string]*Flow{}}
	for _, r := range results {
		diags = append(diags, r.diags...)
		f := r.f
		if f == nil {
			continue
		}
		if first, ok := set.byName[f.Name]; ok {
			diags = append(diags, diag(f.namePos, CodeDuplicateFlow,
				"flow %q is already defined in %s:%d", f.Name, first.File, first.namePos.Line))
			continue
		}
		dup := false
		for i, num := range f.Numbers {
			if first, ok := set.byNumber[num]; ok {
				p := f.namePos
				if i < len(f.numberPos) {
					p = f.numberPos[i]
				}
				diags = append(diags, diag(p, CodeDuplicateNumber,
					"number %s is already claimed by flow %q (%s:%d)", num, first.Name, first.File, numberLine(first, num)))
				dup = true
			}
		}
		if dup {
			continue
		}
		set.byName[f.Name] = f
		for _, num := range f.Numbers {
			set.byNumber[num] = f
		}
		set.Flows = append(set.Flows, f)
	}
	sort.Slice(set.Flows, func(i, j int) bool { return set.Flows[i].Name < set.Flows[j].Name })
	return set, dedupe(diags)
}

// repeatedNumbers reports a number the flow lists twice: harmless to a
// call, but usually a typo for another number, which then starts nothing.
func (f *Flow) repeatedNumbers() Diagnostics {
	var ds Diagnostics
	for i, num := range f.Numbers {
		if j := slices.Index(f.Numbers[:i], num); j >= 0 && i < len(f.numberPos) {
			ds = append(ds, diag(f.numberPos[i], CodeDuplicateNumber,
				"number %s is listed twice under numbers: (first at line %d); a typo for another number?", num, f.numberPos[j].Line))
		}
	}
	return ds
}

func numberLine(f *Flow, num string) int {
	for i, n := range f.Numbers {
		if n == num && i < len(f.numberPos) {
			return f.numberPos[i].Line
		}
	}
	return f.namePos.Line
}
