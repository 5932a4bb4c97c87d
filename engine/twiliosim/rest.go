package twiliosim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// apiError is Twilio's error JSON.
type apiError struct {
	Status   int    `json:"status"`
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
}

func newErr(status, code int, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg, MoreInfo: "https://www.twilio.com/docs/errors/" + strconv.Itoa(code)}
}

func errNotFound(kind, id string) *apiError {
	return newErr(404, 20404, fmt.Sprintf("The requested resource /%s/%s was not found", kind, id))
}
func errInvalid(code int, msg string) *apiError { return newErr(400, code, msg) }

// errReservationNotPending answers an instruction (or a status change) on
// a reservation that is no longer pending, with the code Twilio gives that
// instruction.
func errReservationNotPending(instruction string) *apiError {
	code := 40144 // conference, and what flowd's other answers get here
	switch instruction {
	case "call":
		code = 40114
	case "redirect":
		code = 40123
	case "dequeue":
		code = 40135
	}
	return newErr(400, code, "Reservation is not in the pending state (it was accepted, rejected, timed out, or canceled)")
}

type handlerFunc func(s *Sim, p map[string]string, f url.Values, r *http.Request) (int, any)

type route struct {
	method string
	tmpl   string // the spec's path template
	segs   []string
	h      handlerFunc
}

var routes []*route

func addRoute(method, tmpl string, h handlerFunc) {
	routes = append(routes, &route{method: method, tmpl: tmpl, segs: strings.Split(strings.Trim(tmpl, "/"), "/"), h: h})
}

// match handles "{Name}" and "{Name}.json" segments.
func (rt *route) match(path string) (map[string]string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, t := range rt.segs {
		v := segs[i]
		if strings.HasPrefix(t, "{") {
			end := strings.Index(t, "}")
			suffix := t[end+1:]
			if !strings.HasSuffix(v, suffix) || len(v) == len(suffix) {
				return nil, false
			}
			val, err := url.PathUnescape(strings.TrimSuffix(v, suffix))
			if err != nil {
				return nil, false
			}
			params[t[1:end]] = val
			continue
		}
		if t != v {
			return nil, false
		}
	}
	return params, true
}

func init() {
	const acc = "/2010-04-01/Accounts/{AccountSid}"
	addRoute("POST", acc+"/Calls.json", (*Sim).restCreateCall)
	addRoute("GET", acc+"/Calls.json", (*Sim).restListCalls)
	addRoute("GET", acc+"/Calls/{Sid}.json", (*Sim).restFetchCall)
	addRoute("POST", acc+"/Calls/{Sid}.json", (*Sim).restUpdateCall)
	addRoute("GET", acc+"/Conferences.json", (*Sim).restListConferences)
	addRoute("GET", acc+"/Conferences/{Sid}.json", (*Sim).restFetchConference)
	addRoute("POST", acc+"/Conferences/{Sid}.json", (*Sim).restUpdateConference)
	addRoute("POST", acc+"/Conferences/{ConferenceSid}/Participants.json", (*Sim).restCreateParticipant)
	addRoute("GET", acc+"/Conferences/{ConferenceSid}/Participants.json", (*Sim).restListParticipants)
	addRoute("GET", acc+"/Conferences/{ConferenceSid}/Participants/{CallSid}.json", (*Sim).restFetchParticipant)
	addRoute("POST", acc+"/Conferences/{ConferenceSid}/Participants/{CallSid}.json", (*Sim).restUpdateParticipant)
	addRoute("DELETE", acc+"/Conferences/{ConferenceSid}/Participants/{CallSid}.json", (*Sim).restDeleteParticipant)
	const ws = "/v1/Workspaces/{WorkspaceSid}"
	addRoute("POST", ws+"/Tasks", (*Sim).restCreateTask)
	addRoute("GET", ws+"/Tasks", (*Sim).restListTasks)
	addRoute("GET", ws+"/Tasks/{Sid}", (*Sim).restFetchTask)
	addRoute("POST", ws+"/Tasks/{Sid}", (*Sim).restUpdateTask)
	addRoute("DELETE", ws+"/Tasks/{Sid}", (*Sim).restDeleteTask)
	addRoute("GET", ws+"/Tasks/{TaskSid}/Reservations", (*Sim).restListReservations)
	addRoute("GET", ws+"/Tasks/{TaskSid}/Reservations/{Sid}", (*Sim).restFetchReservation)
	addRoute("POST", ws+"/Tasks/{TaskSid}/Reservations/{Sid}", (*Sim).restUpdateReservation)
	addRoute("GET", ws+"/Workers", (*Sim).restListWorkers)
	addRoute("GET", ws+"/Workers/{Sid}", (*Sim).restFetchWorker)
	addRoute("POST", ws+"/Workers/{Sid}", (*Sim).restUpdateWorker)
	addRoute("GET", ws+"/Activities", (*Sim).restListActivities)
	addRoute("GET", ws+"/TaskQueues", (*Sim).restListQueues)
	addRoute("GET", ws+"/Workflows", (*Sim).restListWorkflows)
}

