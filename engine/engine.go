package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowd/flowd/engine/flow"
	"github.com/flowd/flowd/engine/store"
	"github.com/flowd/flowd/engine/twilio"
)

// Sender sends one REST operation to Twilio; *twilio.Client is one.
type Sender interface {
	Do(ctx context.Context, op twilio.Op) (twilio.Result, error)
}

// Clock tells the time; tests drive their own.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

// Now is in UTC: a flow's now.Hour() must not depend on the TZ of the
// machine flowd runs on (and scenarios run in UTC too).
func (systemClock) Now() time.Time { return time.Now().UTC() }

// Config wires an Engine.
type Config struct {
	Store  store.Store
	Twilio Sender
	// PublicURL is the base URL Twilio reaches flowd at; every callback URL
	// flowd hands Twilio is built from it.
	PublicURL string
	Clock     Clock
	Logger    *slog.Logger
	// Owner names this replica in outbox leases (default: a random name).
	Owner string
	// RetryFor bounds how long a REST call is retried before action.failed
	// (default 2 minutes).
	RetryFor time.Duration
	// Lease is how long a claimed outbox item is reserved to this replica
	// (default 30 s): a replica that dies mid-send frees it after that.
	Lease time.Duration
	// PollInterval is how often the dispatcher looks for due work when not
	// woken (default 250 ms).
	PollInterval time.Duration
	// FlowEnv is the environment a stored flow revision is compiled with
	// when a session pinned to it outlives the files (nil: the process
	// environment), as flow.LoadOptions.Env.
	FlowEnv map[string]string
}

// Engine runs flows. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	clock Clock

	mu        sync.RWMutex
	current   *flow.Set
	revisions map[string]*flow.Flow
	// unstored remembers revisions the store does not have (sessions
	// from before flowd kept revisions), so each is looked up once.
	unstored map[string]bool

	locks keyedMutex
	wake  chan struct{}

	// cache keeps the decoded facts of sessions this replica saved last,
	// by ID, so the next event skips decoding them. An entry is used only
	// when its version is the stored one (another replica may have written
	// since), only under the session's lock, and dropped on any error.
	cacheMu sync.Mutex
	cache   map[string]cachedSession

	// machines pools the state machines of transitions (see machine).
	machines sync.Map // machineKey → *sync.Pool of *fsm.FSM

	stats Stats
}

// Stats are the engine's counters (exported as Prometheus metrics by the
// server).
// maxCachedSessions bounds the decoded-session cache (a few KB each).
const maxCachedSessions = 4096

type cachedSession struct {
	version int64
	d       *sessionData
}

func (e *Engine) cached(id string, version int64) *sessionData {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	c, ok := e.cache[id]
	if !ok {
		return nil
	}
	delete(e.cache, id) // the run owns it now; it comes back on commit
	if c.version != version {
		return nil
	}
	return c.d
}

func (e *Engine) keep(id string, version int64, d *sessionData, final bool) {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	if final {
		delete(e.cache, id)
		return
	}
	if e.cache == nil {
		e.cache = map[string]cachedSession{}
	}
	if len(e.cache) >= maxCachedSessions {
		// Bounded: calls that never end (or a very busy replica) must not
		// grow memory. Any entry will do: a miss only costs a decode.
		for k := range e.cache {
			delete(e.cache, k)
			break
		}
	}
	e.cache[id] = cachedSession{version: version, d: d}
}

type Stats struct {
	Events, Transitions, Unhandled, Stale, Duplicates atomic.Int64
	CommandsRejected                                  atomic.Int64
	RESTSent, RESTRetries, RESTFailures               atomic.Int64
	Conflicts                                         atomic.Int64
	PrunedSessions, PrunedKeys                        atomic.Int64
}

// pruneBatch bounds one step of Prune: deleting a finished call takes its
// history, aliases and outbox rows with it, and on SQLite the step holds
// the writer that every webhook's commit waits for.
const pruneBatch = 100

