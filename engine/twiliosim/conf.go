package twiliosim

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

type conference struct {
	sid, name        string
	status           string // init, in-progress, completed
	created, updated time.Time
	parts            []*participant // connected or connecting
	cbURL, cbMethod  string
	cbEvents         map[string]bool
	cbSet            bool
	seq              int
	reasonEnded      string
	callSidEnding    string
	labelEnding      string
}

type participant struct {
	conf             *conference
	call             *call
	label            string
	status           string // queued, connecting, ringing, connected, complete, failed
	muted, hold      bool
	coaching         bool
	coachSid         string
	startOnEnter     bool
	endOnExit        bool
	beep             string
	holdURL          string
	holdMethod       string
	waitURL          string
	waitMethod       string
	created, updated time.Time
}

type partOpts struct {
	label               string
	muted, coaching     bool
	coachSid            string
	startOnEnter        bool
	endOnExit           bool
	beep                string
	waitURL, waitMethod string
	cbURL, cbMethod     string
	cbEvents            []string
}

// activeConf returns the live conference with this friendly name or SID.
func (s *Sim) activeConf(nameOrSid string) *conference {
	if cf := s.confs[nameOrSid]; cf != nil {
		return cf
	}
	for i := len(s.confOrder) - 1; i >= 0; i-- {
		cf := s.confOrder[i]
		if cf.name == nameOrSid && cf.status != "completed" {
			return cf
		}
	}
	return nil
}

func (s *Sim) findConf(nameOrSid string) *conference {
	if cf := s.activeConf(nameOrSid); cf != nil {
		return cf
	}
	for i := len(s.confOrder) - 1; i >= 0; i-- {
		if s.confOrder[i].name == nameOrSid {
			return s.confOrder[i]
		}
	}
	return nil
}

func (s *Sim) confFor(name string) *conference {
	if cf := s.activeConf(name); cf != nil && cf.status != "completed" {
		return cf
	}
	cf := &conference{sid: s.newSid("CF"), name: name, status: "init", created: s.now, updated: s.now}
	s.confs[cf.sid] = cf
	s.confOrder = append(s.confOrder, cf)
	return cf
}

func (cf *conference) byCallOrLabel(id string) *participant {
	for _, p := range cf.parts {
		if p.call.sid == id || (p.label != "" && p.label == id) {
			return p
		}
	}
	return nil
}

func (cf *conference) connected() []*participant {
	var out []*participant
	for _, p := range cf.parts {
		if p.status == "connected" {
			out = append(out, p)
		}
	}
	return out
}

// setCallback: the first participant that names a statusCallback wins.
func (s *Sim) setConfCallback(cf *conference, u, method string, events []string) {
	if cf.cbSet || u == "" {
		return
	}
	cf.cbSet = true
	cf.cbURL, cf.cbMethod = u, defStr(method, http.MethodPost)
	cf.cbEvents = parseEvents(events)
	if len(cf.cbEvents) == 0 {
		cf.cbEvents = map[string]bool{"start": true, "end": true}
	}
}

var confEventGroup = map[string]string{
	"conference-start": "start", "conference-end": "end",
	"participant-join": "join", "participant-leave": "leave",
	"participant-mute": "mute", "participant-unmute": "mute",
	"participant-hold": "hold", "participant-unhold": "hold",
	"participant-modify": "modify", "announcement-end": "announcement",
	"announcement-fail": "announcement",
}

// confEvent sends a conference status callback. SequenceNumber increases per
// conference for every event, subscribed or not.
func (s *Sim) confEvent(cf *conference, ev string, p *participant, extra url.Values) {
	cf.seq++
	if !cf.cbSet || !cf.cbEvents[confEventGroup[ev]] {
		return
	}
	f := url.Values{}
	f.Set("AccountSid", s.opts.AccountSid)
	f.Set("ConferenceSid", cf.sid)
	f.Set("FriendlyName", cf.name)
	f.Set("StatusCallbackEvent", ev)
	f.Set("SequenceNumber", strconv.Itoa(cf.seq))
	f.Set("Timestamp", s.now.Format(time.RFC1123Z))
	if p != nil {
		f.Set("CallSid", p.call.sid)
		f.Set("Muted", strconv.FormatBool(p.muted))
		f.Set("Hold", strconv.FormatBool(p.hold))
		f.Set("Coaching", strconv.FormatBool(p.coaching))
		f.Set("EndConferenceOnExit", strconv.FormatBool(p.endOnExit))
		f.Set("StartConferenceOnEnter", strconv.FormatBool(p.startOnEnter))
		if p.label != "" {
			f.Set("ParticipantLabel", p.label)
		}
		if p.coachSid != "" {
			f.Set("CallSidToCoach", p.coachSid)
		}
	}
	for k, vs := range extra {
		f[k] = vs
	}
	s.send(&delivery{kind: "conference", method: cf.cbMethod, url: cf.cbURL, form: f, confCB: true})
}