// Handler serves Twilio's REST API (api.twilio.com paths under /2010-04-01,
// taskrouter.twilio.com paths under /v1). Basic auth is accepted unchecked.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.restInflight++
	s.mu.Unlock()

	status, payload, hdr := s.serve(r, body)
	b, _ := json.Marshal(payload)
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)

	s.lock()
	s.restInflight--
	form := url.Values{}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		form, _ = url.ParseQuery(string(body))
	}
	s.requests = append(s.requests, Request{At: s.now, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Form: cloneValues(form), Status: status, Body: string(b)})
	s.unlock()
}

func (s *Sim) serve(r *http.Request, body []byte) (int, any, map[string]string) {
	var rt *route
	var params map[string]string
	pathOK := false
	for _, x := range routes {
		if p, ok := x.match(r.URL.Path); ok {
			pathOK = true
			if x.method == r.Method {
				rt, params = x, p
				break
			}
		}
	}
	if rt == nil {
		if pathOK {
			return 405, newErr(405, 20004, "Method not allowed"), nil
		}
		return 404, errNotFound("", strings.TrimPrefix(r.URL.Path, "/")), nil
	}
	if s.spec != nil {
		if err := s.spec.validate(r, body, rt.tmpl, params); err != nil {
			s.mu.Lock()
			s.violations = append(s.violations, err.Error())
			s.mu.Unlock()
			s.logf("spec violation: %v", err)
			return 400, newErr(400, 20001, "Invalid request (does not conform to Twilio's OpenAPI spec): "+err.Error()), nil
		}
	}
	s.mu.Lock()
	fault := s.faults.restFault(r.Method, r.URL.Path)
	s.mu.Unlock()
	if fault != nil && !fault.applied {
		return fault.answer()
	}
	if a := params["AccountSid"]; a != "" && a != s.opts.AccountSid {
		return 404, errNotFound("Accounts", a), nil
	}
	if ws := params["WorkspaceSid"]; ws != "" && ws != s.opts.WorkspaceSid {
		return 404, errNotFound("Workspaces", ws), nil
	}
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		if bf, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range bf {
				form[k] = append(form[k], vs...)
			}
		}
	}
	s.lock()
	defer s.unlock()
	status, payload := rt.h(s, params, form, r)
	if fault != nil {
		return fault.answer() // carried out, the answer lost
	}
	if e, ok := payload.(*apiError); ok {
		return e.Status, e, nil
	}
	return status, payload, nil
}

// answer is the error a REST fault answers with.
func (f *restFault) answer() (int, any, map[string]string) {
	if f.status == 429 {
		return 429, newErr(429, 20429, "Too many requests"), map[string]string{"Retry-After": "1"}
	}
	return f.status, newErr(f.status, 20500, "Internal server error"), nil
}

// ---- JSON shapes ----

func (s *Sim) apiDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC1123Z)
}

func trDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Sim) callJSON(c *call) map[string]any {
	base := "/2010-04-01/Accounts/" + s.opts.AccountSid + "/Calls/" + c.sid
	dur := any(nil)
	if !c.ended.IsZero() && !c.started.IsZero() {
		dur = strconv.Itoa(int(c.ended.Sub(c.started).Seconds()))
	}
	var parent any
	if c.parentSid != "" {
		parent = c.parentSid
	}
	st := c.status
	if st == "ending" {
		st = "in-progress"
	}
	return map[string]any{
		"sid": c.sid, "account_sid": s.opts.AccountSid, "parent_call_sid": parent,
		"date_created": s.apiDate(c.created), "date_updated": s.apiDate(s.now),
		"to": c.to, "to_formatted": c.to, "from": c.from, "from_formatted": c.from,
		"status": st, "start_time": s.apiDate(c.started), "end_time": s.apiDate(c.ended),
		"duration": dur, "direction": c.dir, "api_version": "2010-04-01", "price": nil, "price_unit": "USD",
		"answered_by": nil, "forwarded_from": nil, "group_sid": nil, "caller_name": nil, "queue_time": "0",
		"trunk_sid": nil, "phone_number_sid": nil,
		"uri":              base + ".json",
		"subresource_uris": map[string]any{"notifications": base + "/Notifications.json", "recordings": base + "/Recordings.json"},
	}
}

