package twiliosim

import (
	"sort"
	"strings"
	"time"
)

// Heard is one entry of a party's timeline.
type Heard struct {
	At   time.Time // virtual time
	Kind string    // say, play, music, parties, silence
	// Text is what was said (Kind say).
	Text string
	// URL is the audio played (Kind play, music).
	URL string
	// Parties are the addresses heard live (Kind parties), sorted.
	Parties []string
	// Source tells what produced it: twiml, queue, wait, hold, announcement,
	// error.
	Source string
}

func (s *Sim) hear(c *call, h Heard) {
	h.At = s.now
	c.timeline = append(c.timeline, h)
}

// audioOf derives what c hears right now from the state (Twilio's rules):
//   - queued callers hear the queue's wait music, nobody hears them;
//   - a held participant hears hold music only, nobody hears them;
//   - before the conference starts, or alone in it, a participant hears the
//     wait music;
//   - otherwise a participant hears every other connected participant that
//     is not held, not muted, and not coaching someone else (a coach is
//     heard only by the call it coaches; the coach hears everyone);
//   - the two legs of a <Dial> bridge hear each other.
func (s *Sim) audioOf(c *call) (music, source string, parties []*call) {
	if !c.live() {
		return "", "", nil
	}
	if c.enq != nil {
		return defStr(c.enq.waitURL, DefaultWaitMusic), "queue", nil
	}
	if p := c.part; p != nil && p.status == "connected" {
		cf := p.conf
		if p.hold {
			return defStr(p.holdURL, DefaultHoldMusic), "hold", nil
		}
		others := 0
		for _, q := range cf.parts {
			if q == p || q.status != "connected" {
				continue
			}
			others++
			if q.hold || q.muted || (q.coaching && q.coachSid != c.sid) {
				continue
			}
			parties = append(parties, q.call)
		}
		if cf.status != "in-progress" || others == 0 {
			return defStr(p.waitURL, DefaultWaitMusic), "wait", nil
		}
		return "", "", parties
	}
	if c.bridge != nil && c.bridge.live() {
		return "", "", []*call{c.bridge}
	}
	return "", "", nil
}

// refreshAudio appends a timeline entry to every live call whose audio
// changed. Called on every unlock, so timelines follow each state change.
func (s *Sim) refreshAudio() {
	for c := range s.live {
		s.refreshCall(c)
	}
}

func (s *Sim) refreshCall(c *call) {
	music, source, parties := s.audioOf(c)
	var h Heard
	switch {
	case music != "":
		h = Heard{Kind: "music", URL: music, Source: source}
	case len(parties) > 0:
		names := make([]string, 0, len(parties))
		for _, p := range parties {
			names = append(names, p.party())
		}
		sort.Strings(names)
		h = Heard{Kind: "parties", Parties: names}
	default:
		h = Heard{Kind: "silence"}
	}
	key := h.Kind + "|" + h.URL + "|" + strings.Join(h.Parties, ",")
	if key == c.lastAud || (c.lastAud == "" && h.Kind == "silence") {
		return
	}
	c.lastAud = key
	s.hear(c, h)
}

// endAudio closes a finished call's timeline.
func (s *Sim) endAudio(c *call) {
	if c.lastAud != "" && c.lastAud != "silence||" {
		c.lastAud = "silence||"
		s.hear(c, Heard{Kind: "silence"})
	}
}

// Hears reports whether party a hears party b live right now. Parties are
// addresses ("+15551230000", "client:alice", "sip:bob@x") or CallSids.
func (s *Sim) Hears(a, b string) bool {
	s.lock()
	defer s.mu.Unlock()
	ca, cb := s.findCall(a), s.findCall(b)
	if ca == nil || cb == nil || ca == cb {
		return false
	}
	_, _, parties := s.audioOf(ca)
	for _, p := range parties {
		if p == cb {
			return true
		}
	}
	return false
}

// Hearing describes what party hears right now: music (with its source) or
// the parties heard live.
func (s *Sim) Hearing(party string) Heard {
	s.lock()
	defer s.mu.Unlock()
	c := s.findCall(party)
	if c == nil {
		return Heard{Kind: "silence"}
	}
	music, source, parties := s.audioOf(c)
	if music != "" {
		return Heard{At: s.now, Kind: "music", URL: music, Source: source}
	}
	if len(parties) > 0 {
		h := Heard{At: s.now, Kind: "parties"}
		for _, p := range parties {
			h.Parties = append(h.Parties, p.party())
		}
		sort.Strings(h.Parties)
		return h
	}
	return Heard{At: s.now, Kind: "silence"}
}

// Timeline is everything party heard, over all its calls, in order.
func (s *Sim) Timeline(party string) []Heard {
	s.lock()
	defer s.mu.Unlock()
	var out []Heard
	for _, c := range s.callOrder {
		if c.party() == party || c.sid == party {
			out = append(out, c.timeline...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Said lists the texts party heard from <Say> (any source), in order.
func (s *Sim) Said(party string) []string {
	var out []string
	for _, h := range s.Timeline(party) {
		if h.Kind == "say" {
			out = append(out, h.Text)
		}
	}
	return out
}
