package server

import (
	"fmt"
	"strings"

	"github.com/flowd/flowd/engine/flow"
)

// mermaid is a stand-in until flow.Mermaid lands.
func mermaid(f *flow.Flow) string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "  [*] --> %s\n", f.Initial)
	for _, name := range f.StateOrder {
		st := f.States[name]
		for _, ev := range st.OnOrder {
			for _, t := range st.On[ev] {
				if t.To != "" {
					fmt.Fprintf(&b, "  %s --> %s: %s\n", name, t.To, ev)
				}
			}
		}
		if st.Final {
			fmt.Fprintf(&b, "  %s --> [*]\n", name)
		}
	}
	return b.String()
}
