// Package twimltest compares TwiML documents structurally in tests.
//
// twilio-go writes attributes in map order, so the same document can come
// out with its attributes in any order; comparing strings would be flaky.
// Here documents are parsed into Nodes and compared by element name,
// attribute set, text and children in order, with a readable diff of a
// canonical form on mismatch.
package twimltest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
)

// Node is one parsed XML element.
type Node struct {
	Name     string
	Attrs    map[string]string // never nil
	Text     string            // character data directly inside, trimmed
	Children []Node
}

// Attr returns the value of attribute name and whether it is set.
func (n Node) Attr(name string) (string, bool) {
	v, ok := n.Attrs[name]
	return v, ok
}

// Find returns the first element named name in n's subtree (n included), in
// document order.
func (n Node) Find(name string) (Node, bool) {
	if n.Name == name {
		return n, true
	}
	for _, c := range n.Children {
		if f, ok := c.Find(name); ok {
			return f, true
		}
	}
	return Node{}, false
}

// String is the canonical form: one element per line, indented, attributes
// sorted. Two nodes are equal exactly when their canonical forms are.
func (n Node) String() string {
	var b strings.Builder
	n.write(&b, 0)
	return b.String()
}

func (n Node) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString("<" + n.Name)
	keys := make([]string, 0, len(n.Attrs))
	for k := range n.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, " %s=%q", k, n.Attrs[k])
	}
	b.WriteString(">")
	if n.Text != "" {
		fmt.Fprintf(b, " %q", n.Text)
	}
	b.WriteString("\n")
	for _, c := range n.Children {
		c.write(b, depth+1)
	}
}

// ParseString parses doc into its root element.
func ParseString(doc string) (Node, error) {
	d := xml.NewDecoder(strings.NewReader(doc))
	var stack []*Node
	var root *Node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Node{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return Node{}, errors.New("more than one root element")
			}
			n := &Node{Name: t.Name.Local, Attrs: map[string]string{}}
			for _, a := range t.Attr {
				n.Attrs[a.Name.Local] = a.Value
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n.Text = strings.TrimSpace(n.Text)
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, *n)
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(t)
			} else if strings.TrimSpace(string(t)) != "" {
				return Node{}, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return Node{}, errors.New("no root element")
	}
	return *root, nil
}

// Parse parses doc or fails the test.
func Parse(t testing.TB, doc string) Node {
	t.Helper()
	n, err := ParseString(doc)
	if err != nil {
		t.Fatalf("twimltest: cannot parse TwiML: %v\n%s", err, doc)
	}
	return n
}

// Equal fails the test unless got and want are the same document
// structurally, showing a line diff of their canonical forms.
func Equal(t testing.TB, got, want string) {
	t.Helper()
	g := Parse(t, got).String()
	w := Parse(t, want).String()
	if g != w {
		t.Errorf("TwiML differs (-want +got):\n%s\ngot document:\n%s", Diff(w, g), got)
	}
}

// Diff is a minimal line diff of a and b: lines only in a start with "-",
// only in b with "+", common lines with " ".
func Diff(a, b string) string {
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// lcs[i][j] = length of the longest common subsequence of x[i:], y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out.WriteString("  " + x[i] + "\n")
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + x[i] + "\n")
			i++
		default:
			out.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return out.String()
}
