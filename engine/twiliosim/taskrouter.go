package twiliosim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

type taskRouter struct {
	name       string
	assignURL  string
	eventURL   string
	resTimeout time.Duration
	activities []*activity
	queues     []*taskQueue
	workflows  []*workflow
	workers    []*worker
	tasks      map[string]*task
	taskOrder  []*task
	res        map[string]*reservation
}

type activity struct {
	sid, name string
	available bool
}

type taskQueue struct {
	sid, name string
	created   time.Time
}

type workflow struct {
	sid, name string
	defQueue  *taskQueue
	created   time.Time
}

type worker struct {
	sid, name     string
	attrs         string
	activity      *activity
	queues        []*taskQueue
	created       time.Time
	statusChanged time.Time
	updated       time.Time
}

type task struct {
	sid          string
	attrs        string
	status       string // pending, reserved, assigned, canceled, completed, wrapping
	wf           *workflow
	queue        *taskQueue
	priority     int
	timeout      int
	channel      string // TaskChannel's unique name: "voice" for <Enqueue>, "default" unless a create names one
	reason       string
	created      time.Time
	updated      time.Time
	queueEntered time.Time
	call         *call // the <Enqueue>d caller, if any
	rejected     map[*worker]bool
	reservations []*reservation
}

type reservation struct {
	sid     string
	task    *task
	worker  *worker
	status  string // pending, accepted, rejected, timeout, canceled, rescinded, completed, wrapping
	created time.Time
	updated time.Time
	timer   *timer
	leg     *call // the worker leg an instruction is ringing
	// postWork is the activity the worker moves to when the task is
	// completed (the instruction's post_work_activity_sid).
	postWork *activity
}

// cancelLeg stops a worker leg still ringing for a reservation that is no
// longer pending (timeout, task canceled), as TaskRouter does.
func (s *Sim) cancelLeg(r *reservation) {
	if r.leg != nil && r.leg.status == "ringing" {
		s.failLeg(r.leg, "canceled")
	}
}

func (t *task) queueName() string {
	if t.queue == nil {
		return ""
	}
	return t.queue.name
}

func (s *Sim) initTaskRouter() {
	s.tr = taskRouter{name: "flowd-sim", resTimeout: 120 * time.Second, tasks: map[string]*task{}, res: map[string]*reservation{}}
	for _, a := range []struct {
		n string
		v bool
	}{{"Offline", false}, {"Available", true}, {"Unavailable", false}, {"Break", false}} {
		s.tr.activities = append(s.tr.activities, &activity{sid: s.newSid("WA"), name: a.n, available: a.v})
	}
}

// WorkspaceConfig is the workspace-level TaskRouter setup.
type WorkspaceConfig struct {
	AssignmentCallbackURL string        // every workflow's assignment callback
	EventCallbackURL      string        // workspace event callbacks
	ReservationTimeout    time.Duration // default 120 s
}

// ConfigureWorkspace sets the callbacks and reservation timeout.
func (s *Sim) ConfigureWorkspace(c WorkspaceConfig) {
	s.lock()
	defer s.unlock()
	s.tr.assignURL = c.AssignmentCallbackURL
	s.tr.eventURL = c.EventCallbackURL
	if c.ReservationTimeout > 0 {
		s.tr.resTimeout = c.ReservationTimeout
	}
}

// AddQueue creates a TaskQueue and returns its SID (existing name: same SID).
func (s *Sim) AddQueue(name string) string {
	s.lock()
	defer s.unlock()
	return s.queueNamed(name).sid
}

func (s *Sim) queueNamed(name string) *taskQueue {
	for _, q := range s.tr.queues {
		if q.name == name || q.sid == name {
			return q
		}
	}
	q := &taskQueue{sid: s.newSid("WQ"), name: name, created: s.now}
	s.tr.queues = append(s.tr.queues, q)
	return q
}

// AddWorkflow creates a workflow routing to defaultQueue (created if needed)
// unless the task names requested_agent or desired_queue.
func (s *Sim) AddWorkflow(friendlyName, defaultQueue string) string {
	s.lock()
	defer s.unlock()
	wf := &workflow{sid: s.newSid("WW"), name: friendlyName, defQueue: s.queueNamed(defaultQueue), created: s.now}
	s.tr.workflows = append(s.tr.workflows, wf)
	return wf.sid
}

