package flow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"math/bits"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits that keep validate fast and safe on hostile input.
const (
	// MaxFileSize is the largest flow file accepted.
	MaxFileSize = 1 << 20
	// MaxNodes bounds the YAML nodes of one file, counted with aliases
	// expanded (a "billion laughs" file stops here).
	MaxNodes = 100_000
	// MaxDepth bounds nesting.
	MaxDepth = 64
)

// source is one file's bytes, for positions.
type source struct {
	file       string
	data       []byte
	lineStarts []int
}

func newSource(file string, data []byte) *source {
	s := &source{file: file, data: data, lineStarts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	return s
}

func (s *source) pos(line, col int) Pos { return Pos{File: s.file, Line: line, Col: col} }

func (s *source) nodePos(n *yaml.Node) Pos {
	if n == nil {
		return s.pos(1, 1)
	}
	return s.pos(n.Line, n.Column)
}

// line returns line l (1-based) without its newline.
func (s *source) line(l int) string {
	if l < 1 || l > len(s.lineStarts) {
		return ""
	}
	start := s.lineStarts[l-1]
	end := len(s.data)
	if l < len(s.lineStarts) {
		end = s.lineStarts[l] - 1
	}
	return strings.TrimSuffix(string(s.data[start:end]), "\r")
}

// offsetOf returns the byte offset of a 1-based line and 1-based rune column.
func (s *source) offsetOf(line, col int) int {
	if line < 1 || line > len(s.lineStarts) {
		return len(s.data)
	}
	off := s.lineStarts[line-1]
	for c := 1; c < col && off < len(s.data) && s.data[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(s.data[off:])
		off += size
	}
	return off
}

// posOfOffset turns a byte offset into a position.
func (s *source) posOfOffset(off int) Pos {
	l := sort.Search(len(s.lineStarts), func(i int) bool { return s.lineStarts[i] > off }) // first line after
	start := s.lineStarts[l-1]
	col := utf8.RuneCount(s.data[start:off]) + 1
	return s.pos(l, col)
}

// valuePos maps a rune offset inside a scalar's decoded value to its place in
// the file. For a plain scalar on one line it is the node's column plus the
// offset; quotes, block scalar headers, indentation and line folding are
// skipped by matching the value's characters against the raw text.
func (s *source) valuePos(n *yaml.Node, runeOff int) Pos {
	base := s.nodePos(n)
	if n == nil || n.Line < 1 {
		return base
	}
	raw := s.offsetOf(n.Line, n.Column)
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		if i := bytes.IndexByte(s.data[raw:], '\n'); i >= 0 {
			raw += i + 1
		}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		raw++
	}
	val := n.Value
	i := 0
	for k := 0; k < runeOff && i < len(val); k++ {
		r, size := utf8.DecodeRuneInString(val[i:])
		i += size
		// Find r in the raw text, skipping what YAML removed.
		limit := raw + 256
		found := false
		for raw < len(s.data) && raw < limit {
			rr, rsize := utf8.DecodeRune(s.data[raw:])
			raw += rsize
			if rr == '\\' && n.Style == yaml.DoubleQuotedStyle && raw < len(s.data) && s.data[raw] != '\n' {
				// An escape (\t, \n, \", \x41, \u00e9 …) stands for one
				// character of the value: skip it whole.
				e := s.data[raw]
				raw++
				switch e {
				case 'x':
					raw += 2
				case 'u':
					raw += 4
				case 'U':
					raw += 8
				}
				raw = min(raw, len(s.data))
				found = true
				break
			}
			if rr == r || (r == ' ' && rr == '\n') || (r == '\n' && rr == '\n') {
				found = true
				break
			}
		}
		if !found {
			return base // not found before the end: the scalar's start
		}
	}
	// Skip indentation when the offset lands at the start of a line.
	for raw < len(s.data) && (s.data[raw] == ' ' || s.data[raw] == '\t') && i < len(val) && val[i] != ' ' && val[i] != '\t' {
		raw++
	}
	if raw > len(s.data) {
		raw = len(s.data)
	}
	return s.posOfOffset(raw)
}

