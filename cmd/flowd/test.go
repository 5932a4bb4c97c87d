package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/flowd/flowd/engine/scenario"
	"github.com/flowd/flowd/engine/twiliosim"
)

const testUsage = "test [--format text|github] [-v] [--flows paths] [paths|dirs|globs…]"

// runTest is `flowd test`: run the scenario files (*.test.yaml) kept beside
// flows against the Twilio stand-in. Exit status as validate: 0 all passed,
// 1 a scenario failed, 2 usage error or a scenario file that does not parse.
func runTest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("test", testUsage, stderr)
	format := fs.String("format", "", "output format: text or github (default text; github when GITHUB_ACTIONS=true)")
	verbose := fs.Bool("v", false, "print every scenario's timeline")
	flowPaths := fs.String("flows", "", "comma-separated flow files or directories (default: the directory of each scenario file)")
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
	if *format != "text" && *format != "github" {
		fmt.Fprintf(stderr, "flowd test: unknown format %q (text or github)\n", *format)
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"flows/"}
	}
	files, err := scenario.FindFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "flowd test: %v\n", err)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "flowd test: no scenario files (*.test.yaml) in %s\n", strings.Join(paths, ", "))
		return 2
	}
	if dir := getenv("TWILIO_OPENAPI_DIR"); dir != "" {
		// A typo must not turn the spec check off while every scenario
		// still passes.
		if err := twiliosim.CheckOpenAPIDir(dir); err != nil {
			fmt.Fprintf(stderr, "flowd test: TWILIO_OPENAPI_DIR: %v\n", err)
			return 2
		}
	}
	passed, failed, unreadable := 0, 0, 0
	for _, path := range files {
		f, err := scenario.ParseFile(path)
		if err != nil {
			// Report it and run the other files: one broken file should
			// not hide the results of the rest.
			line, msg := 0, err.Error()
			var se *scenario.Error
			if errors.As(err, &se) {
				line, msg = se.Line, se.Msg
			}
			report(stdout, *format, path, line, msg, "")
			unreadable++
			continue
		}
		// A scenario file tests the flows beside it.
		opts := scenario.Options{FlowPaths: []string{filepath.Dir(path)}, OpenAPIDir: getenv("TWILIO_OPENAPI_DIR"), Verbose: *verbose}
		if *flowPaths != "" {
			opts.FlowPaths = strings.Split(*flowPaths, ",")
		}
		for _, r := range scenario.RunFile(context.Background(), f, opts) {
			if r.Passed() {
				passed++
				if *verbose {
					fmt.Fprintf(stdout, "PASS %s:%d: %s (%s)\n%s", r.File, r.Line, r.Scenario, r.Duration.Round(1e6), r.Timeline)
				}
				continue
			}
			failed++
			report(stdout, *format, r.File, r.FailureLine, r.Scenario+": "+r.Failure, r.Timeline)
		}
	}
	summary := fmt.Sprintf("%s passed", plural(passed, "scenario"))
	if failed > 0 {
		summary = fmt.Sprintf("%s failed, %s", plural(failed, "scenario"), summary)
	}
	if unreadable > 0 {
		summary += fmt.Sprintf("; %s could not be read", plural(unreadable, "scenario file"))
	}
	fmt.Fprintln(stdout, summary)
	switch {
	case unreadable > 0:
		return 2
	case failed > 0:
		return 1
	}
	return 0
}

func report(w io.Writer, format, file string, line int, msg, timeline string) {
	if format == "github" {
		props := []string{"file=" + escapeProperty(file)}
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
		props = append(props, "title=flowd test")
		fmt.Fprintf(w, "::error %s::%s\n", strings.Join(props, ","), escapeData(msg+"\n"+timeline))
		return
	}
	if line > 0 {
		fmt.Fprintf(w, "FAIL %s:%d: %s\n", file, line, msg)
	} else {
		fmt.Fprintf(w, "FAIL %s: %s\n", file, msg)
	}
	if timeline != "" {
		fmt.Fprintf(w, "  timeline so far:\n%s", timeline)
	}
}