func (s *Sim) confJSON(cf *conference) map[string]any {
	base := "/2010-04-01/Accounts/" + s.opts.AccountSid + "/Conferences/" + cf.sid
	m := map[string]any{
		"sid": cf.sid, "account_sid": s.opts.AccountSid, "friendly_name": cf.name, "status": cf.status,
		"date_created": s.apiDate(cf.created), "date_updated": s.apiDate(cf.updated), "api_version": "2010-04-01",
		"region": "us1", "uri": base + ".json", "reason_conference_ended": nil, "call_sid_ending_conference": nil,
		"subresource_uris": map[string]any{"participants": base + "/Participants.json", "recordings": base + "/Recordings.json"},
	}
	if cf.reasonEnded != "" {
		m["reason_conference_ended"] = cf.reasonEnded
		m["call_sid_ending_conference"] = cf.callSidEnding
	}
	return m
}

func (s *Sim) partJSON(p *participant) map[string]any {
	var label, coach any
	if p.label != "" {
		label = p.label
	}
	if p.coachSid != "" {
		coach = p.coachSid
	}
	return map[string]any{
		"account_sid": s.opts.AccountSid, "call_sid": p.call.sid, "conference_sid": p.conf.sid, "label": label,
		"call_sid_to_coach": coach, "coaching": p.coaching, "date_created": s.apiDate(p.created),
		"date_updated": s.apiDate(p.updated), "end_conference_on_exit": p.endOnExit, "muted": p.muted,
		"hold": p.hold, "start_conference_on_enter": p.startOnEnter, "status": p.status, "queue_time": "0",
		"uri": "/2010-04-01/Accounts/" + s.opts.AccountSid + "/Conferences/" + p.conf.sid + "/Participants/" + p.call.sid + ".json",
	}
}

func (s *Sim) wsURL(rest string) string {
	return "https://taskrouter.twilio.com/v1/Workspaces/" + s.opts.WorkspaceSid + rest
}

func (s *Sim) taskJSON(t *task) map[string]any {
	var reason any
	if t.reason != "" {
		reason = t.reason
	}
	return map[string]any{
		"account_sid": s.opts.AccountSid, "age": int(s.now.Sub(t.created).Seconds()), "assignment_status": t.status,
		"attributes": t.attrs, "addons": "{}", "date_created": trDate(t.created), "date_updated": trDate(t.updated),
		"task_queue_entered_date": trDate(t.queueEntered), "priority": t.priority, "reason": reason, "sid": t.sid,
		"task_queue_sid": t.queue.sid, "task_queue_friendly_name": t.queue.name,
		"task_channel_sid": channelSid(t.channel), "task_channel_unique_name": t.channel,
		"timeout": t.timeout, "workflow_sid": t.wf.sid, "workflow_friendly_name": t.wf.name,
		"workspace_sid": s.opts.WorkspaceSid, "url": s.wsURL("/Tasks/" + t.sid),
		"links":              map[string]any{"reservations": s.wsURL("/Tasks/" + t.sid + "/Reservations")},
		"virtual_start_time": trDate(t.created), "ignore_capacity": false, "routing_target": nil,
	}
}

func (s *Sim) resJSON(r *reservation) map[string]any {
	return map[string]any{
		"account_sid": s.opts.AccountSid, "date_created": trDate(r.created), "date_updated": trDate(r.updated),
		"reservation_status": r.status, "sid": r.sid, "task_sid": r.task.sid, "worker_name": r.worker.name,
		"worker_sid": r.worker.sid, "workspace_sid": s.opts.WorkspaceSid,
		"url":   s.wsURL("/Tasks/" + r.task.sid + "/Reservations/" + r.sid),
		"links": map[string]any{"task": s.wsURL("/Tasks/" + r.task.sid), "worker": s.wsURL("/Workers/" + r.worker.sid)},
	}
}

func (s *Sim) workerJSON(w *worker) map[string]any {
	return map[string]any{
		"account_sid": s.opts.AccountSid, "activity_name": w.activity.name, "activity_sid": w.activity.sid,
		"attributes": w.attrs, "available": w.activity.available, "date_created": trDate(w.created),
		"date_status_changed": trDate(w.statusChanged), "date_updated": trDate(w.updated), "friendly_name": w.name,
		"sid": w.sid, "workspace_sid": s.opts.WorkspaceSid, "url": s.wsURL("/Workers/" + w.sid),
		"links": map[string]any{"reservations": s.wsURL("/Workers/" + w.sid + "/Reservations")},
	}
}

func (s *Sim) v2010List(key, uri string, items []map[string]any) map[string]any {
	return map[string]any{key: items, "end": len(items) - 1, "first_page_uri": uri + "?PageSize=50&Page=0",
		"next_page_uri": nil, "page": 0, "page_size": 50, "previous_page_uri": nil, "start": 0, "uri": uri}
}