// AddWorker creates an Offline worker; attrs gets contact_uri. queues are
// TaskQueue names (created if needed).
func (s *Sim) AddWorker(name, contactURI string, attrs map[string]any, queues ...string) string {
	s.lock()
	defer s.unlock()
	a := map[string]any{}
	for k, v := range attrs {
		a[k] = v
	}
	if contactURI != "" {
		a["contact_uri"] = contactURI
	}
	b, _ := json.Marshal(a)
	w := &worker{sid: s.newSid("WK"), name: name, attrs: string(b), activity: s.activityNamed("Offline"), created: s.now, statusChanged: s.now, updated: s.now}
	for _, q := range queues {
		w.queues = append(w.queues, s.queueNamed(q))
	}
	s.tr.workers = append(s.tr.workers, w)
	return w.sid
}

// SetWorkerAvailable moves a worker (name or SID) to Available or Offline.
func (s *Sim) SetWorkerAvailable(name string, available bool) error {
	s.lock()
	defer s.unlock()
	w := s.workerBy(name)
	if w == nil {
		return fmt.Errorf("twiliosim: no worker %q", name)
	}
	a := s.activityNamed("Offline")
	if available {
		a = s.activityNamed("Available")
	}
	s.setActivity(w, a)
	return nil
}

// ActivitySid returns the SID of an activity by name (Offline, Available,
// Unavailable, Break).
func (s *Sim) ActivitySid(name string) string {
	s.lock()
	defer s.mu.Unlock()
	if a := s.activityNamed(name); a != nil {
		return a.sid
	}
	return ""
}

func (s *Sim) activityNamed(n string) *activity {
	for _, a := range s.tr.activities {
		if a.name == n || a.sid == n {
			return a
		}
	}
	return nil
}

func (s *Sim) workerBy(id string) *worker {
	for _, w := range s.tr.workers {
		if w.sid == id || w.name == id {
			return w
		}
	}
	return nil
}

// activityBySid finds an activity a request names: by SID only, as
// TaskRouter does (a friendly name there is refused or ignored).
func (s *Sim) activityBySid(sid string) *activity {
	for _, a := range s.tr.activities {
		if a.sid == sid {
			return a
		}
	}
	return nil
}

// workflowBy finds a workflow by SID only, as TaskRouter and <Enqueue
// workflowSid> do: a flow configured with a workflow's friendly name must
// fail here as it would live.
func (s *Sim) workflowBy(id string) *workflow {
	for _, wf := range s.tr.workflows {
		if wf.sid == id {
			return wf
		}
	}
	return nil
}

func (s *Sim) setActivity(w *worker, a *activity) {
	if a == nil || w.activity == a {
		return
	}
	w.activity = a
	w.statusChanged, w.updated = s.now, s.now
	s.event("worker.activity.update", "Worker", w.sid, nil, nil, w, fmt.Sprintf("Worker %s updated to %s Activity", w.name, a.name))
	if a.available {
		s.routeAll()
	}
}

func (w *worker) contactURI() string {
	var m map[string]any
	_ = json.Unmarshal([]byte(w.attrs), &m)
	if v, ok := m["contact_uri"].(string); ok {
		return v
	}
	return ""
}

// busy: one task at a time per channel, as in a multitasking workspace
// (Flex's default) with a capacity of 1 on each channel: a worker on a
// voice call can still be reserved for a task on another channel.
func (s *Sim) workerBusy(w *worker, channel string) bool {
	for _, r := range s.tr.res {
		if r.worker == w && r.task.channel == channel && (r.status == "pending" || r.status == "accepted" || r.status == "wrapping") {
			if r.status == "accepted" && (r.task.status == "completed" || r.task.status == "canceled") {
				continue
			}
			return true
		}
	}
	return false
}

// ---- tasks ----