// fromUTF16 turns a file saved as UTF-16 with a byte order mark (Windows
// editors' "Unicode") into UTF-8, so that columns count characters, not
// bytes. Anything else is returned as it is.
func fromUTF16(data []byte) []byte {
	var order binary.ByteOrder
	switch {
	case len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE:
		order = binary.LittleEndian
	case len(data) >= 2 && data[0] == 0xFE && data[1] == 0xFF:
		order = binary.BigEndian
	default:
		return data
	}
	units := make([]uint16, 0, len(data)/2)
	for i := 2; i+1 < len(data); i += 2 {
		units = append(units, order.Uint16(data[i:]))
	}
	return []byte(string(utf16.Decode(units)))
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < MaxDepth; i++ {
		n = n.Alias
	}
	return n
}

type kv struct{ k, v *yaml.Node }

// pairSeq is pairs as an iterator: a mapping without merge keys, the
// common case, is walked in place rather than copied into a new slice
// (which was a tenth of validate's allocations).
func pairSeq(n *yaml.Node) iter.Seq[kv] {
	return func(yield func(kv) bool) {
		rn := resolve(n)
		if rn == nil || rn.Kind != yaml.MappingNode {
			return
		}
		merged := false
		for i := 0; i+1 < len(rn.Content); i += 2 {
			if isMerge(rn.Content[i], rn.Content[i+1]) {
				merged = true
				break
			}
		}
		if !merged {
			for i := 0; i+1 < len(rn.Content); i += 2 {
				if !yield(kv{rn.Content[i], rn.Content[i+1]}) {
					return
				}
			}
			return
		}
		for _, p := range pairs(rn) {
			if !yield(p) {
				return
			}
		}
	}
}

