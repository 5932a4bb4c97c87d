package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// runVersion is `flowd version`: the module version flowd was built from
// (as `go install …@version` records it), or "devel".
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "version", stderr)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fs.Usage()
		return 2
	}
	fmt.Fprintln(stdout, "flowd", version(debug.ReadBuildInfo))
	return 0
}

func version(read func() (*debug.BuildInfo, bool)) string {
	bi, ok := read()
	if !ok || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "devel"
	}
	return bi.Main.Version
}
