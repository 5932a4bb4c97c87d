package flow

import (
	"fmt"
	"sort"
)

// Severity of a diagnostic.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a flow file, with a stable code that
// tools and docs can refer to.
type Diagnostic struct {
	Pos      Pos      `json:"pos"`
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Message  string   `json:"message"`
}

func (d Diagnostic) String() string {
	if d.Pos.Line == 0 { // about the file as a whole (it cannot be read)
		return fmt.Sprintf("%s: %s[%s]: %s", d.Pos.File, d.Severity, d.Code, d.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s[%s]: %s", d.Pos.File, d.Pos.Line, d.Pos.Col, d.Severity, d.Code, d.Message)
}

// Diagnostics is a list sorted by file, line, column, code, message.
type Diagnostics []Diagnostic

// Sort orders by position, then code, then message: two problems at one
// place (a key unknown both to a state and to a transition, when an alias
// puts one mapping in both) come out in the same order on every run.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Message < b.Message
	})
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Err returns the diagnostics as an error when there are errors, else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return DiagnosticsError(ds)
}

// DiagnosticsError is Diagnostics used as an error.
type DiagnosticsError Diagnostics

func (e DiagnosticsError) Error() string {
	n := 0
	first := ""
	for _, d := range e {
		if d.Severity == SeverityError {
			if n == 0 {
				first = d.String()
			}
			n++
		}
	}
	if n == 1 {
		return first
	}
	return fmt.Sprintf("%s (and %d more errors)", first, n-1)
}