// pairs returns a mapping's key/value pairs with merge keys (<<: *anchor)
// expanded: explicit keys win, then earlier merges.
func pairs(n *yaml.Node) []kv {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	hasMerge := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMerge(n.Content[i], n.Content[i+1]) {
			hasMerge = true
			break
		}
	}
	out := make([]kv, 0, len(n.Content)/2)
	if !hasMerge {
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, kv{n.Content[i], n.Content[i+1]})
		}
		return out
	}
	explicit := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !isMerge(n.Content[i], n.Content[i+1]) {
			explicit[n.Content[i].Value] = true
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k, v) {
			out = append(out, kv{k, v})
			continue
		}
		var srcs []*yaml.Node
		if rv := resolve(v); rv.Kind == yaml.SequenceNode {
			srcs = rv.Content
		} else {
			srcs = []*yaml.Node{v}
		}
		for _, src := range srcs {
			for _, p := range pairs(src) {
				if !explicit[p.k.Value] && !seen[p.k.Value] {
					seen[p.k.Value] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// isMerge reports whether k: v is a usable merge key.
func isMerge(k, v *yaml.Node) bool {
	if k.Kind != yaml.ScalarNode || k.Tag != "!!merge" {
		return false
	}
	rv := resolve(v)
	if rv == nil {
		return false
	}
	if rv.Kind == yaml.MappingNode {
		return true
	}
	if rv.Kind != yaml.SequenceNode {
		return false
	}
	for _, c := range rv.Content {
		if rc := resolve(c); rc == nil || rc.Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

// jsonKind is the JSON type a YAML node decodes to.
func jsonKind(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return jNull
	}
	switch n.Kind {
	case yaml.MappingNode:
		return jObject
	case yaml.SequenceNode:
		return jArray
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return jNull
		case "!!bool":
			return jBool
		case "!!int":
			return jInt
		case "!!float":
			if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				return jInt
			}
			return jNumber
		}
		return jString
	}
	return jNull
}

// scalarValue is a scalar's JSON value.
func scalarValue(n *yaml.Node) any {
	switch jsonKind(n) {
	case jNull:
		return nil
	case jBool:
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
		return n.Value == "true"
	case jInt:
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
		var f float64
		if n.Decode(&f) == nil {
			return f
		}
		return 0
	case jNumber:
		var f float64
		if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
		return 0.0
	}
	return n.Value
}

// schemaKey is a mapping key as the schema validator sees it: a scalar's
// text, and for a key that is a list or a map (`? [a, b]`, never a valid
// key in a flow) a name no scalar has, unique by position, so that it
// neither merges with an empty key nor hides another unknown key.
func schemaKey(k *yaml.Node) string {
	if k.Kind != yaml.MappingNode && k.Kind != yaml.SequenceNode {
		return k.Value // as the decoder reads it
	}
	return fmt.Sprintf("(complex key at %d:%d)", k.Line, k.Column)
}

// toJSON converts a (checked) node tree to JSON-like values for the schema
// validator.
func toJSON(n *yaml.Node) any {
	n = resolve(n)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps := pairs(n)
		m := make(map[string]any, len(ps))
		for _, p := range ps {
			m[schemaKey(p.k)] = toJSON(p.v)
		}
		return m
	case yaml.SequenceNode:
		a := make([]any, len(n.Content))
		for i, c := range n.Content {
			a[i] = toJSON(c)
		}
		return a
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil
}

// nodeAt finds the node at a JSON pointer path (as tokens). key returns the
// key node instead of the value for the last token of a mapping.
func nodeAt(root *yaml.Node, path []string) (value, key *yaml.Node) {
	n := root
	for _, tok := range path {
		n = resolve(n)
		if n == nil {
			return nil, nil
		}
		key = nil
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for p := range pairSeq(n) {
				if schemaKey(p.k) == tok {
					next, key = p.v, p.k
				}
			}
			if next == nil {
				return n, nil
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n.Content) {
				return n, nil
			}
			n = n.Content[i]
		default:
			return n, nil
		}
	}
	return n, key
}

// keyNode finds the key node named name in mapping n.
func keyNode(n *yaml.Node, name string) *yaml.Node {
	for p := range pairSeq(n) {
		if schemaKey(p.k) == name {
			return p.k
		}
	}
	return nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// syntaxSearchBudget bounds the bytes re-parsed to place a syntax error.
const syntaxSearchBudget = 4 << 20

// parseYAML reads one YAML document into a node tree, refusing oversized,
// over-deep and alias-bomb input. It returns the root value node (a null
// scalar for an empty file) or nil after an error.
func parseYAML(src *source, diags *Diagnostics) *yaml.Node {
	if len(src.data) > MaxFileSize {
		*diags = append(*diags, diag(src.pos(1, 1), CodeFileTooLarge,
			"the file is %d bytes; flow files are limited to %d bytes (1 MiB)", len(src.data), MaxFileSize))
		return nil
	}
	if !utf8.Valid(src.data) {
		// A file saved as Latin-1 or Windows-1252 (café as caf\xe9):
		// yaml.v3 says only "invalid trailing UTF-8 octet", at the start
		// of the line's key.
		off := 0
		for off < len(src.data) {
			r, size := utf8.DecodeRune(src.data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		*diags = append(*diags, diag(src.posOfOffset(off), CodeYAMLSyntax,
			"the file is not UTF-8 text (byte 0x%02X here; saved as Latin-1 or Windows-1252?): save it as UTF-8", src.data[off]))
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
		}
		p, msg := syntaxErrorPos(src, err)
		*diags = append(*diags, diag(p, CodeYAMLSyntax, "%s", msg))
		return nil
	}
	// Further documents: empty ones (a stray ---) are harmless, any other
	// one, however many empty ones come before it, is refused.
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			break
		}
		p := src.pos(1, 1)
		if err == nil && more.Line > 0 {
			p = src.pos(more.Line, more.Column)
		} else if err != nil {
			p, _ = syntaxErrorPos(src, err)
		}
		if err != nil || len(more.Content) > 0 && !(more.Content[0].Kind == yaml.ScalarNode && more.Content[0].ShortTag() == "!!null") {
			*diags = append(*diags, diag(p, CodeYAMLSyntax, "a flow file holds one YAML document; remove the next one (after ---)"))
			return nil
		}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: 1, Column: 1}
	}
	root := doc.Content[0]
	w := &safetyWalker{src: src, diags: diags}
	if !w.walk(root, 1, false) || w.dups > 0 || w.aliasKeys > 0 {
		// After a duplicate key, which value counts is a guess: stop here
		// rather than report what follows from the guess.
		return nil
	}
	return root
}

// safetyWalker counts nodes with aliases expanded, bounds the depth and
// reports duplicate keys.
type safetyWalker struct {
	src       *source
	diags     *Diagnostics
	count     int
	fail      bool
	dups      int
	aliasKeys int
}