// Prune deletes what r says is no longer needed (store.Retention), in
// bounded steps so that events keep their turn at the store, until a step
// finds less than a full batch or ctx ends. It returns what it deleted.
func (e *Engine) Prune(ctx context.Context, r store.Retention) (store.Pruned, error) {
	var total store.Pruned
	if r.Limit <= 0 {
		r.Limit = pruneBatch
	}
	for {
		p, err := e.cfg.Store.Prune(ctx, r)
		total.Sessions += p.Sessions
		total.Keys += p.Keys
		e.stats.PrunedSessions.Add(int64(p.Sessions))
		e.stats.PrunedKeys.Add(int64(p.Keys))
		if err != nil {
			return total, err
		}
		if p.Sessions < r.Limit && p.Keys < r.Limit {
			return total, nil
		}
		if p.Sessions < r.Limit {
			r.FinishedBefore = time.Time{} // done with sessions
		}
		if p.Keys < r.Limit {
			r.KeysBefore = time.Time{}
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// New makes an engine serving the given flows.
func New(cfg Config, flows *flow.Set) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: no store")
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 2 * time.Minute
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.Owner == "" {
		cfg.Owner = fmt.Sprintf("flowd-%d", time.Now().UnixNano())
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	e := &Engine{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, revisions: map[string]*flow.Flow{}, unstored: map[string]bool{}, wake: make(chan struct{}, 1)}
	e.SetFlows(flows)
	return e, nil
}

// SetFlows makes a new set of flows current. Sessions already running keep
// the revision they started on: each revision's source is also saved in the
// store, so that after a restart with edited files a call in progress still
// runs the flow it started on (see flowOf). A failed save is logged; such a
// call would then move to the current revision, as it says in its history.
func (e *Engine) SetFlows(set *flow.Set) {
	if set == nil {
		set = &flow.Set{}
	}
	e.mu.Lock()
	e.current = set
	for _, f := range set.Flows {
		e.revisions[f.Revision] = f
	}
	e.mu.Unlock()
	e.saveRevisions(set)
}

func (e *Engine) saveRevisions(set *flow.Set) {
	if e.cfg.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := SaveRevisions(ctx, e.cfg.Store, set); err != nil {
		e.log.Error("flow revision not saved: calls on it will move to the current revision after a restart", "err", err)
	}
}

// SaveRevisions stores the source of each flow of set under its revision,
// so that a call keeps the flow it started with across reloads and
// restarts. It tries every flow and returns their errors joined, each
// naming its flow. The engine saves on every SetFlows and only logs a
// failure; flowd serve also calls it before serving, where a store that
// cannot be written must stop the start.
func SaveRevisions(ctx context.Context, st store.Store, set *flow.Set) error {
	var errs []error
	for _, f := range set.Flows {
		if len(f.Source) == 0 {
			continue
		}
		if err := st.SaveFlowRevision(ctx, store.FlowRevision{Revision: f.Revision, Name: f.Name, File: f.File, Source: f.Source}); err != nil {
			errs = append(errs, fmt.Errorf("flow %s (revision %.12s): %w", f.Name, f.Revision, err))
		}
	}
	return errors.Join(errs...)
}

// Flows returns the current flow set.
func (e *Engine) Flows() *flow.Set {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.current
}

// StatsSnapshot returns the counters.
func (e *Engine) Stats() *Stats { return &e.stats }

// flowOf finds the flow a session runs: its pinned revision — loaded, or
// compiled from the source the store keeps — else (a revision no store saved,
// as for sessions from before revisions were stored, or one this flowd can
// no longer load) the current flow of that name, with pinned false. An error
// means the store could not be asked: the event fails and is redelivered,
// rather than moving the call to another revision for good.
func (e *Engine) flowOf(ctx context.Context, s *store.Session) (*flow.Flow, bool, error) {
	e.mu.RLock()
	f := e.revisions[s.Revision]
	unstored := f == nil && e.unstored[s.Revision] // looked up only on a miss
	e.mu.RUnlock()
	if f != nil {
		return f, true, nil
	}
	if !unstored {
		f, err := e.storedRevision(ctx, s.Revision)
		if err != nil {
			return nil, false, err
		}
		if f != nil {
			return f, true, nil
		}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.current != nil {
		if f := e.current.ByName(s.Flow); f != nil {
			return f, false, nil
		}
	}
	return nil, false, nil
}

// storedRevision compiles a revision from the store. It returns nil, nil
// when the store does not have it or it no longer loads (a flowd upgrade
// that changed the language; logged), remembering either so that later
// events do not ask again.
func (e *Engine) storedRevision(ctx context.Context, revision string) (*flow.Flow, error) {
	if e.cfg.Store == nil || revision == "" {
		return nil, nil
	}
	r, err := e.cfg.Store.FlowRevision(ctx, revision)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("flow revision %.12s: %w", revision, err)
	}
	var f *flow.Flow
	if err == nil {
		var diags flow.Diagnostics
		if f, diags = flow.Load(r.File, r.Source, flow.LoadOptions{Env: e.cfg.FlowEnv}); f == nil || f.Revision != revision {
			e.log.Error("a stored flow revision no longer loads; its calls move to the current flow", "revision", revision,
				"file", r.File, "err", diags.Err())
			f = nil
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if f == nil {
		e.unstored[revision] = true
		return nil, nil
	}
	e.revisions[revision] = f
	return f, nil
}

// Handle runs one event and returns the reply for the webhook or command.
func (e *Engine) Handle(ctx context.Context, ev Event) (Reply, error) {
	e.stats.Events.Add(1)
	if ev.Timestamp.IsZero() {
		ev.Timestamp = e.clock.Now()
	}
	// A redelivered event is not looked up first: it runs like any other,
	// its commit is refused (the key is stored with the first delivery's
	// commit, atomically) and the first reply is given again. Nothing runs
	// before the commit but the state machine in memory, so running it
	// twice changes nothing, and the usual event saves a read. An event
	// that fails before its commit (its command no longer allowed in the
	// state the first delivery reached, say) looks the key up too.
	for attempt := 0; ; attempt++ {
		id, isNew, err := e.resolve(ctx, &ev)
		var reply Reply
		if err == nil {
			reply, err = e.handleLocked(ctx, id, isNew, ev)
		}
		if errors.Is(err, store.ErrConflict) && attempt < 10 {
			// Another replica wrote this session first: run again on fresh state.
			e.stats.Conflicts.Add(1)
			continue
		}
		if err != nil && ev.IdempotencyKey != "" {
			if r, ok, err2 := e.storedReply(ctx, ev.IdempotencyKey); err2 != nil {
				return Reply{}, errors.Join(err, err2)
			} else if ok && r.Request != "" && ev.Request != "" && r.Request != ev.Request {
				return Reply{}, &KeyReusedError{Command: ev.Name}
			} else if ok {
				// A retry of a command that was carried out (refused
				// only because it already was) is not a rejection.
				e.stats.Duplicates.Add(1)
				return r, nil
			}
		}
		if err != nil {
			if ce := (*CommandError)(nil); errors.As(err, &ce) {
				e.stats.CommandsRejected.Add(1)
			}
		}
		return reply, err
	}
}

func (e *Engine) storedReply(ctx context.Context, key string) (Reply, bool, error) {
	b, ok, err := e.cfg.Store.Reply(ctx, key)
	if err != nil || !ok {
		return Reply{}, false, err
	}
	var r Reply
	if err := json.Unmarshal(b, &r); err != nil {
		return Reply{}, false, fmt.Errorf("stored reply for %q: %w", key, err)
	}
	r.Duplicate = true
	return r, true, nil
}

// resolve finds the session an event belongs to.
func (e *Engine) resolve(ctx context.Context, ev *Event) (id string, isNew bool, err error) {
	if ev.Source == SourceVoice && ev.Name == "call.incoming" {
		if _, err := e.cfg.Store.Get(ctx, ev.CallSid); err == nil {
			return ev.CallSid, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", false, err
		}
		return ev.CallSid, true, nil
	}
	var buf [8]string // on the stack: an event names at most seven keys
	keys := buf[:0]
	add := func(k string) {
		if k != "" {
			keys = append(keys, k)
		}
	}
	add(ev.Session)
	if s, _ := ev.TaskAttributes["flowd_session"].(string); s != "" {
		add(s)
	}
	add(ev.TaskSid)
	add(ev.ConferenceSid)
	add(ev.ConferenceName)
	add(ev.CallSid)
	if s, _ := ev.TaskAttributes["call_sid"].(string); s != "" {
		add(s)
	}
	for _, k := range keys {
		id, err := e.cfg.Store.Resolve(ctx, k)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", false, err
		}
	}
	return "", false, ErrUnknownSession
}

// handleLocked runs handleOnce under the session's lock, released even if it
// panics (the server recovers panics; a held lock would block the call).
func (e *Engine) handleLocked(ctx context.Context, id string, isNew bool, ev Event) (Reply, error) {
	unlock := e.locks.Lock(id)
	defer unlock()
	return e.handleOnce(ctx, id, isNew, ev)
}

// handleOnce runs the event against the stored session under its lock.
func (e *Engine) handleOnce(ctx context.Context, id string, isNew bool, ev Event) (Reply, error) {
	var sess store.Session
	var fl *flow.Flow
	var d *sessionData
	pinned := true
	if isNew {
		fl = e.Flows().ByNumber(ev.To)
		if fl == nil {
			return Reply{}, fmt.Errorf("%w: %s", ErrNoFlow, ev.To)
		}
		now := e.clock.Now()
		sess = store.Session{ID: id, Flow: fl.Name, Revision: fl.Revision, State: fl.Initial, CreatedAt: now, UpdatedAt: now}
		d = newSessionData()
		d.CallSid = ev.CallSid
	} else {
		var err error
		sess, err = e.cfg.Store.Get(ctx, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return Reply{}, ErrUnknownSession
			}
			return Reply{}, err
		}
		if fl, pinned, err = e.flowOf(ctx, &sess); err != nil {
			return Reply{}, fmt.Errorf("session %s: %w", id, err)
		}
		if fl == nil {
			return Reply{}, fmt.Errorf("session %s runs flow %q, which is not loaded", id, sess.Flow)
		}
		if d = e.cached(id, sess.Version); d == nil {
			if d, err = decodeSessionData(sess.Data); err != nil {
				return Reply{}, fmt.Errorf("session %s: %w", id, err)
			}
		}
	}
	r := &run{e: e, fl: fl, sess: &sess, d: d, ev: &ev, now: e.clock.Now()}
	if !isNew {
		r.aliased = r.aliasList()
	}
	if !pinned {
		r.warn("the session's flow revision %.12s is no longer loaded; running %.12s", sess.Revision, fl.Revision)
		sess.Revision = fl.Revision
	}
	if isNew {
		r.initVars()
	}
	if err := r.execute(ctx); err != nil {
		return Reply{}, err
	}
	return r.commit(ctx)
}

// signal wakes the dispatcher.
func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// callbackURL builds a URL flowd hands Twilio.
func (e *Engine) callbackURL(path string, q url.Values) string {
	u := e.cfg.PublicURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// keyedMutex serialises work per key without growing forever.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

var keyedEntries = sync.Pool{New: func() any { return new(keyedEntry) }}

func (k *keyedMutex) Lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	ent := k.locks[key]
	if ent == nil {
		ent = keyedEntries.Get().(*keyedEntry)
		k.locks[key] = ent
	}
	ent.refs++
	k.mu.Unlock()
	ent.mu.Lock()
	return func() {
		ent.mu.Unlock()
		k.mu.Lock()
		ent.refs--
		if ent.refs == 0 {
			// Nobody holds or waits for it: every holder took a ref
			// under k.mu, so it can serve another key.
			delete(k.locks, key)
			keyedEntries.Put(ent)
		}
		k.mu.Unlock()
	}
}

// sortedKeys returns a map's keys in order (deterministic history and errors).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
