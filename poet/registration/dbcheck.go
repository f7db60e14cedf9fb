package registration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// ErrCorruptStore reports a registration store whose file is damaged (truncated, or
// with pages that do not form a consistent tree). The service does not start on it.
var ErrCorruptStore = errors.New("registration store is damaged")

// corruptHelp says what is at risk and what to do; it ends every ErrCorruptStore.
const corruptHelp = "at risk: the registrations of open and executing rounds and the stored proofs; " +
	"poet does not start on a damaged store. To recover: stop poet, keep the damaged file, " +
	"restore registrations.db from a backup (a copy taken while poet was stopped), " +
	"then check it with `poet db check`. Without a backup, move the file aside and start " +
	"poet: a reference poet's databases in the same --dbdir are imported again and finished " +
	"proofs still in <datadir>/rounds are published again, but registrations made since " +
	"and other proofs are lost"

// CheckStore checks the bbolt file at path without starting a registry and without
// writing to it: the meta pages, the file's length against them, then bbolt's
// consistency check of every page. A damaged file gives an error wrapping
// ErrCorruptStore that says what is at risk and what to do; a missing file is
// os.ErrNotExist.
func CheckStore(path string) error {
	if err := checkMeta(path); err != nil {
		return err
	}
	return checkPages(path)
}

func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s; %s", ErrCorruptStore, path, fmt.Sprintf(format, args...), corruptHelp)
}

// bbolt's meta page (go.etcd.io/bbolt internal/common): a 16-byte page header, then
// magic, version, page size, flags (uint32 each), the root bucket (root page, sequence),
// the freelist page, the high-water page id, the transaction id and an FNV-64a checksum
// of everything before it, all in native (little-endian) byte order.
const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	metaOffset      = 16
	metaChecksumOff = metaOffset + 56
	metaMinPage     = 1024
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// parseMeta reads a meta page; ok is false when it is not a valid one.
func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < metaChecksumOff+8 {
		return boltMeta{}, false
	}
	le := binary.LittleEndian
	if le.Uint32(b[metaOffset:]) != boltMagic || le.Uint32(b[metaOffset+4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[metaOffset:metaChecksumOff])
	if h.Sum64() != le.Uint64(b[metaChecksumOff:]) {
		return boltMeta{}, false
	}
	m := boltMeta{pageSize: le.Uint32(b[metaOffset+8:]), pgid: le.Uint64(b[metaOffset+40:]), txid: le.Uint64(b[metaOffset+48:])}
	if m.pageSize < metaMinPage || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, false
	}
	return m, true
}

// checkMeta finds the newest valid meta page and checks that the file holds every page
// it counts: bbolt maps the file and would fault (SIGBUS) reading past its end.
func checkMeta(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, metaChecksumOff+8)
	if _, err := f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	best, ok0 := parseMeta(head)
	pageSize := int64(best.pageSize)
	if !ok0 {
		pageSize = int64(os.Getpagesize())
	}
	if _, err := f.ReadAt(head, pageSize); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	m1, ok1 := parseMeta(head)
	switch {
	case !ok0 && !ok1:
		return corrupt(path, "neither meta page is valid (%d bytes)", fi.Size())
	case ok1 && (!ok0 || m1.txid > best.txid):
		best = m1
	}
	if need := int64(best.pgid) * int64(best.pageSize); fi.Size() < need {
		return corrupt(path, "the file is %d bytes but its pages need %d (truncated)", fi.Size(), need)
	}
	return nil
}

// checkPages reads the page tree from the file itself (no mmap, nothing of bbolt) and
// checks what bbolt relies on when it opens the file and rebuilds its free list: every
// page reachable from the root is inside the file's high-water mark, says its own id,
// is a branch or a leaf whose elements lie inside it, and is referenced once. bbolt
// does this scan on a goroutine of its own and crashes the process (fault or panic) on
// such damage; here it is an error. A panic while reading is recovered as one too.
func checkPages(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, "reading it failed: %v", r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, metaChecksumOff+8)
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	m0, ok0 := parseMeta(head)
	ps := int64(m0.pageSize)
	if !ok0 {
		ps = int64(os.Getpagesize())
	}
	if _, err := f.ReadAt(head, ps); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	m1, ok1 := parseMeta(head)
	off := int64(0)
	if ok1 && (!ok0 || m1.txid > m0.txid) {
		off, m0 = ps, m1
	}
	if _, err := f.ReadAt(head, off); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	w := &pageWalker{f: f, ps: int64(m0.pageSize), hwm: m0.pgid, seen: map[uint64]bool{0: true, 1: true}}
	if err := w.page(binary.LittleEndian.Uint64(head[metaOffset+16:]), 0); err != nil {
		return corrupt(path, "%v", err)
	}
	return nil
}