// walk counts n's nodes (through aliases, as a decoder expands them) and
// checks its mappings for duplicate keys. Under an alias (aliased) the
// keys are not checked again: the anchored node is also walked where it is
// defined, and checked there once.
func (w *safetyWalker) walk(n *yaml.Node, depth int, aliased bool) bool {
	if w.fail || n == nil {
		return !w.fail
	}
	w.count++
	if w.count > MaxNodes {
		*w.diags = append(*w.diags, diag(w.src.nodePos(n), CodeTooComplex,
			"the document expands to more than %d YAML nodes (are aliases nested inside aliases?); flowd stops reading here", MaxNodes))
		w.fail = true
		return false
	}
	if depth > MaxDepth {
		*w.diags = append(*w.diags, diag(w.src.nodePos(n), CodeTooDeep,
			"nesting is deeper than %d levels (or an alias contains itself)", MaxDepth))
		w.fail = true
		return false
	}
	switch n.Kind {
	case yaml.AliasNode:
		return w.walk(n.Alias, depth+1, true)
	case yaml.MappingNode:
		if !aliased {
			w.checkKeys(n)
			for i := 0; i < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Kind == yaml.AliasNode {
					// flowd reads keys as written: an alias would read as
					// the anchor's name, not its value.
					w.aliasKeys++
					name := "it"
					if a := resolve(k); a != nil && a.Kind == yaml.ScalarNode {
						name = a.Value
					}
					*w.diags = append(*w.diags, diag(w.src.nodePos(k), CodeYAMLSyntax,
						"an alias (*%s) cannot be a key in a flow file; write the key itself (%s)", k.Value, name))
				}
			}
		}
		for _, c := range n.Content {
			if !w.walk(c, depth+1, aliased) {
				return false
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if !w.walk(c, depth+1, aliased) {
				return false
			}
		}
	}
	return true
}

// smallMapping is the size up to which checkKeys compares keys pairwise
// rather than building a map: most of a flow's mappings are this small.
const smallMapping = 16