func (s *Sim) trList(key, rest string, items []map[string]any) map[string]any {
	u := s.wsURL(rest)
	return map[string]any{key: items, "meta": map[string]any{"page": 0, "page_size": 50, "first_page_url": u + "?PageSize=50&Page=0",
		"previous_page_url": nil, "url": u + "?PageSize=50&Page=0", "next_page_url": nil, "key": key}}
}

func boolParam(f url.Values, k string) (bool, bool) {
	v, ok := f[k]
	if !ok || len(v) == 0 {
		return false, false
	}
	return strings.EqualFold(v[0], "true"), true
}

// ---- Calls ----

func (s *Sim) restCreateCall(_ map[string]string, f url.Values, _ *http.Request) (int, any) {
	to, from := f.Get("To"), f.Get("From")
	if to == "" || from == "" {
		return 0, errInvalid(21201, "No 'To' number is specified")
	}
	if f.Get("Url") == "" && f.Get("Twiml") == "" && f.Get("ApplicationSid") == "" {
		return 0, errInvalid(21205, "Url parameter is required")
	}
	c := s.newCall(from, to, "outbound-api")
	c.statusCB, c.statusCBMethod = f.Get("StatusCallback"), f.Get("StatusCallbackMethod")
	c.statusEvents = parseEvents(f["StatusCallbackEvent"])
	twiml, u, m := f.Get("Twiml"), f.Get("Url"), f.Get("Method")
	c.onAnswer = func(c *call) {
		if twiml != "" {
			nodes, err := parseTwiML([]byte(twiml))
			if err != nil {
				s.appError(c)
				return
			}
			s.runDoc(c, nodes, "", "")
			return
		}
		s.fetchTwiML(c, "voice", u, m, nil)
	}
	resp := s.callJSON(c)
	s.dialOut(c, time.Duration(atoiDef(f.Get("Timeout"), 60))*time.Second)
	return 201, resp
}

func (s *Sim) restListCalls(_ map[string]string, f url.Values, r *http.Request) (int, any) {
	var items []map[string]any
	for i := len(s.callOrder) - 1; i >= 0; i-- {
		c := s.callOrder[i]
		if (f.Get("To") != "" && c.to != f.Get("To")) || (f.Get("From") != "" && c.from != f.Get("From")) ||
			(f.Get("Status") != "" && c.status != f.Get("Status")) || (f.Get("ParentCallSid") != "" && c.parentSid != f.Get("ParentCallSid")) {
			continue
		}
		items = append(items, s.callJSON(c))
	}
	return 200, s.v2010List("calls", r.URL.Path, items)
}

func (s *Sim) restFetchCall(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	c := s.calls[p["Sid"]]
	if c == nil {
		return 0, errNotFound("Calls", p["Sid"])
	}
	return 200, s.callJSON(c)
}

func (s *Sim) restUpdateCall(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	c := s.calls[p["Sid"]]
	if c == nil {
		return 0, errNotFound("Calls", p["Sid"])
	}
	if st := f.Get("Status"); st != "" {
		if !c.live() {
			return 0, errInvalid(21220, "Call is not in-progress. Cannot redirect.")
		}
		switch st {
		case "completed":
			if c.status == "in-progress" || c.dir == "inbound" {
				s.hangupCall(c, "completed")
			} else {
				s.failLeg(c, "canceled")
			}
		case "canceled":
			if c.status == "queued" || c.status == "ringing" {
				if c.dir == "inbound" {
					s.hangupCall(c, "canceled")
				} else {
					s.failLeg(c, "canceled")
				}
			}
		default:
			return 0, errInvalid(21218, "Invalid Status "+st)
		}
		return 200, s.callJSON(c)
	}
	if !c.live() || c.status != "in-progress" && c.dir != "inbound" {
		return 0, errInvalid(21220, "Call is not in-progress. Cannot redirect.")
	}
	if tw := f.Get("Twiml"); tw != "" {
		nodes, err := parseTwiML([]byte(tw))
		if err != nil {
			return 0, errInvalid(12100, "Document parse failure: "+err.Error())
		}
		s.detach(c)
		s.runDoc(c, nodes, c.docURL, c.docMethod)
	} else if u := f.Get("Url"); u != "" {
		s.detach(c)
		s.fetchTwiML(c, "redirect", u, f.Get("Method"), nil)
	}
	if cb := f.Get("StatusCallback"); cb != "" {
		c.statusCB, c.statusCBMethod = cb, f.Get("StatusCallbackMethod")
	}
	return 200, s.callJSON(c)
}