func (s *Sim) createTask(wfID string, attrs map[string]any, prio, timeout int, channel string, c *call) (*task, error) {
	wf := s.workflowBy(wfID)
	if wf == nil {
		return nil, fmt.Errorf("no workflow %s", wfID)
	}
	b, _ := json.Marshal(attrs)
	if timeout <= 0 {
		timeout = 86400
	}
	if channel == "" {
		channel = "default"
	}
	t := &task{sid: s.newSid("WT"), attrs: string(b), status: "pending", wf: wf, priority: prio, timeout: timeout, channel: channel,
		created: s.now, updated: s.now, queueEntered: s.now, call: c, rejected: map[*worker]bool{}}
	t.queue = s.targetQueue(t)
	// TaskRouter cancels a task nobody was assigned within its timeout
	// (TaskCanceledReason "Task TTL Exceeded").
	s.after(time.Duration(timeout)*time.Second, func() {
		if t.status == "pending" || t.status == "reserved" {
			s.cancelTask(t, "Task TTL Exceeded")
		}
	})
	s.tr.tasks[t.sid] = t
	s.tr.taskOrder = append(s.tr.taskOrder, t)
	s.event("task.created", "Task", t.sid, t, nil, nil, "Task created")
	s.event("task-queue.entered", "Task", t.sid, t, nil, nil, "Task entered queue "+t.queueName())
	return t, nil
}

func (t *task) attrMap() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(t.attrs), &m)
	return m
}

// targetQueue: desired_queue (friendly name) else the workflow's default.
func (s *Sim) targetQueue(t *task) *taskQueue {
	if dq, _ := t.attrMap()["desired_queue"].(string); dq != "" {
		for _, q := range s.tr.queues {
			if q.name == dq || q.sid == dq {
				return q
			}
		}
	}
	return t.wf.defQueue
}

func (s *Sim) routeAll() {
	ts := append([]*task(nil), s.tr.taskOrder...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].priority > ts[j].priority })
	for _, t := range ts {
		s.routeTask(t)
	}
}

// routeTask reserves a worker for a pending task: requested_agent (SID or
// friendly name) only, else an available worker of the task's queue.
func (s *Sim) routeTask(t *task) {
	if t.status != "pending" {
		return
	}
	m := t.attrMap()
	var cands []*worker
	if ra, _ := m["requested_agent"].(string); ra != "" {
		if w := s.workerBy(ra); w != nil {
			cands = []*worker{w}
		}
	} else {
		for _, w := range s.tr.workers {
			for _, q := range w.queues {
				if q == t.queue {
					cands = append(cands, w)
					break
				}
			}
		}
		// longest idle first
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].statusChanged.Before(cands[j].statusChanged) })
	}
	for _, w := range cands {
		if !w.activity.available || s.workerBusy(w, t.channel) || t.rejected[w] {
			continue
		}
		s.reserve(t, w)
		return
	}
}

func (s *Sim) reserve(t *task, w *worker) {
	r := &reservation{sid: s.newSid("WR"), task: t, worker: w, status: "pending", created: s.now, updated: s.now}
	s.tr.res[r.sid] = r
	t.reservations = append(t.reservations, r)
	t.status, t.updated = "reserved", s.now
	r.timer = s.after(s.tr.resTimeout, func() { s.reservationTimeout(r) })
	s.event("reservation.created", "Reservation", r.sid, t, r, w, "Reservation created")
	if s.tr.assignURL != "" {
		f := url.Values{}
		f.Set("Timestamp", strconv.FormatInt(s.now.Unix(), 10))
		f.Set("AccountSid", s.opts.AccountSid)
		f.Set("WorkspaceSid", s.opts.WorkspaceSid)
		f.Set("WorkflowSid", t.wf.sid)
		f.Set("TaskQueueSid", t.queue.sid)
		f.Set("WorkerSid", w.sid)
		f.Set("WorkerAttributes", w.attrs)
		f.Set("TaskSid", t.sid)
		f.Set("TaskAttributes", t.attrs)
		f.Set("TaskAge", strconv.Itoa(int(s.now.Sub(t.created).Seconds())))
		f.Set("TaskPriority", strconv.Itoa(t.priority))
		f.Set("ReservationSid", r.sid)
		s.send(&delivery{kind: "assignment", url: s.tr.assignURL, form: f, done: func(status int, body []byte, err error) {
			if err != nil || status != http.StatusOK || len(strings.TrimSpace(string(body))) == 0 {
				return // a bare 200: the app answers via REST later
			}
			var m map[string]any
			if json.Unmarshal(body, &m) != nil {
				s.logf("assignment callback reply is not JSON: %q", body)
				return
			}
			in, _ := m["instruction"].(string)
			if in == "" || r.status != "pending" {
				return
			}
			params := jsonParams(in, m)
			if s.spec != nil {
				if err := s.spec.validateInstruction(params, s.opts.WorkspaceSid, t.sid, r.sid); err != nil {
					s.violations = append(s.violations, err.Error())
					s.logf("spec violation: %v", err)
					return // Twilio would refuse it: the reservation stays pending
				}
			}
			if aerr := s.applyInstruction(r, in, params); aerr != nil {
				s.logf("assignment instruction %s: %v", in, aerr.Message)
			}
		}})
	}
}

