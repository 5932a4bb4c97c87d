package twiliosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

type number struct {
	number, voiceURL, voiceMethod, statusCB string
}

// AddNumber provisions a phone number whose incoming calls fetch voiceURL (POST).
func (s *Sim) AddNumber(num, voiceURL string) {
	s.lock()
	defer s.unlock()
	s.numbers[num] = &number{number: num, voiceURL: voiceURL, voiceMethod: http.MethodPost}
}

// SetNumberStatusCallback makes calls to num report "completed" to cbURL.
func (s *Sim) SetNumberStatusCallback(num, cbURL string) {
	s.lock()
	defer s.unlock()
	if n := s.numbers[num]; n != nil {
		n.statusCB = cbURL
	}
}

type call struct {
	sid, parentSid string
	from, to, dir  string
	status         string
	created        time.Time
	started, ended time.Time
	statusCB       string
	statusCBMethod string
	statusEvents   map[string]bool
	cbSeq          int
	ringTimer      *timer
	suppressStatus bool
	onAnswer       func(c *call)
	onFail         func(c *call, status string) // outbound leg never answered
	onEnd          func(c *call)                // any end

	// TwiML execution
	gen        int
	prog       []*node
	pc         int
	docURL     string
	docMethod  string
	state      string // "", fetching, pause, gather, enqueued, dial, conference, bridged
	stateTimer *timer
	gather     *node
	digits     string
	enq        *enqueued
	part       *participant
	dial       *dialing
	bridge     *call
	afterConf  func()

	timeline []Heard
	lastAud  string
}

func (c *call) live() bool {
	switch c.status {
	case "queued", "ringing", "in-progress":
		return true
	}
	return false
}

// party is the address a test names this call by: the caller for inbound
// calls, the callee for outbound legs.
func (c *call) party() string {
	if c.dir == "inbound" {
		return c.from
	}
	return c.to
}

func (s *Sim) newCall(from, to, dir string) *call {
	c := &call{sid: s.newSid("CA"), from: from, to: to, dir: dir, status: "queued", created: s.now}
	s.calls[c.sid] = c
	s.callOrder = append(s.callOrder, c)
	s.live[c] = true
	return c
}

// findCall resolves a party address or a call SID: the latest live call
// with that address, else the latest call at all.
func (s *Sim) findCall(party string) *call {
	if c := s.calls[party]; c != nil {
		return c
	}
	var last *call
	for i := len(s.callOrder) - 1; i >= 0; i-- {
		c := s.callOrder[i]
		if c.party() == party {
			if c.live() {
				return c
			}
			if last == nil {
				last = c
			}
		}
	}
	return last
}

func (s *Sim) mustCall(party string) (*call, error) {
	c := s.findCall(party)
	if c == nil {
		return nil, fmt.Errorf("twiliosim: no call for party %q", party)
	}
	return c, nil
}

// ---- status & callbacks ----

func (s *Sim) voiceParams(c *call) url.Values {
	v := url.Values{}
	v.Set("AccountSid", s.opts.AccountSid)
	v.Set("ApiVersion", "2010-04-01")
	v.Set("CallSid", c.sid)
	v.Set("CallStatus", c.status)
	v.Set("Direction", c.dir)
	v.Set("From", c.from)
	v.Set("To", c.to)
	v.Set("Caller", c.from)
	v.Set("Called", c.to)
	v.Set("FromCountry", countryOf(c.from))
	v.Set("ToCountry", countryOf(c.to))
	v.Set("CallerCountry", countryOf(c.from))
	v.Set("CalledCountry", countryOf(c.to))
	if c.parentSid != "" {
		v.Set("ParentCallSid", c.parentSid)
	}
	if c.part != nil {
		v.Set("ConferenceSid", c.part.conf.sid)
	}
	return v
}

func countryOf(n string) string {
	switch {
	case strings.HasPrefix(n, "+1"):
		return "US"
	case strings.HasPrefix(n, "+44"):
		return "GB"
	case strings.HasPrefix(n, "+49"):
		return "DE"
	case strings.HasPrefix(n, "+33"):
		return "FR"
	}
	return ""
}