// detach takes a call out of whatever its current verb joined (queue,
// conference, bridge) before new TwiML runs, as a redirect does on Twilio.
func (s *Sim) detach(c *call) {
	c.gen++
	c.stateTimer.cancel()
	c.gather = nil
	if c.enq != nil {
		s.leaveQueue(c, "redirected")
	}
	if c.part != nil {
		c.afterConf = func() {}
		s.leaveConference(c.part, "participant_updated_via_api", false)
	}
	if c.dial != nil {
		for _, leg := range c.dial.legs {
			s.hangupCall(leg, "canceled")
		}
		c.dial = nil
	}
	if b := c.bridge; b != nil {
		c.bridge, b.bridge = nil, nil
		s.bridgeEnded(b)
	}
	c.state = ""
}

// ---- Conferences ----

func (s *Sim) restListConferences(_ map[string]string, f url.Values, r *http.Request) (int, any) {
	var items []map[string]any
	for i := len(s.confOrder) - 1; i >= 0; i-- {
		cf := s.confOrder[i]
		if fn := f.Get("FriendlyName"); fn != "" && cf.name != fn {
			continue
		}
		if st := f.Get("Status"); st != "" && cf.status != st {
			continue
		}
		items = append(items, s.confJSON(cf))
	}
	return 200, s.v2010List("conferences", r.URL.Path, items)
}

func (s *Sim) restFetchConference(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	cf := s.confs[p["Sid"]]
	if cf == nil {
		return 0, errNotFound("Conferences", p["Sid"])
	}
	return 200, s.confJSON(cf)
}

func (s *Sim) restUpdateConference(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	cf := s.confs[p["Sid"]]
	if cf == nil {
		return 0, errNotFound("Conferences", p["Sid"])
	}
	if u := f.Get("AnnounceUrl"); u != "" && cf.status != "completed" {
		s.announce(cf, nil, u, f.Get("AnnounceMethod"))
	}
	if f.Get("Status") == "completed" {
		s.endConference(cf, "conference-ended-via-api", "", "")
	}
	return 200, s.confJSON(cf)
}

// ---- Participants ----

func (s *Sim) restCreateParticipant(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	to, from := f.Get("To"), f.Get("From")
	if to == "" || from == "" {
		return 0, errInvalid(21201, "Missing required parameter From or To")
	}
	var cf *conference
	if strings.HasPrefix(p["ConferenceSid"], "CF") {
		cf = s.confs[p["ConferenceSid"]]
		if cf == nil || cf.status == "completed" {
			return 0, errNotFound("Conferences", p["ConferenceSid"])
		}
	} else {
		cf = s.confFor(p["ConferenceSid"])
	}
	label := f.Get("Label")
	if label != "" && cf.byCallOrLabel(label) != nil {
		return 0, errInvalid(16026, "Participant label "+label+" is already in use by another participant")
	}
	coaching, _ := boolParam(f, "Coaching")
	coach := f.Get("CallSidToCoach")
	if coaching || coach != "" {
		if t := cf.byCallOrLabel(coach); coach == "" || t == nil || t.status != "connected" {
			return 0, errInvalid(13240, "Invalid CallSidToCoach: "+coach)
		}
	}
	muted, _ := boolParam(f, "Muted")
	start, ok := boolParam(f, "StartConferenceOnEnter")
	if !ok {
		start = true
	}
	end, _ := boolParam(f, "EndConferenceOnExit")
	o := partOpts{label: label, muted: muted, coaching: coaching, coachSid: coach, startOnEnter: start, endOnExit: end,
		beep: f.Get("Beep"), waitURL: f.Get("WaitUrl"), waitMethod: f.Get("WaitMethod"),
		cbURL: f.Get("ConferenceStatusCallback"), cbMethod: f.Get("ConferenceStatusCallbackMethod"),
		cbEvents: f["ConferenceStatusCallbackEvent"]}
	c := s.newCall(from, to, "outbound-api")
	c.statusCB, c.statusCBMethod = f.Get("StatusCallback"), f.Get("StatusCallbackMethod")
	c.statusEvents = parseEvents(f["StatusCallbackEvent"])
	pp := s.addParticipant(cf, c, o)
	c.onAnswer = func(c *call) {
		if cf.status == "completed" || pp.status != "queued" && pp.status != "ringing" {
			s.hangupCall(c, "completed")
			return
		}
		s.connect(pp)
	}
	c.onFail = func(c *call, status string) { s.dropParticipant(pp, status) }
	resp := s.partJSON(pp)
	s.dialOut(c, time.Duration(atoiDef(f.Get("Timeout"), 60))*time.Second)
	if pp.status == "queued" {
		pp.status = "ringing"
	}
	return 201, resp
}

func (s *Sim) confAndPart(p map[string]string) (*conference, *participant, *apiError) {
	cf := s.confs[p["ConferenceSid"]]
	if cf == nil {
		return nil, nil, errNotFound("Conferences", p["ConferenceSid"])
	}
	pp := cf.byCallOrLabel(p["CallSid"])
	if pp == nil {
		return cf, nil, errNotFound("Conferences/"+cf.sid+"/Participants", p["CallSid"])
	}
	return cf, pp, nil
}