// checkKeys reports each key of mapping n that repeats an earlier one.
func (w *safetyWalker) checkKeys(n *yaml.Node) {
	var first map[string]*yaml.Node
	if len(n.Content)/2 > smallMapping {
		first = make(map[string]*yaml.Node, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		var prev *yaml.Node
		if first != nil {
			prev = first[k.Value]
		} else {
			for j := 0; j < i; j += 2 {
				if p := n.Content[j]; p.Kind == yaml.ScalarNode && p.Value == k.Value {
					prev = p
					break
				}
			}
		}
		if prev != nil {
			*w.diags = append(*w.diags, diag(w.src.nodePos(k), CodeDuplicateKey,
				"key %q is already defined at line %d; YAML would keep only one of them", k.Value, prev.Line))
			w.dups++
			continue
		}
		if first != nil {
			first[k.Value] = k
		}
	}
}

// syntaxErrorPos finds where a YAML syntax error really is. yaml.v3 often
// names the line where the enclosing block starts (or the line before the
// problem), so flowd looks for the shortest prefix of the file, in whole
// lines, that fails with the same message: its last line is the culprit.
func syntaxErrorPos(src *source, err error) (Pos, string) {
	msg := err.Error()
	reported := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		if m[1] != "" {
			reported, _ = strconv.Atoi(m[1])
		}
		msg = msg[len(m[0]):]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	fails := func(lines int) bool {
		end := len(src.data)
		if lines < len(src.lineStarts) {
			end = src.lineStarts[lines]
		}
		var n yaml.Node
		e := yaml.Unmarshal(src.data[:end], &n)
		if e == nil {
			return false
		}
		em := yamlLineRe.ReplaceAllString(e.Error(), "")
		return strings.TrimPrefix(em, "yaml: ") == msg
	}
	nlines := len(src.lineStarts)
	if nlines > 1 && src.lineStarts[nlines-1] == len(src.data) {
		nlines-- // the file ends with a newline
	}
	// The search re-parses about log2(lines) prefixes; on files too big for
	// that to be quick, keep yaml.v3's line.
	line := 0
	if len(src.data)*bits.Len(uint(nlines)) <= syntaxSearchBudget {
		lo, hi := 1, nlines // the whole file fails
		for lo < hi {
			mid := (lo + hi) / 2
			if fails(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo
	}
	if line == 0 {
		line = reported
		if line < 1 {
			line = 1
		}
	}
	text := src.line(line)
	col := utf8.RuneCountInString(text[:len(text)-len(strings.TrimLeft(text, " "))]) + 1
	if i := strings.IndexByte(text, '\t'); i >= 0 && strings.TrimLeft(text[:i], " ") == "" {
		// yaml.v3 often says only "found character that cannot start any token".
		if !strings.Contains(msg, "tab") {
			msg += ": a tab"
		}
		msg += "; YAML indents with spaces only: replace the tab with spaces"
		return src.pos(line, utf8.RuneCountInString(text[:i])+1), msg
	}
	if unquotedTemplateInFlow(text) {
		msg += `: a ${{ … }} inside { } or [ ] must be quoted ("${{ … }}"), or its braces end the map`
	} else if strings.HasPrefix(msg, "did not find expected ',' or ") {
		// if: participants.agent?.joined ?? false inside { }: YAML reads
		// ?, : and , there as its own syntax.
		if at := unquotedQuestionInFlow(text); at >= 0 {
			return src.pos(line, utf8.RuneCountInString(text[:at])+1),
				msg + `: inside { } or [ ], a "?" (as in ?. and ??) is YAML syntax; quote the value ("a?.b ?? false") or write the map on indented lines`
		}
		msg += `: inside { } or [ ], quote a value that contains ", ", ": ", "?" or "#", or write the map on indented lines`
	}
	if strings.HasPrefix(msg, "did not find expected key") || strings.HasPrefix(msg, "did not find expected '-' indicator") {
		msg += "; check this line's indentation against the lines above it: the keys of one map, and the - items of one list, start in the same column"
	}
	if strings.Contains(msg, "mapping values are not allowed") {
		// if: …\n    to: x indented deeper than if: continues if:'s value,
		// where a ": " cannot be.
		if prev := prevContentLine(src, line); prev > 0 {
			pt := src.line(prev)
			pi, ti := len(pt)-len(strings.TrimLeft(pt, " ")), len(text)-len(strings.TrimLeft(text, " "))
			key, value, ok := strings.Cut(strings.TrimSpace(pt), ": ")
			value = strings.TrimSpace(value)
			if ok && ti > pi && value != "" && !strings.ContainsAny(value[:1], `|>&*!"'{[#`) {
				key = strings.TrimPrefix(key, "- ")
				return src.pos(line, col), fmt.Sprintf("%s: this line is indented deeper than %s: on line %d, so YAML reads it as the rest of that value; indent it like %s:", msg, key, prev, key)
			}
		}
	}
	if strings.Contains(msg, "mapping values are not allowed") {
		// say: Press 1: sales — the second ": " starts a map YAML cannot
		// have there: point at it and show the quoting.
		if k := strings.Index(text, ": "); k >= 0 {
			value := strings.TrimSpace(text[k+2:])
			if j := strings.Index(value, ": "); j >= 0 && !strings.ContainsAny(value[:1], `"'{[`) {
				at := k + 2 + strings.Index(text[k+2:], value) + j
				return src.pos(line, utf8.RuneCountInString(text[:at])+1),
					fmt.Sprintf(`%s: this value contains ": ", which YAML reads as another key; quote it: "%s"`, msg, strings.ReplaceAll(value, `"`, `\"`))
			}
		}
	}
	return src.pos(line, col), msg
}

// prevContentLine is the last line before l that is neither blank nor only
// a comment, or 0.
func prevContentLine(src *source, l int) int {
	for p := l - 1; p >= 1; p-- {
		if t := strings.TrimSpace(src.line(p)); t != "" && !strings.HasPrefix(t, "#") {
			return p
		}
	}
	return 0
}

// unquotedQuestionInFlow returns the byte offset of a "?" outside quotes
// inside a { } or [ ] of the line that is part of a value (a?.b, a ?? b),
// not a complex key's "? " indicator, or -1.
func unquotedQuestionInFlow(line string) int {
	var quote byte
	depth := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return -1 // a comment
		case c == '?' && depth > 0:
			prev := strings.TrimRight(line[:i], " ")
			if prev == "" || strings.ContainsAny(prev[len(prev)-1:], "{[,") {
				continue // "{ ? key: v }": YAML's own complex key
			}
			return i
		}
	}
	return -1
}

// unquotedTemplateInFlow reports whether a line has a ${{ outside quotes
// after a { or [ (a YAML flow collection, where { and } are syntax).
func unquotedTemplateInFlow(line string) bool {
	var quote byte
	flow := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '{' && strings.HasPrefix(line[i:], "{{") && i > 0 && line[i-1] == '$':
			return flow
		case c == '{' || c == '[':
			flow = true
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return false // a comment
		}
	}
	return false
}

func diag(p Pos, code, format string, args ...any) Diagnostic {
	return Diagnostic{Pos: p, Severity: codeSeverity(code), Code: code, Message: fmt.Sprintf(format, args...)}
}
