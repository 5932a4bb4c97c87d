package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// connPool is a minimal pool of pgx connections. pgxpool would do, but it
// pulls in modules (puddle, x/sync) that go.mod does not require, and the
// store needs little: a bounded number of connections, reuse, and dropping
// broken ones.
type connPool struct {
	cfg  *pgx.ConnConfig
	sem  chan struct{} // one token per open connection, capacity = max
	idle chan idleConn // capacity = max, so release never blocks
	mu   sync.Mutex    // orders release against close
	done chan struct{} // closed by close
	once sync.Once
}

type idleConn struct {
	c     *pgx.Conn
	since time.Time
}

// pingAfter: an idle connection older than this is pinged before reuse, so a
// server restart costs a reconnect rather than a failed call.
const pingAfter = 30 * time.Second

var errPoolClosed = errors.New("store: postgres store closed")

// newConnPool parses dsn with pgx and takes pool_max_conns (as pgxpool
// does; default max(4, NumCPU)) out of the runtime parameters, together
// with any other pool_* key, so they are not sent to the server as settings.
func newConnPool(dsn string) (*connPool, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	limit := max(4, runtime.NumCPU())
	for k, v := range cfg.RuntimeParams {
		if !strings.HasPrefix(k, "pool_") {
			continue
		}
		delete(cfg.RuntimeParams, k)
		if k == "pool_max_conns" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("invalid pool_max_conns %q", v)
			}
			limit = n
		}
	}
	return &connPool{
		cfg:  cfg,
		sem:  make(chan struct{}, limit),
		idle: make(chan idleConn, limit),
		done: make(chan struct{}),
	}, nil
}

// max is the most connections the pool opens.
func (p *connPool) max() int { return cap(p.sem) }

// acquire returns an idle connection, opens a new one while under the limit,
// or waits for a release.
func (p *connPool) acquire(ctx context.Context) (*pgx.Conn, error) {
	for {
		select {
		case <-p.done:
			return nil, errPoolClosed
		default:
		}
		var ic idleConn
		select {
		case ic = <-p.idle:
		default:
			select {
			case ic = <-p.idle:
			case p.sem <- struct{}{}:
				c, err := pgx.ConnectConfig(ctx, p.cfg)
				if err != nil {
					<-p.sem
					return nil, err
				}
				return c, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-p.done:
				return nil, errPoolClosed
			}
		}
		if time.Since(ic.since) < pingAfter || ic.c.Ping(ctx) == nil {
			return ic.c, nil
		}
		p.discard(ic.c)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// release returns c to the pool unless it is broken, still inside a
// transaction, or the pool is closed.
func (p *connPool) release(c *pgx.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		p.discard(c)
		return
	default:
	}
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' {
		p.discard(c)
		return
	}
	p.idle <- idleConn{c: c, since: time.Now()}
}

func (p *connPool) discard(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
	<-p.sem
}

// close closes idle connections now and busy ones when they are released.
func (p *connPool) close() {
	p.once.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		close(p.done)
		for {
			select {
			case ic := <-p.idle:
				p.discard(ic.c)
			default:
				return
			}
		}
	})
}