func (s *Sim) restListParticipants(p map[string]string, f url.Values, r *http.Request) (int, any) {
	cf := s.confs[p["ConferenceSid"]]
	if cf == nil {
		return 0, errNotFound("Conferences", p["ConferenceSid"])
	}
	var items []map[string]any
	for _, pp := range cf.parts {
		if v, ok := boolParam(f, "Muted"); ok && pp.muted != v {
			continue
		}
		if v, ok := boolParam(f, "Hold"); ok && pp.hold != v {
			continue
		}
		if v, ok := boolParam(f, "Coaching"); ok && pp.coaching != v {
			continue
		}
		items = append(items, s.partJSON(pp))
	}
	return 200, s.v2010List("participants", r.URL.Path, items)
}

func (s *Sim) restFetchParticipant(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	_, pp, err := s.confAndPart(p)
	if err != nil {
		return 0, err
	}
	return 200, s.partJSON(pp)
}

func (s *Sim) restUpdateParticipant(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	cf, pp, err := s.confAndPart(p)
	if err != nil {
		return 0, err
	}
	coaching, hasCoaching := boolParam(f, "Coaching")
	coach := f.Get("CallSidToCoach")
	if coach != "" || (hasCoaching && coaching) {
		target := coach
		if target == "" {
			target = pp.coachSid
		}
		if t := cf.byCallOrLabel(target); target == "" || t == nil || t.status != "connected" || t == pp {
			return 0, errInvalid(13240, "Invalid CallSidToCoach: "+target)
		}
	}
	modified := false
	if hasCoaching || coach != "" {
		if coach != "" {
			pp.coachSid = coach
			if t := cf.byCallOrLabel(coach); t != nil {
				pp.coachSid = t.call.sid
			}
		}
		pp.coaching = coaching || (!hasCoaching && coach != "")
		if !pp.coaching {
			pp.coachSid = ""
		}
		modified = true
	}
	if v, ok := boolParam(f, "EndConferenceOnExit"); ok {
		pp.endOnExit = v
		modified = true
	}
	if v, ok := boolParam(f, "Muted"); ok {
		s.setMuted(pp, v)
	}
	if v, ok := boolParam(f, "Hold"); ok {
		s.setHold(pp, v, f.Get("HoldUrl"), f.Get("HoldMethod"))
	} else if f.Get("HoldUrl") != "" {
		pp.holdURL = f.Get("HoldUrl")
	}
	if u := f.Get("WaitUrl"); u != "" {
		pp.waitURL = u
	}
	if modified {
		pp.updated = s.now
		s.confEvent(cf, "participant-modify", pp, nil)
	}
	if u := f.Get("AnnounceUrl"); u != "" {
		s.announce(cf, pp, u, f.Get("AnnounceMethod"))
	}
	return 200, s.partJSON(pp)
}

func (s *Sim) restDeleteParticipant(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	_, pp, err := s.confAndPart(p)
	if err != nil {
		return 0, err
	}
	if pp.status != "connected" {
		s.dropParticipant(pp, "")
		s.hangupCall(pp.call, "canceled")
		return 204, nil
	}
	s.leaveConference(pp, "participant_updated_via_api", true)
	return 204, nil
}

// ---- TaskRouter ----

func (s *Sim) restCreateTask(_ map[string]string, f url.Values, _ *http.Request) (int, any) {
	attrs := map[string]any{}
	if a := f.Get("Attributes"); a != "" {
		if err := json.Unmarshal([]byte(a), &attrs); err != nil {
			return 0, errInvalid(20001, "Attributes is not valid JSON")
		}
	}
	wf := f.Get("WorkflowSid")
	if wf == "" && len(s.tr.workflows) == 1 {
		wf = s.tr.workflows[0].sid
	}
	t, err := s.createTask(wf, attrs, atoiDef(f.Get("Priority"), 0), atoiDef(f.Get("Timeout"), 0), f.Get("TaskChannel"), nil)
	if err != nil {
		return 0, errInvalid(20001, err.Error())
	}
	resp := s.taskJSON(t)
	s.routeTask(t)
	return 201, resp
}

func (s *Sim) restListTasks(_ map[string]string, f url.Values, _ *http.Request) (int, any) {
	var items []map[string]any
	sts := f["AssignmentStatus"]
	var match func(*task) bool
	if expr := f.Get("EvaluateTaskAttributes"); expr != "" {
		var err *apiError
		if match, err = attributeEquals(expr); err != nil {
			return 0, err
		}
	}
	for _, t := range s.tr.taskOrder {
		if len(sts) > 0 && !contains(sts, t.status) {
			continue
		}
		if match != nil && !match(t) {
			continue
		}
		items = append(items, s.taskJSON(t))
	}
	return 200, s.trList("tasks", "/Tasks", items)
}

