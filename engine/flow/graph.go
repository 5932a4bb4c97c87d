package flow

import (
	"fmt"
	"regexp"
	"strings"
)

// Mermaid draws the flow as a Mermaid stateDiagram-v2: one arrow per
// transition that changes state, labelled with its event and [guard];
// [*] --> initial, final states --> [*]. Internal transitions (no to:) are
// not drawn. Flow-level handlers are listed once, in a note on the initial
// state, as "event [guard] → target" (they apply in every state that does not
// handle the event itself).
func Mermaid(f *Flow) string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	ids := graphIDs(f)
	for _, name := range f.StateOrder {
		if ids[name] != name {
			fmt.Fprintf(&b, "    state \"%s\" as %s\n", mermaidText(name), ids[name])
		}
	}
	if f.States[f.Initial] != nil {
		fmt.Fprintf(&b, "    [*] --> %s\n", ids[f.Initial])
	}
	for _, name := range f.StateOrder {
		s := f.States[name]
		for _, ev := range s.OnOrder {
			for _, t := range s.On[ev] {
				if t.To == "" || f.States[t.To] == nil {
					continue
				}
				fmt.Fprintf(&b, "    %s --> %s: %s\n", ids[name], ids[t.To], mermaidText(transitionLabel(t)))
			}
		}
	}
	for _, name := range f.StateOrder {
		if f.States[name].Final {
			fmt.Fprintf(&b, "    %s --> [*]\n", ids[name])
		}
	}
	if lines := flowLevelLines(f); len(lines) > 0 && f.States[f.Initial] != nil {
		fmt.Fprintf(&b, "    note right of %s\n", ids[f.Initial])
		b.WriteString("        In any state that does not handle the event:\n")
		for _, l := range lines {
			fmt.Fprintf(&b, "        %s\n", mermaidText(l))
		}
		b.WriteString("    end note\n")
	}
	return b.String()
}

// Dot draws the flow for Graphviz: states are boxes (final states double),
// transitions labelled edges, and flow-level handlers dashed edges from an
// "any state" node.
func Dot(f *Flow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(f.Name))
	b.WriteString("  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("  __start [shape=point, label=\"\"];\n")
	for _, name := range f.StateOrder {
		s := f.States[name]
		attrs := ""
		if s.Final {
			attrs = " [peripheries=2]"
		}
		fmt.Fprintf(&b, "  %s%s;\n", dotQuote(name), attrs)
	}
	if f.States[f.Initial] != nil {
		fmt.Fprintf(&b, "  __start -> %s;\n", dotQuote(f.Initial))
	}
	for _, name := range f.StateOrder {
		s := f.States[name]
		for _, ev := range s.OnOrder {
			for _, t := range s.On[ev] {
				if t.To == "" || f.States[t.To] == nil {
					continue
				}
				fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotQuote(name), dotQuote(t.To), dotQuote(transitionLabel(t)))
			}
		}
	}
	anyState := false
	for _, ev := range f.OnOrder {
		for _, t := range f.On[ev] {
			if t.To == "" || f.States[t.To] == nil {
				continue
			}
			if !anyState {
				b.WriteString("  __any [label=\"any state\", style=dashed];\n")
				anyState = true
			}
			fmt.Fprintf(&b, "  __any -> %s [label=%s, style=dashed];\n", dotQuote(t.To), dotQuote(transitionLabel(t)))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func transitionLabel(t *Transition) string {
	l := t.Event
	if t.If != nil {
		l += " [" + strings.Join(strings.Fields(t.If.Source), " ") + "]"
	}
	return l
}

func flowLevelLines(f *Flow) []string {
	var out []string
	for _, ev := range f.OnOrder {
		for _, t := range f.On[ev] {
			to := "stay"
			if t.To != "" {
				to = "→ " + t.To
			}
			out = append(out, transitionLabel(t)+" "+to)
		}
	}
	return out
}

// endNote closes a Mermaid note.
const endNote = "end note"

var mermaidKeywords = map[string]bool{"end": true, "state": true, "note": true, "direction": true,
	"class": true, "classDef": true, "click": true, "style": true, "as": true, "left": true, "right": true, "of": true}

var nonID = regexp.MustCompile(`[^A-Za-z0-9_]`)

// graphIDs gives each state a Mermaid-safe identifier.
func graphIDs(f *Flow) map[string]string {
	ids := map[string]string{}
	used := map[string]bool{}
	for _, name := range f.StateOrder {
		id := nonID.ReplaceAllString(name, "_")
		if mermaidKeywords[id] || id != name {
			id = "s_" + id
		}
		for used[id] {
			id += "_"
		}
		used[id] = true
		ids[name] = id
	}
	return ids
}

// mermaidText escapes what Mermaid would read as syntax, with its #code;
// entities: among others the e of "end note", which ends a note wherever
// it appears in it, in any case ("append Note" too).
func mermaidText(s string) string {
	var b strings.Builder
	s = strings.Join(strings.Fields(s), " ")
	for i, r := range s {
		if len(s) >= i+len(endNote) && strings.EqualFold(s[i:i+len(endNote)], endNote) {
			fmt.Fprintf(&b, "#%d;", r) // e or E
			continue
		}
		switch r {
		case '#':
			b.WriteString("#35;")
		case ';':
			b.WriteString("#59;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '"':
			b.WriteString("#quot;")
		case ':':
			b.WriteString("#58;")
		case '{':
			b.WriteString("#123;")
		case '}':
			b.WriteString("#125;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