func (s *Sim) reservationTimeout(r *reservation) {
	if r.status != "pending" {
		return
	}
	s.closeReservation(r, "timeout")
	// Twilio moves a worker that let a reservation time out to the
	// workspace's timeout activity (Offline), then routes the task again.
	s.setActivity(r.worker, s.activityNamed("Offline"))
	s.routeTask(r.task)
}

// closeReservation ends a pending reservation without assignment.
func (s *Sim) closeReservation(r *reservation, status string) {
	r.timer.cancel()
	r.status, r.updated = status, s.now
	s.cancelLeg(r)
	t := r.task
	if t.status == "reserved" {
		t.status, t.updated = "pending", s.now
	}
	if status == "rejected" {
		t.rejected[r.worker] = true
	}
	s.event("reservation."+status, "Reservation", r.sid, t, r, r.worker, "Reservation "+status)
}

func (s *Sim) acceptReservation(r *reservation) {
	if r.status != "pending" {
		return
	}
	r.timer.cancel()
	r.status, r.updated = "accepted", s.now
	t := r.task
	t.status, t.updated = "assigned", s.now
	s.event("reservation.accepted", "Reservation", r.sid, t, r, r.worker, "Reservation accepted")
	// other pending reservations of the task are rescinded
	for _, o := range t.reservations {
		if o != r && o.status == "pending" {
			o.timer.cancel()
			o.status = "rescinded"
			s.event("reservation.rescinded", "Reservation", o.sid, t, o, o.worker, "Reservation rescinded")
		}
	}
}

func (s *Sim) cancelTask(t *task, reason string) {
	if t.status == "canceled" || t.status == "completed" {
		return
	}
	for _, r := range t.reservations {
		if r.status == "pending" {
			r.timer.cancel()
			r.status, r.updated = "canceled", s.now
			s.cancelLeg(r)
			s.event("reservation.canceled", "Reservation", r.sid, t, r, r.worker, "Reservation canceled")
		}
	}
	t.status, t.reason, t.updated = "canceled", reason, s.now
	s.event("task.canceled", "Task", t.sid, t, nil, nil, "Task canceled: "+reason)
	s.routeAll()
}

func (s *Sim) setTaskStatus(t *task, st, reason string) *apiError {
	switch st {
	case "canceled":
		if t.status != "pending" && t.status != "reserved" {
			return errInvalid(20001, "Cannot cancel a task in status "+t.status)
		}
		s.cancelTask(t, reason)
	case "wrapping":
		if t.status != "assigned" {
			return errInvalid(20001, "Cannot wrap up a task in status "+t.status)
		}
		t.status, t.updated = "wrapping", s.now
		for _, r := range t.reservations {
			if r.status == "accepted" {
				r.status, r.updated = "wrapping", s.now
				s.event("reservation.wrapup", "Reservation", r.sid, t, r, r.worker, "Reservation wrapping")
			}
		}
		s.event("task.wrapup", "Task", t.sid, t, nil, nil, "Task wrapping")
	case "completed":
		if t.status != "assigned" && t.status != "wrapping" {
			return errInvalid(20001, "Cannot complete a task in status "+t.status)
		}
		t.status, t.reason, t.updated = "completed", reason, s.now
		for _, r := range t.reservations {
			if r.status == "accepted" || r.status == "wrapping" {
				r.status, r.updated = "completed", s.now
				s.event("reservation.completed", "Reservation", r.sid, t, r, r.worker, "Reservation completed")
				if r.postWork != nil {
					s.setActivity(r.worker, r.postWork)
				}
			}
		}
		s.event("task.completed", "Task", t.sid, t, nil, nil, "Task completed")
		s.routeAll()
	default:
		return errInvalid(20001, "Invalid AssignmentStatus "+st)
	}
	return nil
}

