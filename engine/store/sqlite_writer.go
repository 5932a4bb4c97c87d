package store

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit.
//
// Every write to the SQLite store (a Commit, an AppendHistory, an outbox
// claim or settlement) is a job handed to one writer goroutine. The writer
// takes every job that is waiting when it becomes free and runs them in ONE
// transaction, each inside its own savepoint: a job that fails (a version
// conflict, a duplicate key) is rolled back to its savepoint and the others
// still commit. Each caller returns only after the transaction holding its
// job committed, so durability is exactly that of a transaction per job.
//
// Why: a SQLite commit costs far more than the statements in it (the WAL
// frames are written with one pwrite each, locks are taken and released
// with fcntl), and events for many calls arrive at once. Under load one
// commit now carries the writes of every event that queued behind the
// previous one; a lone event still pays one commit, as before.
//
// WAL checkpoints are taken off the writer for the same reason: the writer
// connection has wal_autocheckpoint off and a checkpointer goroutine, on its
// own connection, runs a PASSIVE checkpoint (which never blocks the writer)
// once enough commits have piled up in the WAL or the store has been idle.

// maxBatch bounds the jobs one transaction carries, so one commit (and the
// latency of the first job in it) stays bounded.
const maxBatch = 64

// checkpointEvery is how many batches the writer commits between
// checkpoint nudges; checkpointIdle is how often the checkpointer runs when
// nothing nudges it.
const (
	checkpointEvery = 256
	checkpointIdle  = time.Second
)

// Job states: the writer takes a queued job; a caller whose context ends
// first abandons it. Whoever swaps first wins, so a job either runs (and
// its caller waits for the outcome) or never runs.
const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

type writeJob struct {
	run func(ctx context.Context, tx *sql.Tx) error
	// after, if set, runs once the job's transaction has committed.
	after func()
	state atomic.Int32
	err   error
	done  chan struct{}
}

// writer owns the write side of a SQLite store.
type writer struct {
	s          *sqliteStore
	jobs       chan *writeJob
	quit       chan struct{} // closed by close: take no more jobs
	stopped    chan struct{} // closed when the loop has exited
	cpStopped  chan struct{} // closed when the checkpointer has exited
	checkpoint chan struct{} // nudges the checkpointer (capacity 1)
	closeOnce  sync.Once

	savepoint, release, rollbackTo, dataVersion *sql.Stmt
	// lastDataVersion is what PRAGMA data_version said at the previous
	// batch; it changes only when ANOTHER connection commits.
	lastDataVersion int64
}

func (s *sqliteStore) startWriter(ctx context.Context, cp *sql.DB) error {
	w := &writer{
		s:          s,
		jobs:       make(chan *writeJob),
		quit:       make(chan struct{}),
		stopped:    make(chan struct{}),
		cpStopped:  make(chan struct{}),
		checkpoint: make(chan struct{}, 1),
	}
	for dst, text := range map[**sql.Stmt]string{
		&w.savepoint:   `SAVEPOINT job`,
		&w.release:     `RELEASE job`,
		&w.rollbackTo:  `ROLLBACK TO job`,
		&w.dataVersion: `PRAGMA data_version`,
	} {
		st, err := s.w.PrepareContext(ctx, text)
		if err != nil {
			return fmt.Errorf("store: sqlite prepare %q: %w", text, err)
		}
		*dst = st
	}
	s.writer = w
	go w.loop()
	go w.checkpointer(cp)
	return nil
}

// do runs fn inside the next batch and returns its error, or the commit's;
// after (may be nil) runs when fn succeeded and its transaction committed,
// before do returns. ctx bounds only the wait for the writer: once the
// writer has taken the job, do waits for its outcome (a write is never left
// half-known).
func (w *writer) do(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error, after func()) error {
	j := &writeJob{run: fn, after: after, done: make(chan struct{})}
	select {
	case w.jobs <- j:
	case <-w.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-j.done:
		return j.err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return ctx.Err()
		}
		<-j.done
		return j.err
	}
}