// setStatus moves the call through Twilio's lifecycle and sends the status
// callbacks the call subscribed to (completed by default).
func (s *Sim) setStatus(c *call, st string) {
	if c.status == st {
		return
	}
	c.status = st
	ev := st
	switch st {
	case "queued":
		ev = "initiated"
	case "in-progress":
		ev = "answered"
		c.started = s.now
	case "completed", "busy", "no-answer", "failed", "canceled":
		ev = "completed"
		c.ended = s.now
		delete(s.live, c)
		s.endAudio(c)
	}
	if c.statusCB == "" || c.suppressStatus {
		return
	}
	if len(c.statusEvents) == 0 && ev != "completed" {
		return
	}
	if len(c.statusEvents) > 0 && !c.statusEvents[ev] {
		return
	}
	c.cbSeq++
	f := s.voiceParams(c)
	f.Set("CallbackSource", "call-progress-events")
	f.Set("SequenceNumber", strconv.Itoa(c.cbSeq-1))
	f.Set("Timestamp", s.now.Format(time.RFC1123Z))
	if ev == "completed" {
		d := 0
		if !c.started.IsZero() {
			d = int(c.ended.Sub(c.started).Seconds())
		}
		f.Set("CallDuration", strconv.Itoa(d))
		f.Set("Duration", strconv.Itoa((d+59)/60))
	}
	s.send(&delivery{kind: "status", method: c.statusCBMethod, url: c.statusCB, form: f})
}

func parseEvents(vals []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range vals {
		for _, e := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
			m[strings.ToLower(e)] = true
		}
	}
	return m
}

// ---- outbound legs ----

// dialOut starts an outbound leg: queued -> ringing, ring timeout -> no-answer.
func (s *Sim) dialOut(c *call, timeout time.Duration) {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if c.statusEvents != nil && c.statusEvents["initiated"] && c.statusCB != "" {
		c.status = ""
		s.setStatus(c, "queued")
	}
	s.setStatus(c, "ringing")
	c.ringTimer = s.after(timeout, func() {
		if c.status == "ringing" {
			s.failLeg(c, "no-answer")
		}
	})
	if s.opts.AutoAnswer {
		s.answer(c)
	}
}

func (s *Sim) answer(c *call) {
	if c.status != "ringing" && c.status != "queued" {
		return
	}
	c.ringTimer.cancel()
	s.setStatus(c, "in-progress")
	if c.onAnswer != nil {
		c.onAnswer(c)
	} else {
		s.hangupCall(c, "completed")
	}
}

func (s *Sim) failLeg(c *call, status string) {
	if !c.live() {
		return
	}
	c.ringTimer.cancel()
	s.setStatus(c, status)
	if c.onFail != nil {
		c.onFail(c, status)
	}
	if c.onEnd != nil {
		c.onEnd(c)
	}
}

// hangupCall ends a call and unwinds everything it was part of.
func (s *Sim) hangupCall(c *call, status string) {
	if !c.live() {
		return
	}
	if c.status != "in-progress" && c.dir != "inbound" {
		// An unanswered outbound leg that is hung up never connected.
		if status == "completed" {
			status = "canceled"
		}
		s.failLeg(c, status)
		return
	}
	c.gen++
	c.ringTimer.cancel()
	c.stateTimer.cancel()
	c.status = "ending"
	if c.part != nil {
		s.leaveConference(c.part, "participant_hung_up", false)
	}
	if c.enq != nil {
		s.leaveQueue(c, "hangup")
	}
	if c.dial != nil {
		for _, ch := range c.dial.legs {
			s.hangupCall(ch, "completed")
		}
		c.dial = nil
	}
	if b := c.bridge; b != nil {
		c.bridge, b.bridge = nil, nil
		s.bridgeEnded(b)
	}
	c.status = "in-progress"
	if status == "busy" || status == "no-answer" || status == "failed" || status == "canceled" {
		// inbound call rejected before answer
		c.status = "ringing"
	}
	s.setStatus(c, status)
	if c.onEnd != nil {
		c.onEnd(c)
	}
}

// ---- TwiML execution ----

// fetchTwiML requests a TwiML document for the call and runs it.
func (s *Sim) fetchTwiML(c *call, kind, u, method string, extra url.Values) {
	c.gen++
	gen := c.gen
	c.state = "fetching"
	if method == "" {
		method = http.MethodPost
	}
	f := s.voiceParams(c)
	for k, vs := range extra {
		f[k] = vs
	}
	s.send(&delivery{kind: kind, method: method, url: u, form: f, done: func(status int, body []byte, err error) {
		if !c.live() || c.gen != gen {
			return
		}
		if err != nil || status < 200 || status >= 300 {
			s.appError(c)
			return
		}
		nodes, perr := parseTwiML(body)
		if perr != nil {
			s.logf("call %s: %v", c.sid, perr)
			s.appError(c)
			return
		}
		s.runDoc(c, nodes, u, method)
	}})
}

