package server

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"hash"
	"net/url"
	"slices"
	"sync"
)

// signer is the per-request scratch of the signature fast path, pooled: a
// webhook's check then allocates nothing.
type signer struct {
	mac  hash.Hash
	buf  []byte
	keys []string
	want [sha1.Size + 3]byte
	sum  [sha1.Size]byte
}

// signedExactly is the fast path of the signature check: one HMAC-SHA1 over
// the public URL plus the request URI as received, then the form that was
// already parsed (Twilio's algorithm, first value per name as twilio-go
// does). twilio.Validator.Check re-parses the body, builds and re-parses the
// URL four times and computes two HMACs (with and without the port): about
// 5× the cost. A request this accepts is one Check accepts too (the exact
// URL is one of the variants Check tries); anything else, such as a port
// variant or a JSON body, goes to Check.
func (s *Server) signedExactly(uri string, form url.Values, get bool, sig string) bool {
	if base64.StdEncoding.DecodedLen(len(sig)) > sha1.Size+3 {
		return false
	}
	g := s.signers.Get().(*signer)
	defer s.signers.Put(g)
	n, err := base64.StdEncoding.Decode(g.want[:], []byte(sig))
	if err != nil || n != sha1.Size {
		return false
	}
	g.buf = append(g.buf[:0], s.validator.URL(uri)...)
	if !get {
		g.keys = g.keys[:0]
		for k := range form {
			g.keys = append(g.keys, k)
		}
		slices.Sort(g.keys)
		for _, k := range g.keys {
			g.buf = append(g.buf, k...)
			if v := form[k]; len(v) > 0 {
				g.buf = append(g.buf, v[0]...)
			}
		}
	}
	g.mac.Reset()
	g.mac.Write(g.buf)
	return hmac.Equal(g.mac.Sum(g.sum[:0]), g.want[:n])
}

func newSignerPool(key []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return &signer{mac: hmac.New(sha1.New, key)} }}
}