// attrEqualsExpr is the one form of TaskRouter expression the stand-in
// evaluates in EvaluateTaskAttributes: NAME == "value" (or 'value'), NAME a
// dotted path into the task's attributes.
var attrEqualsExpr = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*==\s*(?:"([^"]*)"|'([^']*)')\s*$`)

// attributeEquals compiles expr into a task filter, or refuses it (Twilio
// accepts far more; the stand-in says so rather than match wrongly).
func attributeEquals(expr string) (func(*task) bool, *apiError) {
	m := attrEqualsExpr.FindStringSubmatch(expr)
	if m == nil {
		return nil, errInvalid(20001, "the Twilio stand-in evaluates only NAME == \"value\" in EvaluateTaskAttributes, not "+strconv.Quote(expr))
	}
	path, want := strings.Split(m[1], "."), m[2]+m[3]
	return func(t *task) bool {
		var v any
		if json.Unmarshal([]byte(t.attrs), &v) != nil {
			return false
		}
		for _, k := range path {
			obj, ok := v.(map[string]any)
			if !ok {
				return false
			}
			v = obj[k]
		}
		got, ok := v.(string)
		return ok && got == want
	}, nil
}

func contains(xs []string, v string) bool {
	for _, x := range xs {
		for _, y := range strings.Split(x, ",") {
			if y == v {
				return true
			}
		}
	}
	return false
}

func (s *Sim) restFetchTask(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	t := s.tr.tasks[p["Sid"]]
	if t == nil {
		return 0, errNotFound("Tasks", p["Sid"])
	}
	return 200, s.taskJSON(t)
}

func (s *Sim) restUpdateTask(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	t := s.tr.tasks[p["Sid"]]
	if t == nil {
		return 0, errNotFound("Tasks", p["Sid"])
	}
	changed := false
	if a := f.Get("Attributes"); a != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(a), &m); err != nil {
			return 0, errInvalid(20001, "Attributes is not valid JSON")
		}
		t.attrs = a
		changed = true
	}
	if pr := f.Get("Priority"); pr != "" {
		t.priority = atoiDef(pr, t.priority)
		changed = true
	}
	if changed {
		t.updated = s.now
		s.event("task.updated", "Task", t.sid, t, nil, nil, "Task updated")
	}
	if st := f.Get("AssignmentStatus"); st != "" {
		if e := s.setTaskStatus(t, st, f.Get("Reason")); e != nil {
			return 0, e
		}
	}
	return 200, s.taskJSON(t)
}

func (s *Sim) restDeleteTask(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	t := s.tr.tasks[p["Sid"]]
	if t == nil {
		return 0, errNotFound("Tasks", p["Sid"])
	}
	if t.status == "pending" || t.status == "reserved" {
		s.cancelTask(t, "deleted")
	}
	delete(s.tr.tasks, t.sid)
	for i, x := range s.tr.taskOrder {
		if x == t {
			s.tr.taskOrder = append(s.tr.taskOrder[:i], s.tr.taskOrder[i+1:]...)
			break
		}
	}
	s.event("task.deleted", "Task", t.sid, t, nil, nil, "Task deleted")
	return 204, nil
}

func (s *Sim) restListReservations(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	t := s.tr.tasks[p["TaskSid"]]
	if t == nil {
		return 0, errNotFound("Tasks", p["TaskSid"])
	}
	var items []map[string]any
	for _, r := range t.reservations {
		if st := f.Get("ReservationStatus"); st != "" && r.status != st {
			continue
		}
		items = append(items, s.resJSON(r))
	}
	return 200, s.trList("reservations", "/Tasks/"+t.sid+"/Reservations", items)
}

func (s *Sim) reservationOf(p map[string]string) (*reservation, *apiError) {
	r := s.tr.res[p["Sid"]]
	if r == nil || r.task.sid != p["TaskSid"] {
		return nil, errNotFound("Reservations", p["Sid"])
	}
	return r, nil
}

func (s *Sim) restFetchReservation(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	r, err := s.reservationOf(p)
	if err != nil {
		return 0, err
	}
	return 200, s.resJSON(r)
}