// event posts a workspace event callback.
func (s *Sim) event(typ, resType, resSid string, t *task, r *reservation, w *worker, desc string) {
	if s.tr.eventURL == "" {
		return
	}
	f := url.Values{}
	f.Set("EventType", typ)
	f.Set("AccountSid", s.opts.AccountSid)
	f.Set("WorkspaceSid", s.opts.WorkspaceSid)
	f.Set("WorkspaceName", s.tr.name)
	f.Set("EventDescription", desc)
	f.Set("ResourceType", resType)
	f.Set("ResourceSid", resSid)
	f.Set("Timestamp", strconv.FormatInt(s.now.Unix(), 10))
	f.Set("TimestampMs", strconv.FormatInt(s.now.UnixMilli(), 10))
	if r != nil {
		f.Set("ReservationSid", r.sid)
		w = r.worker
	}
	if t != nil {
		f.Set("TaskSid", t.sid)
		f.Set("TaskAttributes", t.attrs)
		f.Set("TaskAge", strconv.Itoa(int(s.now.Sub(t.created).Seconds())))
		f.Set("TaskPriority", strconv.Itoa(t.priority))
		f.Set("TaskAssignmentStatus", t.status)
		f.Set("TaskChannelUniqueName", t.channel)
		f.Set("WorkflowSid", t.wf.sid)
		f.Set("WorkflowName", t.wf.name)
		if t.queue != nil {
			f.Set("TaskQueueSid", t.queue.sid)
			f.Set("TaskQueueName", t.queue.name)
		}
		if t.status == "canceled" {
			f.Set("TaskCanceledReason", t.reason)
		}
		if t.status == "completed" {
			f.Set("TaskCompletedReason", t.reason)
		}
	}
	if w != nil {
		f.Set("WorkerSid", w.sid)
		f.Set("WorkerName", w.name)
		f.Set("WorkerAttributes", w.attrs)
		f.Set("WorkerActivitySid", w.activity.sid)
		f.Set("WorkerActivityName", w.activity.name)
	}
	s.send(&delivery{kind: "event", url: s.tr.eventURL, form: f})
}

// ---- reservation instructions ----