// addParticipant registers a (possibly not yet answered) participant.
func (s *Sim) addParticipant(cf *conference, c *call, o partOpts) *participant {
	p := &participant{conf: cf, call: c, label: o.label, status: "queued", muted: o.muted,
		coaching: o.coaching || o.coachSid != "", coachSid: o.coachSid, startOnEnter: o.startOnEnter,
		endOnExit: o.endOnExit, beep: o.beep, waitURL: o.waitURL, waitMethod: o.waitMethod,
		created: s.now, updated: s.now}
	cf.parts = append(cf.parts, p)
	c.part = p
	s.setConfCallback(cf, o.cbURL, o.cbMethod, o.cbEvents)
	return p
}

// connect puts an answered participant into the conference.
func (s *Sim) connect(p *participant) {
	cf := p.conf
	p.status = "connected"
	p.updated = s.now
	p.call.state = "conference"
	s.confEvent(cf, "participant-join", p, nil)
	if cf.status == "init" && p.startOnEnter {
		cf.status = "in-progress"
		cf.updated = s.now
		s.confEvent(cf, "conference-start", nil, nil)
	}
	if cf.status == "init" && p.waitURL != "" && !isAudioURL(p.waitURL) {
		s.fetchAudio(p.call, "wait", p.waitURL, defStr(p.waitMethod, http.MethodPost), nil)
	}
}

// dialConference runs <Dial><Conference>.
func (s *Sim) dialConference(c *call, n *node, d *dialing) {
	cf := s.confFor(n.text())
	o := partOpts{
		label: n.attr("participantLabel"), muted: n.boolAttr("muted", false),
		coachSid: n.attr("coach"), startOnEnter: n.boolAttr("startConferenceOnEnter", true),
		endOnExit: n.boolAttr("endConferenceOnExit", false), beep: n.attr("beep"),
		waitURL: n.attr("waitUrl"), waitMethod: n.attr("waitMethod"),
		cbURL: n.attr("statusCallback"), cbMethod: n.attr("statusCallbackMethod"),
		cbEvents: []string{n.attr("statusCallbackEvent")},
	}
	if o.cbURL != "" {
		o.cbURL = s.resolve(c.docURL, o.cbURL)
	}
	if o.label != "" && cf.byCallOrLabel(o.label) != nil {
		// Twilio's error 16025: the call is not added, and its TwiML goes
		// on with the next verb (or the Dial's action).
		s.logf("call %s: participantLabel %q already in use in %s (16025); not added", c.sid, o.label, cf.sid)
		s.dialDone(c, d, "failed", nil)
		return
	}
	if o.coachSid != "" && (cf.byCallOrLabel(o.coachSid) == nil) {
		s.logf("call %s: coach target %s is not in %s", c.sid, o.coachSid, cf.sid)
	}
	c.state = "conference"
	p := s.addParticipant(cf, c, o)
	gen := c.gen
	c.afterConf = func() { s.dialDone(c, &dialing{action: d.action, method: d.method, gen: gen}, "completed", nil) }
	s.connect(p)
}