func (s *Sim) restUpdateReservation(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	r, e := s.reservationOf(p)
	if e != nil {
		return 0, e
	}
	if in := f.Get("Instruction"); in != "" {
		if in == "supervise" {
			if r.status != "accepted" {
				return 0, errInvalid(20001, "supervise needs an accepted reservation")
			}
			if err := s.supervise(r, f); err != nil {
				return 0, err
			}
			return 200, s.resJSON(r)
		}
		if err := s.applyInstruction(r, in, f); err != nil {
			return 0, err
		}
		return 200, s.resJSON(r)
	}
	switch st := f.Get("ReservationStatus"); st {
	case "":
	case "accepted":
		if r.status != "pending" {
			return 0, errReservationNotPending("")
		}
		s.acceptReservation(r)
	case "rejected":
		if err := s.applyInstruction(r, "reject", url.Values{"WorkerActivitySid": {f.Get("WorkerActivitySid")}}); err != nil {
			return 0, err
		}
	case "completed", "wrapping":
		if r.status != "accepted" && !(st == "completed" && r.status == "wrapping") {
			return 0, errInvalid(20001, "Reservation is "+r.status)
		}
		if e := s.setTaskStatus(r.task, st, ""); e != nil {
			return 0, e
		}
	case "canceled":
		if r.status != "pending" {
			return 0, errReservationNotPending("")
		}
		s.closeReservation(r, "canceled")
		s.routeTask(r.task)
	default:
		return 0, errInvalid(20001, "Invalid ReservationStatus "+st)
	}
	return 200, s.resJSON(r)
}

func (s *Sim) restListWorkers(_ map[string]string, f url.Values, _ *http.Request) (int, any) {
	var items []map[string]any
	for _, w := range s.tr.workers {
		if fn := f.Get("FriendlyName"); fn != "" && w.name != fn {
			continue
		}
		if a := f.Get("ActivityName"); a != "" && w.activity.name != a {
			continue
		}
		items = append(items, s.workerJSON(w))
	}
	return 200, s.trList("workers", "/Workers", items)
}

func (s *Sim) restFetchWorker(p map[string]string, _ url.Values, _ *http.Request) (int, any) {
	w := s.workerBy(p["Sid"])
	if w == nil || w.sid != p["Sid"] {
		return 0, errNotFound("Workers", p["Sid"])
	}
	return 200, s.workerJSON(w)
}

func (s *Sim) restUpdateWorker(p map[string]string, f url.Values, _ *http.Request) (int, any) {
	w := s.workerBy(p["Sid"])
	if w == nil || w.sid != p["Sid"] {
		return 0, errNotFound("Workers", p["Sid"])
	}
	if a := f.Get("Attributes"); a != "" {
		w.attrs, w.updated = a, s.now
	}
	if n := f.Get("FriendlyName"); n != "" {
		w.name = n
	}
	if as := f.Get("ActivitySid"); as != "" {
		a := s.activityNamed(as)
		if a == nil || a.sid != as {
			return 0, errInvalid(20001, "Invalid ActivitySid "+as)
		}
		s.setActivity(w, a)
	}
	return 200, s.workerJSON(w)
}

func (s *Sim) restListActivities(_ map[string]string, f url.Values, _ *http.Request) (int, any) {
	var items []map[string]any
	for _, a := range s.tr.activities {
		if fn := f.Get("FriendlyName"); fn != "" && a.name != fn {
			continue
		}
		items = append(items, map[string]any{"account_sid": s.opts.AccountSid, "available": a.available,
			"friendly_name": a.name, "sid": a.sid, "workspace_sid": s.opts.WorkspaceSid, "url": s.wsURL("/Activities/" + a.sid),
			"date_created": trDate(s.opts.Start), "date_updated": trDate(s.opts.Start), "links": map[string]any{}})
	}
	return 200, s.trList("activities", "/Activities", items)
}

func (s *Sim) restListQueues(_ map[string]string, _ url.Values, _ *http.Request) (int, any) {
	var items []map[string]any
	for _, q := range s.tr.queues {
		items = append(items, map[string]any{"account_sid": s.opts.AccountSid, "friendly_name": q.name, "sid": q.sid,
			"workspace_sid": s.opts.WorkspaceSid, "url": s.wsURL("/TaskQueues/" + q.sid), "date_created": trDate(q.created)})
	}
	return 200, s.trList("task_queues", "/TaskQueues", items)
}

func (s *Sim) restListWorkflows(_ map[string]string, _ url.Values, _ *http.Request) (int, any) {
	var items []map[string]any
	for _, wf := range s.tr.workflows {
		items = append(items, map[string]any{"account_sid": s.opts.AccountSid, "friendly_name": wf.name, "sid": wf.sid,
			"workspace_sid": s.opts.WorkspaceSid, "url": s.wsURL("/Workflows/" + wf.sid), "date_created": trDate(wf.created),
			"assignment_callback_url": s.tr.assignURL, "task_reservation_timeout": int(s.tr.resTimeout.Seconds())})
	}
	return 200, s.trList("workflows", "/Workflows", items)
}

// channelSid gives each task channel a SID of its own (TC + 32 hex).
func channelSid(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "TC" + hex.EncodeToString(sum[:16])
}
