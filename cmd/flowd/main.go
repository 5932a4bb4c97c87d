// Command flowd is the flowd command line: it validates and draws call
// flows, prints their JSON Schema and (added by their own files) serves them.
//
// Each subcommand lives in its own file and registers itself in the commands
// map below; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands maps a subcommand name to its implementation.
var commands = map[string]command{
	"validate": {summary: "check flow files (paths, directories or globs; default flows/)", run: runValidate},
	"graph":    {summary: "draw a flow as a Mermaid or Graphviz diagram", run: runGraph},
	"schema":   {summary: "print the JSON Schema of flow files", run: runSchema},
	"serve":    {summary: "serve Twilio webhooks and the /v1 API (docs/serve.md)", run: runServe},
	"sim":      {summary: "run the Twilio stand-in alone, to try flows without a Twilio account", run: runSim},
	"test":     {summary: "run flow scenarios (*.test.yaml) against the Twilio stand-in", run: runTest},
	"version":  {summary: "print flowd's version", run: runVersion},
}

// getenv is os.Getenv, replaced in tests.
var getenv = os.Getenv

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				fmt.Fprintf(stderr, "flowd: unknown command %q\n\n", args[1])
				usage(stderr)
				return 2
			}
			// Asked for, so on stdout and a success.
			c.run([]string{"-h"}, stdout, stdout)
			return 0
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "flowd: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: flowd <command> [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run flowd help <command> for a command's flags.")
}
