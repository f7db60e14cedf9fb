package prover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// layerFile is the name of the file that holds the nodes of one low layer.
func layerFile(dir string, h uint) string {
	return filepath.Join(dir, fmt.Sprintf("layercache_%d.bin", h))
}

// layers stores a round's tree: heights below disk in flat files of 32-byte nodes, the
// rest in memory. Appends to files are buffered per layer and written by a background
// writer, so the prover thread only copies 32 bytes per node. A layer's file is created
// with its first node, as the reference does, so a checkpoint never has an empty top
// layer file (the reference cannot resume from one).
type layers struct {
	dir     string
	disk    uint
	files   []*os.File // the writer's append handles, opened on first write
	readers []*os.File // read handles, opened on first read
	bufs    [][]byte
	bufSize int
	mem     *posw.MemoryLayers

	jobs    chan writeJob
	free    chan []byte
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
	failed  chan struct{}
}

// writeJob is either a buffer of nodes for one layer file, or (with ack set) a
// checkpoint: once every earlier buffer is written, fsync the files and run commit.
type writeJob struct {
	height uint
	buf    []byte
	commit func() error
	ack    chan error
}

// openLayers prepares the layers of a round; files below disk are appended to (and
// created when their first node arrives).
func openLayers(dir string, disk uint, bufSize int) *layers {
	bufSize -= bufSize % posw.NodeSize
	bufSize = max(bufSize, posw.NodeSize)
	l := &layers{
		dir:     dir,
		disk:    disk,
		files:   make([]*os.File, disk),
		readers: make([]*os.File, disk),
		bufs:    make([][]byte, disk),
		bufSize: bufSize,
		mem:     posw.NewMemoryLayers(disk),
		jobs:    make(chan writeJob, 1024),
		free:    make(chan []byte, 1024),
		failed:  make(chan struct{}),
	}
	for h := range l.bufs {
		l.bufs[h] = make([]byte, 0, bufSize)
	}
	l.wg.Add(1)
	go l.writer()
	return l
}

// AppendNode implements posw.NodeSink.
func (l *layers) AppendNode(h uint, n *posw.Node) {
	if h >= l.disk {
		l.mem.AppendNode(h, n)
		return
	}
	b := append(l.bufs[h], n[:]...)
	if len(b) < l.bufSize {
		l.bufs[h] = b
		return
	}
	l.jobs <- writeJob{height: h, buf: b}
	select {
	case nb := <-l.free:
		l.bufs[h] = nb[:0]
	default:
		l.bufs[h] = make([]byte, 0, l.bufSize)
	}
}

// checkpoint hands every buffered node to the writer followed by a checkpoint job. The
// returned channel yields the checkpoint's outcome.
func (l *layers) checkpoint(commit func() error) <-chan error {
	for h, b := range l.bufs {
		if len(b) > 0 {
			l.jobs <- writeJob{height: uint(h), buf: b}
			l.bufs[h] = make([]byte, 0, l.bufSize)
		}
	}
	ack := make(chan error, 1)
	l.jobs <- writeJob{commit: commit, ack: ack}
	return ack
}

func (l *layers) fail(err error) {
	l.errOnce.Do(func() {
		l.err = err
		close(l.failed)
	})
}

// writer appends buffers to their files and performs checkpoints, in order.
func (l *layers) writer() {
	defer l.wg.Done()
	for j := range l.jobs {
		select {
		case <-l.failed:
			if j.ack != nil {
				j.ack <- l.err
			}
			continue
		default:
		}
		if j.ack == nil {
			f := l.files[j.height]
			if f == nil {
				var err error
				f, err = os.OpenFile(layerFile(l.dir, j.height), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					l.fail(fmt.Errorf("opening layer %d: %w", j.height, err))
					continue
				}
				l.files[j.height] = f
			}
			if _, err := f.Write(j.buf); err != nil {
				l.fail(fmt.Errorf("writing layer %d: %w", j.height, err))
				continue
			}
			select {
			case l.free <- j.buf[:0]:
			default:
			}
			continue
		}
		var err error
		for h, f := range l.files {
			if f == nil {
				continue
			}
			if e := f.Sync(); e != nil {
				err = fmt.Errorf("syncing layer %d: %w", h, e)
				break
			}
		}
		if err == nil {
			err = j.commit()
		}
		if err != nil {
			l.fail(err)
		}
		j.ack <- err
	}
}

// failure reports the first write error, if any.
func (l *layers) failure() error {
	select {
	case <-l.failed:
		return l.err
	default:
		return nil
	}
}

// ReadNode implements posw.NodeReader; file layers must have been checkpointed first.
// It is for one goroutine at a time.
func (l *layers) ReadNode(h uint, j uint64, out *posw.Node) error {
	if h >= l.disk {
		return l.mem.ReadNode(h, j, out)
	}
	if l.readers[h] == nil {
		f, err := os.Open(layerFile(l.dir, h))
		if err != nil {
			return fmt.Errorf("opening layer %d: %w", h, err)
		}
		l.readers[h] = f
	}
	return readNodeAt(l.readers[h], j, out)
}

func readNodeAt(f *os.File, j uint64, out *posw.Node) error {
	n, err := f.ReadAt(out[:], int64(j)*posw.NodeSize)
	if n == posw.NodeSize {
		return nil
	}
	if err == nil {
		err = errors.New("short read")
	}
	return fmt.Errorf("reading node %d of %s: %w", j, f.Name(), err)
}

// close stops the writer and closes the files; pending buffers not checkpointed are
// written but not synced.
func (l *layers) close() error {
	close(l.jobs)
	l.wg.Wait()
	return errors.Join(l.failure(), l.closeFiles())
}

func (l *layers) closeFiles() error {
	var errs []error
	for _, f := range slices.Concat(l.files, l.readers) {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