// jsonParams maps an assignment-callback JSON instruction onto the REST
// parameter names of UpdateTaskReservation, so one code path serves both.
func jsonParams(instr string, m map[string]any) url.Values {
	prefix := map[string]string{"call": "Call", "dequeue": "Dequeue", "redirect": "Redirect"}[instr]
	v := url.Values{}
	for k, val := range m {
		if k == "instruction" {
			continue
		}
		name := camel(k)
		switch {
		case instr == "reject" && k == "activity_sid":
			name = "WorkerActivitySid"
		case instr == "dequeue" && k == "post_work_activity_sid":
			name = "DequeuePostWorkActivitySid"
		case instr == "dequeue" && k == "status_callback_events":
			name = "DequeueStatusCallbackEvent"
		case prefix != "" && !strings.HasPrefix(name, prefix):
			name = prefix + name
		}
		switch x := val.(type) {
		case []any:
			for _, e := range x {
				v.Add(name, fmt.Sprint(e))
			}
		case string:
			if strings.HasSuffix(k, "_event") || strings.HasSuffix(k, "_events") {
				// An instruction's event list is one comma-separated
				// string; the REST form repeats the parameter.
				for _, e := range strings.FieldsFunc(x, func(r rune) bool { return r == ',' || r == ' ' }) {
					v.Add(name, e)
				}
				continue
			}
			v.Set(name, x)
		case bool:
			v.Set(name, strconv.FormatBool(x))
		case float64:
			v.Set(name, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			b, _ := json.Marshal(x)
			v.Set(name, string(b))
		}
	}
	return v
}

func camel(k string) string {
	parts := strings.Split(k, "_")
	for i, p := range parts {
		if p == "" {
			continue
		}
		switch p {
		case "url":
			parts[i] = "Url"
		case "sid":
			parts[i] = "Sid"
		default:
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// applyInstruction executes an instruction on a pending reservation.
func (s *Sim) applyInstruction(r *reservation, instr string, p url.Values) *apiError {
	if r.status != "pending" {
		return errReservationNotPending(instr)
	}
	t := r.task
	w := r.worker
	switch instr {
	case "accept":
		s.acceptReservation(r)
	case "reject":
		s.closeReservation(r, "rejected")
		if a := s.activityBySid(p.Get("WorkerActivitySid")); a != nil {
			s.setActivity(w, a)
		}
		s.routeTask(t)
	case "conference":
		r.postWork = s.activityBySid(p.Get("PostWorkActivitySid"))
		return s.conferenceInstruction(r, p)
	case "dequeue":
		r.postWork = s.activityBySid(p.Get("DequeuePostWorkActivitySid"))
		return s.dequeueInstruction(r, p)
	case "call":
		return s.callInstruction(r, p)
	case "redirect":
		c := s.calls[p.Get("RedirectCallSid")]
		if c == nil || !c.live() {
			return errNotFound("Call", p.Get("RedirectCallSid"))
		}
		if c.enq != nil {
			s.leaveQueue(c, "redirected")
		}
		s.fetchTwiML(c, "redirect", p.Get("RedirectUrl"), http.MethodPost, nil)
		if p.Get("RedirectAccept") == "true" {
			s.acceptReservation(r)
		}
	default:
		return errInvalid(20001, "Unsupported instruction "+instr)
	}
	return nil
}

// conferenceInstruction: call the worker; on answer create/join the
// conference named by the TaskSid, move the customer from the queue into it,
// write conference{room_name,sid,participants{worker,customer}} into the
// task attributes and accept the reservation.
func (s *Sim) conferenceInstruction(r *reservation, p url.Values) *apiError {
	t, w := r.task, r.worker
	cust := t.call
	if cust == nil {
		return errInvalid(20001, "The conference instruction requires a task created by <Enqueue>")
	}
	to := defStr(p.Get("To"), w.contactURI())
	if to == "" {
		return errInvalid(20001, "Worker has no contact_uri and no To was given")
	}
	from := defStr(p.Get("From"), cust.to)
	leg := s.newCall(from, to, "outbound-api")
	r.leg = leg
	leg.statusCB = p.Get("StatusCallback")
	leg.statusCBMethod = p.Get("StatusCallbackMethod")
	leg.statusEvents = parseEvents(p["StatusCallbackEvent"])
	cbEvents := p["ConferenceStatusCallbackEvent"]
	workerOpts := partOpts{
		muted: p.Get("Muted") == "true", beep: p.Get("Beep"),
		startOnEnter: p.Get("StartConferenceOnEnter") != "false", endOnExit: p.Get("EndConferenceOnExit") == "true",
		waitURL: p.Get("WaitUrl"), waitMethod: p.Get("WaitMethod"),
		cbURL: p.Get("ConferenceStatusCallback"), cbMethod: p.Get("ConferenceStatusCallbackMethod"), cbEvents: cbEvents,
	}
	custOpts := partOpts{startOnEnter: true, endOnExit: p.Get("EndConferenceOnCustomerExit") == "true",
		cbURL: workerOpts.cbURL, cbMethod: workerOpts.cbMethod, cbEvents: cbEvents}
	leg.onAnswer = func(leg *call) {
		if r.status != "pending" || !cust.live() {
			s.hangupCall(leg, "completed")
			return
		}
		cf := s.confFor(t.sid)
		wp := s.addParticipant(cf, leg, workerOpts)
		s.connect(wp)
		if cust.enq != nil {
			s.leaveQueue(cust, "bridged")
		}
		cust.gen++
		cust.stateTimer.cancel()
		cp := s.addParticipant(cf, cust, custOpts)
		gen := cust.gen
		e := cust.enq
		_ = e
		cust.afterConf = func() { s.resume(cust, gen) }
		s.connect(cp)
		m := t.attrMap()
		m["conference"] = map[string]any{"room_name": t.sid, "sid": cf.sid,
			"participants": map[string]any{"worker": leg.sid, "customer": cust.sid}}
		b, _ := json.Marshal(m)
		t.attrs, t.updated = string(b), s.now
		s.acceptReservation(r)
		s.event("task.updated", "Task", t.sid, t, nil, nil, "Task attributes updated")
	}
	leg.onFail = func(leg *call, status string) {
		if r.status == "pending" {
			s.closeReservation(r, "rejected")
			s.routeTask(t)
		}
	}
	s.dialOut(leg, time.Duration(atoiDef(p.Get("Timeout"), 60))*time.Second)
	return nil
}

func (s *Sim) dequeueInstruction(r *reservation, p url.Values) *apiError {
	t, w := r.task, r.worker
	cust := t.call
	if cust == nil {
		return errInvalid(20001, "The dequeue instruction requires a task created by <Enqueue>")
	}
	to := defStr(p.Get("DequeueTo"), w.contactURI())
	leg := s.newCall(defStr(p.Get("DequeueFrom"), cust.to), to, "outbound-api")
	r.leg = leg
	leg.statusCB = p.Get("DequeueStatusCallbackUrl")
	leg.statusEvents = parseEvents(p["DequeueStatusCallbackEvent"])
	leg.onAnswer = func(leg *call) {
		if r.status != "pending" || !cust.live() {
			s.hangupCall(leg, "completed")
			return
		}
		s.leaveQueue(cust, "bridged")
		cust.gen++
		cust.state, leg.state = "bridged", "bridged"
		cust.bridge, leg.bridge = leg, cust
		s.acceptReservation(r)
	}
	leg.onFail = func(leg *call, status string) {
		if r.status == "pending" {
			s.closeReservation(r, "rejected")
			s.routeTask(t)
		}
	}
	s.dialOut(leg, time.Duration(atoiDef(p.Get("DequeueTimeout"), 60))*time.Second)
	return nil
}

func (s *Sim) callInstruction(r *reservation, p url.Values) *apiError {
	w := r.worker
	u := p.Get("CallUrl")
	if u == "" {
		return errInvalid(20001, "Missing required parameter CallUrl")
	}
	to := defStr(p.Get("CallTo"), w.contactURI())
	from := p.Get("CallFrom")
	if from == "" && r.task.call != nil {
		from = r.task.call.to
	}
	leg := s.newCall(from, to, "outbound-api")
	leg.statusCB = p.Get("CallStatusCallbackUrl")
	leg.onAnswer = func(leg *call) { s.fetchTwiML(leg, "voice", u, http.MethodPost, nil) }
	if p.Get("CallAccept") == "true" {
		s.acceptReservation(r)
	}
	s.dialOut(leg, time.Duration(atoiDef(p.Get("CallTimeout"), 60))*time.Second)
	return nil
}

// superviseInstruction calls the supervisor into the reservation's
// conference: monitor (muted), whisper (coaching the worker) or barge.
func (s *Sim) supervise(r *reservation, p url.Values) *apiError {
	cf := s.activeConf(r.task.sid)
	if cf == nil {
		return errInvalid(20001, "No active conference for task "+r.task.sid)
	}
	to := p.Get("Supervisor")
	if w := s.workerBy(to); w != nil {
		to = w.contactURI()
	}
	mode := defStr(p.Get("SupervisorMode"), "monitor")
	o := partOpts{startOnEnter: true}
	switch mode {
	case "monitor":
		o.muted = true
	case "whisper":
		if m, ok := r.task.attrMap()["conference"].(map[string]any); ok {
			if ps, ok := m["participants"].(map[string]any); ok {
				o.coachSid, _ = ps["worker"].(string)
			}
		}
		o.coaching = true
	}
	leg := s.newCall(defStr(p.Get("From"), "+10000000000"), to, "outbound-api")
	pp := s.addParticipant(cf, leg, o)
	pp.status = "ringing"
	leg.onAnswer = func(leg *call) {
		if cf.status == "completed" {
			s.hangupCall(leg, "completed")
			return
		}
		s.connect(pp)
	}
	leg.onFail = func(leg *call, status string) { s.dropParticipant(pp, status) }
	s.dialOut(leg, 60*time.Second)
	return nil
}

// dropParticipant removes a participant whose leg never connected. status
// is how its call ended when the add failed (no-answer, busy, failed,
// canceled): Twilio then sends participant-leave with ReasonParticipantLeft
// participant_add_failed (since October 2023); "" for a removal by the API.
func (s *Sim) dropParticipant(p *participant, status string) {
	cf := p.conf
	found := false
	for i, x := range cf.parts {
		if x == p {
			cf.parts = append(cf.parts[:i], cf.parts[i+1:]...)
			found = true
			break
		}
	}
	if !found {
		return
	}
	p.status = "failed"
	p.call.part = nil
	if status != "" && cf.status != "completed" {
		s.confEvent(cf, "participant-leave", p, url.Values{"ParticipantCallStatus": {status}, "ReasonParticipantLeft": {"participant_add_failed"}})
	}
}
