package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/flowd/flowd/schema"
)

// runSchema is `flowd schema`: print the JSON Schema of flow files (the file
// editors use through `# yaml-language-server: $schema=…`).
func runSchema(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("schema", "schema", stderr)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "flowd schema: takes no arguments (got %s); it prints the flow file schema to stdout\n", strings.Join(rest, " "))
		fs.Usage()
		return 2
	}
	stdout.Write(schema.Flow)
	return 0
}