// leaveConference takes p out. reason is Twilio's ReasonParticipantLeft.
func (s *Sim) leaveConference(p *participant, reason string, kicked bool) {
	cf := p.conf
	idx := -1
	for i, x := range cf.parts {
		if x == p {
			idx = i
		}
	}
	if idx < 0 {
		return
	}
	cf.parts = append(cf.parts[:idx], cf.parts[idx+1:]...)
	wasConnected := p.status == "connected"
	p.status = "complete"
	p.updated = s.now
	c := p.call
	c.part = nil
	if c.state == "conference" {
		c.state = ""
	}
	// coaching a departed call is no longer meaningful
	callStatus := "completed"
	if c.live() {
		callStatus = "in-progress"
	}
	if wasConnected {
		s.confEvent(cf, "participant-leave", p, url.Values{"ParticipantCallStatus": {callStatus}, "ReasonParticipantLeft": {reason}})
	}
	if cf.status != "completed" && wasConnected {
		switch {
		case p.endOnExit:
			r := "participant-with-end-conference-on-exit-left"
			if kicked {
				r = "participant-with-end-conference-on-exit-kicked"
			}
			s.endConference(cf, r, c.sid, p.label)
		case len(cf.connected()) == 0:
			r := "last-participant-left"
			if kicked {
				r = "last-participant-kicked"
			}
			s.endConference(cf, r, c.sid, p.label)
		}
	}
	after := c.afterConf
	c.afterConf = nil
	if c.live() {
		if after != nil {
			after()
		} else {
			s.hangupCall(c, "completed")
		}
	}
}

func (s *Sim) endConference(cf *conference, reason, endingSid, endingLabel string) {
	if cf.status == "completed" {
		return
	}
	started := cf.status == "in-progress"
	cf.status = "completed"
	cf.updated = s.now
	cf.reasonEnded, cf.callSidEnding, cf.labelEnding = reason, endingSid, endingLabel
	rest := append([]*participant(nil), cf.parts...)
	for _, p := range rest {
		if p.status != "connected" {
			// legs still ringing into an ended conference are cancelled
			s.hangupCall(p.call, "canceled")
			continue
		}
		// Twilio's ReasonParticipantLeft values: the conference ended by
		// the API, or by a participant with endConferenceOnExit (the
		// "moderator") leaving or being removed.
		r := "conference_ended_via_api"
		if reason != "conference-ended-via-api" {
			r = "moderator_ended_conference"
		}
		s.leaveConference(p, r, false)
	}
	if started {
		ex := url.Values{"ReasonConferenceEnded": {reason}}
		if endingSid != "" {
			ex.Set("CallSidEndingConference", endingSid)
		}
		if endingLabel != "" {
			ex.Set("ParticipantLabelEndingConference", endingLabel)
		}
		s.confEvent(cf, "conference-end", nil, ex)
	}
}

// hold / unhold a participant.
func (s *Sim) setHold(p *participant, hold bool, holdURL, method string) {
	if holdURL != "" {
		p.holdURL = holdURL
	}
	if method != "" {
		p.holdMethod = method
	}
	if p.hold == hold {
		return
	}
	p.hold = hold
	p.updated = s.now
	if hold {
		s.confEvent(p.conf, "participant-hold", p, nil)
		u := defStr(p.holdURL, DefaultHoldMusic)
		if !isAudioURL(u) {
			s.fetchAudio(p.call, "hold", u, defStr(p.holdMethod, http.MethodGet), nil)
		}
	} else {
		s.confEvent(p.conf, "participant-unhold", p, nil)
	}
}

func (s *Sim) setMuted(p *participant, muted bool) {
	if p.muted == muted {
		return
	}
	p.muted = muted
	p.updated = s.now
	ev := "participant-unmute"
	if muted {
		ev = "participant-mute"
	}
	s.confEvent(p.conf, ev, p, nil)
}

// announce plays AnnounceUrl to one participant (p) or the whole conference
// (p == nil) and reports announcement-end.
func (s *Sim) announce(cf *conference, p *participant, u, method string) {
	targets := []*participant{p}
	if p == nil {
		targets = cf.connected()
	}
	if len(targets) == 0 {
		return
	}
	remaining := len(targets)
	failed := false
	for _, t := range targets {
		t := t
		if isAudioURL(u) {
			s.hear(t.call, Heard{Kind: "play", URL: u, Source: "announcement"})
			remaining--
			continue
		}
		s.fetchAudio(t.call, "announce", u, defStr(method, http.MethodPost), func(ok bool) {
			remaining--
			failed = failed || !ok
			if remaining == 0 {
				ev := "announcement-end"
				if failed {
					ev = "announcement-fail"
				}
				s.confEvent(cf, ev, p, nil)
			}
		})
	}
	if remaining == 0 {
		s.confEvent(cf, "announcement-end", p, nil)
	}
}