func (w *writer) loop() {
	defer close(w.stopped)
	batch := make([]*writeJob, 0, maxBatch)
	batches := 0
	for {
		batch = batch[:0]
		select {
		case j := <-w.jobs:
			batch = append(batch, j)
		case <-w.quit:
			return
		}
		// The job's sender was woken just now, and so were the callers of
		// the previous batch; let them all run (and queue their next
		// writes) before taking what is waiting. Without this yield the
		// writer runs first and, on a busy core, every batch is a batch of
		// one. With nothing else runnable it returns at once.
		runtime.Gosched()
	drain:
		for len(batch) < maxBatch {
			select {
			case j := <-w.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		w.runBatch(batch)
		if batches++; batches%checkpointEvery == 0 {
			select {
			case w.checkpoint <- struct{}{}:
			default:
			}
		}
	}
}

// runBatch runs the jobs in one transaction and tells each its outcome.
func (w *writer) runBatch(batch []*writeJob) {
	live := batch[:0]
	for _, j := range batch {
		if j.state.CompareAndSwap(jobQueued, jobTaken) {
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	defer func() {
		for _, j := range live {
			if j.err == nil && j.after != nil {
				j.after()
			}
			close(j.done)
		}
	}()
	ctx := context.Background()
	tx, done, err := w.s.begin(ctx)
	if err != nil {
		for _, j := range live {
			j.err = err
		}
		return
	}
	defer done()
	w.checkForeignWrites(ctx, tx)

	if len(live) == 1 {
		// Alone, the transaction is the job's savepoint.
		j := live[0]
		if j.err = j.runSafely(ctx, tx); j.err == nil {
			j.err = tx.Commit()
		}
		return
	}
	sp, rel, rb := tx.StmtContext(ctx, w.savepoint), tx.StmtContext(ctx, w.release), tx.StmtContext(ctx, w.rollbackTo)
	for i, j := range live {
		if _, err := sp.ExecContext(ctx); err != nil {
			w.abort(live[:i], live[i:], err)
			return
		}
		j.err = j.runSafely(ctx, tx)
		if j.err != nil {
			if _, err := rb.ExecContext(ctx); err != nil {
				// The failure took the whole transaction with it.
				w.abort(live[:i], live[i+1:], err)
				return
			}
		}
		if _, err := rel.ExecContext(ctx); err != nil {
			w.abort(live[:i], live[i+1:], err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, j := range live {
			if j.err == nil {
				j.err = err
			}
		}
	}
}

// runSafely runs the job, turning a panic into its error: the writer
// goroutine serves every request, so one bad write must not take the
// process down (callers used to run their writes on their own goroutine,
// where the server's recovery caught a panic).
func (j *writeJob) runSafely(ctx context.Context, tx *sql.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in a write: %v", p)
		}
	}()
	return j.run(ctx, tx)
}

// checkForeignWrites drops the store's cache when another connection (another
// process) has committed since the previous batch. Inside the IMMEDIATE
// transaction nobody else can write until it ends.
func (w *writer) checkForeignWrites(ctx context.Context, tx *sql.Tx) {
	var v int64
	if err := tx.StmtContext(ctx, w.dataVersion).QueryRowContext(ctx).Scan(&v); err != nil || v != w.lastDataVersion {
		w.s.cache.reset()
		w.lastDataVersion = v
	}
}

// abort fails a batch whose transaction cannot go on: jobs that had
// succeeded are rolled back with it, jobs not run yet never run.
func (w *writer) abort(ran, notRun []*writeJob, err error) {
	for _, j := range ran {
		if j.err == nil {
			j.err = fmt.Errorf("rolled back with its batch: %w", err)
		}
	}
	for _, j := range notRun {
		j.err = err
	}
}

// checkpointer copies WAL frames back into the database file off the
// writer's path; PASSIVE never waits for (or blocks) the writer or readers.
func (w *writer) checkpointer(cp *sql.DB) {
	defer close(w.cpStopped)
	t := time.NewTicker(checkpointIdle)
	defer t.Stop()
	for {
		select {
		case <-w.stopped:
			return
		case <-w.checkpoint:
		case <-t.C:
		}
		// Errors are not fatal: the next round retries, and the WAL only
		// grows meanwhile.
		cp.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// close stops taking jobs and waits for the batch in progress and the
// checkpointer.
func (w *writer) close() {
	w.closeOnce.Do(func() { close(w.quit) })
	<-w.stopped
	<-w.cpStopped
}