func (s *Sim) appError(c *call) {
	s.hear(c, Heard{Kind: "say", Text: ApplicationError, Source: "error"})
	s.hangupCall(c, "completed")
}

func (s *Sim) runDoc(c *call, nodes []*node, u, method string) {
	c.gen++
	c.prog, c.pc, c.docURL, c.docMethod, c.state = nodes, 0, u, method, ""
	c.stateTimer.cancel()
	if c.status == "ringing" && c.dir == "inbound" {
		if len(nodes) > 0 && nodes[0].name() == "Reject" {
			reason := "busy"
			if nodes[0].attr("reason") == "rejected" {
				reason = "busy"
			}
			s.hangupCall(c, reason)
			return
		}
		s.setStatus(c, "in-progress")
	}
	s.run(c)
}

// run executes verbs until one blocks (waits for time, input or a bridge) or
// the document ends (the call hangs up, as Twilio does).
func (s *Sim) run(c *call) {
	for c.live() && c.state == "" {
		if c.pc >= len(c.prog) {
			s.hangupCall(c, "completed")
			return
		}
		n := c.prog[c.pc]
		c.pc++
		s.exec(c, n)
	}
}

// resume continues the document after a blocking verb finished.
func (s *Sim) resume(c *call, gen int) {
	if !c.live() || c.gen != gen {
		return
	}
	c.state = ""
	s.run(c)
}

func (s *Sim) exec(c *call, n *node) {
	switch n.name() {
	case "Say":
		s.hear(c, Heard{Kind: "say", Text: n.text(), Source: "twiml"})
	case "Play":
		s.hear(c, Heard{Kind: "play", URL: n.text(), Source: "twiml"})
	case "Pause":
		secs := atoiDef(n.attr("length"), 1)
		c.state = "pause"
		gen := c.gen
		c.stateTimer = s.after(time.Duration(secs)*time.Second, func() { s.resume(c, gen) })
	case "Gather":
		s.startGather(c, n)
	case "Enqueue":
		s.enqueueCall(c, n)
	case "Dial":
		s.startDial(c, n)
	case "Redirect":
		u := s.resolve(c.docURL, n.text())
		s.fetchTwiML(c, "redirect", u, defStr(n.attr("method"), http.MethodPost), nil)
	case "Hangup":
		s.hangupCall(c, "completed")
	case "Reject":
		s.hangupCall(c, "busy")
	case "Leave":
		if c.enq != nil {
			s.leaveQueue(c, "leave")
		}
	default:
		s.logf("call %s: unsupported verb <%s> skipped", c.sid, n.name())
	}
}

func (s *Sim) resolve(base, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return base
	}
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

// ---- Gather ----

func (s *Sim) startGather(c *call, n *node) {
	for _, ch := range n.Nodes {
		switch ch.name() {
		case "Say":
			s.hear(c, Heard{Kind: "say", Text: ch.text(), Source: "twiml"})
		case "Play":
			s.hear(c, Heard{Kind: "play", URL: ch.text(), Source: "twiml"})
		}
	}
	c.gather = n
	c.state = "gather"
	if c.digits != "" {
		s.gatherDone(c)
		return
	}
	gen := c.gen
	secs := atoiDef(n.attr("timeout"), defaultGatherWait)
	c.stateTimer = s.after(time.Duration(secs)*time.Second, func() {
		if c.gen != gen || c.state != "gather" {
			return
		}
		if c.digits != "" {
			s.gatherDone(c)
			return
		}
		// No input: Twilio falls through to the next verb, unless
		// actionOnEmptyResult asks for the action URL anyway.
		if n.attr("actionOnEmptyResult") == "true" {
			s.gatherDone(c)
			return
		}
		c.gather = nil
		s.resume(c, gen)
	})
}

func (s *Sim) gatherDone(c *call) {
	n := c.gather
	c.gather = nil
	c.stateTimer.cancel()
	digits := c.digits
	c.digits = ""
	if fk := defStr(n.attr("finishOnKey"), "#"); fk != "" {
		if i := strings.Index(digits, fk); i >= 0 {
			digits = digits[:i]
		}
	}
	if nd := atoiDef(n.attr("numDigits"), 0); nd > 0 && len(digits) > nd {
		digits = digits[:nd]
	}
	action := s.resolve(c.docURL, n.attr("action"))
	s.fetchTwiML(c, "action", action, defStr(n.attr("method"), http.MethodPost), url.Values{"Digits": {digits}, "FinishedOnKey": {""}})
}

