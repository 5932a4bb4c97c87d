package main

import (
	"fmt"
	"io"

	"github.com/flowd/flowd/engine/flow"
)

const graphUsage = "graph [--format mermaid|dot] FILE"

// runGraph is `flowd graph`: draw one flow as Mermaid (default) or DOT.
func runGraph(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("graph", graphUsage, stderr)
	format := fs.String("format", "mermaid", "diagram format: mermaid (stateDiagram-v2) or dot (Graphviz)")
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(paths) != 1 {
		fmt.Fprintf(stderr, "flowd graph: draws one flow file, got %d arguments\n", len(paths))
		fs.Usage()
		return 2
	}
	if flow.IsScenarioFile(paths[0]) {
		fmt.Fprintf(stderr, "flowd graph: %s is a scenario file (flowd test runs it); name the flow file it tests\n", paths[0])
		return 2
	}
	if *format != "mermaid" && *format != "dot" {
		fmt.Fprintf(stderr, "flowd graph: unknown format %q (mermaid or dot)\n", *format)
		return 2
	}
	f, diags := flow.LoadFile(paths[0], flow.LoadOptions{Env: environ()})
	if f == nil {
		for _, d := range diags {
			fmt.Fprintln(stderr, d.String())
		}
		for _, d := range diags {
			if d.Code == flow.CodeIO {
				return 2
			}
		}
		return 1
	}
	if *format == "dot" {
		io.WriteString(stdout, flow.Dot(f))
	} else {
		io.WriteString(stdout, flow.Mermaid(f))
	}
	return 0
}
