package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Method is how rows travel from the server.
type Method uint8

const (
	// MethodCopy reads each page with COPY (SELECT ...) TO STDOUT (FORMAT binary).
	MethodCopy Method = iota
	// MethodQuery reads each page as an extended-protocol query with binary results,
	// streamed row by row (pgx never holds a whole result).
	MethodQuery
)

func (m Method) String() string {
	if m == MethodQuery {
		return "query"
	}
	return "copy"
}

// rawBatch is a run of rows as the server sent them (binary values), copied out of the
// connection's buffers into one arena.
type rawBatch struct {
	ncols    int
	buf      []byte
	offs     []int32 // start, end per value; start -1 for NULL
	rows     int
	firstRow int64 // position of the first row in the run's stream, from 1
	nullKeys bool  // the rows of the NULL-key pass
}

func (b *rawBatch) add(vals [][]byte) {
	for _, v := range vals {
		if v == nil {
			b.offs = append(b.offs, -1, -1)
			continue
		}
		b.offs = append(b.offs, int32(len(b.buf)), int32(len(b.buf)+len(v)))
		b.buf = append(b.buf, v...)
	}
	b.rows++
}

// value returns row i's column c (nil for NULL).
func (b *rawBatch) value(i, c int) []byte {
	j := 2 * (i*b.ncols + c)
	if b.offs[j] < 0 {
		return nil
	}
	return b.buf[b.offs[j]:b.offs[j+1]:b.offs[j+1]]
}

// reader walks a plan's rows in key order, page by page, and hands them on in batches.
// On a lost connection it reconnects (up to retries times in a row, with backoff) and
// continues after the last row it handed on.
type reader struct {
	pool      *pgxpool.Pool
	plan      *plan
	method    Method
	pageSize  int
	batchSize int
	retries   int
	out       chan<- *rawBatch

	last       []byte // key of the last row handed on (or resumed after); nil at the start
	lastDone   bool   // the current page already passed the row with key last
	rowNo      int64
	cur        *rawBatch
	nullPass   bool
	reconnects int
}

// run reads everything and returns nil, or the error that stopped it. It hands on every
// complete row it read before an error, so the caller can commit them.
func (r *reader) run(ctx context.Context) error {
	if !r.plan.hasKey() { // one pass; nothing to continue from after a failure
		err := r.page(ctx, r.plan.pageSQL("", 0))
		if err == nil {
			err = r.flush(ctx)
		}
		return err
	}
	for attempt := 0; ; {
		lit := ""
		if r.last != nil {
			var err error
			if lit, err = quoteLiteral(string(r.last)); err != nil {
				return err
			}
		}
		before := r.rowNo
		n, err := r.pageCount(ctx, r.plan.pageSQL(lit, r.pageSize))
		if err != nil {
			if r.rowNo > before {
				attempt = 0 // progress was made: the retry budget is per stall, not per import
			}
			if attempt < r.retries && retryableRead(ctx, err) {
				attempt++
				r.reconnects++
				if err := sleep(ctx, backoff(attempt)); err != nil {
					return err
				}
				continue
			}
			return r.stop(ctx, err)
		}
		attempt = 0
		if n < r.pageSize {
			break
		}
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	r.nullPass = true
	if err := r.page(ctx, r.plan.nullKeySQL()); err != nil {
		return r.stop(ctx, err)
	}
	return r.flush(ctx)
}

// stop hands on the rows read before err and returns err.
func (r *reader) stop(ctx context.Context, err error) error {
	if ferr := r.flush(ctx); ferr != nil && !errors.Is(err, ferr) {
		return errors.Join(err, ferr)
	}
	return err
}

// pageCount runs one page and returns how many rows the server sent.
func (r *reader) pageCount(ctx context.Context, sql string) (int, error) {
	before := r.rowNo
	skipped := 0
	r.lastDone = false
	err := r.pageWith(ctx, sql, func(vals [][]byte) error {
		key := vals[0]
		if r.last != nil && bytes.Equal(key, r.last) {
			if r.lastDone {
				return fmt.Errorf("postgres: %w: %s = %q appears twice", ErrNotUnique, r.plan.keyName, key)
			}
			r.lastDone = true
			skipped++
			return nil
		}
		r.last = append(r.last[:0], key...)
		r.lastDone = true
		return r.handOn(ctx, vals)
	})
	return int(r.rowNo-before) + skipped, err
}

func (r *reader) page(ctx context.Context, sql string) error {
	return r.pageWith(ctx, sql, func(vals [][]byte) error { return r.handOn(ctx, vals) })
}

// pageWith runs one query and calls sink for each row, whose values alias the
// connection's buffer.
func (r *reader) pageWith(ctx context.Context, sql string, sink func([][]byte) error) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Release()
	pc := conn.Conn().PgConn()
	ncols := len(r.plan.cols)
	if r.method == MethodCopy {
		w := &copyParser{ncols: ncols, sink: sink}
		_, err := pc.CopyTo(ctx, w, "COPY ("+sql+") TO STDOUT (FORMAT binary)")
		if err == nil && !w.ended {
			err = errors.New("postgres: COPY ended without its trailer")
		}
		return err
	}
	rr := pc.ExecParams(ctx, sql, nil, nil, nil, []int16{1})
	for rr.NextRow() {
		vals := rr.Values()
		if len(vals) != ncols {
			rr.Close()
			return fmt.Errorf("postgres: row of %d columns, want %d", len(vals), ncols)
		}
		if err := sink(vals); err != nil {
			// Closing the connection ends the query at once rather than draining the page.
			pc.Close(context.Background())
			return err
		}
	}
	_, err = rr.Close()
	return err
}