// ---- Enqueue ----

type enqueued struct {
	task    *task
	queue   string
	action  string
	method  string
	waitURL string
	since   time.Time
}

type voiceQueue struct {
	sid, name string
	calls     []*call
}

func (s *Sim) enqueueCall(c *call, n *node) {
	e := &enqueued{action: n.attr("action"), method: n.attr("method"), waitURL: n.attr("waitUrl"), since: s.now}
	if e.action != "" {
		e.action = s.resolve(c.docURL, e.action)
	}
	c.enq = e
	c.state = "enqueued"
	if wf := n.attr("workflowSid"); wf != "" {
		attrs := map[string]any{}
		prio, tout := 0, 0
		for _, ch := range n.Nodes {
			if ch.name() == "Task" {
				if err := json.Unmarshal([]byte(ch.text()), &attrs); err != nil {
					s.logf("call %s: <Task> is not JSON: %v", c.sid, err)
				}
				prio = atoiDef(ch.attr("priority"), 0)
				tout = atoiDef(ch.attr("timeout"), 0)
			}
		}
		for k, v := range s.callTaskAttrs(c) {
			if _, ok := attrs[k]; !ok {
				attrs[k] = v
			}
		}
		t, err := s.createTask(wf, attrs, prio, tout, "voice", c)
		if err != nil {
			s.logf("call %s: enqueue: %v", c.sid, err)
			c.enq = nil
			s.appError(c)
			return
		}
		e.task = t
		e.queue = t.queueName()
	} else {
		name := n.text()
		q := s.vqueues[name]
		if q == nil {
			q = &voiceQueue{sid: s.newSid("QU"), name: name}
			s.vqueues[name] = q
		}
		q.calls = append(q.calls, c)
		e.queue = name
	}
	s.playWait(c, "queue", e.waitURL, http.MethodPost)
	if e.task != nil {
		s.routeTask(e.task)
	}
}

// callTaskAttrs is what Twilio adds to the attributes of an <Enqueue> task.
func (s *Sim) callTaskAttrs(c *call) map[string]any {
	m := map[string]any{
		"call_sid": c.sid, "account_sid": s.opts.AccountSid, "api_version": "2010-04-01",
		"from": c.from, "to": c.to, "caller": c.from, "called": c.to,
		"direction": c.dir, "call_status": c.status,
		"from_country": countryOf(c.from), "to_country": countryOf(c.to),
		"caller_country": countryOf(c.from), "called_country": countryOf(c.to),
	}
	for _, p := range []string{"from", "to", "caller", "called"} {
		for _, f := range []string{"city", "state", "zip"} {
			m[p+"_"+f] = ""
		}
	}
	return m
}

// leaveQueue takes the call out of its queue. reason: hangup, leave, bridged,
// redirected.
func (s *Sim) leaveQueue(c *call, reason string) {
	e := c.enq
	if e == nil {
		return
	}
	c.enq = nil
	if e.task == nil {
		if q := s.vqueues[e.queue]; q != nil {
			for i, x := range q.calls {
				if x == c {
					q.calls = append(q.calls[:i], q.calls[i+1:]...)
					break
				}
			}
		}
	} else if reason == "hangup" && (e.task.status == "pending" || e.task.status == "reserved") {
		// TaskRouter cancels a task nobody was assigned; one a worker has
		// accepted (a call instruction ringing them) stays assigned: the
		// worker completes it.
		s.cancelTask(e.task, "hangup")
	}
	if reason == "hangup" || reason == "bridged" || reason == "redirected" {
		return
	}
	s.afterQueue(c, e, reason)
}

// afterQueue continues an enqueued caller's document: the Enqueue action URL
// (with QueueResult) or the next verb.
func (s *Sim) afterQueue(c *call, e *enqueued, result string) {
	if !c.live() {
		return
	}
	c.state = ""
	if e.action != "" {
		s.fetchTwiML(c, "action", e.action, defStr(e.method, http.MethodPost), url.Values{
			"QueueResult": {result}, "QueueSid": {e.queue},
			"QueueTime": {strconv.Itoa(int(s.now.Sub(e.since).Seconds()))}})
		return
	}
	s.run(c)
}