// bbolt page layout: a 16-byte header (id u64, flags u16, count u16, overflow u32), then
// count 16-byte elements. A branch element is (pos u32, ksize u32, child u64), a leaf
// element (flags u32, pos u32, ksize u32, vsize u32); pos is relative to the element.
// A leaf element with flag 1 is a bucket: its value starts with (root u64, sequence
// u64), and a root of 0 means the bucket's leaf page follows inline.
const (
	pageHeader     = 16
	pageElement    = 16
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	bucketLeafFlag = 0x01
	maxPageDepth   = 64
)

type pageWalker struct {
	f    *os.File
	ps   int64
	hwm  uint64
	seen map[uint64]bool
}

func (w *pageWalker) page(id uint64, depth int) error {
	if depth > maxPageDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxPageDepth)
	}
	if id < 2 || id >= w.hwm {
		return fmt.Errorf("page %d referenced, outside the file's pages 2..%d", id, w.hwm-1)
	}
	hdr := make([]byte, pageHeader)
	if _, err := w.f.ReadAt(hdr, int64(id)*w.ps); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(hdr); got != id {
		return fmt.Errorf("page %d identifies itself as %d", id, got)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= w.hwm {
		return fmt.Errorf("page %d: %d overflow pages run past the file's pages", id, overflow)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return fmt.Errorf("page %d referenced twice", i)
		}
		w.seen[i] = true
	}
	buf := make([]byte, int64(overflow+1)*w.ps)
	if _, err := w.f.ReadAt(buf, int64(id)*w.ps); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	return w.elements(id, buf, depth)
}

// elements checks the elements of page id (buf, header included) and walks what they
// reference.
func (w *pageWalker) elements(id uint64, buf []byte, depth int) error {
	le := binary.LittleEndian
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return fmt.Errorf("page %d: flags %#x, neither a branch nor a leaf", id, flags)
	}
	if pageHeader+count*pageElement > len(buf) {
		return fmt.Errorf("page %d: %d elements do not fit in it", id, count)
	}
	var prev []byte
	inOrder := func(i int, k []byte) error {
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("page %d: key %d (%x) is not after the one before it (%x)", id, i, k, prev)
		}
		prev = k
		return nil
	}
	for i := range count {
		e := pageHeader + i*pageElement
		if flags == branchPageFlag {
			pos, ksize := int(le.Uint32(buf[e:])), int(le.Uint32(buf[e+4:]))
			if e+pos+ksize > len(buf) || e+pos+ksize < e {
				return fmt.Errorf("page %d: element %d lies outside it", id, i)
			}
			if err := inOrder(i, buf[e+pos:e+pos+ksize]); err != nil {
				return err
			}
			if err := w.page(le.Uint64(buf[e+8:]), depth+1); err != nil {
				return err
			}
			continue
		}
		eflags, pos, ksize, vsize := le.Uint32(buf[e:]), int(le.Uint32(buf[e+4:])), int(le.Uint32(buf[e+8:])), int(le.Uint32(buf[e+12:]))
		end := e + pos + ksize + vsize
		if pos < 0 || ksize < 0 || vsize < 0 || end > len(buf) || end < e {
			return fmt.Errorf("page %d: element %d lies outside it", id, i)
		}
		if err := inOrder(i, buf[e+pos:e+pos+ksize]); err != nil {
			return err
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		v := buf[e+pos+ksize : end]
		if len(v) < 16 {
			return fmt.Errorf("page %d: bucket element %d of %d bytes", id, i, len(v))
		}
		if root := le.Uint64(v); root != 0 {
			if err := w.page(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[16:]
		if len(inline) < pageHeader {
			return fmt.Errorf("page %d: inline bucket %d of %d bytes", id, i, len(inline))
		}
		if err := w.elements(id, inline, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// openBolt opens the store after CheckStore passed; a panic inside bbolt's open (its
// free-list scan panics on damage the check does not look for) is an ErrCorruptStore.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, corrupt(path, "opening it failed: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}
