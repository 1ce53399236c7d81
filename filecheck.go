package engram

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"syscall"

	berrors "go.etcd.io/bbolt/errors"
)

// preflight checks a store file's bbolt meta pages before bbolt maps the file. bbolt
// trusts the high-water mark in its meta page: on a truncated file it would read pages past
// the end of the mapping, which is a SIGBUS, not an error. So Open reads both meta pages
// itself (the format is bbolt's, version 2: a 16-byte page header, then magic, version,
// page size, flags, root bucket {root, sequence}, freelist, high-water mark, txid and an
// FNV-64a checksum of everything before it) and refuses a file shorter than the newest
// valid meta says. A missing or empty file passes (bbolt creates it).
//
// bbolt keeps two meta pages and writes them alternately, so that a write torn in the
// middle of one leaves the other intact: like bbolt, preflight accepts a file when either
// page is valid and goes by the valid one with the higher transaction id. Only when both
// are damaged is the file refused.
//
// Errors: a file that is not a valid store wraps berrors.ErrInvalid (CORRUPT); what the OS
// refuses (permission denied, a directory, a device) is returned as the OS error, so Open
// reports it as what it is (openErr), not as damage.
func preflight(path string) error {
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil // a new store; a missing directory is bbolt's to report
	case err != nil:
		return err
	case fi.IsDir():
		return &fs.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
	case !fi.Mode().IsRegular():
		return &fs.PathError{Op: "open", Path: path, Err: errNotRegular}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	best, err := newestMeta(f, size)
	if err != nil {
		return err
	}
	if best == nil {
		return fmt.Errorf("%w: neither bbolt meta page is valid", berrors.ErrInvalid)
	}
	if need := int64(best.pgid) * int64(best.pageSize); need > size {
		return fmt.Errorf("%w: file of %d bytes is truncated: its meta page describes %d", berrors.ErrInvalid, size, need)
	}
	if best.root >= best.pgid || (best.freelist >= best.pgid && best.freelist != ^uint64(0)) {
		return fmt.Errorf("%w: meta page points past the end of the data (root %d, freelist %d, pages %d)", berrors.ErrInvalid, best.root, best.freelist, best.pgid)
	}
	return nil
}

// newestMeta returns the valid meta page with the higher transaction id, or nil when
// neither is valid. Page 1 sits one page in, and the page size is written in the meta
// pages themselves: when page 0 is damaged, page 1 is looked for at every page size bbolt
// may have chosen (1 KiB to 16 MiB, as bbolt itself does), and taken only where the page
// size it states is the offset it was found at.
func newestMeta(f *os.File, size int64) (*bboltMeta, error) {
	m0, ok0, err := readMeta(f, 0)
	if err != nil {
		return nil, err
	}
	var m1 bboltMeta
	ok1 := false
	if ok0 {
		if m1, ok1, err = readMeta(f, int64(m0.pageSize)); err != nil {
			return nil, err
		}
		ok1 = ok1 && m1.pageSize == m0.pageSize
	} else {
		for i := 0; i <= 14 && !ok1; i++ {
			pos := int64(1024) << i
			if pos >= size-1024 {
				break
			}
			if m1, ok1, err = readMeta(f, pos); err != nil {
				return nil, err
			}
			ok1 = ok1 && int64(m1.pageSize) == pos
		}
	}
	switch {
	case ok0 && (!ok1 || m0.txid >= m1.txid):
		return &m0, nil
	case ok1:
		return &m1, nil
	}
	return nil, nil
}

// readMeta reads the meta page at off; ok is false when it is not a valid one (short,
// wrong magic or version, bad checksum, impossible page size). An error is the OS's.
func readMeta(f *os.File, off int64) (m bboltMeta, ok bool, err error) {
	buf := make([]byte, 16+64)
	n, err := f.ReadAt(buf, off)
	if err == io.EOF {
		err = nil
	}
	if err != nil || n < len(buf) {
		return m, false, err
	}
	m, ok = parseMeta(buf[16:])
	return m, ok, nil
}

type bboltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

func parseMeta(b []byte) (bboltMeta, bool) {
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != 0xED0CDAED || le.Uint32(b[4:]) != 2 {
		return bboltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return bboltMeta{}, false
	}
	m := bboltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0 {
		return bboltMeta{}, false
	}
	return m, true
}