// playWait records the wait/hold audio a party hears: an audio file is
// music; a TwiML URL is fetched and its Say/Play are what they hear.
func (s *Sim) playWait(c *call, source, u, method string) {
	// The music itself is derived from the call's state (see audioOf).
	if u == "" || isAudioURL(u) {
		return
	}
	s.fetchAudio(c, "wait", u, method, nil)
}

// fetchAudio fetches a TwiML document whose Say/Play/Pause are heard by c
// alone (hold, wait, announcements); done runs after it was "played".
func (s *Sim) fetchAudio(c *call, kind, u, method string, done func(ok bool)) {
	if method == "" {
		method = http.MethodPost
	}
	f := s.voiceParams(c)
	s.send(&delivery{kind: kind, method: method, url: u, form: f, done: func(status int, body []byte, err error) {
		ok := err == nil && status >= 200 && status < 300
		if ok && c.live() {
			if isAudioBody(body) {
				s.hear(c, Heard{Kind: "play", URL: u, Source: kind})
			} else if nodes, perr := parseTwiML(body); perr == nil {
				for _, n := range nodes {
					switch n.name() {
					case "Say":
						s.hear(c, Heard{Kind: "say", Text: n.text(), Source: kind})
					case "Play":
						s.hear(c, Heard{Kind: "play", URL: n.text(), Source: kind})
					}
				}
			} else {
				ok = false
			}
		}
		if done != nil {
			done(ok)
		}
	}})
}

func isAudioBody(b []byte) bool {
	s := strings.TrimSpace(string(b))
	return !strings.HasPrefix(s, "<")
}

// ---- Dial ----

type dialing struct {
	node      *node
	legs      []*call
	action    string
	method    string
	answered  *call
	failed    int
	gen       int
	lastState string
}

func (s *Sim) startDial(c *call, n *node) {
	d := &dialing{node: n, action: n.attr("action"), method: defStr(n.attr("method"), http.MethodPost), gen: c.gen}
	if d.action != "" {
		d.action = s.resolve(c.docURL, d.action)
	}
	timeout := time.Duration(atoiDef(n.attr("timeout"), 30)) * time.Second
	callerID := defStr(n.attr("callerId"), c.to)
	if c.dir != "inbound" {
		callerID = defStr(n.attr("callerId"), c.from)
	}
	var targets []string
	for _, ch := range n.Nodes {
		switch ch.name() {
		case "Conference":
			s.dialConference(c, ch, d)
			return
		case "Queue":
			s.dialQueue(c, ch, d)
			return
		case "Number":
			targets = append(targets, ch.text())
		case "Client":
			id := ch.text()
			for _, id2 := range ch.Nodes {
				if id2.name() == "Identity" {
					id = id2.text()
				}
			}
			targets = append(targets, "client:"+strings.TrimPrefix(id, "client:"))
		case "Sip":
			targets = append(targets, ch.text())
		}
	}
	if len(targets) == 0 && n.text() != "" {
		targets = append(targets, n.text())
	}
	if len(targets) == 0 {
		s.logf("call %s: <Dial> without a target", c.sid)
		return
	}
	c.dial = d
	c.state = "dial"
	for _, to := range targets {
		leg := s.newCall(callerID, to, "outbound-dial")
		leg.parentSid = c.sid
		d.legs = append(d.legs, leg)
		leg.onAnswer = func(leg *call) {
			if c.dial != d || !c.live() {
				s.hangupCall(leg, "completed")
				return
			}
			d.answered = leg
			for _, other := range d.legs {
				if other != leg {
					s.hangupCall(other, "canceled")
				}
			}
			c.dial = nil
			c.state, leg.state = "bridged", "bridged"
			c.bridge, leg.bridge = leg, c
		}
		leg.onFail = func(leg *call, status string) {
			if c.dial != d {
				return
			}
			d.failed++
			d.lastState = status
			if d.failed == len(d.legs) {
				c.dial = nil
				s.dialDone(c, d, status, leg)
			}
		}
	}
	for _, leg := range d.legs {
		s.dialOut(leg, timeout)
	}
}

// bridgeEnded: the other side of a Dial bridge hung up.
func (s *Sim) bridgeEnded(c *call) {
	if !c.live() {
		return
	}
	if c.dir == "outbound-dial" {
		s.hangupCall(c, "completed")
		return
	}
	s.dialDone(c, &dialing{action: "", method: http.MethodPost, gen: c.gen}, "completed", nil)
}