// handOn appends a row to the current batch and sends the batch on when full.
func (r *reader) handOn(ctx context.Context, vals [][]byte) error {
	if r.cur == nil {
		r.cur = &rawBatch{ncols: len(vals), firstRow: r.rowNo + 1, nullKeys: r.nullPass}
	}
	r.rowNo++
	r.cur.add(vals)
	if r.cur.rows >= r.batchSize {
		return r.flush(ctx)
	}
	return nil
}

func (r *reader) flush(ctx context.Context) error {
	if r.cur == nil || r.cur.rows == 0 {
		return nil
	}
	b := r.cur
	r.cur = nil
	select {
	case r.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// quoteLiteral writes a key as an SQL string literal for the page query (COPY takes no
// parameters, so both methods inline it; the key is the server's own text form of the
// value, which the comparison with the key column converts back). E” syntax escapes backslashes and
// quotes whatever standard_conforming_strings is; a NUL cannot occur in server text.
func quoteLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("postgres: key contains a NUL byte")
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `\'`)
	return "E'" + s + "'", nil
}

// retryableRead reports whether a read failed because the connection was lost (the
// server restarted, the backend was terminated, the network dropped), which a new
// connection may fix; an SQL error or the end of ctx is final.
func retryableRead(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrNotUnique) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot
		// connect now.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isNetErr(err)
}

func isNetErr(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt-1, 4)
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// copyParser is the io.Writer CopyTo feeds with the binary COPY stream: a signature,
// flags and an extension area, then per row an int16 column count and per column an int32
// length (-1 for NULL) and the value, then an int16 -1. The server sends one row per
// message, so rows are parsed in place; a row split across writes is buffered.
type copyParser struct {
	ncols  int
	sink   func([][]byte) error
	pend   []byte
	header bool
	ended  bool
	vals   [][]byte
}

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

func (p *copyParser) Write(data []byte) (int, error) {
	n := len(data)
	if len(p.pend) > 0 {
		p.pend = append(p.pend, data...)
		data = p.pend
	}
	used, err := p.parse(data)
	if err != nil {
		return 0, err
	}
	rest := data[used:]
	if len(p.pend) > 0 {
		p.pend = append(p.pend[:0], rest...)
	} else if len(rest) > 0 {
		p.pend = append(p.pend, rest...)
	}
	return n, nil
}

// parse consumes whole units (header, rows, trailer) from data and returns the bytes used.
func (p *copyParser) parse(data []byte) (int, error) {
	used := 0
	if !p.header {
		if len(data) < len(copySignature)+8 {
			return 0, nil
		}
		if !bytes.HasPrefix(data, copySignature) {
			return 0, errors.New("postgres: not a binary COPY stream")
		}
		ext := int(binary.BigEndian.Uint32(data[len(copySignature)+4:]))
		h := len(copySignature) + 8 + ext
		if len(data) < h {
			return 0, nil
		}
		p.header, used = true, h
	}
	for used < len(data) {
		if p.ended {
			return 0, errors.New("postgres: data after the COPY trailer")
		}
		d := data[used:]
		if len(d) < 2 {
			return used, nil
		}
		cnt := int(int16(binary.BigEndian.Uint16(d)))
		if cnt == -1 {
			p.ended = true
			used += 2
			continue
		}
		if cnt != p.ncols {
			return 0, fmt.Errorf("postgres: COPY row of %d columns, want %d", cnt, p.ncols)
		}
		p.vals = p.vals[:0]
		q := d[2:]
		complete := true
		for range cnt {
			if len(q) < 4 {
				complete = false
				break
			}
			l := int(int32(binary.BigEndian.Uint32(q)))
			q = q[4:]
			if l == -1 {
				p.vals = append(p.vals, nil)
				continue
			}
			if l < 0 || len(q) < l {
				complete = false
				break
			}
			p.vals = append(p.vals, q[:l:l])
			q = q[l:]
		}
		if !complete {
			return used, nil
		}
		if err := p.sink(p.vals); err != nil {
			return 0, err
		}
		used += len(d) - len(q)
	}
	return used, nil
}
