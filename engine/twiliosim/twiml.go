package twiliosim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// node is one TwiML element, parsed generically so unknown verbs and
// attributes survive (they are skipped, not rejected).
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []*node    `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *node) name() string { return n.XMLName.Local }

func (n *node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) has(name string) bool {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return true
		}
	}
	return false
}

func (n *node) boolAttr(name string, def bool) bool {
	if !n.has(name) {
		return def
	}
	return strings.EqualFold(strings.TrimSpace(n.attr(name)), "true")
}

func (n *node) text() string { return strings.TrimSpace(n.Text) }

// parseTwiML parses a <Response> document into its verbs.
func parseTwiML(b []byte) ([]*node, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("empty TwiML document")
	}
	var root node
	if err := xml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("invalid TwiML: %w", err)
	}
	if root.name() != "Response" {
		return nil, fmt.Errorf("invalid TwiML: root element <%s>, want <Response>", root.name())
	}
	return root.Nodes, nil
}

// isAudioURL reports whether a hold/wait URL is an audio file played as
// music rather than a TwiML document to fetch.
func isAudioURL(u string) bool {
	l := strings.ToLower(u)
	if i := strings.IndexAny(l, "?#"); i >= 0 {
		l = l[:i]
	}
	for _, ext := range []string{".mp3", ".wav", ".ogg", ".aif", ".aiff", ".gsm", ".ulaw"} {
		if strings.HasSuffix(l, ext) {
			return true
		}
	}
	return strings.Contains(u, "twimlets.com/holdmusic") || strings.HasPrefix(u, "sim:")
}

// Default audio Twilio plays when no URL is given.
const (
	DefaultHoldMusic  = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
	DefaultWaitMusic  = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"
	ApplicationError  = "We are sorry, an application error has occurred."
	defaultGatherWait = 5
)