func (s *Sim) dialDone(c *call, d *dialing, status string, leg *call) {
	if !c.live() || c.gen != d.gen {
		return
	}
	c.state = ""
	if d.action != "" {
		v := url.Values{"DialCallStatus": {status}}
		if leg != nil {
			v.Set("DialCallSid", leg.sid)
		}
		s.fetchTwiML(c, "action", d.action, d.method, v)
		return
	}
	s.run(c)
}

func (s *Sim) dialQueue(c *call, n *node, d *dialing) {
	q := s.vqueues[n.text()]
	if q == nil || len(q.calls) == 0 {
		s.dialDone(c, d, "no-answer", nil)
		return
	}
	other := q.calls[0]
	s.leaveQueue(other, "bridged")
	other.state, c.state = "bridged", "bridged"
	other.bridge, c.bridge = c, other
}

// ---- drivers ----

// PlaceCall places an inbound call from `from` to the provisioned number `to`
// and fetches its voice URL. It returns the CallSid.
func (s *Sim) PlaceCall(from, to string) (string, error) {
	s.lock()
	defer s.unlock()
	num := s.numbers[to]
	if num == nil {
		return "", fmt.Errorf("twiliosim: %s is not a provisioned number", to)
	}
	c := s.newCall(from, to, "inbound")
	c.status = "ringing"
	if num.statusCB != "" {
		c.statusCB, c.statusCBMethod = num.statusCB, http.MethodPost
	}
	s.fetchTwiML(c, "voice", num.voiceURL, num.voiceMethod, nil)
	return c.sid, nil
}

// Answer answers the ringing outbound leg of party (address or CallSid).
func (s *Sim) Answer(party string) error {
	return s.drive(party, func(c *call) error {
		if c.status != "ringing" {
			return fmt.Errorf("twiliosim: call %s to %s is %s, not ringing", c.sid, c.party(), c.status)
		}
		s.answer(c)
		return nil
	})
}

// Decline rejects the ringing leg of party: the call ends busy.
func (s *Sim) Decline(party string) error {
	return s.drive(party, func(c *call) error {
		if c.status != "ringing" {
			return fmt.Errorf("twiliosim: call %s is %s, not ringing", c.sid, c.status)
		}
		s.failLeg(c, "busy")
		return nil
	})
}

// NoAnswer lets the ringing leg of party ring out now (no-answer).
func (s *Sim) NoAnswer(party string) error {
	return s.drive(party, func(c *call) error {
		if c.status != "ringing" {
			return fmt.Errorf("twiliosim: call %s is %s, not ringing", c.sid, c.status)
		}
		s.failLeg(c, "no-answer")
		return nil
	})
}

// Hangup hangs up party's live call.
func (s *Sim) Hangup(party string) error {
	return s.drive(party, func(c *call) error {
		if !c.live() {
			return fmt.Errorf("twiliosim: call %s already %s", c.sid, c.status)
		}
		if c.status == "ringing" && c.dir != "inbound" {
			s.failLeg(c, "busy")
			return nil
		}
		s.hangupCall(c, "completed")
		return nil
	})
}

// DropCall tears party's call down as a network failure would: the call ends
// (conference/queue/bridge unwind as for a hangup) but its own status
// callback is lost.
func (s *Sim) DropCall(party string) error {
	return s.drive(party, func(c *call) error {
		c.suppressStatus = true
		if c.status == "ringing" && c.dir != "inbound" {
			s.failLeg(c, "failed")
			return nil
		}
		s.hangupCall(c, "completed")
		return nil
	})
}

// Press sends DTMF digits from party. A waiting <Gather> gets them now;
// otherwise they are buffered for the next <Gather> (scripted digits).
func (s *Sim) Press(party, digits string) error {
	return s.drive(party, func(c *call) error {
		if !c.live() {
			return fmt.Errorf("twiliosim: call %s is %s", c.sid, c.status)
		}
		c.digits += digits
		if c.state == "gather" {
			n := c.gather
			fk := defStr(n.attr("finishOnKey"), "#")
			nd := atoiDef(n.attr("numDigits"), 0)
			// One Press is one complete burst of input unless numDigits asks
			// for more.
			if nd == 0 || len(c.digits) >= nd || (fk != "" && strings.Contains(c.digits, fk)) {
				s.gatherDone(c)
			}
		}
		return nil
	})
}

func (s *Sim) drive(party string, fn func(c *call) error) error {
	s.lock()
	defer s.unlock()
	c, err := s.mustCall(party)
	if err != nil {
		return err
	}
	return fn(c)
}

func atoiDef(s string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return v
	}
	return def
}

func defStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
