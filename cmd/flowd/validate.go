package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/flowd/flowd/engine/flow"
)

const validateUsage = "validate [--format text|json|github] [--strict] [paths|dirs|globs…]"

// runValidate is `flowd validate`: load every flow file, check each one and
// the set, print the diagnostics sorted by position, then one summary line.
// Exit status: 0 clean (warnings allowed unless --strict), 1 errors found,
// 2 usage or I/O error.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", validateUsage, stderr)
	format := fs.String("format", "", "output format: text, json or github (default text; github when GITHUB_ACTIONS=true)")
	strict := fs.Bool("strict", false, "fail (exit 1) on warnings too")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if *format == "" {
		*format = "text"
		if getenv("GITHUB_ACTIONS") == "true" {
			*format = "github"
		}
	}
	switch *format {
	case "text", "json", "github":
	default:
		fmt.Fprintf(stderr, "flowd validate: unknown format %q (text, json or github)\n", *format)
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"flows/"}
	}
	set, diags := flow.LoadSet(paths, flow.LoadOptions{Env: environ()})

	errs, warns, ioErr := 0, 0, false
	files := map[string]bool{}
	for _, d := range diags {
		files[d.Pos.File] = true
		if d.Severity == flow.SeverityError {
			errs++
		} else {
			warns++
		}
		if d.Code == flow.CodeIO || d.Code == flow.CodeNoFiles {
			ioErr = true
		}
	}
	summary := fmt.Sprintf("%s OK", plural(len(set.Flows), "flow"))
	if len(diags) > 0 {
		summary = fmt.Sprintf("%s, %s in %s", plural(errs, "error"), plural(warns, "warning"), plural(len(files), "file"))
	}
	switch *format {
	case "text":
		for _, d := range diags {
			fmt.Fprintln(stdout, d.String())
		}
		fmt.Fprintln(stdout, summary)
	case "github":
		for _, d := range diags {
			fmt.Fprintln(stdout, githubAnnotation(d))
		}
		fmt.Fprintln(stdout, summary)
	case "json":
		out := make([]jsonDiagnostic, 0, len(diags))
		for _, d := range diags {
			out = append(out, jsonDiagnostic{File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col,
				Severity: string(d.Severity), Code: d.Code, Message: d.Message})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(out)
		fmt.Fprintln(stderr, summary)
	}
	switch {
	case ioErr:
		return 2
	case errs > 0, *strict && warns > 0:
		return 1
	}
	return 0
}

type jsonDiagnostic struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// githubAnnotation renders a diagnostic as a GitHub Actions workflow command
// (::error file=…,line=…,col=…,title=…::message).
func githubAnnotation(d flow.Diagnostic) string {
	cmd := "error"
	if d.Severity == flow.SeverityWarning {
		cmd = "warning"
	}
	props := []string{"file=" + escapeProperty(d.Pos.File)}
	if d.Pos.Line > 0 {
		props = append(props, fmt.Sprintf("line=%d", d.Pos.Line))
	}
	if d.Pos.Col > 0 {
		props = append(props, fmt.Sprintf("col=%d", d.Pos.Col))
	}
	props = append(props, "title="+escapeProperty(d.Code))
	return fmt.Sprintf("::%s %s::%s", cmd, strings.Join(props, ","), escapeData(d.Message))
}

// escapeData escapes a workflow command's message.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// environ is the process environment as a map (replaced in tests).
var environ = func() map[string]string { return nil }
