package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
)

// TaskView is what GET /v1/tasks/{TaskSid} and command replies show.
type TaskView struct {
	Session string   `json:"session"`
	TaskSid string   `json:"task_sid,omitempty"` // the task the caller was first enqueued with
	Tasks   []string `json:"tasks,omitempty"`    // every task of the call
	// OpenTasks are the tasks TaskRouter still holds for the call (not
	// completed, canceled or in wrap-up): after a transfer, the one that
	// reached the agent on the call now. Commands through a task that is
	// over are refused while one of these is open (409 task_closed).
	OpenTasks     []string                     `json:"open_tasks,omitempty"`
	Flow          string                       `json:"flow"`
	Revision      string                       `json:"revision"`
	State         string                       `json:"state"`
	Final         bool                         `json:"final"`
	Version       int64                        `json:"version"`
	CallSid       string                       `json:"call_sid,omitempty"`
	ConferenceSid string                       `json:"conference_sid,omitempty"`
	Roles         map[string]*flow.Participant `json:"roles"`
	// Participants are the legs in the conference now (roles also holds
	// legs still ringing), ordered by role.
	Participants []ParticipantView `json:"participants"`
	Vars         map[string]any    `json:"vars,omitempty"`
	// Commands lists what is allowed now; always present ([] when nothing
	// is, as in a final state), so a desktop can read it unconditionally.
	Commands []string `json:"commands"`
	// CreatedAt is when the call reached flowd, UpdatedAt when its session
	// last changed.
	CreatedAt time.Time     `json:"created_at,omitzero"`
	UpdatedAt time.Time     `json:"updated_at,omitzero"`
	History   []HistoryView `json:"history,omitempty"`
}

// TaskPage is one page of GET /v1/tasks: live calls in session ID order.
type TaskPage struct {
	Tasks []TaskView `json:"tasks"`
	// Next is the after= of the following page; "" on the last page.
	Next string `json:"next,omitempty"`
}

// HistoryView is one history entry.
type HistoryView struct {
	Seq  int64           `json:"seq"`
	At   time.Time       `json:"at"`
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
}

// newTaskView is what a view shows of a session and its data; Commands
// starts empty, for the caller to fill when it knows the flow.
func newTaskView(sess *store.Session, d *sessionData, flowName, revision string, version int64, updated time.Time) TaskView {
	v := TaskView{Session: sess.ID, TaskSid: d.TaskSid, Flow: flowName, Revision: revision, State: sess.State,
		Final: sess.Final, Version: version, CallSid: d.CallSid, ConferenceSid: d.ConferenceSid,
		Roles: d.participants(), Vars: d.Vars, Tasks: sortedKeys(d.Tasks), OpenTasks: d.openTasks(), Commands: []string{},
		CreatedAt: sess.CreatedAt, UpdatedAt: updated}
	v.Participants = joined(v.Roles)
	return v
}

// view is the command reply: the session as this run leaves it, one
// version on.
func (r *run) view() TaskView {
	v := newTaskView(r.sess, r.d, r.fl.Name, r.fl.Revision, r.sess.Version+1, r.now)
	if st := r.fl.States[r.sess.State]; st != nil {
		r.env = r.buildEnv()
		v.Commands = r.allowedCommands(st)
	}
	return v
}

// Task returns a session's view by any of its TaskSids, CallSids or its ID,
// with its whole history when withHistory.
func (e *Engine) Task(ctx context.Context, key string, withHistory bool) (TaskView, error) {
	if !withHistory {
		return e.task(ctx, key, nil)
	}
	return e.task(ctx, key, &HistoryRange{})
}

// HistoryRange selects history entries: those after the entry numbered
// After (its seq), at most Limit of them (0: all).
type HistoryRange struct {
	After int64
	Limit int
}

// TaskHistory is Task with the history entries h selects: a console that
// polls a call asks for those after the last one it has.
func (e *Engine) TaskHistory(ctx context.Context, key string, h HistoryRange) (TaskView, error) {
	return e.task(ctx, key, &h)
}

func (e *Engine) task(ctx context.Context, key string, h *HistoryRange) (TaskView, error) {
	id, err := e.cfg.Store.Resolve(ctx, key)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return TaskView{}, ErrUnknownSession
		}
		return TaskView{}, err
	}
	sess, err := e.cfg.Store.Get(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return TaskView{}, ErrUnknownSession
		}
		return TaskView{}, err
	}
	v, err := e.sessionView(ctx, sess)
	if err != nil {
		return TaskView{}, err
	}
	if h != nil {
		hs, err := e.cfg.Store.History(ctx, id, h.After, h.Limit)
		if err != nil {
			return TaskView{}, err
		}
		v.History = []HistoryView{}
		for _, entry := range hs {
			v.History = append(v.History, HistoryView{Seq: entry.Seq, At: entry.At, Kind: entry.Kind, Data: entry.Data})
		}
	}
	return v, nil
}

// TaskFilter selects the live calls Tasks lists.
type TaskFilter struct {
	Flow  string // only this flow's calls; "" any flow
	State string // only calls in this state; "" any state
	After string // the Next of the previous page; "" from the first call
	Limit int    // at most this many; 0 means 100
}

// Tasks lists live calls (sessions not in a final state), without their
// history, in session ID order.
func (e *Engine) Tasks(ctx context.Context, f TaskFilter) (TaskPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	// One more than asked tells whether a next page exists.
	sessions, err := e.cfg.Store.LiveSessions(ctx, store.LiveFilter{Flow: f.Flow, State: f.State, After: f.After, Limit: limit + 1})
	if err != nil {
		return TaskPage{}, err
	}
	page := TaskPage{Tasks: []TaskView{}}
	if len(sessions) > limit {
		sessions = sessions[:limit]
		page.Next = sessions[limit-1].ID
	}
	for _, sess := range sessions {
		v, err := e.sessionView(ctx, sess)
		if err != nil {
			return TaskPage{}, fmt.Errorf("session %s: %w", sess.ID, err)
		}
		page.Tasks = append(page.Tasks, v)
	}
	return page, nil
}

// sessionView is a stored session's view, without its history.
func (e *Engine) sessionView(ctx context.Context, sess store.Session) (TaskView, error) {
	d, err := decodeSessionData(sess.Data)
	if err != nil {
		return TaskView{}, err
	}
	fl, _, _ := e.flowOf(ctx, &sess) // a view without commands beats no view
	v := newTaskView(&sess, d, sess.Flow, sess.Revision, sess.Version, sess.UpdatedAt)
	if fl != nil {
		if st := fl.States[sess.State]; st != nil {
			r := &run{e: e, fl: fl, sess: &sess, d: d, ev: &Event{}, now: e.clock.Now()}
			r.env = r.buildEnv()
			v.Commands = r.allowedCommands(st)
		}
	}
	return v, nil
}

// ParticipantView is one leg in the conference, with its role.
type ParticipantView struct {
	Role string `json:"role"`
	flow.Participant
}

// joined lists the roles' legs that are in the conference, by role.
func joined(roles map[string]*flow.Participant) []ParticipantView {
	out := []ParticipantView{}
	for _, r := range sortedKeys(roles) {
		if p := roles[r]; p != nil && p.Joined {
			out = append(out, ParticipantView{Role: r, Participant: *p})
		}
	}
	return out
}
