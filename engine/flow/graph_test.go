package flow

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestGraphGolden(t *testing.T) {
	files := append(validFiles(t), "testdata/graph/names.yaml")
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			f, diags := LoadFile(file, opts())
			if f == nil {
				t.Fatal(diags)
			}
			golden(t, filepath.Join("testdata/graph", name+".mmd"), Mermaid(f))
			golden(t, filepath.Join("testdata/graph", name+".dot"), Dot(f))
		})
	}
}

func TestMermaidEscapes(t *testing.T) {
	for in, want := range map[string]string{
		`event.role == "agent"`:   `event.role == #quot;agent#quot;`,
		"a;b #c <d> {e}: f":       "a#59;b #35;c #lt;d#gt; #123;e#125;#58; f",
		"multi\n   line\tguard  ": "multi line guard",
		"x; end note: y":          "x#59; #101;nd note#58; y",
		"Append\tEND  NOTE":       "Append #69;ND NOTE",
		"append Note":             "app#101;nd Note",
	} {
		if got := mermaidText(in); got != want {
			t.Errorf("mermaidText(%q) = %q, want %q", in, got, want)
		}
	}
}
