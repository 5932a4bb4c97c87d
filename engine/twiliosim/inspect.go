package twiliosim

import "time"

// CallInfo is a snapshot of a call.
type CallInfo struct {
	Sid, ParentSid string
	From, To       string
	Party          string // the address tests name it by
	Direction      string // inbound, outbound-api, outbound-dial
	Status         string
	Created        time.Time
	Started, Ended time.Time
	// Where the call is: "" (running TwiML), fetching, pause, gather,
	// enqueued, dial, conference, bridged.
	State         string
	ConferenceSid string
	Queue         string // queue name while enqueued
	TaskSid       string // the <Enqueue> task while enqueued
}

// ConferenceInfo is a snapshot of a conference.
type ConferenceInfo struct {
	Sid, FriendlyName string
	Status            string // init, in-progress, completed
	ReasonEnded       string
	CallSidEnding     string
	Participants      []ParticipantInfo
}

// ParticipantInfo is a snapshot of a conference participant.
type ParticipantInfo struct {
	CallSid, Party, Label                       string
	Status                                      string // queued, ringing, connected
	Muted, Hold                                 bool
	Coaching                                    bool
	CallSidToCoach                              string
	StartConferenceOnEnter, EndConferenceOnExit bool
	HoldURL                                     string
}

// TaskInfo is a snapshot of a TaskRouter task.
type TaskInfo struct {
	Sid              string
	Attributes       string // JSON
	AssignmentStatus string
	Reason           string
	WorkflowSid      string
	Queue            string
	CallSid          string // the enqueued call, if any
	Reservations     []ReservationInfo
}

// ReservationInfo is a snapshot of a reservation.
type ReservationInfo struct {
	Sid, TaskSid, WorkerSid, WorkerName string
	Status                              string
}

func (s *Sim) callInfo(c *call) CallInfo {
	ci := CallInfo{Sid: c.sid, ParentSid: c.parentSid, From: c.from, To: c.to, Party: c.party(), Direction: c.dir,
		Status: c.status, Created: c.created, Started: c.started, Ended: c.ended, State: c.state}
	if c.part != nil {
		ci.ConferenceSid = c.part.conf.sid
	}
	if c.enq != nil {
		ci.Queue = c.enq.queue
		if c.enq.task != nil {
			ci.TaskSid = c.enq.task.sid
		}
	}
	return ci
}

// Call returns the call by SID or party address (latest live call of it).
func (s *Sim) Call(sidOrParty string) (CallInfo, bool) {
	s.lock()
	defer s.mu.Unlock()
	c := s.findCall(sidOrParty)
	if c == nil {
		return CallInfo{}, false
	}
	return s.callInfo(c), true
}

// Calls returns every call, oldest first.
func (s *Sim) Calls() []CallInfo {
	s.lock()
	defer s.mu.Unlock()
	out := make([]CallInfo, 0, len(s.callOrder))
	for _, c := range s.callOrder {
		out = append(out, s.callInfo(c))
	}
	return out
}

// CallsTo returns every call whose party address is party, oldest first.
func (s *Sim) CallsTo(party string) []CallInfo {
	s.lock()
	defer s.mu.Unlock()
	var out []CallInfo
	for _, c := range s.callOrder {
		if c.party() == party {
			out = append(out, s.callInfo(c))
		}
	}
	return out
}

func (s *Sim) partInfo(p *participant) ParticipantInfo {
	return ParticipantInfo{CallSid: p.call.sid, Party: p.call.party(), Label: p.label, Status: p.status, Muted: p.muted,
		Hold: p.hold, Coaching: p.coaching, CallSidToCoach: p.coachSid, StartConferenceOnEnter: p.startOnEnter,
		EndConferenceOnExit: p.endOnExit, HoldURL: p.holdURL}
}

// Conference returns a conference by SID or friendly name (the live one,
// else the latest with that name).
func (s *Sim) Conference(nameOrSid string) (ConferenceInfo, bool) {
	s.lock()
	defer s.mu.Unlock()
	cf := s.findConf(nameOrSid)
	if cf == nil {
		return ConferenceInfo{}, false
	}
	ci := ConferenceInfo{Sid: cf.sid, FriendlyName: cf.name, Status: cf.status, ReasonEnded: cf.reasonEnded, CallSidEnding: cf.callSidEnding}
	for _, p := range cf.parts {
		ci.Participants = append(ci.Participants, s.partInfo(p))
	}
	return ci, true
}

// Conferences returns every conference, oldest first.
func (s *Sim) Conferences() []ConferenceInfo {
	s.lock()
	names := make([]string, 0, len(s.confOrder))
	for _, cf := range s.confOrder {
		names = append(names, cf.sid)
	}
	s.mu.Unlock()
	out := make([]ConferenceInfo, 0, len(names))
	for _, sid := range names {
		if ci, ok := s.Conference(sid); ok {
			out = append(out, ci)
		}
	}
	return out
}

// Participants lists the current participants of a conference.
func (s *Sim) Participants(nameOrSid string) []ParticipantInfo {
	ci, _ := s.Conference(nameOrSid)
	return ci.Participants
}

func (s *Sim) taskInfo(t *task) TaskInfo {
	ti := TaskInfo{Sid: t.sid, Attributes: t.attrs, AssignmentStatus: t.status, Reason: t.reason, WorkflowSid: t.wf.sid, Queue: t.queueName()}
	if t.call != nil {
		ti.CallSid = t.call.sid
	}
	for _, r := range t.reservations {
		ti.Reservations = append(ti.Reservations, ReservationInfo{Sid: r.sid, TaskSid: t.sid, WorkerSid: r.worker.sid, WorkerName: r.worker.name, Status: r.status})
	}
	return ti
}

// Task returns a task by SID.
func (s *Sim) Task(sid string) (TaskInfo, bool) {
	s.lock()
	defer s.mu.Unlock()
	t := s.tr.tasks[sid]
	if t == nil {
		return TaskInfo{}, false
	}
	return s.taskInfo(t), true
}

// Tasks returns every task, oldest first.
func (s *Sim) Tasks() []TaskInfo {
	s.lock()
	defer s.mu.Unlock()
	var out []TaskInfo
	for _, t := range s.tr.taskOrder {
		out = append(out, s.taskInfo(t))
	}
	return out
}

// Reservations returns the reservations of a task, oldest first.
func (s *Sim) Reservations(taskSid string) []ReservationInfo {
	t, _ := s.Task(taskSid)
	return t.Reservations
}

// WorkerActivity returns a worker's (name or SID) current activity name.
func (s *Sim) WorkerActivity(name string) string {
	s.lock()
	defer s.mu.Unlock()
	if w := s.workerBy(name); w != nil {
		return w.activity.name
	}
	return ""
}
